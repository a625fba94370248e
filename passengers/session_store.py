"""The session engine (`SESSION_ENGINE = "passengers.session_store"`): Django sessions in Valkey.

A complete `SessionBase` implementation, sync and async, written for Valkey rather than on top of
Django's cache backend (whose async half calls cache methods django-valkey's sync cache lacks):

- **Reads write nothing.** Loading a session is one `GET`. The key's TTL is the session's own
  expiry; it is moved forward only when a refresh is due (a tenth of the session's idle age has
  passed since the last one), by the write that saves the session anyway or, on a read-only
  page, by one compare-and-set. So an idle session ends between 0.9 and 1.0 of its idle age after
  the last request, never later, and an active one costs one small write per tenth of its age.
- **Every expiry Django offers** (`set_expiry` with seconds, a datetime, a timedelta, 0, None;
  `SESSION_EXPIRE_AT_BROWSER_CLOSE`): idle ages slide as above, a date is a fixed `PXAT`, a past
  date or a non-positive age ends the session (the key is deleted, no error).
- **Writes are compare-and-set** (a Lua script comparing the SHA-1 of the value this request
  read): a session deleted meanwhile is never written back (UpdateError), and when another
  request wrote first the two changes are merged (`passengers.session.merge`) and the write is
  retried, with a time budget rather than a fixed count.
- **Compact values**: msgpack, the workshop's entries stored positionally in the field order of
  `passengers.session` (see `SessionCodec`); never pickle. Values JSON cannot hold raise
  TypeError at save, as with Django's JSONSerializer. A value that cannot be decoded (damaged,
  foreign, an older layout) is no session: logged, deleted, never a 500.
- **Cluster-safe keys**: `flight_session:{<tag>}<random>`. A logged-in passenger's tag comes
  from their id (a keyed hash), so all their sessions and their devices index
  `flight_session_index:{<tag>}` (a hash with one field per session, each with the session's
  own TTL: expired entries disappear by themselves) live in one slot and change atomically.
- **Outages raise** (never "logged out"): a failed read is remembered for the request, so
  a page that touches the session twice waits on a broken Valkey once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import string
import struct
import time
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import msgspec
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core.cache import caches
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.crypto import get_random_string, salted_hmac
from django_valkey.serializers.json import JSONSerializer
from valkey.exceptions import (
    ConnectionError,
    NoScriptError,
    ReadOnlyError,
    ResponseError,
    ValkeyError,
)

from passengers import session as layout

logger = logging.getLogger(__name__)

KEY_PREFIX = "flight_session:"
INDEX_PREFIX = "flight_session_index:"
KEY_CHARS = string.ascii_lowercase + string.digits
TAG_LENGTH = 8  # the hash tag: one passenger's sessions share it (and a cluster slot)
RANDOM_LENGTH = 32  # 165 bits of randomness: the secret part of the key
KEY_LENGTH = TAG_LENGTH + RANDOM_LENGTH
EXPIRY_KEY = "_session_expiry"  # where Django's set_expiry() keeps a custom expiry
SAVE_BUDGET = 2.0  # seconds a save may spend merging with concurrent writers
REFRESH_FRACTION = 10  # the TTL is moved forward once a tenth of the idle age has passed


class SessionConflict(Exception):
    """A change that could not be stored next to concurrent ones within the time budget, or
    that a merge rule refused. `user_message` says what to do."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class DamagedSession(ValueError):
    """A stored value this code cannot read: not ours, damaged, or of another layout."""


# --- keys -----------------------------------------------------------------------------------


_VALID_KEY = re.compile(f"[a-z0-9]{{{KEY_LENGTH}}}")


def valid_key(key: Any) -> bool:
    return isinstance(key, str) and _VALID_KEY.fullmatch(key) is not None


def valkey_key(session_key: str) -> str:
    """The Valkey key of a session: `flight_session:{<tag>}<random>`."""
    return f"{KEY_PREFIX}{{{session_key[:TAG_LENGTH]}}}{session_key[TAG_LENGTH:]}"


