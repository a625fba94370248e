"""The store's writes: Lua scripts, each touching one session and its bucket's owner index (a
sorted set: member = the session key after the bucket, score `+inf`; two keys with one hash
tag, so one cluster slot), atomically.

Why `+inf` and not the session's expiry (what releases before 2026-12 wrote): a listpack
stores `inf` in 5 bytes and a millisecond time in 10, so the index costs 5 bytes less per
session (README "Memory"). An entry is pruned when its session is gone (PTTL -2), checked on
every login in the bucket, instead of by score. Both kinds of entry are read and kept alike, so
a rolling deploy needs nothing: an older release prunes by score (`-inf` to now), which never
touches `+inf`, and its refresh gives an entry a finite score, turned back into `+inf` by the
next refresh here.

`#!lua` (no flags) makes Valkey refuse a whole script up front with a clean OOM or READONLY
error instead of failing half-way; DELETE says `allow-oom`, so deleting works on a full server.
Inside, every command that could meet foreign data at our index key checks its type first, so a
script never stops half-done. Expiry times are decided on the server's clock (`TIME`).
"""

from __future__ import annotations

import hashlib
import inspect
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from valkey.exceptions import ConnectionError, NoScriptError, ReadOnlyError, ResponseError

from . import conf
from .errors import SessionUnavailable
from .keys import BUCKET_LENGTH, ended_marker_key, index_key, member, valid_key, valkey_key

# What the scripts and live.py send (checked by server_problems). PEXPIREAT ... GT needs
# Valkey 7.0 (or Redis 7.0); scripts with flags (#!lua) too.
REQUIRED_COMMANDS = (
    "get", "set", "del", "type", "evalsha", "eval", "script", "scan", "sadd", "pexpire", "pttl",
    "time", "zadd", "zrem", "zrange", "pexpireat", "memory", "rpush", "blpop", "incr",
)  # fmt: skip
FAILOVER_WAIT = 0.8  # seconds a write may wait for Sentinel to name the new primary
DELETE_BATCH = 500  # sessions per DELETE call (the rest in further calls)


def sessions_client() -> Any:
    """The valkey-py client of the session store (the primary, also under Sentinel): from the
    django-valkey cache named by CACHE_ALIAS. Anything else is a configuration error, said
    clearly (the system check `valkey_sessions.E001` says it at start-up)."""
    alias = conf.get("CACHE_ALIAS")
    cache: Any = caches[alias]  # django-valkey's (BaseCache has no .client)
    client: Any = getattr(cache, "client", None)
    kind = type(client)
    if kind not in _SYNC_CLIENTS:  # checked once per client class, not on every load
        get_client = getattr(client, "get_client", None)
        if get_client is None or inspect.iscoroutinefunction(get_client):
            raise ImproperlyConfigured(cache_problem(alias, cache))
        _SYNC_CLIENTS.add(kind)
    return client.get_client(write=True)


_SYNC_CLIENTS: set[type] = set()  # django-valkey client classes with a sync get_client()


def cache_problem(alias: str, cache: Any) -> str:
    kind = f"{type(cache).__module__}.{type(cache).__qualname__}"
    if "async" in kind.lower():
        return (
            f"CACHES[{alias!r}] is {kind}, an async cache: valkey_sessions needs django-valkey's "
            "sync ValkeyCache (or its Sentinel/Cluster variants); its async session methods run "
            "the sync client in a thread."
        )
    return f"CACHES[{alias!r}] is {kind}: valkey_sessions needs a django-valkey cache."


def _is_demoted(exc: BaseException) -> bool:
    """The server we write to has become a replica (a failover): READONLY, or valkey-py's
    Sentinel connection saying so."""
    return isinstance(exc, ReadOnlyError) or "now a slave" in str(exc)


