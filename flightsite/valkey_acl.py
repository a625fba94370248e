"""The least-privilege Valkey users of the site: the ONE list of commands and key patterns.

`python manage.py valkey_acl` prints the `ACL SETUSER` commands for the configured topology (or
`--topology standalone|sentinel|cluster`); docs/operations.md shows its output for each, and
tests/test_valkey_acl.py fails when the docs differ. The whole site flow runs as these users on
a real server (tests/test_valkey_acl.py), a real Cluster (tests/test_cluster.py) and a real
Sentinel set (tests/test_sentinel.py). When the site starts using another command, add it to the
grant of the part that sends it.

Each user's keys and commands are assembled from grants: the project's own below (the session
engine, the general cache), and each app's, declared from its AppConfig.ready() with `declare`
(passengers: the login throttle). So the project names no app, and an app's keys and commands
live next to the code that sends them. What the client library sends by itself (to connect, to
find a cluster's slots, to ask Sentinel for the primary) depends on the topology: `_CONNECTION`.

Commands called inside Lua scripts are checked against the user too, so they are listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Topology = Literal["standalone", "sentinel", "cluster"]
TOPOLOGIES: tuple[Topology, ...] = ("standalone", "sentinel", "cluster")

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


# What valkey-py sends by itself, per topology.
# One server, and each server of a Sentinel set (valkey-py's Sentinel-managed connections send
# nothing more than a plain one): PING (health checks, idle connection checks), SELECT (a db
# number in the URL), CLIENT SETINFO (valkey-py names itself on connect; denied, it would fill
# the ACL LOG).
_SERVER = ("ping", "select", "client|setinfo")
_CONNECTION: dict[Topology, tuple[str, ...]] = {
    "standalone": _SERVER,
    "sentinel": _SERVER,
    # valkey-py's ValkeyCluster: CLUSTER SLOTS (the slot map: at start-up, after MOVED and after
    # a node failed), COMMAND (the command table, read once per client to find the keys of a
    # command; a bare COMMAND needs the whole command, its subcommands only describe commands),
    # ASKING (follows an ASK redirection while a slot migrates). No SELECT (a cluster has db 0
    # only), no READONLY (the site reads from primaries only: read_from_replicas is off).
    "cluster": ("ping", "client|setinfo", "cluster|slots", "command", "asking"),
}

SESSION_STORE = Grant(
    store=SESSIONS,
    keys=("flight_session:*",),  # sessions and their owner indexes (valkey_sessions/keys.py)
    commands=(
        # session store (valkey_sessions/scripts.py): a read is a GET; create, compare-and-set,
        # cycle and delete are scripts, loaded once per client (EVAL if a server lost them);
        # exists() is TYPE; a change that lost a race waits its turn: SET NX PX, BLPOP
        "get",
        "evalsha",
        "eval",
        "script|load",
        "type",
        "blpop",
        # inside the store's scripts: TIME (expiry on the server's clock), SET (NX / KEEPTTL /
        # PXAT), DEL, SADD + PEXPIRE (a renewed key's mark), PEXPIRE + INCR + RPUSH (a turn
        # handed on), and the owner index, a sorted set per bucket (ZADD, ZREM, ZRANGE, PTTL,
        # PEXPIREAT; ZREMRANGEBYSCORE is what the release before 2026-12 prunes it with: kept
        # so that a rolling deploy from it works)
        "time",
        "set",
        "del",
        "sadd",
        "pexpire",
        "incr",
        "rpush",
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


def _without_covered(commands: Iterable[str]) -> tuple[str, ...]:
    """Each once, in order, and no `cmd|sub` when the whole `cmd` is granted (it says nothing
    more, and the docs stay short)."""
    unique = dict.fromkeys(commands)
    return tuple(c for c in unique if c.partition("|")[0] == c or c.partition("|")[0] not in unique)


# Where each user's credentials go, per topology, for the comment above its ACL SETUSER.
_WHERE: dict[tuple[str, Topology], str] = {
    (SESSIONS, "standalone"): "VALKEY_URL",
    (SESSIONS, "sentinel"): "VALKEY_USERNAME/VALKEY_PASSWORD, on the primary and every replica",
    (SESSIONS, "cluster"): "VALKEY_CLUSTER_URL, on every node",
    (CACHE, "standalone"): "VALKEY_CACHE_URL",
    (CACHE, "sentinel"): (
        "VALKEY_CACHE_USERNAME/VALKEY_CACHE_PASSWORD, on the primary and every replica"
    ),
    (CACHE, "cluster"): "VALKEY_CACHE_CLUSTER_URL, on every node",
}


def _user(store: str, name: str, purpose: str, topology: Topology) -> ValkeyUser:
    grants = [g for g in _grants if g.store == store]
    # In the order declared, each once: the output (and the docs) stays stable.
    keys = dict.fromkeys(k for g in grants for k in g.keys)
    commands = _without_covered([*_CONNECTION[topology], *(c for g in grants for c in g.commands)])
    where = _WHERE[store, topology]
    return ValkeyUser(name, f"{where}: {purpose}", tuple(keys), commands)


def users(
    sessions: Topology = "standalone", cache: Topology | None = None
) -> tuple[ValkeyUser, ValkeyUser]:
    """The sessions user and the cache user, from every grant declared (apps must be ready), for
    a session store and a cache of these topologies (the cache: the sessions' by default)."""
    return (
        _user(
            SESSIONS,
            "flightsite-sessions",
            "sessions (valkey_sessions) and login throttle counters",
            sessions,
        ),
        _user(
            CACHE,
            "flightsite-cache",
            "the general cache (weather answers and their fetch locks)",
            cache or sessions,
        ),
    )


# On the Sentinels themselves (VALKEY_SENTINEL_USERNAME/PASSWORD): valkey-py's Sentinel client
# asks for the primary with SENTINEL MASTERS (the state of every primary the Sentinel watches:
# it skips one that is down or has no quorum). Nothing else: django-valkey 0.4's SentinelClient
# opens its "replica" pool as a primary pool (both its URLs say is_master=0, a string valkey-py
# takes as true), so it never asks for the replicas (SENTINEL SLAVES); the Sentinel tests'
# ACL LOG check fails if that changes. No key, no channel, nothing that changes Sentinel.
SENTINEL_USER = ValkeyUser(
    "flightsite-sentinel",
    "VALKEY_SENTINEL_USERNAME/VALKEY_SENTINEL_PASSWORD, on every Sentinel: where the primary is",
    keys=(),
    commands=("client|setinfo", "sentinel|masters"),
)


def acl_script(sessions: Topology = "standalone", cache: Topology | None = None) -> str:
    """The commands an operator types at the valkey-cli prompt, with placeholder passwords: the
    data servers' users (on every node: a cluster's masters and replicas, a Sentinel set's
    primary and replicas; ACLs are not replicated), then the Sentinels' user if any."""
    lines = []
    found = list(users(sessions, cache))
    if "sentinel" in (sessions, cache):
        found.append(SENTINEL_USER)
    for user in found:
        lines.append(f"# {user.purpose}")
        lines.append(user.setuser(f"{user.name}-password-here"))
    return "\n".join(lines)
