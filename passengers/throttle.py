"""Failed-login throttling per client address AND per account, counted in Valkey.

The passport number is the password in this demo, so guessing must be slowed down, whether it
comes from one address (per-client limit) or from many addresses at one account (per-account
limit). The admin login is throttled the same way (account = user name).

How: a counter per client and per account, each starting a window of LOGIN_FAILURE_WINDOW
seconds at its first failure; at its limit the client or account is blocked until the window
ends, and Retry-After says exactly how long that is (the key's PTTL). Checking is one EVALSHA
of a read-only script; a failure is one EVALSHA that counts both and starts the windows
atomically. Both keys share the hash tag {login-fail}, so the two-key scripts also run on a
Valkey Cluster. The counters live on the sessions Valkey (noeviction: filling the cache cannot
wipe them; LRU would), so a login needs no second server.

Why not django-axes or django-ratelimit: axes counts in the database and is built around
Django's auth backends (the passenger login is not one); ratelimit's cache counters are
clock-aligned windows that add + incr non-atomically and cannot tell the remaining block time.
These ~40 lines do exactly the two counters, atomically, with the real Retry-After.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest

from flightsite.valkey_acl import SESSIONS, Grant

KEY_PREFIX = "{login-fail}:"
KEY_PATTERN = KEY_PREFIX + "*"

# What the throttle sends to the sessions Valkey, for its ACL user (flightsite/valkey_acl.py;
# declared in passengers/apps.py): the two scripts (EVALSHA, EVAL if a server lost them,
# SCRIPT LOAD), and inside them GET, PTTL, INCR, PEXPIRE.
VALKEY_ACL = Grant(
    store=SESSIONS,
    keys=(KEY_PATTERN,),
    commands=("evalsha", "eval", "script|load", "get", "pttl", "incr", "pexpire"),
)

# KEYS: counters; ARGV: their limits. Milliseconds until every counter is under its limit.
CHECK_SCRIPT = """#!lua flags=no-writes
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
    wait = math.max(wait, redis.call('PTTL', key))
  end
end
return wait
"""
# KEYS: counters; ARGV[1]: window (ms), ARGV[2..]: limits. Counts one failure on each; returns
# the milliseconds the client or account is blocked from now on (0: still under every limit).
FAIL_SCRIPT = """
local wait = 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  if count >= tonumber(ARGV[i + 1]) then wait = math.max(wait, ttl) end
end
return wait
"""


def _keys_and_limits(request: HttpRequest, kind: str, account: str) -> tuple[list[str], list[int]]:
    client = request.META.get("REMOTE_ADDR") or "unknown"  # the client behind a trusted proxy
    account = account.strip().upper()[:100]  # passports are case-insensitive; so is this count
    keys = [f"{KEY_PREFIX}client:{client}"]
    limits = [settings.LOGIN_FAILURE_LIMIT]
    if account:
        keys.append(f"{KEY_PREFIX}{kind}:{account}")
        limits.append(settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT)
    return keys, limits


def _valkey() -> Any:
    cache: Any = caches["sessions"]  # django-valkey's cache (BaseCache has no .client)
    return cache.client.get_client(write=True)


def blocked_for(request: HttpRequest, kind: str, account: str) -> int:
    """Seconds this client, or anyone trying this `kind` of `account` ("passport", "admin"),
    must still wait (0: not blocked)."""
    keys, limits = _keys_and_limits(request, kind, account)
    wait_ms = _valkey().register_script(CHECK_SCRIPT)(keys=keys, args=limits)
    return math.ceil(int(wait_ms) / 1000)


def record_failure(request: HttpRequest, kind: str, account: str) -> int:
    """Count a failed login; returns the seconds the client or account is now blocked."""
    keys, limits = _keys_and_limits(request, kind, account)
    window_ms = settings.LOGIN_FAILURE_WINDOW * 1000
    wait_ms = _valkey().register_script(FAIL_SCRIPT)(keys=keys, args=[window_ms, *limits])
    return math.ceil(int(wait_ms) / 1000)
