"""Where the site's two Valkey stores live: the session store and the general cache.

Read from the environment by settings (no I/O here: only strings become cache settings).

- The **session store** (cache alias `sessions`) is exactly one of
  `VALKEY_URL` (one server), `VALKEY_SENTINELS` (+ `VALKEY_SENTINEL_SERVICE`: the primary that
  Sentinel names), `VALKEY_CLUSTER_URL` (a Valkey Cluster), or — none of them set — the
  embedded server that `manage.py runserver` starts.
- The **general cache** (alias `default`: weather answers) is one of
  `VALKEY_CACHE_URL`, `VALKEY_CACHE_SENTINEL_SERVICE` (another primary of the same Sentinels),
  `VALKEY_CACHE_CLUSTER_URL`; unset, it follows the session store: the next database number of
  the same server or Sentinel primary (db 0 → db 1), the same cluster (its keys have their own
  prefix; a cluster has only db 0), or the embedded cache server.
- **Credentials**: a URL's own, else `VALKEY_USERNAME`/`VALKEY_PASSWORD`; the cache's
  `VALKEY_CACHE_USERNAME`/`VALKEY_CACHE_PASSWORD` when set (its own least-privilege user, also
  where it follows the session store), and the Sentinels' own
  `VALKEY_SENTINEL_USERNAME`/`VALKEY_SENTINEL_PASSWORD` (flightsite/valkey_acl.py).

Sessions and cache are kept apart so that cache pressure can never evict a session: the
session server runs `maxmemory-policy noeviction` and the cache server an LRU policy (README,
"Sessions are never evicted"). Everything goes through django-valkey's own backends and clients:
`ValkeyCache`, `SentinelClient` + `SentinelConnectionFactory`, `ClusterValkeyCache`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

Kind = Literal["embedded", "standalone", "sentinel", "cluster"]
Role = Literal["sessions", "cache"]

# Where the caches point while no embedded server has been found yet: a port nothing listens
# on, so a request fails fast with the site's 503 page instead of hanging.
NOT_RUNNING_URL = "valkey://127.0.0.1:1/0"
DEFAULT_SENTINEL_SERVICE = "mymaster"
URL_SCHEMES = {"valkey", "valkeys", "redis", "rediss", "unix"}

SESSION_VARS = ("VALKEY_URL", "VALKEY_SENTINELS", "VALKEY_CLUSTER_URL")
CACHE_VARS = ("VALKEY_CACHE_URL", "VALKEY_CACHE_SENTINEL_SERVICE", "VALKEY_CACHE_CLUSTER_URL")

# The OPTIONS keys ValkeyStore.cache_setting derives from the topology (the rest, such as the
# SERIALIZER, are the alias's own): what changes when an alias is pointed at another store.
TOPOLOGY_OPTIONS = frozenset(
    {
        "SOCKET_CONNECT_TIMEOUT",
        "SOCKET_TIMEOUT",
        "CONNECTION_POOL_KWARGS",
        "PARSER_CLASS",
        "BASE_CLIENT_CLASS",
        "BASE_CLIENT_KWARGS",
        "CLIENT_CLASS",
        "CONNECTION_FACTORY",
        "SENTINELS",
        "SENTINEL_KWARGS",
    }
)

STANDALONE_BACKEND = "django_valkey.cache.ValkeyCache"
CLUSTER_BACKEND = "django_valkey.cluster_cache.cache.ClusterValkeyCache"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 1.0
    read: float = 1.0


@dataclass(frozen=True)
class ValkeyStore:
    """One store (`sessions` or `cache`): how django-valkey reaches it."""

    role: Role
    kind: Kind
    location: str
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_username: str = ""  # the Sentinels' own user (valkey_acl.SENTINEL_USER)
    sentinel_password: str = ""
    cluster_nodes: tuple[tuple[str, int], ...] = ()  # further startup nodes after LOCATION's

    @property
    def backend(self) -> str:
        return CLUSTER_BACKEND if self.kind == "cluster" else STANDALONE_BACKEND

    def cache_setting(self, timeouts: Timeouts, **alias: Any) -> dict[str, Any]:
        """A CACHES entry for this store; `alias` adds KEY_PREFIX, KEY_FUNCTION, OPTIONS..."""
        options: dict[str, Any] = dict(alias.pop("OPTIONS", {}))
        if self.kind == "cluster":
            # ClusterConnectionFactory ignores SOCKET_*_TIMEOUT: they go to ValkeyCluster, which
            # hands them to the connection of every node.
            kwargs: dict[str, Any] = {
                "socket_connect_timeout": timeouts.connect,
                "socket_timeout": timeouts.read,
            }
            if self.cluster_nodes:
                from valkey.cluster import ClusterNode

                kwargs["startup_nodes"] = [ClusterNode(h, p) for h, p in self.cluster_nodes]
            options["BASE_CLIENT_KWARGS"] = kwargs
            # Every command behind the circuit breaker of the node it is sent to (outages.py).
            options["BASE_CLIENT_CLASS"] = "flightsite.outages.BreakerValkeyCluster"
        else:
            options.update(
                {
                    "SOCKET_CONNECT_TIMEOUT": timeouts.connect,
                    "SOCKET_TIMEOUT": timeouts.read,
                    "CONNECTION_POOL_KWARGS": {
                        "health_check_interval": 30,
                        "retry_on_timeout": False,
                    },
                    # Every "not now" answer (OOM, BUSY, CLUSTERDOWN...) as its own exception
                    # class, every command behind its server's circuit breaker (outages.py).
                    # Cluster clients have their own parser, which knows these codes.
                    "PARSER_CLASS": "flightsite.outages.OutageParser",
                    "BASE_CLIENT_CLASS": "flightsite.outages.BreakerValkey",
                }
            )
        if self.kind == "sentinel":
            sentinel_kwargs: dict[str, Any] = {
                "socket_connect_timeout": timeouts.connect,
                "socket_timeout": timeouts.read,
            }
            if self.sentinel_password:
                if self.sentinel_username:
                    sentinel_kwargs["username"] = self.sentinel_username
                sentinel_kwargs["password"] = self.sentinel_password
            options.update(
                {
                    "CLIENT_CLASS": "django_valkey.client.SentinelClient",
                    "CONNECTION_FACTORY": "django_valkey.pool.SentinelConnectionFactory",
                    "SENTINELS": list(self.sentinels),
                    "SENTINEL_KWARGS": sentinel_kwargs,
                }
            )
        return {"BACKEND": self.backend, "LOCATION": self.location, **alias, "OPTIONS": options}

    def retarget(self, entry: Mapping[str, Any], timeouts: Timeouts) -> dict[str, Any]:
        """The CACHES entry `entry` (of another store) pointed at this store instead: its own
        settings (KEY_PREFIX, SERIALIZER...) are kept, the topology's replaced."""
        own = {k: v for k, v in entry.items() if k not in {"BACKEND", "LOCATION", "OPTIONS"}}
        options = {k: v for k, v in entry.get("OPTIONS", {}).items() if k not in TOPOLOGY_OPTIONS}
        return self.cache_setting(timeouts, **own, OPTIONS=options)

    def describe(self) -> str:
        """Where the store is, without credentials (for start-up banners and logs)."""
        if self.kind == "sentinel":
            where = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            service = urlsplit(self.location)
            return f"sentinel {where} service {service.hostname} db {service.path.strip('/')}"
        return f"{self.kind} {redact(self.location)}"