def session_key_of(valkey_key_: str | bytes) -> str | None:
    """The session key (cookie value) back from a Valkey key, or None if it is not one."""
    if isinstance(valkey_key_, bytes):
        valkey_key_ = valkey_key_.decode("ascii", "replace")
    start = len(KEY_PREFIX) + 1
    if not valkey_key_.startswith(KEY_PREFIX + "{") or valkey_key_[start + TAG_LENGTH :][:1] != "}":
        return None
    key = valkey_key_[start : start + TAG_LENGTH] + valkey_key_[start + TAG_LENGTH + 1 :]
    return key if valid_key(key) else None


def index_key(tag: str) -> str:
    """The devices index of the sessions whose key starts with `tag`."""
    return f"{INDEX_PREFIX}{{{tag}}}"


def _base36(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(KEY_CHARS[digit])
    return "".join(digits)


def passenger_tags(passenger_id: int) -> list[str]:
    """The key tag of a passenger's sessions: a keyed hash of the id (the cookie does not show
    it), under SECRET_KEY first, then under each SECRET_KEY_FALLBACKS (sessions made before a
    key rotation keep their old tag)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        _base36(
            int(salted_hmac("flightsite.session-tag", str(passenger_id), secret=s).hexdigest(), 16),
            TAG_LENGTH,
        )
        for s in secrets
    ]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- values ---------------------------------------------------------------------------------


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
    (datetime, Decimal, UUID, bytes, sets...), so a value never silently changes type."""
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


class SessionCodec:
    """The stored value: msgpack `[version, written_at_ms, [passenger_id, passenger, weather,
    flights, other]]`.

    The workshop's entries (passengers.session) are lists in their layout's field order, so a
    session with weather and one flight takes about 230 bytes instead of 590 as JSON. Anything
    else, or an entry that does not fit its layout, goes into `other` as plain values. A slot is
    nil when its key is absent. `written_at_ms` is when the TTL was last moved; it is a fixed
    9-byte uint64 so the header has a fixed size and the body can be compared on its own.
    """

    HEADER = struct.Struct(">BBBQ")  # fixarray(3), version (fixint), uint64 marker, written_at
    _encoder = msgspec.msgpack.Encoder()
    _decoder = msgspec.msgpack.Decoder()

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
    def encode(cls, data: dict[str, Any], written_at: int) -> bytes:
        return cls.header(written_at) + cls.encode_body(data)

    @classmethod
    def header(cls, written_at: int) -> bytes:
        return cls.HEADER.pack(0x93, layout.LAYOUT_VERSION, 0xCF, written_at)

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
            raise DamagedSession(f"layout version {version}, expected {layout.LAYOUT_VERSION}")
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

    @classmethod
    def encode_device(
        cls, passenger_id: Any, created: int, client_ip: str, user_agent: str
    ) -> bytes:
        """A devices index entry: [passenger_id, created_ms, client_ip, user_agent]."""
        return cls._encoder.encode([passenger_id, created, client_ip, user_agent])


_SLOTS = frozenset({layout.PASSENGER_ID, layout.PASSENGER, layout.WEATHER, layout.FLIGHTS})


# --- Lua scripts ------------------------------------------------------------------------------
# `#!lua` (no flags) makes Valkey refuse a whole script up front with a clean OOM/READONLY
# error instead of failing half-way. Both keys of a script share the session's hash tag.


FAILOVER_WAIT = 0.8  # seconds a write may wait for Sentinel to name the new primary


def _is_demoted(exc: BaseException) -> bool:
    """The server we write to has become a replica (a failover): READONLY, or valkey-py's
    Sentinel connection saying so."""
    return isinstance(exc, ReadOnlyError) or "now a slave" in str(exc)


class _Script:
    """EVALSHA of a script that is loaded (SCRIPT LOAD, with all the others) the first time a
    client uses one, so no page pays a NOSCRIPT round trip; EVAL if a server lost it anyway
    (restart, failover to a replica that never saw it)."""

    all: ClassVar[list[_Script]] = []
    _loaded: ClassVar[weakref.WeakSet[Any]] = weakref.WeakSet()

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        _Script.all.append(self)

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if client not in _Script._loaded:
            for script in _Script.all:  # on every primary, under Cluster
                client.script_load(script.source)
            _Script._loaded.add(client)
        try:
            return self._run(client, keys, args)
        except (ReadOnlyError, ConnectionError) as exc:
            pool = getattr(client, "connection_pool", None)
            if not _is_demoted(exc) or not hasattr(pool, "service_name"):
                raise  # not Sentinel: a read-only server stays read-only
            # Sentinel failed over and the pool's connections still talk to the old primary,
            # now a replica (reads went on working there). Drop them, so the next connection
            # asks Sentinel for the new primary, and send the write again: it was refused up
            # front (READONLY), so it never ran. The Sentinels may need a moment to agree on
            # the new primary: a few tries within FAILOVER_WAIT seconds.
            deadline = time.monotonic() + FAILOVER_WAIT
            pause = 0.05
            while True:
                pool.disconnect(inuse_connections=False)
                try:
                    return self._run(client, keys, args)
                except (ReadOnlyError, ConnectionError) as again:
                    if time.monotonic() + pause > deadline or not _is_demoted(again):
                        raise
                time.sleep(pause)
                pause *= 2

    def _run(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a server that never saw it (restart, a promoted replica)
            return client.eval(self.source, len(keys), *keys, *args)


# KEYS: session, index. ARGV: value, expires_at_ms, index field ('' = not indexed), field value.
CREATE = _Script("""#!lua
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
if ARGV[3] ~= '' then
  redis.call('HSETEX', KEYS[2], 'PXAT', ARGV[2], 'FIELDS', 1, ARGV[3], ARGV[4])
end
return 1
""")

# KEYS: session, index. ARGV: SHA-1 of the value this request read, new value, expires_at_ms
# ('0' = keep the TTL), index field. Returns 1 when written, nil when the session is gone, or
# the current value when another request changed it first.
COMPARE_AND_SET = _Script("""#!lua
local current = redis.call('GET', KEYS[1])
if not current then return false end
if redis.sha1hex(current) ~= ARGV[1] then return current end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
  if ARGV[4] ~= '' then redis.call('HPEXPIREAT', KEYS[2], ARGV[3], 'FIELDS', 1, ARGV[4]) end
end
return 1
""")

# KEYS: one or more sessions of one tag, then their index. ARGV: their index fields.
# Returns how many sessions existed.
DELETE = _Script("""#!lua
local deleted = 0
for i = 1, #KEYS - 1 do deleted = deleted + redis.call('DEL', KEYS[i]) end
redis.call('HDEL', KEYS[#KEYS], unpack(ARGV))
return deleted
""")


def delete_sessions(session_keys: Sequence[str]) -> int:
    """End sessions at once (keys and devices index entries); how many existed. Sessions that
    share a tag (one passenger's) go in one atomic script call."""
    by_tag: dict[str, list[str]] = {}
    for key in session_keys:
        if valid_key(key):
            by_tag.setdefault(key[:TAG_LENGTH], []).append(key)
    client, deleted = sessions_client(), 0
    for tag, keys in by_tag.items():
        deleted += DELETE(
            client,
            [*(valkey_key(k) for k in keys), index_key(tag)],
            [k[TAG_LENGTH:] for k in keys],
        )
    return deleted


def sessions_client() -> Any:
    """The valkey-py client of the session store (the primary, also under Sentinel)."""
    return caches[settings.SESSION_CACHE_ALIAS].client.get_client(write=True)


def _digest(payload: bytes) -> str:
    return hashlib.sha1(payload, usedforsecurity=False).hexdigest()


def _mask(session_key: str | None) -> str:
    return f"{session_key[: TAG_LENGTH + 4]}…" if session_key else "-"


# --- the store ----------------------------------------------------------------------------------


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._stored: bytes | None = None  # the value as read or last written
        self._written_at = 0  # when the TTL was last moved (ms), from the stored value
        self._loaded_expiry: Any = None  # _session_expiry as read, to notice set_expiry()
        self._refresh_due = False
        self._load_error: BaseException | None = None
        self._device: tuple[str, str] = ("", "")

    # -- keys --

    def _validate_session_key(self, key: str | None) -> bool:
        # Only keys this store could have made ever reach Valkey: a forged cookie is no session.
        return valid_key(key)

    def _get_new_session_key(self) -> str:
        # No EXISTS probe: create() uses SET NX, so the rare collision is retried there.
        data = getattr(self, "_session_cache", None) or {}
        pid = data.get(layout.PASSENGER_ID)
        tag = (
            passenger_tags(pid)[0] if type(pid) is int else get_random_string(TAG_LENGTH, KEY_CHARS)
        )
        return tag + get_random_string(RANDOM_LENGTH, KEY_CHARS)

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()

    def cycle_key(self) -> None:
        self._keep_device()
        super().cycle_key()

    async def acycle_key(self) -> None:
        await sync_to_async(self._keep_device, thread_sensitive=False)()
        await super().acycle_key()

    def _keep_device(self) -> None:
        """A new key for the same login keeps its entry in the devices list."""
        key = self.session_key
        if key is None or self._device != ("", ""):
            return
        entry = sessions_client().hget(index_key(key[:TAG_LENGTH]), key[TAG_LENGTH:])
        try:
            _pid, _created, ip, agent = msgspec.msgpack.decode(entry or b"")
            self._device = (str(ip), str(agent))
        except (msgspec.DecodeError, TypeError, ValueError):
            pass

    def set_device(self, *, client_ip: str = "", user_agent: str = "") -> None:
        """Where this session is used from, for the passenger's list of devices (stored in the
        devices index when the session is created)."""
        self._device = (client_ip[:45], user_agent[:256])

    def use_peeked(self, data: dict[str, Any]) -> None:
        """Take data read by a peek (passengers.live_sessions) as this request's session, so
        the page header does not load it again (a load may move the TTL; a peek never does)."""
        self._session_cache = data

    # -- expiry --

    def _idle_age(self, expiry: Any) -> int | None:
        """Seconds of inactivity that end the session; None when it ends at a fixed date."""
        if not expiry:  # None or 0 (browser close): the server side keeps the default age
            return self.get_session_cookie_age()
        if isinstance(expiry, str):
            return None
        return int(expiry)

    def _expires_at(self, data: dict[str, Any], now: int) -> int:
        """When the key must disappear (ms since the epoch); <= now means "ended"."""
        expiry = data.get(EXPIRY_KEY)
        age = self._idle_age(expiry)
        if age is None:
            try:
                return int(datetime.fromisoformat(expiry).timestamp() * 1000)
            except ValueError:
                return now + self.get_session_cookie_age() * 1000
        return now + age * 1000

    def _is_refresh_due(self, data: dict[str, Any], written_at: int, now: int) -> bool:
        age = self._idle_age(data.get(EXPIRY_KEY))
        if age is None or age <= 0:
            return False
        return now - written_at >= max(1000, age * 1000 // REFRESH_FRACTION)

    # -- reading --

    def _get_session(self, no_load: bool = False) -> dict[str, Any]:
        if self._load_error is not None and not hasattr(self, "_session_cache"):
            self.accessed = True
            raise self._load_error  # Valkey failed once in this request: do not wait again
        return super()._get_session(no_load)

    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        if self._load_error is not None and not hasattr(self, "_session_cache"):
            self.accessed = True
            raise self._load_error
        return await super()._aget_session(no_load)

    _session = property(_get_session)  # SessionBase binds its own _get_session here

    def load(self) -> dict[str, Any]:
        key = self.session_key
        if key is None:
            return {}
        try:
            raw = sessions_client().get(valkey_key(key))
        except ResponseError as exc:
            if not str(exc).startswith("WRONGTYPE"):
                self._load_error = exc
                raise
            raw = b"<not a string>"  # foreign data at our key: treated as damaged, below
        except Exception as exc:
            self._load_error = exc
            raise
        return self._accept(raw)

    async def aload(self) -> dict[str, Any]:
        return await sync_to_async(self.load, thread_sensitive=False)()

    def _accept(self, raw: bytes | None) -> dict[str, Any]:
        self._stored = None
        if raw is None:
            self._session_key = None
            return {}
        try:
            written_at, data = SessionCodec.decode(raw)
        except DamagedSession as exc:
            logger.warning(
                "Session %s is unreadable (%s): treated as no session, key deleted",
                _mask(self.session_key),
                exc,
            )
            self._delete_quietly(self.session_key)
            self._session_key = None
            return {}
        now = now_ms()
        if self._expires_at(data, now) <= now and isinstance(data.get(EXPIRY_KEY), str):
            self._delete_quietly(self.session_key)  # its fixed date has passed
            self._session_key = None
            return {}
        self._stored, self._written_at = raw, written_at
        self._loaded_expiry = data.get(EXPIRY_KEY)
        if self._is_refresh_due(data, written_at, now):
            # Saved (by the middleware, with whatever else this request changes) to move the
            # TTL forward. Most reads are not due and write nothing.
            self._refresh_due = True
            self.modified = True
        return data

    def _delete_quietly(self, session_key: str | None) -> None:
        try:
            self.delete(session_key)
        except Exception as exc:  # best effort: the value is unusable either way
            logger.warning("Could not delete session %s: %s", _mask(session_key), exc)

    # -- writing --

    def exists(self, session_key: str | None) -> bool:
        return valid_key(session_key) and bool(sessions_client().exists(valkey_key(session_key)))

    async def aexists(self, session_key: str | None) -> bool:
        return await sync_to_async(self.exists, thread_sensitive=False)(session_key)

    def create(self) -> None:
        for _ in range(100):
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # a key collision (SET NX refused): draw another
            self.modified = True
            return
        raise RuntimeError("Unable to create a new session key.")

    async def acreate(self) -> None:
        await sync_to_async(self.create, thread_sensitive=False)()

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if must_create:
            return self._create(data)
        return self._update(data)

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save, thread_sensitive=False)(must_create)

    @staticmethod
    def _index_field(data: dict[str, Any], key: str) -> str:
        """The session's field in its passenger's devices index; '' when it has none (not
        logged in, or a key not made for this passenger)."""
        pid = data.get(layout.PASSENGER_ID)
        if type(pid) is not int or key[:TAG_LENGTH] not in passenger_tags(pid):
            return ""
        return key[TAG_LENGTH:]

    def _create(self, data: dict[str, Any]) -> None:
        key = self.session_key
        assert key is not None
        now = now_ms()
        expires_at = self._expires_at(data, now)
        if expires_at <= now:
            return  # born expired: there is nothing to keep
        payload = SessionCodec.encode(data, now)
        field = self._index_field(data, key)
        meta = SessionCodec.encode_device(data.get(layout.PASSENGER_ID), now, *self._device)
        created = CREATE(
            sessions_client(),
            [valkey_key(key), index_key(key[:TAG_LENGTH])],
            [payload, expires_at, field, meta],
        )
        if not created:
            raise CreateError
        self._stored, self._written_at = payload, now
        self._loaded_expiry = data.get(EXPIRY_KEY)
        self._refresh_due = False

    def _update(self, data: dict[str, Any]) -> None:
        key = self.session_key
        assert key is not None
        client = sessions_client()
        now = now_ms()
        expires_at = self._expires_at(data, now)
        if expires_at <= now:
            # A past date or a non-positive age: the session ends here (Django's own backends
            # store it and never load it again; deleting it frees the key at once).
            self.delete(key)
            return
        if self._stored is None:
            # Written without being read (clear(), a cleared-then-filled session): compare
            # with what is there now, so a deleted session is still never written back.
            raw = client.get(valkey_key(key))
            if raw is None:
                raise UpdateError
            try:
                self._written_at, _ = SessionCodec.decode(raw)
            except DamagedSession:
                raise UpdateError from None
            self._stored = raw
        move_ttl = self._refresh_due or data.get(EXPIRY_KEY) != self._loaded_expiry
        body = SessionCodec.encode_body(data)
        if not move_ttl and body == SessionCodec.body_of(self._stored):
            return  # nothing changed: no write
        field = self._index_field(data, key)
        only_refresh = body == SessionCodec.body_of(self._stored)
        deadline = time.monotonic() + SAVE_BUDGET
        conflicts = 0
        while True:
            written_at = now if move_ttl else self._written_at
            payload = SessionCodec.header(written_at) + body
            try:
                result = COMPARE_AND_SET(
                    client,
                    [valkey_key(key), index_key(key[:TAG_LENGTH])],
                    [_digest(self._stored), payload, expires_at if move_ttl else 0, field],
                )
            except ValkeyError as exc:
                if not only_refresh:
                    raise
                # Moving the TTL of an unchanged session is not worth an error page (the
                # session still has most of its age left): the next request tries again.
                logger.warning("Session %s: TTL refresh skipped: %s", _mask(key), exc)
                return
            if result == 1:
                self._stored, self._written_at = payload, written_at
                self._loaded_expiry = data.get(EXPIRY_KEY)
                self._refresh_due = False
                return
            if result is None:
                raise UpdateError  # deleted meanwhile (logout in another tab): never recreate
            data, body = self._merge_with(result, data)
            if body is None:
                return  # only the TTL was ours to move, and the other writer just did
            conflicts += 1
            if time.monotonic() > deadline:
                raise SessionConflict(
                    "Your change could not be saved: too many changes to your session at "
                    "the same moment. Please try again."
                )
            if conflicts > 1:  # back off a little, with jitter, so the writers spread out
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**conflicts)))
            now = now_ms()
            expires_at = self._expires_at(data, now)

    def _merge_with(
        self, theirs_raw: bytes, mine: dict[str, Any]
    ) -> tuple[dict[str, Any], bytes | None]:
        """Merge this request's change into the value another request stored first; returns the
        merged data and its body, or body None when there is nothing of ours left to write."""
        try:
            their_written_at, theirs = SessionCodec.decode(theirs_raw)
            _, base = SessionCodec.decode(self._stored or b"")
        except DamagedSession:
            raise UpdateError from None  # replaced by something unreadable: treat as gone
        only_ttl = SessionCodec.encode_body(mine) == SessionCodec.body_of(self._stored or b"")
        self._stored, self._written_at = theirs_raw, their_written_at
        if only_ttl:
            self._session_cache = theirs
            self._loaded_expiry = theirs.get(EXPIRY_KEY)
            self._refresh_due = False
            return theirs, None
        try:
            merged = layout.merge(base, mine, theirs)
        except layout.MergeRejected as exc:
            self._session_cache = theirs  # what is stored; this request's change is refused
            raise SessionConflict(exc.user_message) from exc
        self._session_cache = merged
        return merged, SessionCodec.encode_body(merged)

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        delete_sessions([session_key])
        if session_key == self.session_key:
            self._stored = None

    async def adelete(self, session_key: str | None = None) -> None:
        await sync_to_async(self.delete, thread_sensitive=False)(session_key)

    @classmethod
    def clear_expired(cls) -> None:
        pass  # Valkey expires keys (and index entries) by itself

    @classmethod
    async def aclear_expired(cls) -> None:
        pass


# --- the general cache's serializer (settings.CACHES["default"]) -----------------------------


class CompactJSONSerializer(JSONSerializer):
    """JSON without the default ", "/": " padding, for the general cache (weather results,
    throttle counters): small values, readable in MONITOR, never pickle."""

    def dumps(self, value: Any) -> bytes:
        return json.dumps(
            value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
        ).encode()


def make_session_cache_key(key: str, key_prefix: str, version: int | None) -> str:
    """KEY_FUNCTION of the `sessions` cache alias (the store builds its keys itself)."""
    return f"{key_prefix}{key}"
