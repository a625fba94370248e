"""The least-privilege Valkey users of the site: the ONE list of commands and key patterns.

`python manage.py valkey_acl` prints the `ACL SETUSER` commands (README "Valkey ACL" shows its
output; tests/test_valkey_acl.py fails when the README differs, and runs the whole site flow as
these users on a real server). When the site starts using another command, add it to the grant
of the part that sends it.

Each user's keys and commands are assembled from grants: the project's own below (the session
engine, the general cache), and each app's, declared from its AppConfig.ready() with `declare`
(passengers: the login throttle). So the project names no app, and an app's keys and commands
live next to the code that sends them.

Commands called inside Lua scripts are checked against the user too, so they are listed.
"""

from __future__ import annotations

from dataclasses import dataclass

SESSIONS = "sessions"  # VALKEY_URL: the session store (noeviction)
CACHE = "cache"  # VALKEY_CACHE_URL: the general cache (LRU)


@dataclass(frozen=True)
class Grant:
    """What one part of the site sends to one Valkey store: key patterns and commands."""

    store: str  # SESSIONS or CACHE
    keys: tuple[str, ...]
    commands: tuple[str, ...]


@dataclass(frozen=True)
class ValkeyUser:
    name: str
    purpose: str
    keys: tuple[str, ...]
    commands: tuple[str, ...]

    def rules(self, password: str) -> list[str]:
        return [
            "reset",  # no keys, no channels, no commands, no passwords: then grant
            "on",
            f">{password}",
            *(f"~{pattern}" for pattern in self.keys),
            "-@all",
            *(f"+{command}" for command in self.commands),
        ]

    def setuser(self, password: str) -> str:
        return " ".join(["ACL SETUSER", self.name, *self.rules(password)])


# Connection: PING (health checks, idle connection checks), SELECT (a db number in the URL),
# CLIENT SETINFO (valkey-py names itself on connect; denied, it would fill the ACL LOG).
_CONNECTION = ("ping", "select", "client|setinfo")

SESSION_STORE = Grant(
    store=SESSIONS,
    keys=("flight_session:*",),  # sessions and their owner indexes (valkey_sessions/keys.py)
    commands=(
        # session store (valkey_sessions/scripts.py): a read is a GET; create, compare-and-set,
        # cycle and delete are scripts, loaded once per client (EVAL if a server lost them);
        # exists() is TYPE
        "get",
        "evalsha",
        "eval",
        "script|load",
        "type",
        # inside the store's scripts: TIME (expiry on the server's clock), SET (NX / KEEPTTL /
        # PXAT), DEL, SADD + PEXPIRE (a renewed key's mark), and the owner index, a sorted
        # set per bucket (ZADD, ZREM, ZRANGE, ZREMRANGEBYSCORE, PTTL, PEXPIREAT)
        "time",
        "set",
        "del",
        "sadd",
        "pexpire",
        "zadd",
        "zrem",
        "zrange",
        "zremrangebyscore",
        "pexpireat",
        # live sessions (session page, admin, manage.py sessions): peek, SCAN
        "pttl",
        "memory|usage",
        "scan",
    ),
)

GENERAL_CACHE = Grant(
    store=CACHE,
    keys=("flightsite:*",),
    # django-valkey's get / set and add (SET PX [NX]) / delete / has_key
    commands=("get", "set", "del", "exists"),
)

# /healthz (flightsite/health.py): the write probe (a may-write EVAL that writes nothing and asks
# the ACL about SET/DEL on a session key) and valkey_sessions.server_problems (the engine's
# commands, COMMAND INFO; an evicting maxmemory-policy, INFO).
HEALTH = Grant(store=SESSIONS, keys=(), commands=("eval", "info", "command|info"))

_grants: list[Grant] = [SESSION_STORE, GENERAL_CACHE, HEALTH]


def declare(grant: Grant) -> None:
    """Add what a part of the site sends (from its AppConfig.ready(); twice is once)."""
    if grant not in _grants:
        _grants.append(grant)


def _user(store: str, name: str, purpose: str) -> ValkeyUser:
    grants = [g for g in _grants if g.store == store]
    # In the order declared, each once: the output (and the README) stays stable.
    keys = dict.fromkeys(k for g in grants for k in g.keys)
    commands = dict.fromkeys([*_CONNECTION, *(c for g in grants for c in g.commands)])
    return ValkeyUser(name, purpose, tuple(keys), tuple(commands))


def users() -> tuple[ValkeyUser, ValkeyUser]:
    """The sessions user and the cache user, from every grant declared (apps must be ready)."""
    return (
        _user(
            SESSIONS,
            "flightsite-sessions",
            "VALKEY_URL: sessions (valkey_sessions) and login throttle counters",
        ),
        _user(
            CACHE,
            "flightsite-cache",
            "VALKEY_CACHE_URL: the general cache (weather answers and their fetch locks)",
        ),
    )


def acl_script() -> str:
    """The commands an operator types at the valkey-cli prompt, with placeholder passwords."""
    lines = []
    for user in users():
        lines.append(f"# {user.purpose}")
        lines.append(user.setuser(f"{user.name}-password-here"))
    return "\n".join(lines)
