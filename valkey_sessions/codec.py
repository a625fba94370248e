"""The stored value of a session, and of an owner index entry (msgpack, never pickle).

A session is the envelope `[1, written_at_ms, body]`: a fixed 11-byte header (msgpack
fixarray(3), format version 1, a uint64 of when the TTL was last moved), then the body, which
the CODEC setting makes from the session dict. The header's fixed size lets the store compare
bodies without decoding and read `written_at` without the codec.

The default codec, `MsgpackCodec`, stores the dict as a msgpack map: forward-compatible by
construction (a key one release adds is kept, untouched, by an older release that rewrites the
session). A codec is any object with `encode(data: dict) -> bytes` and `decode(body: bytes) ->
dict` (raising `DamagedSession` for a value it cannot read). Values are what JSON can hold, as
with Django's JSONSerializer: anything else raises TypeError at save (`jsonable`).
"""

from __future__ import annotations

import struct
from typing import Any, Protocol

import msgspec

FORMAT_VERSION = 1


class DamagedSession(ValueError):
    """A stored value this code cannot read: not ours, damaged. `newer` is True for a value of
    a newer envelope format (another instance already runs a newer engine: never deleted, never
    treated as "no session")."""

    def __init__(self, reason: str, *, newer: bool = False) -> None:
        super().__init__(reason)
        self.newer = newer


class Codec(Protocol):
    def encode(self, data: dict[str, Any]) -> bytes: ...
    def decode(self, body: bytes) -> dict[str, Any]: ...


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


def _no_ext(code: int, data: memoryview) -> Any:
    raise DamagedSession(f"msgpack extension type {code}: not a value of ours")


ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(ext_hook=_no_ext)


def pack(value: Any) -> bytes:
    """msgpack of a JSON-able value; TypeError for an int beyond 64 bits (msgpack's limit)."""
    try:
        return ENCODER.encode(value)
    except OverflowError as exc:
        raise TypeError(f"session value cannot be stored: {exc}") from exc


def unpack(body: bytes) -> Any:
    try:
        return DECODER.decode(body)
    except (msgspec.DecodeError, ValueError) as exc:
        raise DamagedSession(f"undecodable: {exc}") from exc


class MsgpackCodec:
    """The session dict as a msgpack map."""

    @staticmethod
    def encode(data: dict[str, Any]) -> bytes:
        return pack(jsonable(data))

    @staticmethod
    def decode(body: bytes) -> dict[str, Any]:
        data = unpack(body)
        if type(data) is not dict:
            raise DamagedSession("not a map")
        return data


class Envelope:
    """Header + body (see the module docstring)."""

    HEADER = struct.Struct(">BBBQ")  # fixarray(3), version (fixint), uint64 marker, written_at

    @classmethod
    def header(cls, written_at: int) -> bytes:
        return cls.HEADER.pack(0x93, FORMAT_VERSION, 0xCF, written_at)

    @classmethod
    def body_of(cls, payload: bytes) -> bytes:
        return payload[cls.HEADER.size :]

    @classmethod
    def written_at(cls, payload: bytes) -> int:
        """When the TTL was last moved; DamagedSession if this is not a value of ours."""
        if len(payload) <= cls.HEADER.size:
            raise DamagedSession("too short")
        marker, version, uint64, written_at = cls.HEADER.unpack_from(payload)
        if marker != 0x93 or uint64 != 0xCF:
            raise DamagedSession("not a session value of this engine")
        if version != FORMAT_VERSION:
            raise DamagedSession(
                f"format version {version}, this code reads {FORMAT_VERSION}",
                newer=FORMAT_VERSION < version < 0x80,
            )
        written_at_: int = written_at
        return written_at_


# -- owner index entries --


def encode_device(owner: Any, created: int, client_ip: str, user_agent: str) -> bytes:
    """An owner index entry: [owner, created_ms, client_ip, user_agent]."""
    return ENCODER.encode([owner, created, client_ip, user_agent])


def decode_device(raw: bytes | None) -> tuple[Any, int, str, str] | None:
    """(owner, created_ms, client_ip, user_agent), or None if unreadable."""
    try:
        owner, created, ip, agent = DECODER.decode(raw or b"")
    except (msgspec.DecodeError, DamagedSession, TypeError, ValueError):
        return None
    if type(created) is not int:
        return None
    return owner, created, str(ip), str(agent)
