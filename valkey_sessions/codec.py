"""The stored value of a session, and of an owner index entry (msgpack, never pickle).

A session is the envelope `[2, written_at_ms, device, body]` (see `Envelope`): when the TTL was
last moved, where the session was opened (`encode_device`), then the body, which the CODEC
setting makes from the session dict. The store compares bodies without decoding and reads
`written_at` without the codec.

The default codec, `MsgpackCodec`, stores the dict as a msgpack map: forward-compatible by
construction (a key one release adds is kept, untouched, by an older release that rewrites the
session). A codec is any object with `encode(data: dict) -> bytes` and `decode(body: bytes) ->
dict` (raising `DamagedSession` for a value it cannot read). Values are what JSON can hold, as
with Django's JSONSerializer: anything else raises TypeError at save (`jsonable`).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Protocol

import msgspec

FORMAT_VERSION = 2


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
    """`[2, written_at_ms, device, body]`: the fixed 11-byte header (msgpack fixarray(4), the
    format version, a uint64), the device (msgpack nil, or a bin of at most 255 bytes: where
    the session was opened, for "your devices", see encode_device), then the body. Format 1
    (`[1, written_at_ms, body]`, no device) is still read."""

    HEADER = struct.Struct(">BBBQ")  # fixarray, version (fixint), uint64 marker, written_at

    @classmethod
    def make(cls, written_at: int, device: bytes | None, body: bytes) -> bytes:
        head = cls.HEADER.pack(0x94, FORMAT_VERSION, 0xCF, written_at)
        if not device:
            return head + b"\xc0" + body
        return head + bytes((0xC4, len(device))) + device + body

    @classmethod
    def parts(cls, payload: bytes) -> tuple[int, bytes | None, bytes]:
        """(written_at, device, body); DamagedSession if this is not a value of ours."""
        if len(payload) <= cls.HEADER.size:
            raise DamagedSession("too short")
        marker, version, uint64, written_at = cls.HEADER.unpack_from(payload)
        if uint64 != 0xCF or (marker, version) not in ((0x94, 2), (0x93, 1)):
            if marker in (0x93, 0x94) and uint64 == 0xCF and FORMAT_VERSION < version < 0x80:
                raise DamagedSession(
                    f"format version {version}, this code reads {FORMAT_VERSION}", newer=True
                )
            raise DamagedSession("not a session value of this engine")
        at = cls.HEADER.size
        if version == 1:
            return written_at, None, payload[at:]
        if payload[at] == 0xC0:
            return written_at, None, payload[at + 1 :]
        if payload[at] != 0xC4 or len(payload) < at + 2 + payload[at + 1]:
            raise DamagedSession("damaged device")
        end = at + 2 + payload[at + 1]
        return written_at, payload[at + 2 : end], payload[end:]

    @classmethod
    def body_of(cls, payload: bytes) -> bytes:
        return cls.parts(payload)[2]

    @classmethod
    def written_at(cls, payload: bytes) -> int:
        return cls.parts(payload)[0]


def encode_device(created_ms: int, client_ip: str, label: str) -> bytes:
    """A session's device, at most 255 bytes: the address, `created_s` (4 bytes, big-endian),
    then the label (UTF-8, at most 120 characters). The address is a byte saying its form,
    then the address: 4 (IPv4) or 16 (IPv6) packed bytes, or `0x40 + n` and n bytes of text
    (at most 45) when packing would not give back the same text or would not be shorter; 0 for
    none.

    8 bytes fewer than the msgpack `[created_s, client_ip, label]` that releases before 2026-12
    wrote for 127.0.0.1 (more for longer addresses; still read: `decode_device`), which takes
    most demo sessions' values down a size class of the allocator (README "Memory"). Those
    releases read this as "no device" (a rolling deploy shows "unknown device" on their pages
    for sessions the new one opened, nothing else), never as an error: msgpack of it fails
    with trailing bytes."""
    address = _pack_address(client_ip[:45])  # the shorter of packed and text
    created = (created_ms // 1000).to_bytes(4, "big")
    # the label cut whole characters at a time, so the device stays within a bin8 (255)
    text = label[:120].encode("utf-8")[: 255 - len(address) - 4]
    return address + created + text.decode("utf-8", "ignore").encode("utf-8")


def _pack_address(client_ip: str) -> bytes:
    if not client_ip:
        return b"\x00"
    try:
        packed = ipaddress.ip_address(client_ip).packed
    except ValueError:
        packed = b""
    # packed when that gives back the same text and is shorter ("::1" is not)
    if packed and len(packed) < len(client_ip) and str(ipaddress.ip_address(packed)) == client_ip:
        return bytes((len(packed),)) + packed  # 4 or 16
    text = client_ip.encode("utf-8")[:45]
    return bytes((0x40 + len(text),)) + text


def decode_device(raw: bytes | None) -> tuple[int, str, str] | None:
    """(created_ms, client_ip, label), or None if absent or unreadable. Reads both forms: the
    one encode_device writes, and msgpack `[created_s, client_ip, label]` (fixarray 0x93 first,
    a byte the newer form never starts with)."""
    if not raw:
        return None
    if raw[0] == 0x93:
        return _decode_msgpack_device(raw)
    head = raw[0]
    if head in (0, 4, 16):
        size = head
    elif 0x40 <= head <= 0x40 + 45:
        size = head - 0x40
    else:
        return None
    if len(raw) < 1 + size + 4:
        return None
    address = raw[1 : 1 + size]
    if head in (4, 16):
        ip = str(ipaddress.ip_address(address))
    else:
        ip = address.decode("utf-8", "replace")
    created = int.from_bytes(raw[1 + size : 5 + size], "big")
    return created * 1000, ip, raw[5 + size :].decode("utf-8", "replace")


def _decode_msgpack_device(raw: bytes) -> tuple[int, str, str] | None:
    try:
        created, ip, label = DECODER.decode(raw)
    except (msgspec.DecodeError, DamagedSession, TypeError, ValueError):
        return None
    if type(created) is not int:
        return None
    return created * 1000, str(ip), str(label)
