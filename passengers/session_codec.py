"""The site's session codec (VALKEY_SESSIONS["CODEC"]): the workshop's entries stored
positionally, in the field order of passengers/session.py, so a session with weather and one
flight takes about 230 bytes instead of 590 as JSON.

The body is `[passenger_id, passenger, weather, flights, other, units]`: each entry a list in
its layout's field order (nil when absent), some fields in a shorter form (dates as numbers,
known names as indexes: `_FIELD_PACKERS`); anything else, or an entry that does not fit its
layout, goes into `other` as plain values. (A body of five, without `units`, is read too.)

Rolling deploys: layouts only ever grow at the end (a field is appended, never removed, renamed
or reordered; a new top-level value goes to `other`). So an older release reads a newer value:
the extra trailing fields of an entry are kept as "#<position>" keys and written back in place
when it saves the session (nothing of the newer release is lost); and a newer release reads an
older value: a missing trailing field is None.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from valkey_sessions.codec import DamagedSession, jsonable, pack, unpack

from . import session as layout

# -- field packers: a few fields take fewer bytes in another form (README "Memory"); each one
# is used only when it gives back exactly the value it was given, else the value is stored as
# it is (a str stays a str), so decoding tells them apart by type.


def _minutes_pack(value: Any) -> Any:
    # "2026-11-25T14:05" (17 bytes) -> minutes since the epoch (5 bytes)
    # (fromisoformat, not strptime: this runs for every flight of every write)
    if type(value) is str and len(value) == 16 and value[10] == "T":
        try:
            when = datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            return value
        packed = int(when.timestamp()) // 60
        return packed if _minutes_unpack(packed) == value else value
    return value


def _minutes_unpack(value: Any) -> Any:
    if type(value) is int:
        return _minutes_text(value)
    return value


@functools.lru_cache(maxsize=4096)
def _minutes_text(minutes: int) -> str:
    # Every read of a session with flights turns these back into text; the same departures
    # and arrivals come back on every page (a flight is in many sessions).
    return datetime.fromtimestamp(minutes * 60, UTC).isoformat()[:16]


def _instant_pack(value: Any) -> Any:
    # "2026-11-25T14:42:53+00:00" (26 bytes) -> seconds since the epoch (5 bytes)
    if type(value) is str:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
        if when.tzinfo is not None and when.utcoffset() == UTC.utcoffset(None):
            packed = int(when.timestamp())
            if _instant_unpack(packed) == value:
                return packed
    return value


def _instant_unpack(value: Any) -> Any:
    if type(value) is int:
        return datetime.fromtimestamp(value, UTC).isoformat()
    return value


def _hundredths_pack(value: Any) -> Any:
    # 7.1 (a 9-byte float64) -> 710 (3 bytes); an int here (the layout says float) is read
    # back as a float
    if type(value) is int:
        value = float(value)
    if type(value) is float and abs(value) < 1e9:
        packed = round(value * 100)
        if packed / 100 == value:
            return packed
    return value


def _hundredths_unpack(value: Any) -> Any:
    return value / 100 if type(value) is int else value


def _enum(*names: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    # a known name -> its index (1 byte)
    def pack_(value: Any) -> Any:
        return names.index(value) if type(value) is str and value in names else value

    def unpack_(value: Any) -> Any:
        return names[value] if type(value) is int and 0 <= value < len(names) else value

    return pack_, unpack_


_UNITS = _enum("metric", "imperial")
_FIELD_PACKERS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "temp": (_hundredths_pack, _hundredths_unpack),
    "wind_speed": (_hundredths_pack, _hundredths_unpack),
    "units": _UNITS,
    "provider": _enum("offline", "openweathermap", "openmeteo"),
    "fetched_at": (_instant_pack, _instant_unpack),
    "departure": (_minutes_pack, _minutes_unpack),
    "arrival": (_minutes_pack, _minutes_unpack),
}
_NONE = (lambda v: v, lambda v: v)


def _packers(fields: tuple[str, ...]) -> list[tuple[Callable[[Any], Any], Callable[[Any], Any]]]:
    return [_FIELD_PACKERS.get(f, _NONE) for f in fields]


_PACKERS = {
    fields: _packers(fields)
    for fields in (layout.PASSENGER_FIELDS, layout.WEATHER_FIELDS, layout.FLIGHT_FIELDS)
}

# Per layout, the fields read back through an unpacker (position, name, unpacker): the others
# are taken as they are, without a call each (a load decodes ~25 fields).
_UNPACKERS = {
    fields: [
        (i, name, unpack_)
        for i, (name, (_, unpack_)) in enumerate(zip(fields, packers, strict=True))
        if unpack_ is not _NONE[1]
    ]
    for fields, packers in _PACKERS.items()
}

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
    packed = [
        pack_(jsonable(entry[f])) for f, (pack_, _) in zip(fields, _PACKERS[fields], strict=True)
    ]
    return packed + [jsonable(entry[extras[p]]) for p in sorted(extras)]


def _unpack(values: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    if type(values) is not list:
        raise DamagedSession(f"entry is not a list ({len(fields)} fields)")
    entry = dict(zip(fields, values, strict=False))
    count = len(values)
    for position, name, unpack_ in _UNPACKERS[fields]:
        if position < count:
            entry[name] = unpack_(values[position])
    for name in fields[count:]:
        entry[name] = None  # written by an older release, before this field existed
    for position in range(len(fields), count):
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
        units = other.pop(layout.UNITS, None)
        packed_units = _UNITS[0](units)
        if units is not None and type(packed_units) is not int:
            other[layout.UNITS] = units  # not a known name: kept as it is
            packed_units = None
        return pack([pid, passenger, weather, flights, jsonable(other), packed_units])

    @staticmethod
    def decode(body: bytes) -> dict[str, Any]:
        decoded = unpack(body)
        if type(decoded) is not list or len(decoded) not in (5, 6) or type(decoded[4]) is not dict:
            raise DamagedSession("unexpected structure")
        pid, passenger, weather, flights, other = decoded[:5]
        units = decoded[5] if len(decoded) == 6 else None
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
        if units is not None:
            data[layout.UNITS] = _UNITS[1](units)
        return data