@dataclass(frozen=True)
class ValkeyTopology:
    sessions: ValkeyStore
    cache: ValkeyStore

    @property
    def embedded(self) -> tuple[ValkeyStore, ...]:
        """The stores the embedded server must provide (none in production)."""
        return tuple(s for s in (self.sessions, self.cache) if s.kind == "embedded")


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _check_url(name: str, url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in URL_SCHEMES:
        raise ImproperlyConfigured(
            f"{name}={redact(url)!r}: expected a valkey://, valkeys://, redis://, rediss:// "
            "or unix:// URL"
        )
    return url


def with_credentials(url: str, username: str, password: str) -> str:
    """`url` with VALKEY_USERNAME/VALKEY_PASSWORD added, unless it carries credentials."""
    parts = urlsplit(url)
    if not password or parts.password is not None or parts.scheme == "unix":
        return url
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}@"
    return urlunsplit(parts._replace(netloc=userinfo + parts.netloc.rsplit("@", 1)[-1]))


def replace_credentials(url: str, username: str, password: str) -> str:
    """`url` with these credentials instead of its own (the cache's own user on the sessions'
    server, Sentinel primary or cluster)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return url
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    return with_credentials(bare, username, password)


def db_of(url: str) -> int:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    raw = query.get("db") or (parts.path.strip("/") if parts.scheme != "unix" else "") or "0"
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Bad database number {raw!r} in {redact(url)!r}") from exc


def with_db(url: str, db: int) -> str:
    """The same server with another database number (`/N` in the path, `?db=N` for unix://)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "db"]
    if parts.scheme == "unix":  # (urlunsplit would drop the empty host: unix:/path)
        query.append(("db", str(db)))
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}", query=urlencode(query)))


