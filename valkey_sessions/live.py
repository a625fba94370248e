"""Live sessions as people see them: an owner's "your devices" list (end one, end all others),
a staff page in the admin, and `manage.py sessions`. Reading here never extends a session (a
peek, not a load), and ending one deletes it at once (its next request finds no session).

Keys, values and scripts are the store's; this module only reads them (pipelined: one round
trip per step) and calls the store's delete.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .codec import DamagedSession, Envelope, decode_device
from .keys import (
    BUCKET_LENGTH,
    KEY_CHARS,
    TAG_LENGTH,
    index_key,
    mask,
    owner_tags,
    scan_pattern,
    session_key_of,
    valid_key,
    valkey_key,
)
from .scripts import delete_sessions, sessions_client
from .store import EXPIRY_KEY, decode_value, owner_of

SCAN_COUNT = 1000  # keys Valkey looks at per SCAN call
# Every SCAN says TYPE string: owner indexes (sorted sets) and the "moved" marks of renewed
# sessions (sets) share the key pattern and are skipped by the server.
Owner = str | int


def _from_ms(ms: int) -> datetime:
    # Aware UTC: templates and the command show it in the current time zone.
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Device:
    """Where a session was opened (SessionStore.set_device at its creation)."""

    created: datetime
    client_ip: str
    label: str  # what set_device was given as the user agent ("Firefox 132 on Linux")


@dataclass
class LiveSession:
    session_key: str
    data: dict[str, Any] | None  # None: stored, but unreadable
    ttl_ms: int  # -1: no TTL, -2: gone
    raw: bytes | None = None  # the value as stored (SessionStore.use_peeked takes it)
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
    def owner(self) -> Owner | None:
        return owner_of(self.data) if self.data is not None else None

    @property
    def fixed_expiry(self) -> bool:
        """Ends at a date (set_expiry(datetime)), rather than after an idle time."""
        return isinstance((self.data or {}).get(EXPIRY_KEY), str)

    @property
    def expires_at(self) -> datetime | None:
        if self.ttl_ms < 0:
            return None
        return _from_ms(time.time_ns() // 1_000_000 + self.ttl_ms)

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


def handle_of(session_key: str) -> str:
    """An opaque name for a session in forms ("end this one"): pages never carry a key."""
    return hashlib.sha256(b"valkey_sessions.handle:" + session_key.encode()).hexdigest()[:20]


# --- reading ---------------------------------------------------------------------------------


def _queue_inspect(pipe: Any, session_key: str) -> None:
    pipe.get(valkey_key(session_key))
    pipe.pttl(valkey_key(session_key))
    pipe.memory_usage(valkey_key(session_key))


def _inspected(session_key: str, raw: bytes | None, ttl: int, memory: Any) -> LiveSession | None:
    if raw is None:
        return None  # ended or expired between the listing and now
    device = None
    try:
        written_at, data = decode_value(raw)
        found = decode_device(Envelope.parts(raw)[1])
        if found is not None:
            device = Device(_from_ms(found[0]), found[1], found[2])
    except DamagedSession:
        written_at, data = None, None
    return LiveSession(session_key, data, ttl, raw, memory, written_at=written_at, device=device)


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def _inspect(session_keys: list[str]) -> list[LiveSession]:
    """Value, TTL and memory of each session in one pipelined round trip; gone ones dropped."""
    if not session_keys:
        return []
    pipe = sessions_client().pipeline(transaction=False)
    for key in session_keys:
        _queue_inspect(pipe, key)
    results = pipe.execute()
    found = (_inspected(key, *results[i * 3 : i * 3 + 3]) for i, key in enumerate(session_keys))
    return [s for s in found if s is not None]


def _of_tags(members: list[Any], tag: str) -> list[str]:
    """The session keys of a tag among its bucket index's members."""
    bucket, rest = tag[:BUCKET_LENGTH], tag[BUCKET_LENGTH:]
    keys = []
    for raw in members:
        found = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        if found.startswith(rest) and valid_key(bucket + found):
            keys.append(bucket + found)
    return keys


def _indexed(tags: list[str]) -> list[str]:
    """The session keys in the owner index of some tags (one pipelined round trip)."""
    if not tags:
        return []
    pipe = sessions_client().pipeline(transaction=False)
    for tag in tags:
        pipe.zrange(index_key(tag), 0, -1)
    return [
        k for tag, found in zip(tags, pipe.execute(), strict=True) for k in _of_tags(found, tag)
    ]


def _owned(sessions: list[LiveSession], owner: Owner) -> list[LiveSession]:
    # Another owner whose tag collides (41 bits): never theirs to see.
    return [s for s in sessions if s.data is None or _same(s.owner, owner)]


def _newest_first(session: LiveSession) -> float:
    return -(session.device.created.timestamp() if session.device else 0)


def peek(session_key: str | None) -> LiveSession | None:
    """One session as stored, with its device, without loading it through the store (no TTL
    refresh): one round trip."""
    if not session_key:
        return None
    pipe = sessions_client().pipeline(transaction=False)
    _queue_inspect(pipe, session_key)
    return _inspected(session_key, *pipe.execute())


