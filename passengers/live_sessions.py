"""Live sessions as people see them: the passenger's "your session" page and devices, the staff
pages in the admin, and `manage.py sessions`. Reading here never extends a session (a peek, not
a load), and ending one deletes it at once (its next request lands on the login page).

Keys, values and scripts are the store's (passengers/session_store.py); this module only reads
them and calls the store's delete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from passengers import session as layout
from passengers.session_store import (
    KEY_CHARS,
    KEY_PREFIX,
    RANDOM_LENGTH,
    TAG_LENGTH,
    DamagedSession,
    SessionCodec,
    delete_sessions,
    index_key,
    now_ms,
    passenger_tags,
    session_key_of,
    sessions_client,
    valkey_key,
)

SCAN_MATCH = KEY_PREFIX + "{*"  # session keys only, not flight_session_index:...
SCAN_COUNT = 1000  # keys Valkey looks at per SCAN call


@dataclass(frozen=True)
class Device:
    created: datetime
    client_ip: str
    user_agent: str

    @property
    def label(self) -> str:
        return describe_user_agent(self.user_agent)


@dataclass
class LiveSession:
    session_key: str
    data: dict[str, Any] | None  # None: stored, but unreadable
    ttl_ms: int  # -1: no TTL, -2: gone
    memory: int | None = None  # bytes of Valkey memory (MEMORY USAGE)
    written_at: int | None = None  # when its TTL last moved (ms): "last seen" within a refresh
    device: Device | None = None
    current: bool = False  # the session of the request looking at it

    @property
    def masked_key(self) -> str:
        """The Valkey key with the secret part cut: enough to recognise, never to use."""
        return mask(self.session_key)

    @property
    def handle(self) -> str:
        return handle_of(self.session_key)

    @property
    def passportno(self) -> str:
        passenger = (self.data or {}).get(layout.PASSENGER) or {}
        return str(passenger.get("passportno", "")) if isinstance(passenger, dict) else ""

    @property
    def passenger_id(self) -> int | None:
        pid = (self.data or {}).get(layout.PASSENGER_ID)
        return pid if type(pid) is int else None

    @property
    def expires_at(self) -> datetime | None:
        if self.ttl_ms < 0:
            return None
        return _from_ms(now_ms() + self.ttl_ms)

    @property
    def ttl_text(self) -> str:
        """The time left, for people: '29 min 5 s', '13 days 23 h'."""
        if self.ttl_ms < 0:
            return "no expiry" if self.ttl_ms == -1 else "ended"
        seconds = self.ttl_ms // 1000
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        if days:
            return f"{days} day{'s' if days > 1 else ''} {hours} h"
        if hours:
            return f"{hours} h {minutes} min"
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"

    @property
    def last_seen(self) -> datetime | None:
        return _from_ms(self.written_at) if self.written_at else None

    @property
    def pretty(self) -> str:
        """The decoded contents, as JSON for people."""
        return json.dumps(self.data, indent=2, ensure_ascii=False, sort_keys=False)


def _from_ms(ms: int) -> datetime:
    # Aware UTC: templates and the command show it in the current time zone.
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def mask(session_key: str) -> str:
    return f"{KEY_PREFIX}{{{session_key[:TAG_LENGTH]}}}{session_key[TAG_LENGTH:][:4]}…"


def handle_of(session_key: str) -> str:
    """An opaque name for a session in forms ("end this one"): pages never carry a key."""
    return hashlib.sha256(b"flightsite.session-handle:" + session_key.encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=512)
def describe_user_agent(user_agent: str) -> str:
    """'Firefox 132 on Linux' from a User-Agent header (ua-parser's regexes)."""
    if not user_agent:
        return "Unknown device"
    import ua_parser  # imported here: compiling its regexes takes a moment, pages rarely need it

    result = ua_parser.parse(user_agent).with_defaults()
    browser = result.user_agent.family
    if result.user_agent.major and result.user_agent.major != "Other":
        browser += f" {result.user_agent.major}"
    system = result.os.family
    return browser if system in ("", "Other") else f"{browser} on {system}"


def _decode(raw: bytes | None) -> tuple[int | None, dict[str, Any] | None]:
    if raw is None:
        return None, None
    try:
        return SessionCodec.decode(raw)
    except DamagedSession:
        return None, None


def _device(raw_entry: bytes | None) -> Device | None:
    try:
        _pid, created, ip, ua = msgspec.msgpack.decode(raw_entry or b"")
        return Device(_from_ms(created), str(ip), str(ua))
    except (msgspec.DecodeError, TypeError, ValueError):
        return None


def _inspect(session_keys: list[str], memory: bool = True) -> list[LiveSession]:
    """Value, TTL (and memory) of each session in one pipelined round trip; gone ones dropped."""
    if not session_keys:
        return []
    pipe = sessions_client().pipeline(transaction=False)
    for key in session_keys:
        pipe.get(valkey_key(key))
        pipe.pttl(valkey_key(key))
        if memory:
            pipe.memory_usage(valkey_key(key))
    results = pipe.execute()
    step = 3 if memory else 2
    sessions = []
    for i, key in enumerate(session_keys):
        raw, ttl = results[i * step], results[i * step + 1]
        if raw is None:
            continue  # ended or expired between the listing and now
        written_at, data = _decode(raw)
        sessions.append(
            LiveSession(
                key, data, ttl, results[i * step + 2] if memory else None, written_at=written_at
            )
        )
    return sessions


def peek(session_key: str | None) -> LiveSession | None:
    """One session as stored, without loading it through the store (no TTL refresh)."""
    if not session_key:
        return None
    found = _inspect([session_key])
    if not found:
        return None
    session = found[0]
    session.device = _devices_of_tags([session_key[:TAG_LENGTH]]).get(session_key)
    return session


def _devices_of_tags(tags: list[str], passenger_id: int | None = None) -> dict[str, Device]:
    """The devices indexes of some tags (one pipelined round trip): session key -> device;
    with `passenger_id`, only that passenger's entries."""
    pipe = sessions_client().pipeline(transaction=False)
    for tag in tags:
        pipe.hgetall(index_key(tag))
    devices = {}
    for tag, entries in zip(tags, pipe.execute() if tags else [], strict=True):
        for raw_field, raw_entry in entries.items():
            field_ = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
            if len(field_) != RANDOM_LENGTH:
                continue
            if passenger_id is not None:
                try:
                    if msgspec.msgpack.decode(raw_entry)[0] != passenger_id:
                        continue  # another passenger whose tag collides: never theirs to see
                except (msgspec.DecodeError, TypeError, IndexError):
                    continue
            device = _device(raw_entry)
            if device is not None:
                devices[tag + field_] = device
    return devices


def sessions_of(passenger_id: int, current: str | None = None) -> list[LiveSession]:
    """A passenger's live sessions (from their devices index), newest first."""
    devices = _devices_of_tags(passenger_tags(passenger_id), passenger_id)
    sessions = _inspect(list(devices))
    for session in sessions:
        session.device = devices[session.session_key]
        session.current = session.session_key == current
    sessions.sort(key=lambda s: (not s.current, -(s.device.created.timestamp() if s.device else 0)))
    return [s for s in sessions if s.passenger_id in (passenger_id, None)]


def end(session_key: str) -> bool:
    """End one session now; False if it was already gone."""
    return delete_sessions([session_key]) > 0


def end_by_handle(passenger_id: int, handle: str) -> bool:
    """End one of this passenger's sessions, named by its handle."""
    for session in sessions_of(passenger_id):
        if session.handle == handle:
            return end(session.session_key)
    return False


def find_by_handle(tag: str, handle: str) -> str | None:
    """The session key of the session with this tag and handle (staff pages name sessions so):
    from the tag's devices index, else by a SCAN of that tag's keys (sessions of no passenger
    are in no index)."""
    if len(tag) != TAG_LENGTH or not all(c in KEY_CHARS for c in tag):
        return None
    for key in _devices_of_tags([tag]):
        if handle_of(key) == handle:
            return key
    for node in _nodes():
        for raw in node.scan_iter(match=f"{KEY_PREFIX}{{{tag}}}*", count=SCAN_COUNT):
            key = session_key_of(raw)
            if key and handle_of(key) == handle:
                return key
    return None


def end_all(passenger_id: int, keep: str | None = None) -> int:
    """End every session of a passenger (but `keep`); one script call per tag."""
    keys = [k for k in _devices_of_tags(passenger_tags(passenger_id), passenger_id) if k != keep]
    return delete_sessions(keys) if keys else 0


# --- walking all sessions (SCAN, never KEYS) -------------------------------------------------


@dataclass
class Page:
    sessions: list[LiveSession]
    next_cursor: str | None  # None: this was the last page
    scanned_nodes: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _nodes() -> list[Any]:
    """The clients to SCAN: the one server, or each primary of a cluster (by name)."""
    client = sessions_client()
    if hasattr(client, "get_primaries"):
        return [
            client.get_valkey_connection(node)
            for node in sorted(client.get_primaries(), key=lambda n: n.name)
        ]
    return [client]


def _parse_cursor(cursor: str) -> tuple[int, int]:
    """'<node>:<cursor>' (node index into _nodes()) — '0' or '' is the start."""
    if not cursor or cursor == "0":
        return 0, 0
    node, _, position = cursor.partition(":")
    if not (node.isdigit() and position.isdigit()):
        raise ValueError(f"not a session list cursor: {cursor!r}")
    return int(node), int(position)


def scan_page(cursor: str = "0", page_size: int = 50) -> Page:
    """One page of all live sessions, in SCAN order (a key may appear twice or a new one be
    missed while keys come and go, as SCAN documents). Raises ValueError for a bad cursor."""
    node_index, position = _parse_cursor(cursor)
    nodes = _nodes()
    keys: list[str] = []
    while node_index < len(nodes) and len(keys) < page_size:
        position, batch = nodes[node_index].scan(
            cursor=position, match=SCAN_MATCH, count=min(SCAN_COUNT, page_size)
        )
        keys += [k for k in (session_key_of(b) for b in batch) if k]
        if position == 0:
            node_index += 1
    next_cursor = None if node_index >= len(nodes) else f"{node_index}:{position}"
    sessions = _inspect(keys)
    tags = {s.session_key[:TAG_LENGTH] for s in sessions if s.passenger_id is not None}
    devices = _devices_of_tags(sorted(tags))
    for session in sessions:
        session.device = devices.get(session.session_key)
    return Page(sessions, next_cursor, scanned_nodes=len(nodes))


def iter_session_keys(progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """Every session key, by SCAN on each node; `progress(n)` after each batch."""
    for node in _nodes():
        position = None
        while position != 0:
            position, batch = node.scan(cursor=position or 0, match=SCAN_MATCH, count=SCAN_COUNT)
            keys = [k for k in (session_key_of(b) for b in batch) if k]
            if progress is not None:
                progress(len(keys))
            yield from keys


def count(progress: Callable[[int], None] | None = None, deadline: float | None = None) -> int:
    """How many sessions (SCAN of every node); stops early once `deadline` (monotonic) has
    passed, so the result is then a lower bound."""
    total = 0
    for node in _nodes():
        position = None
        while position != 0:
            position, batch = node.scan(cursor=position or 0, match=SCAN_MATCH, count=SCAN_COUNT)
            total += len(batch)
            if progress is not None:
                progress(len(batch))
            if deadline is not None and time.monotonic() > deadline:
                return total
    return total


def purge(progress: Callable[[int], None] | None = None, batch: int = 500) -> int:
    """End every session of the site; returns how many existed."""
    ended, pending = 0, []
    for key in iter_session_keys(progress):
        pending.append(key)
        if len(pending) >= batch:
            ended += delete_sessions(pending)
            pending = []
    if pending:
        ended += delete_sessions(pending)
    return ended