def _server_of(client: Any) -> tuple[Any, ...]:
    """Which server(s) a client talks to: scripts are loaded once per server, not per client
    object (runserver and gthread make one client per thread)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # a cluster client: every primary
        return ("cluster", *sorted(node.name for node in client.get_primaries()))
    kwargs = pool.connection_kwargs
    return (
        kwargs.get("host"),
        kwargs.get("port"),
        kwargs.get("path"),
        getattr(pool, "service_name", None),
    )


class Script:
    """EVALSHA of a script that was loaded (SCRIPT LOAD, with all the others) the first time
    this process wrote to a server, so no page pays a NOSCRIPT round trip; EVAL if a server
    lost it anyway (restart, failover to a replica that never saw it)."""

    all: ClassVar[list[Script]] = []
    _loaded: ClassVar[set[tuple[Any, ...]]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        Script.all.append(self)

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        server = _server_of(client)
        if server not in Script._loaded:
            for script in Script.all:  # on every primary, under Cluster
                client.script_load(script.source)
            with Script._lock:
                Script._loaded.add(server)
        try:
            return self._run(client, keys, args)
        except (ReadOnlyError, ConnectionError) as exc:
            pool: Any = getattr(client, "connection_pool", None)
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
            try:
                return client.evalsha(self.sha, len(keys), *keys, *args)
            except NoScriptError:  # a server that never saw it (restart, a promoted replica)
                return client.eval(self.source, len(keys), *keys, *args)
        except ResponseError as exc:
            if not _unfit(exc):
                raise
            # A server too old for the engine (Redis < 7: no script flags, no PEXPIREAT GT)
            # or missing a command: an outage (503) with the reason, never a 500 at login.
            # server_problems() and the system check name what is missing.
            raise SessionUnavailable(f"the session server cannot run the engine: {exc}") from exc


def _unfit(exc: ResponseError) -> bool:
    text = str(exc).lower()
    return any(
        sign in text
        for sign in (
            "unknown command",
            "error compiling script",
            "unknown redis command",
            "unsupported option",
            "syntax error",
        )
    )


# Expiry arguments: mode 'PX' (ms from now on the server's clock: an idle age) or 'AT' (ms since
# the epoch: a fixed date), or 'KEEPTTL' (a change that does not move the expiry). Every script
# turns them into one PXAT on the server's own clock (TIME), so a date in the past, as the
# server sees it, ends the session whatever the app server's clock says.
_EXPIRY = """
local function expiry(mode, ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if mode == 'PX' then return now + tonumber(ttl), now end
  return tonumber(ttl), now
end
"""

# What a cycled key holds for a while: a set (not a string, so reads see WRONGTYPE, and SCAN
# TYPE string skips it), so a request still holding the old key that changes the session is
# told to repeat (its browser has the new key by then), rather than that the session ended.
MOVED_TTL_MS = 10_000
_MOVED = """
local function moved(key, ttl)
  redis.call('DEL', key)
  redis.call('SADD', key, 'moved')
  redis.call('PEXPIRE', key, ttl)
end
local function current_of(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then return -2 end
  return value
end
"""

# KEYS: session, its bucket's index. ARGV: value, mode, ttl, member ('' = not indexed), the
# owner's part of the member (its tag after the bucket), the per-owner cap (0 = none), the
# longest life of an ended marker (ms; 0 = none). Returns 1 when created, 0 if the key exists
# (a collision), -1 if the date has passed. The index is pruned of entries whose session is
# gone; past the cap, the owner's sessions that expire soonest (the least recently active) are
# ended, each leaving a 'limit' marker (as END does: it says why, at most as long as that
# session would have lived) in the same step.
CREATE = Script(
    """#!lua
"""
    + _EXPIRY
    + """
local at, now = expiry(ARGV[2], ARGV[3])
if at <= now then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', at) then return 0 end
if ARGV[4] == '' then return 1 end
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'zset' and kind ~= 'none' then redis.call('DEL', KEYS[2]) end
local cap, mine = tonumber(ARGV[6]), {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local left = redis.call('PTTL', KEYS[2] .. m)  -- the index key + a member: its session's key
  if left == -2 then
    redis.call('ZREM', KEYS[2], m)
  elseif cap > 0 and m ~= ARGV[4] and string.sub(m, 1, #ARGV[5]) == ARGV[5] then
    if left < 0 then left = math.huge end
    mine[#mine + 1] = {left, m}
  end
end
redis.call('ZADD', KEYS[2], 'inf', ARGV[4])
if redis.call('PTTL', KEYS[2]) < at - now then redis.call('PEXPIREAT', KEYS[2], at) end
if cap <= 0 then return 1 end
table.sort(mine, function(a, b) return a[1] < b[1] end)
local longest = tonumber(ARGV[7])
for i = 1, #mine + 1 - cap do
  local key = KEYS[2] .. mine[i][2]
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[2], mine[i][2])
  if longest > 0 then
    -- at least 1 ms: PTTL is 0 for a key in its last millisecond, and PX 0 is an error
    redis.call('SET', key .. ':ended', 'limit', 'PX', math.max(1, math.min(mine[i][1], longest)))
  end
end
return 1
"""
)

# A session's line of writers (store.py `_wait_turn`): KEYS[3] `:turn` exists while a request
# writes in turn (SET NX PX by the first to wait) and counts the handovers; KEYS[4] `:wake` gets
# one entry when that request is done, `<count>:<the value it wrote>` (or nothing after the
# colon), which wakes the request that waited longest (BLPOP serves the longest blocked client
# first) and spares it asking for the value. Both live TURN_LEASE_MS after the last handover,
# so a request that died in turn holds the line up that long at most; nothing is handed to a
# line that expired.
TURN_LEASE_MS = 2_000
_PASS_TURN = """
local function pass_turn(turn, wake, lease, value)
  if redis.call('PEXPIRE', turn, lease) == 1 then
    redis.call('RPUSH', wake, redis.call('INCR', turn) .. ':' .. value)
    redis.call('PEXPIRE', wake, lease)
  end
end
"""

# KEYS: session, index, the session's :turn and :wake. ARGV: SHA-1 of the value this request
# read, new value, mode, ttl, member ('' = not indexed), the turn's lease in ms when this
# request writes in turn ('' otherwise). Returns 1 when written, -1 when its date has passed
# (it is deleted), -2 when it was renewed (cycled) meanwhile, nil when the session is gone, or
# the current value when another request changed it first. The index lives as long as its
# longest-lived session; an entry an older release gave a finite score gets `+inf` back.
# Every answer but the last ends a turn: it goes to the next, with the value written.
COMPARE_AND_SET = Script(
    """#!lua
"""
    + _EXPIRY
    + _MOVED
    + _PASS_TURN
    + """
local current = current_of(KEYS[1])
if current ~= -2 and current and redis.sha1hex(current) ~= ARGV[1] then return current end
local function done(result, value)
  if ARGV[6] ~= '' then pass_turn(KEYS[3], KEYS[4], ARGV[6], value) end
  return result
end
if current == -2 or not current then return done(current, '') end
if ARGV[3] == 'KEEPTTL' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return done(1, ARGV[2])
end
local at, now = expiry(ARGV[3], ARGV[4])
local indexed = ARGV[5] ~= '' and redis.call('TYPE', KEYS[2]).ok == 'zset'
if at <= now then
  redis.call('DEL', KEYS[1])
  if indexed then redis.call('ZREM', KEYS[2], ARGV[5]) end
  return done(-1, '')
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', at)
if indexed then
  redis.call('ZADD', KEYS[2], 'XX', 'inf', ARGV[5])
  redis.call('PEXPIREAT', KEYS[2], at, 'GT')
end
return done(1, ARGV[2])
"""
)


# KEYS: the session's :turn and :wake. ARGV: the lease (ms). A request that wrote in turn
# and stops without writing (its merge refused the change, say) hands the turn on.
PASS_TURN = Script(
    """#!lua
"""
    + _PASS_TURN
    + """
pass_turn(KEYS[1], KEYS[2], ARGV[1], '')
"""
)

# KEYS: old session, new session (same bucket), index. ARGV: SHA-1 of the value this request
# read, new value, mode, ttl, old member, new member. A new key for the same session
# (cycle_key): compare-and-set on the old key, the new one created, the old one replaced by
# marked moved, the index entry moved, all at once. Returns 1 when done, 0 if the new key exists (a
# collision), -1 if its date has passed, -2 if it was renewed (cycled) meanwhile, nil when the
# session is gone, or its current value when another request changed it first.
CYCLE = Script(
    """#!lua
"""
    + _EXPIRY
    + _MOVED
    + """
local current = current_of(KEYS[1])
if current == -2 or not current then return current end
if redis.sha1hex(current) ~= ARGV[1] then return current end
local at, now = expiry(ARGV[3], ARGV[4])
if at <= now then return -1 end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PXAT', at) then return 0 end
moved(KEYS[1], """
    + str(MOVED_TTL_MS)
    + """)
if redis.call('TYPE', KEYS[3]).ok == 'zset' and redis.call('ZREM', KEYS[3], ARGV[5]) > 0 then
  redis.call('ZADD', KEYS[3], 'inf', ARGV[6])
  redis.call('PEXPIREAT', KEYS[3], at, 'GT')
end
return 1
"""
)

# KEYS: old session. ARGV: SHA-1 of the value this request read. cycle_key to another bucket
# (an anonymous session that gets an owner): after the new key is created (CREATE), the old
# one is marked moved if nobody changed it meanwhile. Returns 1, -2 (renewed meanwhile), nil
# (gone) or the current value.
RETIRE = Script(
    """#!lua
"""
    + _MOVED
    + """
local current = current_of(KEYS[1])
if current == -2 or not current then return current end
if redis.sha1hex(current) ~= ARGV[1] then return current end
moved(KEYS[1], ARGV[2])
return 1
"""
)

# KEYS: sessions of one bucket, then its index. ARGV: their members. Returns how many sessions
# existed. allow-oom: deleting must work on a full server (logout, "end", purge free memory).
DELETE = Script("""#!lua flags=allow-oom
local deleted = 0
for i = 1, #KEYS - 1 do deleted = deleted + redis.call('DEL', KEYS[i]) end
if redis.call('TYPE', KEYS[#KEYS]).ok == 'zset' then
  for i = 1, #ARGV, 100 do
    redis.call('ZREM', KEYS[#KEYS], unpack(ARGV, i, math.min(i + 99, #ARGV)))
  end
end
return deleted
""")


# KEYS: n sessions of one bucket, their index, then the n sessions' ended markers. ARGV: who
# ended them, the markers' longest life (ms), then the n index fields. DELETE, plus a marker for
# each session that existed, in the same step: it lives as long as the session would have (so
# "no marker" still means "expired"), at most ARGV[2]. Returns how many sessions existed.
END = Script("""#!lua flags=allow-oom
local n = (#KEYS - 1) / 2
local deleted = 0
for i = 1, n do
  local left = redis.call('PTTL', KEYS[i])
  if redis.call('DEL', KEYS[i]) == 1 then
    deleted = deleted + 1
    local life = tonumber(ARGV[2])
    if left > 0 and left < life then life = left end
    redis.call('SET', KEYS[n + 1 + i], ARGV[1], 'PX', life)
  end
end
if redis.call('TYPE', KEYS[n + 1]).ok == 'zset' then
  for i = 3, #ARGV, 100 do
    redis.call('ZREM', KEYS[n + 1], unpack(ARGV, i, math.min(i + 99, #ARGV)))
  end
end
return deleted
""")


def delete_sessions(session_keys: Sequence[str], by: str | None = None) -> int:
    """End sessions now (keys and index entries); how many existed. Sessions that share a
    bucket go in one atomic script call (per DELETE_BATCH). `by`: who ended
    them ("staff", "elsewhere", ...), kept in a short-lived marker (keys.ended_marker_key) that
    ended_by() reads; None (a logout by the user themselves) leaves none."""
    by_bucket: dict[str, list[str]] = {}
    for key in session_keys:
        if valid_key(key):
            by_bucket.setdefault(key[:BUCKET_LENGTH], []).append(key)
    max_age_ms = int(conf.get("ENDED_MARKER_MAX_AGE") * 1000)
    client, deleted = sessions_client(), 0
    for bucket, keys in by_bucket.items():
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            fields = [member(k) for k in batch]
            if by and max_age_ms > 0:
                deleted += END(
                    client,
                    [
                        *(valkey_key(k) for k in batch),
                        index_key(bucket),
                        *(ended_marker_key(k) for k in batch),
                    ],
                    [by, max_age_ms, *fields],
                )
            else:
                keys_ = [*(valkey_key(k) for k in batch), index_key(bucket)]
                deleted += DELETE(client, keys_, fields)
    return deleted


def ended_by(session_key: str) -> str | None:
    """Who ended this session, while its marker lives (delete_sessions(..., by=...)); None:
    nobody did (it expired, was never there, or its user logged out). One GET: call it only
    when a cookie names a session that is gone."""
    if not valid_key(session_key):
        return None
    raw = sessions_client().get(ended_marker_key(session_key))
    if raw is None:
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
