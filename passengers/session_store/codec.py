"""The stored value of a session, and of a devices index entry (msgpack, never pickle).

A session is `[version, written_at_ms, [passenger_id, passenger, weather, flights, other]]`.
The workshop's entries (passengers/session.py) are lists in their layout's field order, so a
session with weather and one flight takes about 230 bytes instead of 590 as JSON. Anything else,
or an entry that does not fit its layout, goes into `other` as plain values. A slot is nil when
its key is absent. `written_at_ms` is when the TTL was last moved: a fixed 9-byte uint64, so the
header has a fixed size and the body can be compared on its own.

Values are what JSON can hold, as with Django's JSONSerializer: anything else raises TypeError
at save (a value never silently changes type). Integers beyond 64 bits are the one thing JSON
holds that msgpack cannot: they raise TypeError too.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from passengers import session as layout


class DamagedSession(ValueError):
    """A stored value this code cannot read: not ours, damaged, or of another layout.
    `newer` is True for a value of a newer layout (another instance already runs newer code:
    leave it alone rather than delete it)."""

    def __init__(self, reason: str, *, newer: bool = False) -> None:
        super().__init__(reason)
        self.newer = newer


def _json_key(key: Any) -> str:
    # The conversions json.dumps makes for dict keys; anything else is refused the same way.
    if isinstance(key, str):
        return str(key)
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int | float):
        return repr(float(key)) if isinstance(key, float) else str(int(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def jsonable(value: Any) -> Any:
    """`value` reduced to what JSON holds (str, int, float, bool, None, lists, dicts with string
    keys), as Django's JSONSerializer would store it. Raises TypeError for anything else
    (datetime, Decimal, UUID, bytes, sets...)."""
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is str or kind is int or kind is float:
        return value
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is dict:
        return {_json_key(k): jsonable(v) for k, v in value.items()}
    # Subclasses (str-based enums, IntEnum...) are stored as their base value, as json does.
    for base in (str, int, float):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {_json_key(k): jsonable(v) for k, v in value.items()}
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _pack(entry: Any, fields: tuple[str, ...]) -> list[Any] | None:
    """An entry of the layout as a list in field order, or None if it does not fit it."""
    if type(entry) is dict and len(entry) == len(fields) and all(f in entry for f in fields):
        return [jsonable(entry[f]) for f in fields]
    return None


def _unpack(values: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    if type(values) is list and len(values) == len(fields):
        return dict(zip(fields, values, strict=True))
    raise DamagedSession(f"entry does not match its layout ({len(fields)} fields)")


def _no_ext(code: int, data: memoryview) -> Any:
    raise DamagedSession(f"msgpack extension type {code}: not a value of ours")


_SLOTS = frozenset({layout.PASSENGER_ID, layout.PASSENGER, layout.WEATHER, layout.FLIGHTS})


class SessionCodec:
    HEADER = struct.Struct(">BBBQ")  # fixarray(3), version (fixint), uint64 marker, written_at
    _encoder = msgspec.msgpack.Encoder()
    _decoder = msgspec.msgpack.Decoder(ext_hook=_no_ext)

    @classmethod
    def encode_body(cls, data: dict[str, Any]) -> bytes:
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
        body = [pid, passenger, weather, flights, jsonable(other)]
        try:
            return cls._encoder.encode(body)
        except OverflowError as exc:  # an int beyond 64 bits
            raise TypeError(f"session value cannot be stored: {exc}") from exc

    @classmethod
    def header(cls, written_at: int) -> bytes:
        return cls.HEADER.pack(0x93, layout.LAYOUT_VERSION, 0xCF, written_at)

    @classmethod
    def encode(cls, data: dict[str, Any], written_at: int) -> bytes:
        return cls.header(written_at) + cls.encode_body(data)

    @classmethod
    def body_of(cls, payload: bytes) -> bytes:
        return payload[cls.HEADER.size :]

    @classmethod
    def decode(cls, payload: bytes) -> tuple[int, dict[str, Any]]:
        """(written_at_ms, data); DamagedSession if this is not a value of ours."""
        if len(payload) <= cls.HEADER.size:
            raise DamagedSession("too short")
        marker, version, uint64, written_at = cls.HEADER.unpack_from(payload)
        if marker != 0x93 or uint64 != 0xCF:
            raise DamagedSession("not a session value of this site")
        if version != layout.LAYOUT_VERSION:
            raise DamagedSession(
                f"layout version {version}, this code reads {layout.LAYOUT_VERSION}",
                newer=version > layout.LAYOUT_VERSION and version < 0x80,
            )
        try:
            body = cls._decoder.decode(cls.body_of(payload))
        except (msgspec.DecodeError, ValueError) as exc:
            raise DamagedSession(f"undecodable: {exc}") from exc
        if type(body) is not list or len(body) != 5 or type(body[4]) is not dict:
            raise DamagedSession("unexpected structure")
        pid, passenger, weather, flights, other = body
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
        return written_at, data

    # -- devices index entries --

    @classmethod
    def encode_device(
        cls, passenger_id: Any, created: int, client_ip: str, user_agent: str
    ) -> bytes:
        """A devices index entry: [passenger_id, created_ms, client_ip, user_agent]."""
        return cls._encoder.encode([passenger_id, created, client_ip, user_agent])

    @classmethod
    def decode_device(cls, raw: bytes | None) -> tuple[int, int, str, str] | None:
        """(passenger_id, created_ms, client_ip, user_agent), or None if unreadable."""
        try:
            pid, created, ip, agent = cls._decoder.decode(raw or b"")
        except (msgspec.DecodeError, DamagedSession, TypeError, ValueError):
            return None
        if type(pid) is not int or type(created) is not int:
            return None
        return pid, created, str(ip), str(agent)
