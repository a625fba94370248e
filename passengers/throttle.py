"""Failed-login throttling that hits the attacker, not the account (the idea of django-axes'
"combination" lockout, with one more rule), counted in Valkey.

Three counters, each a window of LOGIN_FAILURE_WINDOW seconds from its first failure:
- per client address (LOGIN_FAILURE_LIMIT, 20): one address guessing at many accounts (or, for
  the passenger login where the passport number is the password, at many passports);
- per (account, client) (LOGIN_FAILURE_LIMIT_PER_CLIENT_AND_ACCOUNT, 5): one address guessing
  at one account;
- per account (LOGIN_FAILURE_LIMIT_PER_ACCOUNT, 10): many addresses guessing at one account.
  Past it, an address that has failed on this account is blocked from it until its own
  failures or the account's window end; an address that has not failed still gets its try. So
  a distributed guesser gets one guess per address per window once the account is under
  attack, and nobody can lock the right password out: the owner, from an address that has not
  failed, still logs in (the admin login included, account = user name).

What a distributed guesser can still do, with the defaults (README "Login throttling"): per
address at most 20 failures per 5 minutes in all (240 an hour); at one account at most
9 + N guesses per 5-minute window from N addresses, about 12 x (9 + N) an hour.

Client addresses: REMOTE_ADDR as TrustedProxyMiddleware leaves it; IPv6 counted per /64 (one
subscriber's prefix, which an attacker rotates through for free). Account names are hashed in
the keys (any length or character a client types stays a short, safe key).

How: checking is one EVALSHA of a read-only script, a failure one EVALSHA that counts all three
and starts their windows atomically; Retry-After is the exact remaining time (PTTL). All keys
share the hash tag {login-fail}, so the scripts also run on a Valkey Cluster. The counters live
on the sessions Valkey (noeviction: filling the cache cannot wipe them).

Why not django-axes: it counts in the database and is built around Django's auth backends (the
passenger login is not one), and its combination lockout blocks the (user, address) pair only,
with no per-account brake on a distributed guesser. django-ratelimit's counters are
clock-aligned windows that add + incr non-atomically and cannot tell the remaining block time.
"""

from __future__ import annotations

import hashlib
import ipaddress
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

# KEYS: client, account, (account, client) [account ones only with an account]; ARGV: client,
# account and pair limits. Milliseconds until this client may try this account (0: now).
_WAIT = """
local function count(key) return tonumber(redis.call('GET', key) or '0') end
local function ttl(key) return math.max(redis.call('PTTL', key), 0) end
local wait = 0
if count(KEYS[1]) >= tonumber(ARGV[1]) then wait = ttl(KEYS[1]) end
if #KEYS == 3 then
  local pair = count(KEYS[3])
  if pair >= tonumber(ARGV[3]) then wait = math.max(wait, ttl(KEYS[3])) end
  if pair >= 1 and count(KEYS[2]) >= tonumber(ARGV[2]) then
    wait = math.max(wait, math.min(ttl(KEYS[2]), ttl(KEYS[3])))
  end
end
return wait
"""
CHECK_SCRIPT = "#!lua flags=no-writes\n" + _WAIT
# The same KEYS and ARGV, and ARGV[4]: the window (ms). Counts one failure on each key, then
# answers like CHECK_SCRIPT.
FAIL_SCRIPT = (
    """#!lua
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[4]) end
end
"""
    + _WAIT
)


def client_key(address: str) -> str:
    """The counter of one client address (IPv6: its /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{KEY_PREFIX}client:{address[:64] or 'unknown'}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"{KEY_PREFIX}client:{ip.ipv4_mapped}"
        return f"{KEY_PREFIX}client:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"{KEY_PREFIX}client:{ip}"


def account_key(kind: str, account: str) -> str:
    """The counter of one account of `kind` ("passport", "admin"); names compared
    case-insensitively (passports are; admin user names rarely differ only in case)."""
    name = account.strip().upper()
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_PREFIX}{kind}:{digest}"


def keys_for(request: HttpRequest, kind: str, account: str) -> list[str]:
    client = client_key(request.META.get("REMOTE_ADDR") or "")
    if not account.strip():
        return [client]
    per_account = account_key(kind, account)
    return [client, per_account, f"{per_account}:{client.removeprefix(KEY_PREFIX)}"]


def _limits() -> list[int]:
    return [
        settings.LOGIN_FAILURE_LIMIT,
        settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT,
        settings.LOGIN_FAILURE_LIMIT_PER_CLIENT_AND_ACCOUNT,
    ]


def _valkey() -> Any:
    cache: Any = caches["sessions"]  # django-valkey's cache (BaseCache has no .client)
    return cache.client.get_client(write=True)


def blocked_for(request: HttpRequest, kind: str, account: str) -> int:
    """Seconds this client must still wait before trying this `kind` of `account` (0: it may
    try now)."""
    keys = keys_for(request, kind, account)
    wait_ms = _valkey().register_script(CHECK_SCRIPT)(keys=keys, args=_limits())
    return math.ceil(int(wait_ms) / 1000)


def record_failure(request: HttpRequest, kind: str, account: str) -> int:
    """Count a failed login; returns the seconds this client is now blocked from it."""
    keys = keys_for(request, kind, account)
    window_ms = settings.LOGIN_FAILURE_WINDOW * 1000
    args = [*_limits(), window_ms]
    wait_ms = _valkey().register_script(FAIL_SCRIPT)(keys=keys, args=args)
    return math.ceil(int(wait_ms) / 1000)