def overview(session_key: str | None) -> tuple[LiveSession, list[LiveSession]] | None:
    """A "your devices" page: this session (peeked) and its owner's other live sessions, newest
    first. Two or three round trips; None when it has no owner."""
    if not session_key:
        return None
    pipe = sessions_client().pipeline(transaction=False)
    _queue_inspect(pipe, session_key)
    pipe.zrange(index_key(session_key), 0, -1)
    raw, ttl, memory, members = pipe.execute()
    current = _inspected(session_key, raw, ttl, memory)
    if current is None or current.owner is None:
        return None
    owner, tag = current.owner, session_key[:TAG_LENGTH]
    keys = _of_tags(members, tag) + _indexed([t for t in owner_tags(owner) if t != tag])
    current.current = True
    others = _owned(_inspect([k for k in keys if k != session_key]), owner)
    others.sort(key=_newest_first)
    return current, others


def sessions_of(owner: Owner, current: str | None = None) -> list[LiveSession]:
    """An owner's live sessions (from their index), the current one first, then newest first."""
    sessions = _owned(_inspect(_indexed(owner_tags(owner))), owner)
    for session in sessions:
        session.current = session.session_key == current
    sessions.sort(key=lambda s: (not s.current, _newest_first(s)))
    return sessions


# --- ending ----------------------------------------------------------------------------------


def end(session_key: str, by: str | None = None) -> bool:
    """End one session now; False if it was already gone. `by` ("staff", "elsewhere", ...):
    who ended it, told to its browser (scripts.ended_by) while a short marker lives."""
    return delete_sessions([session_key], by=by) > 0


def end_by_handle(owner: Owner, handle: str, by: str | None = None) -> bool:
    """End one of this owner's sessions, named by its handle."""
    for session in sessions_of(owner):
        if session.handle == handle:
            return end(session.session_key, by=by)
    return False


def find_by_handle(tag: str, handle: str) -> str | None:
    """The session key of the session with this tag and handle (staff pages name sessions so):
    from the tag's index, else by a SCAN of that tag's keys (sessions of no owner are in no
    index)."""
    if len(tag) != TAG_LENGTH or not all(c in KEY_CHARS for c in tag):
        return None
    for key in _indexed([tag]):
        if handle_of(key) == handle:
            return key
    for node in _nodes():
        for raw in node.scan_iter(match=scan_pattern(tag), count=SCAN_COUNT, _type="string"):
            found = session_key_of(raw)
            if found and handle_of(found) == handle:
                return found
    return None


def end_all(owner: Owner, keep: str | None = None, by: str | None = None) -> int:
    """End every session of an owner (but `keep`: "log out everywhere else"); one script call
    per bucket."""
    keys = [s.session_key for s in sessions_of(owner) if s.session_key != keep]
    return delete_sessions(keys, by=by) if keys else 0


# --- walking all sessions (SCAN, never KEYS) -------------------------------------------------


@dataclass
class Page:
    sessions: list[LiveSession]
    next_cursor: str | None  # None: this was the last page


def _nodes() -> list[Any]:
    """The clients to SCAN: the one server, or each primary of a cluster (by name), as the
    cluster client's own client of that node: whatever a project puts around those (a circuit
    breaker per node, say) covers these calls too."""
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
    if not (node.isascii() and node.isdigit() and position.isascii() and position.isdigit()):
        raise ValueError(f"not a session list cursor: {cursor!r}")
    if len(node) > 4 or int(position) >= 2**64:  # SCAN cursors are 64-bit
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
            cursor=position, match=scan_pattern(), count=min(SCAN_COUNT, page_size), _type="string"
        )
        keys += [k for k in (session_key_of(b) for b in batch) if k]
        if position == 0:
            node_index += 1
    next_cursor = None if node_index >= len(nodes) else f"{node_index}:{position}"
    return Page(_inspect(keys), next_cursor)


def iter_session_keys(progress: Callable[[int], object] | None = None) -> Iterator[str]:
    """Every session key, by SCAN on each node; `progress(n)` after each batch."""
    for node in _nodes():
        position = None
        while position != 0:
            position, batch = node.scan(
                cursor=position or 0, match=scan_pattern(), count=SCAN_COUNT, _type="string"
            )
            keys = [k for k in (session_key_of(b) for b in batch) if k]
            if progress is not None:
                progress(len(keys))
            yield from keys


def count(
    progress: Callable[[int], object] | None = None, deadline: float | None = None
) -> tuple[int, bool]:
    """How many sessions (SCAN of every node), and whether that is all of them: counting
    stops once `deadline` (monotonic) has passed, the number is then a lower bound."""
    total = 0
    for node in _nodes():
        position = None
        while position != 0:
            position, batch = node.scan(
                cursor=position or 0, match=scan_pattern(), count=SCAN_COUNT, _type="string"
            )
            found = sum(1 for b in batch if session_key_of(b))
            total += found
            if progress is not None:
                progress(found)
            if deadline is not None and time.monotonic() > deadline:
                return total, False
    return total, True


def purge(progress: Callable[[int], object] | None = None, batch: int = 500) -> int:
    """End every session of the site; returns how many existed."""
    ended, pending = 0, []
    for key in iter_session_keys(progress):
        pending.append(key)
        if len(pending) >= batch:
            ended += delete_sessions(pending)
            pending = []
    if pending:
        ended += delete_sessions(pending)
    # And the markers of sessions ended earlier (keys.ended_marker_key): nothing is left.
    for node in _nodes():
        markers = list(node.scan_iter(match=scan_pattern() + "*:ended", count=SCAN_COUNT))
        for start in range(0, len(markers), batch):
            pipe = node.pipeline(transaction=False)
            for marker in markers[start : start + batch]:
                pipe.delete(marker)  # one key a command: they lie in many slots
            pipe.execute()
    return ended