def parse_addresses(name: str, value: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` (IPv6 as `[::1]:26379`) → ((host, port), ...)."""
    addresses = []
    for item in (i.strip() for i in value.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not host:port (expected e.g. 10.0.0.1:26379,10.0.0.2:26379)"
            )
        addresses.append((host, int(port)))
    if not addresses:
        raise ImproperlyConfigured(f"{name} is empty: give host:port,host:port")
    return tuple(addresses)


def _only_one(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    present = [n for n in names if _get(env, n)]
    if len(present) > 1:
        raise ImproperlyConfigured(f"Set only one of {', '.join(present)}: they are alternatives.")
    return present[0] if present else None


def _cluster_store(role: Role, name: str, value: str, creds: tuple[str, str]) -> ValkeyStore:
    """`valkey://[user:pass@]host:port[,host:port...]`: the first node is the LOCATION, the
    others are further startup nodes (used when the first cannot be reached at start-up)."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in URL_SCHEMES - {"unix"}:
        raise ImproperlyConfigured(f"{name}: expected valkey://host:port[,host:port...]")
    userinfo, _, hosts = rest.rpartition("@")
    hosts = hosts.split("/", 1)[0]
    nodes = parse_addresses(name, hosts)
    first = f"{nodes[0][0]}:{nodes[0][1]}"
    if ":" in nodes[0][0]:
        first = f"[{nodes[0][0]}]:{nodes[0][1]}"
    url = f"{scheme}://{userinfo + '@' if userinfo else ''}{first}"
    return ValkeyStore(role, "cluster", with_credentials(url, *creds), cluster_nodes=nodes[1:])


def _sentinel_store(
    role: Role, env: Mapping[str, str], service: str, db: int, creds: tuple[str, str]
) -> ValkeyStore:
    sentinels = parse_addresses("VALKEY_SENTINELS", _get(env, "VALKEY_SENTINELS"))
    if not service.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ImproperlyConfigured(f"Sentinel service name {service!r}: use letters, digits, -_.")
    # django-valkey's SentinelClient takes the service name from the URL's host part (which
    # urllib lower-cases: Sentinel names are case-sensitive, so keep them lower-case).
    if service != service.lower():
        raise ImproperlyConfigured(f"Sentinel service name {service!r} must be lower-case.")
    location = with_credentials(f"valkey://{service}/{db}", *creds)
    return ValkeyStore(
        role,
        "sentinel",
        location,
        sentinels=sentinels,
        sentinel_username=_get(env, "VALKEY_SENTINEL_USERNAME"),
        sentinel_password=_get(env, "VALKEY_SENTINEL_PASSWORD"),
    )


def topology_from_env(env: Mapping[str, str]) -> ValkeyTopology:
    """The session store and the cache described by `env` (normally os.environ)."""
    creds = (_get(env, "VALKEY_USERNAME"), _get(env, "VALKEY_PASSWORD"))
    chosen = _only_one(env, SESSION_VARS)
    if _get(env, "VALKEY_SENTINEL_SERVICE") and chosen != "VALKEY_SENTINELS":
        raise ImproperlyConfigured(
            "VALKEY_SENTINEL_SERVICE needs VALKEY_SENTINELS (the Sentinels to ask)."
        )
    if chosen == "VALKEY_URL":
        url = with_credentials(_check_url(chosen, _get(env, chosen)), *creds)
        sessions = ValkeyStore("sessions", "standalone", url)
    elif chosen == "VALKEY_SENTINELS":
        service = _get(env, "VALKEY_SENTINEL_SERVICE") or DEFAULT_SENTINEL_SERVICE
        sessions = _sentinel_store("sessions", env, service, 0, creds)
    elif chosen == "VALKEY_CLUSTER_URL":
        sessions = _cluster_store("sessions", chosen, _get(env, chosen), creds)
    else:
        sessions = ValkeyStore("sessions", "embedded", NOT_RUNNING_URL)

    # The cache's own user (VALKEY_CACHE_USERNAME/PASSWORD: a least-privilege user of its own,
    # manage.py valkey_acl), for every cache location that carries no credentials, and instead
    # of the sessions' credentials when the cache follows the session store.
    cache_creds = (_get(env, "VALKEY_CACHE_USERNAME"), _get(env, "VALKEY_CACHE_PASSWORD"))
    own = cache_creds if cache_creds[1] else creds
    chosen = _only_one(env, CACHE_VARS)
    if chosen == "VALKEY_CACHE_URL":
        url = with_credentials(_check_url(chosen, _get(env, chosen)), *own)
        cache = ValkeyStore("cache", "standalone", url)
    elif chosen == "VALKEY_CACHE_SENTINEL_SERVICE":
        if not _get(env, "VALKEY_SENTINELS"):
            raise ImproperlyConfigured(
                "VALKEY_CACHE_SENTINEL_SERVICE needs VALKEY_SENTINELS (the Sentinels to ask)."
            )
        cache = _sentinel_store("cache", env, _get(env, chosen), 0, own)
    elif chosen == "VALKEY_CACHE_CLUSTER_URL":
        cache = _cluster_store("cache", chosen, _get(env, chosen), own)
    elif sessions.kind == "embedded":
        cache = ValkeyStore("cache", "embedded", NOT_RUNNING_URL)
    else:
        location = sessions.location
        if sessions.kind != "cluster":  # a cluster has db 0 only: the keys' prefixes differ
            location = with_db(location, next_db(sessions))
        if cache_creds[1]:
            location = replace_credentials(location, *cache_creds)
        cache = ValkeyStore(
            "cache",
            sessions.kind,
            location,
            sentinels=sessions.sentinels,
            sentinel_username=sessions.sentinel_username,
            sentinel_password=sessions.sentinel_password,
            cluster_nodes=sessions.cluster_nodes,
        )
    return ValkeyTopology(sessions, cache)


def next_db(store: ValkeyStore) -> int:
    return db_of(store.location) + 1
