"""The site's session codec (VALKEY_SESSIONS["CODEC"]): the workshop's entries stored
positionally, in the field order of passengers/session.py, so a session with weather and one
flight takes about 230 bytes instead of 590 as JSON.

The body is `[passenger_id, passenger, weather, flights, other]`: each entry a list in its
layout's field order (nil when absent); anything else, or an entry that does not fit its layout,
goes into `other` as plain values.

Rolling deploys: layouts only ever grow at the end (a field is appended, never removed, renamed
or reordered; a new top-level value goes to `other`). So an older release reads a newer value:
the extra trailing fields of an entry are kept as "#<position>" keys and written back in place
when it saves the session (nothing of the newer release is lost); and a newer release reads an
older value: a missing trailing field is None.
"""

from __future__ import annotations

from typing import Any

from valkey_sessions.codec import DamagedSession, jsonable, pack, unpack

from . import session as layout

_SLOTS = frozenset({layout.PASSENGER_ID, layout.PASSENGER, layout.WEATHER, layout.FLIGHTS})


def _extra(name: str) -> int | None:
    return int(name[1:]) if name[:1] == "#" and name[1:].isdigit() else None


def _pack(entry: Any, fields: tuple[str, ...]) -> list[Any] | None:
    """An entry of the layout as a list in field order (plus the "#n" fields a newer release
    appended), or None if it does not fit the layout."""
    if type(entry) is not dict or not all(f in entry for f in fields):
        return None
    extras: dict[int, str] = {}
    for key in entry:
        if key not in fields:
            position = _extra(key)
            if position is None:
                return None  # a key of its own (no newer release's field): a plain dict
            extras[position] = key
    if sorted(extras) != list(range(len(fields), len(fields) + len(extras))):
        return None
    values = [entry[f] for f in fields] + [entry[extras[p]] for p in sorted(extras)]
    return [jsonable(v) for v in values]


def _unpack(values: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    if type(values) is not list:
        raise DamagedSession(f"entry is not a list ({len(fields)} fields)")
    entry = dict(zip(fields, values, strict=False))
    for name in fields[len(values) :]:
        entry[name] = None  # written by an older release, before this field existed
    for position in range(len(fields), len(values)):
        entry[f"#{position}"] = values[position]  # a newer release's field: kept as it is
    return entry


class CompactCodec:
    @staticmethod
    def encode(data: dict[str, Any]) -> bytes:
        other = {k: v for k, v in data.items() if k not in _SLOTS}
        pid = data.get(layout.PASSENGER_ID)
        if type(pid) is not int:
            pid = None
        passenger = _pack(data.get(layout.PASSENGER), layout.PASSENGER_FIELDS)
        weather = _pack(data.get(layout.WEATHER), layout.WEATHER_FIELDS)
        flights = data.get(layout.FLIGHTS)
        if type(flights) is list:
            packed = [_pack(f, layout.FLIGHT_FIELDS) for f in flights]
            flights = None if any(p is None for p in packed) else packed
        else:
            flights = None
        for key, slot in (
            (layout.PASSENGER_ID, pid),
            (layout.PASSENGER, passenger),
            (layout.WEATHER, weather),
            (layout.FLIGHTS, flights),
        ):
            if slot is None and key in data:
                other[key] = data[key]  # present, but not in the layout's shape
        return pack([pid, passenger, weather, flights, jsonable(other)])

    @staticmethod
    def decode(body: bytes) -> dict[str, Any]:
        decoded = unpack(body)
        if type(decoded) is not list or len(decoded) != 5 or type(decoded[4]) is not dict:
            raise DamagedSession("unexpected structure")
        pid, passenger, weather, flights, other = decoded
        data: dict[str, Any] = {}
        if pid is not None:
            data[layout.PASSENGER_ID] = pid
        if passenger is not None:
            data[layout.PASSENGER] = _unpack(passenger, layout.PASSENGER_FIELDS)
        if weather is not None:
            data[layout.WEATHER] = _unpack(weather, layout.WEATHER_FIELDS)
        if flights is not None:
            if type(flights) is not list:
                raise DamagedSession("flights is not a list")
            data[layout.FLIGHTS] = [_unpack(f, layout.FLIGHT_FIELDS) for f in flights]
        data.update(other)
        return data
