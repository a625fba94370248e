"""Dependency outages in one place: which errors mean "Valkey or a database cannot serve us right
now" (a 503 with Retry-After, the user keeps their session and what they typed) and which are
bugs (a 500 to fix), the 503 responses, and a small circuit breaker per dependency.

Valkey (sessions, cache):
- every connection-level failure: refused, reset, timeout (a hung server), wrong password,
  too many clients, `LOADING`, and the breaker being open (`valkey.exceptions.ConnectionError`
  and `TimeoutError`);
- the server refusing commands for now: `OOM` (noeviction and full), `READONLY` (a replica,
  e.g. during a failover), `NOPERM` (an ACL user without a needed command or key), `BUSY` (a
  script running), `MASTERDOWN`, `NOREPLICAS`, `MISCONF` (cannot persist), and the cluster
  errors (`CLUSTERDOWN`, `TRYAGAIN`, `MOVED`/`ASK` storms, slots not covered). valkey-py's
  parsers only know some of these codes: `OutageParser` (one server, Sentinel) and
  `ClusterOutageParser` (a cluster's connections) map the rest to classes.
- everything else (`WRONGTYPE`, a syntax error, `CROSSSLOT`, an unknown command) is a bug: 500.

Databases: connection-level `OperationalError`/`InterfaceError` (can't connect, gone away, lost
connection / read timeout, too many connections, lock wait timeout, deadlock); a MySQL error
about the query itself (unknown column, syntax) stays a 500 even though MySQLdb also raises it
as OperationalError.

The breaker (per process, per dependency): after `BREAKER_FAILURES` consecutive connection
failures or timeouts the dependency is "open": calls fail at once (503 in a millisecond instead
of a socket timeout each, so a hung dependency does not hold every worker). While open, a
background thread probes it every `BREAKER_PROBE_SECONDS` (a PING, a bare connect) and closes it
on the first answer, so the site serves again within about that time after the dependency is
back, and no user request is spent on probing. Only failures that cost time count: an `OOM` or
`NOPERM` answer comes back at once and proves the server is alive. On a Cluster there is one
breaker per node, for the client's commands, its pipelines and its clients of each node (the
slot-map reads, the session engine's SCAN) alike, and a call pays at most one socket timeout
per node, as on one server (valkey-py would send a command that timed out again).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import valkey
import valkey.client
import valkey.cluster
import valkey.exceptions as vx
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django_valkey.exceptions import ConnectionInterrupted
from valkey.connection import parse_url
from valkey.utils import str_if_bytes

if TYPE_CHECKING:
    # valkey-py picks DefaultParser at import (libvalkey's when installed, else pure Python):
    # a variable, so the checker sees the base class both share.
    from valkey._parsers import BaseParser as DefaultParser
else:
    from valkey.connection import DefaultParser

logger = logging.getLogger(__name__)


# --- Valkey ------------------------------------------------------------------------------------
class ServerUnavailableError(vx.ResponseError):
    """The server answered but refuses commands for now (BUSY, NOREPLICAS, MISCONF)."""


class ValkeyCircuitOpen(vx.ConnectionError):
    """The breaker of this Valkey dependency is open: not even tried."""


# Error codes a plain (non-cluster) client maps to generic ResponseError; we name them.
_OUTAGE_CODES: dict[str, type[Exception]] = {
    "BUSY": ServerUnavailableError,
    "NOREPLICAS": ServerUnavailableError,
    "MISCONF": ServerUnavailableError,
    "MASTERDOWN": vx.MasterDownError,
    "CLUSTERDOWN": vx.ClusterDownError,
    "TRYAGAIN": vx.TryAgainError,
    "MOVED": vx.MovedError,
    "ASK": vx.AskError,
}


def _script_acl_failure(response: str) -> Exception | None:
    # A command a Lua script may not run comes back as a plain ERR, not NOPERM.
    if response.startswith("ERR ACL failure in script"):
        return vx.NoPermissionError(response[4:])
    return None


class OutageParser(DefaultParser):
    """valkey-py's parser, knowing every error code that means "not now" (see _OUTAGE_CODES).

    django-valkey's PARSER_CLASS option; cluster clients have their own parser with these.
    """

    EXCEPTION_CLASSES = {**DefaultParser.EXCEPTION_CLASSES, **_OUTAGE_CODES}

    @classmethod
    def parse_error(cls, response: str) -> Exception:
        error: Exception = super().parse_error(response)  # type: ignore[no-untyped-call]
        return _script_acl_failure(response) or error


class ClusterOutageParser(valkey.cluster.ClusterParser):
    """The cluster client's parser (which knows MOVED, ASK, CLUSTERDOWN...), knowing the other
    "not now" codes and a Lua script's ACL failure too, as OutageParser does for one server.
    BreakerValkeyCluster sets it on every connection (the cluster client sets its own parser,
    whatever django-valkey's PARSER_CLASS says)."""

    EXCEPTION_CLASSES = {**valkey.cluster.ClusterParser.EXCEPTION_CLASSES, **_OUTAGE_CODES}

    @classmethod
    def parse_error(cls, response: str) -> Exception:
        error: Exception = super().parse_error(response)
        return _script_acl_failure(response) or error


# For `except STORE_ERRORS:`. ConnectionInterrupted is django-valkey's wrapper around whatever
# its cache API (cache.get/set/...) raised, bugs included: is_store_outage() looks inside it.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionInterrupted,
    vx.ConnectionError,  # refused, reset, AUTH, LOADING, max clients, breaker open
    vx.TimeoutError,
    TimeoutError,  # socket.timeout
    vx.OutOfMemoryError,
    vx.ReadOnlyError,
    vx.NoPermissionError,
    ServerUnavailableError,
    vx.ClusterError,  # CLUSTERDOWN, MASTERDOWN, "TTL exhausted" after MOVED/ASK/TRYAGAIN storms
    vx.TryAgainError,
    vx.AskError,  # and MovedError
    vx.ValkeyClusterException,  # SlotNotCoveredError
)
_STORE_CAUSES = STORE_ERRORS[1:]


def is_store_outage(exc: BaseException) -> bool:
    """True when `exc` means Valkey cannot serve us now (503), False for a bug (500)."""
    if isinstance(exc, ConnectionInterrupted):
        cause = exc.__cause__
        return cause is None or is_store_outage(cause)
    return isinstance(exc, _STORE_CAUSES)


# --- databases ---------------------------------------------------------------------------------
DB_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
# MySQL/MariaDB error numbers that mean "the server, not the query": too many connections,
# shutdown, lock wait timeout, deadlock, connection killed, statement time limit, idle timeout,
# and every client-side error (2000-2999: can't connect, gone away, lost connection...).
MYSQL_OUTAGE_CODES = frozenset({1040, 1053, 1205, 1213, 1927, 1969, 3024, 4031})


class DatabaseCircuitOpen(OperationalError):
    """The breaker of this database is open: no connection was even tried."""


def mysql_error_is_outage(code: object) -> bool:
    return isinstance(code, int) and (code in MYSQL_OUTAGE_CODES or 2000 <= code < 3000)


def is_db_outage(exc: BaseException) -> bool:
    """True when a database error means "unavailable now" (503), False for a bug (500)."""
    if not isinstance(exc, DB_ERRORS):
        return False
    cause = exc.__cause__
    code = cause.args[0] if cause is not None and cause.args else None
    if type(cause).__module__.startswith("MySQLdb") and isinstance(code, int):
        return mysql_error_is_outage(code)
    return True  # SQLite (locked, unable to open), our own breaker, unknown drivers


# --- circuit breaker ---------------------------------------------------------------------------
Clock = Callable[[], float]


class Breaker:
    """Consecutive-failure circuit breaker (thread-safe, per process).

    Closed: every call goes through. After `threshold` connection failures or timeouts in a row
    it opens: calls fail at once (a 503 in a millisecond, not a socket timeout each). While
    open, the dependency is probed every `probe_seconds`:
    - with a `probe` (a cheap call that bypasses the breaker: PING, a bare connect), by one
      background thread, so no request ever waits on a dead dependency and the first request
      after the probe succeeds is served (the outage ends at most `probe_seconds` plus one
      round trip after the dependency is back);
    - without one, by letting one request through every `probe_seconds` (half-open).
    One log line per transition, with counts (requests refused while open, probes), never one
    per refused request. `clock` is injectable for tests.
    """

    # Seconds on a monotonic clock: tests move it forward instead of sleeping (the class's, or
    # one given to a breaker).
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        name: str,
        failures: int,
        probe_seconds: float,
        error: Callable[[str], Exception],
        probe: Callable[[], object] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.threshold = failures  # 0 turns the breaker off
        self.probe_seconds = probe_seconds
        self.error = error
        self.probe = probe
        if clock is not None:
            self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None  # None: closed
        self.next_probe = 0.0  # half-open without a background probe: when a request may try
        self.refused = 0  # requests refused in the current open period
        self.probes = 0  # probes that failed in the current open period
        self.last_error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self._closed = threading.Event()
        self._closed.set()
        # Connection pools of this dependency (Valkey): their idle connections are dropped when
        # a probe closes the breaker, so that none left over from before a restart fails the
        # first requests (and opens the breaker again).
        self.pools: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    @property
    def state(self) -> str:
        return "open" if self.opened_at is not None else "closed"

    def allow(self) -> None:
        """Raise at once while open. Without a background probe, let one caller through every
        `probe_seconds` as the probe (the others keep failing fast)."""
        if self.opened_at is None:
            return
        with self._lock:
            if self.opened_at is None:
                return
            if self.probe is None and self.clock() >= self.next_probe:
                self.next_probe = self.clock() + self.probe_seconds  # this caller probes
                return
            self.refused += 1
        raise self.error(f"{self.name}: circuit open after {self.failures} failures")

    def success(self) -> None:
        if self.failures or self.opened_at is not None:
            with self._lock:
                self._close("a request")

    def failure(self, error: BaseException | str = "") -> None:
        if not self.threshold:
            return
        with self._lock:
            self.failures += 1
            self.last_error = str(error)[:200]
            if self.opened_at is not None:
                if self.probe is None:  # the request that probed failed: wait again
                    self.probes += 1
                    self.next_probe = self.clock() + self.probe_seconds
                return
            if self.failures < self.threshold:
                return
            self.opened_at = self.clock()
            self._closed.clear()
            self.next_probe = self.opened_at + self.probe_seconds
            self.refused = self.probes = 0
            logger.error(
                "%s: circuit open after %d failures in a row (%s); probing every %.2g s",
                self.name,
                self.failures,
                self.last_error or "no detail",
                self.probe_seconds,
            )
            if self.probe is not None and self._prober is None and not self._stop.is_set():
                self._prober = threading.Thread(
                    target=self._probe_loop, name=f"breaker probe: {self.name}", daemon=True
                )
                self._prober.start()

    def _close(self, by: str) -> None:
        """Close (lock held); one line if it was open."""
        if self.opened_at is not None:
            logger.warning(
                "%s: circuit closed after %.2f s open (%s answered): %d requests refused, "
                "%d failed probes",
                self.name,
                self.clock() - self.opened_at,
                by,
                self.refused,
                self.probes,
            )
        self.failures = 0
        self.opened_at = None
        self._closed.set()

    def wait_closed(self, timeout: float) -> bool:
        """Block until the breaker is closed (True) or `timeout` passed (False)."""
        return self._closed.wait(timeout)

    def probe_once(self) -> bool:
        """Try the dependency once, bypassing the breaker; close on success. True when closed."""
        assert self.probe is not None
        try:
            self.probe()
        except Exception as exc:  # any failure keeps it open; the next probe tries again
            with self._lock:
                self.probes += 1
                self.last_error = str(exc)[:200]
            return False
        with self._lock:
            self._close("a probe")
        return True

    def _probe_loop(self) -> None:
        # Ends only under the lock, when closed: a breaker that reopens while this thread is
        # finishing is either still probed by it or sees no prober and starts a new one.
        try:
            while not self._stop.wait(self.probe_seconds):
                if self.opened_at is not None and self.probe_once():
                    for pool in list(self.pools):  # after the outage, no stale connection
                        with contextlib.suppress(Exception):
                            pool.disconnect(inuse_connections=False)
                with self._lock:
                    if self.opened_at is None:
                        self._prober = None
                        return
        finally:
            with self._lock:
                if self._stop.is_set():
                    self._prober = None

    def stop(self) -> None:
        """End the background probe (tests: reset_breakers)."""
        self._stop.set()


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def get_breaker(
    name: str, error: Callable[[str], Exception], probe: Callable[[], object] | None = None
) -> Breaker:
    """The process-wide breaker called `name` (created on first use from the settings; `probe`
    is only used when it is created)."""
    found = _breakers.get(name)
    if found is None:
        with _breakers_lock:
            found = _breakers.setdefault(
                name,
                Breaker(
                    name,
                    settings.BREAKER_FAILURES,
                    settings.BREAKER_PROBE_SECONDS,
                    error,
                    probe,
                ),
            )
    return found


def breakers() -> list[Breaker]:
    return list(_breakers.values())


def open_breakers() -> list[str]:
    return [b.name for b in breakers() if b.is_open]


def reset_breakers() -> None:
    """Forget every breaker (tests; the next use reads the settings again)."""
    with _breakers_lock:
        for breaker in _breakers.values():
            breaker.stop()
        _breakers.clear()


# valkey-py leaves the methods overridden here (and parse_error above) unannotated: calling them
# through super() is what the `type: ignore[no-untyped-call]` comments below are for.
class BreakerPipeline(valkey.client.Pipeline):
    """A pipeline that goes through its client's breaker too (the session page and the admin
    read sessions pipelined)."""

    breaker: Breaker

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        guard = self.breaker
        guard.allow()
        try:
            result: list[Any] = super().execute(raise_on_error)  # type: ignore[no-untyped-call]
        except (vx.ConnectionError, vx.TimeoutError, TimeoutError) as exc:
            guard.failure(exc)
            raise
        guard.success()
        return result


class BreakerValkey(valkey.Valkey):
    """valkey.Valkey whose commands go through the breaker of its server.

    django-valkey's BASE_CLIENT_CLASS. One breaker per server address: two aliases on one
    server (sessions and cache in the embedded default) share it, since a hung server is hung
    for both. Every command goes through execute_command, scripts (EVALSHA) included, and
    every pipeline through BreakerPipeline.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        params = self.connection_pool.connection_kwargs
        where = params.get("path") or f"{params.get('host')}:{params.get('port')}"
        self._breaker_name = f"valkey {where}"
        self._registered_with: Breaker | None = None

    @property
    def breaker(self) -> Breaker:
        guard = self._get_breaker()
        if guard is not self._registered_with:  # once per breaker (tests reset them)
            guard.pools.add(self.connection_pool)
            self._registered_with = guard
        return guard

    def _get_breaker(self) -> Breaker:
        return get_breaker(self._breaker_name, ValkeyCircuitOpen, self._ping)

    def _ping(self) -> object:
        """The background probe: PING past the breaker, on a connection of the same pool."""
        return super().execute_command("PING")  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> BreakerPipeline:
        pipe = BreakerPipeline(  # type: ignore[no-untyped-call]
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.breaker = self.breaker
        return pipe

    def execute_command(self, *args: Any, **options: Any) -> Any:
        guard = self.breaker
        guard.allow()
        try:
            result = super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except (vx.ConnectionError, vx.TimeoutError, TimeoutError) as exc:
            if "now a slave" in str(exc):
                # Sentinel failed over: the old primary answered READONLY and valkey-py
                # reconnects to the new one. A role change, not a dead server.
                guard.success()
            else:
                guard.failure(exc)
            raise
        except vx.ValkeyError:
            guard.success()  # it answered (OOM, NOPERM, WRONGTYPE...): alive
            raise
        guard.success()
        return result


def _answered(guard: Breaker, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call` (a command, a reply read), its outcome told to `guard`: a connection failure or a
    timeout counts, any answer (OOM, NOPERM, MOVED, CLUSTERDOWN...) proves the node alive."""
    try:
        result = call(*args, **kwargs)
    except (vx.ConnectionError, vx.TimeoutError, TimeoutError) as exc:
        guard.failure(exc)
        raise
    except vx.ValkeyError:
        guard.success()
        raise
    guard.success()
    return result


def _ping_node(nodes: Any, host: str, port: int) -> None:
    """A cluster node's background probe: PING on the node's own client (past the breaker),
    then its idle connections dropped (none left over from before a restart). `nodes`: the
    cluster client's NodesManager (shared by the client and its pipelines)."""
    node = nodes.get_node(host=host, port=port)
    if node is None:
        raise vx.ConnectionError(f"{host}:{port} is not a node of the cluster now")
    if node.valkey_connection is None:  # dropped by the client after a failure
        nodes.create_valkey_connections([node])
    client = node.valkey_connection
    client._ping()  # a BreakerNodeValkey: past the breaker this probe is for
    client.connection_pool.disconnect(inuse_connections=False)


def _node_breaker(nodes: Any, host: str, port: int) -> Breaker:
    """The breaker of a cluster node: the same one for the client's commands, its pipelines,
    the node's own client (slot-map refresh, SCAN) and a plain client of that server (named
    by address)."""
    return get_breaker(
        f"valkey {host}:{port}",
        ValkeyCircuitOpen,
        functools.partial(_ping_node, nodes, host, port),
    )


class BreakerNodeValkey(BreakerValkey):
    """The client of one cluster node, as the cluster client keeps it (ClusterNode.
    valkey_connection): its own commands go through the node's breaker. valkey-py sends
    CLUSTER SLOTS on it to refresh the slot map after a failure (NodesManager.initialize, which
    asks each startup node in turn), and the session engine SCANs each master with it
    (valkey_sessions.live): a node whose breaker is open is skipped or refused at once instead
    of costing a socket timeout, and a node that times out here counts like any other timeout.
    The cluster client's own commands only take its pool and parse_response (no double count).
    """

    nodes: Any  # the NodesManager that made it (the probe looks the node up there)

    def _get_breaker(self) -> Breaker:
        params = self.connection_pool.connection_kwargs
        return _node_breaker(self.nodes, params["host"], params["port"])


def _suspect(node: Any) -> bool:
    """Whether a cluster node's breaker has counted a failure since the node last answered
    (open, or on its way): such a node is asked for the slot map after every other."""
    guard = _breakers.get(f"valkey {node.host}:{node.port}")
    return guard is not None and guard.failures > 0


class BreakerNodesManager(valkey.cluster.NodesManager):
    """valkey-py's NodesManager, making node clients that go through the node's breaker, and
    asking the nodes that answered last time first for the slot map."""

    def initialize(self) -> None:
        # valkey-py asks the startup nodes in turn until one has covered every slot: a silent
        # node asked first would cost a socket timeout while another could answer. (A new
        # dict: valkey-py replaces it with the nodes it finds when done.)
        order = sorted(self.startup_nodes.values(), key=_suspect)
        self.startup_nodes = {node.name: node for node in order}
        super().initialize()  # type: ignore[no-untyped-call]

    def create_valkey_node(self, host: str, port: int, **kwargs: Any) -> BreakerNodeValkey:
        if self.from_url:  # valkey-py's two ways, as NodesManager.create_valkey_node
            pool = self.connection_pool_class(host=host, port=port, **kwargs)
            client = BreakerNodeValkey(connection_pool=pool)
        else:
            client = BreakerNodeValkey(host=host, port=port, **kwargs)
        client.nodes = self
        return client


class BreakerValkeyCluster(valkey.cluster.ValkeyCluster):
    """valkey.cluster.ValkeyCluster whose commands go through a breaker per node.

    django-valkey's BASE_CLIENT_CLASS on a cluster. Per node, not per cluster: a master down
    makes its own slots fail fast while every other slot is served (tests/test_cluster.py).
    The node is the one the command is sent to first; redirections are the cluster client's.
    Pipelines (the engine's session page and admin) are BreakerClusterPipeline, the node
    clients (slot-map refresh, the engine's SCAN of each master) BreakerNodeValkey, and every
    connection parses replies with ClusterOutageParser.

    One socket timeout per node and call, as on one server: valkey-py retries a command that
    timed out (up to 3 times, after a slot-map refresh), which sent it to the same silent
    node again (a frozen master cost a request 3 timeouts). Here a node that timed out is not
    asked again within the same call: the retries fail with that timeout at once, unless the
    refreshed slot map (a failover) or another default node sends them elsewhere. Commands
    without a key go to the default node: never one whose breaker has counted a failure, while
    another primary has not (the client's own start-up sends COMMAND there).
    """

    def __init__(self, **kwargs: Any) -> None:  # django-valkey passes keywords only
        self._calls = threading.local()  # per call: the nodes that timed out (execute_command)
        # valkey-py reads the slot map here, from the startup nodes in turn (the URL's last),
        # with plain clients: the suspect ones last (a new thread's client, while a node is
        # silent), and a copy of the list (valkey-py appends the URL's node to the one given).
        startup = list(kwargs.pop("startup_nodes", None) or [])
        if kwargs.get("url") is not None:
            where = parse_url(kwargs["url"])
            startup.append(valkey.cluster.ClusterNode(where["host"], where.get("port", 6379)))
        startup.sort(key=_suspect)
        super().__init__(startup_nodes=startup, **kwargs)
        # valkey-py builds its NodesManager (and reads the slot map) in __init__: the class is
        # changed afterwards, and the node clients made by then are made again through it
        # (they hold no connection yet).
        nodes = self.nodes_manager
        nodes.__class__ = BreakerNodesManager
        found = list(nodes.nodes_cache.values())
        for node in found:
            if node.valkey_connection is not None:
                node.valkey_connection.close()
                node.valkey_connection = None
        nodes.create_valkey_connections(found)

    def on_connect(self, connection: Any) -> None:
        # valkey-py's own on_connect, with the parser that knows every "not now" answer.
        connection.set_parser(ClusterOutageParser)
        connection.on_connect()
        if self.read_from_replicas:
            connection.send_command("READONLY")
            if str_if_bytes(connection.read_response()) != "OK":
                raise vx.ConnectionError("READONLY command failed")
        if self.user_on_connect_func is not None:
            self.user_on_connect_func(connection)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self._healthy_default_node()
        calls = self._calls
        inner = getattr(calls, "timed_out", None) is not None  # COMMAND GETKEYS while routing
        if not inner:
            calls.timed_out = {}
        try:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            if not inner:
                calls.timed_out = None

    def _healthy_default_node(self) -> None:
        nodes = self.nodes_manager
        if nodes.default_node is None or not _suspect(nodes.default_node):
            return
        healthy = [node for node in self.get_primaries() if not _suspect(node)]
        if healthy:
            nodes.default_node = healthy[0]

    def _execute_command(self, target_node: Any, *args: Any, **kwargs: Any) -> Any:
        timed_out: dict[str, Exception] | None = getattr(self._calls, "timed_out", None)
        if timed_out is not None and target_node.name in timed_out:
            raise timed_out[target_node.name]  # asked once in this call: no second timeout
        guard = _node_breaker(self.nodes_manager, target_node.host, target_node.port)
        guard.allow()  # before valkey-py: a refused command costs no slot-map refresh
        run = super()._execute_command
        try:
            return _answered(guard, run, target_node, *args, **kwargs)
        except (vx.TimeoutError, TimeoutError) as exc:
            if timed_out is not None:
                timed_out.setdefault(target_node.name, exc)
            raise

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> BreakerClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
        # valkey-py builds it from this client's state (slot map, command parser, lock);
        # only its class changes, so that it stays in step with the library's own.
        pipe.__class__ = BreakerClusterPipeline
        assert isinstance(pipe, BreakerClusterPipeline)
        pipe._timed_out = {}
        return pipe


class _GuardedNode:
    """A cluster node's client as a pipeline uses it (valkey-py takes its pool, a connection
    from it and its parse_response): connecting and reading replies go through the node's
    breaker. Connecting alone proves nothing (a hung server still accepts connections): only
    failures to connect count, an answer closes. A timeout is also noted in `timed_out` (the
    pipeline's, by node name): the node is not asked again within that execute()."""

    connection = None  # not a single-connection client: valkey-py takes one from the pool

    def __init__(
        self, client: Any, guard: Breaker, name: str, timed_out: dict[str, Exception]
    ) -> None:
        self.client = client
        self.guard = guard
        self.name = name
        self.timed_out = timed_out

    @property
    def connection_pool(self) -> _GuardedNode:
        return self

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.guard.allow()
        try:
            return self.client.connection_pool.get_connection(*args, **kwargs)
        except (vx.ConnectionError, vx.TimeoutError, TimeoutError) as exc:
            self._failed(exc)
            raise

    def release(self, connection: Any) -> None:
        self.client.connection_pool.release(connection)

    def parse_response(self, connection: Any, command: Any, **options: Any) -> Any:
        try:
            return _answered(self.guard, self.client.parse_response, connection, command, **options)
        except (vx.TimeoutError, TimeoutError) as exc:
            self.timed_out.setdefault(self.name, exc)
            raise

    def _failed(self, exc: Exception) -> None:
        self.guard.failure(exc)
        if isinstance(exc, (vx.TimeoutError, TimeoutError)):
            self.timed_out.setdefault(self.name, exc)


class BreakerClusterPipeline(valkey.cluster.ClusterPipeline):
    """The cluster client's pipeline, through the same breaker per node as its commands.

    valkey-py's ClusterPipeline writes to and reads from each node's connections itself, past
    ValkeyCluster._execute_command (and so past BreakerValkeyCluster's breaker); the commands
    that failed are sent again one by one, each retried after a slot-map refresh, and the
    whole pipeline is sent again after a connection error. Here:
    - a pipeline (or a resend of it) with a command for a node whose breaker is open is
      refused before anything is sent (ValkeyCircuitOpen, a 503 at once, no slot-map refresh);
    - every connection and reply of a node, the retries included, tells that node's breaker
      (_GuardedNode);
    - a node that timed out is not asked again within the same execute(): the commands for it
      fail with that timeout at once (valkey-py sent each of them again, a socket timeout
      each: a frozen master cost the session page 3 timeouts, then 3 slot-map reads from it).
    """

    _timed_out: dict[str, Exception]  # by node name, for one execute()

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self._timed_out = {}
        result: list[Any] = super().execute(raise_on_error)  # type: ignore[no-untyped-call]
        return result

    def send_cluster_commands(
        self, stack: Any, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        # valkey-py's loop (the whole pipeline again after CLUSTERDOWN or a connection error,
        # its slot map read again on the way), except after a breaker's refusal: sending again
        # would only be refused again (and count as more refused requests).
        if not stack:
            return []
        attempts = self.cluster_error_retry_attempts
        while True:
            try:
                return self._send_cluster_commands(stack, raise_on_error, allow_redirections)
            except ValkeyCircuitOpen:
                raise
            except (vx.ClusterDownError, vx.ConnectionError):
                if attempts <= 0:
                    raise
                attempts -= 1

    def _send_cluster_commands(
        self, stack: Any, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        # Each attempt: refused before anything is sent while a node's breaker is open.
        for node in self._nodes_of_stack():
            _node_breaker(self.nodes_manager, node.host, node.port).allow()
        result: list[Any] = super()._send_cluster_commands(  # type: ignore[no-untyped-call]
            stack, raise_on_error, allow_redirections
        )
        return result

    def _execute_command(self, target_node: Any, *args: Any, **kwargs: Any) -> Any:
        # The one-by-one resend of a failed command (ValkeyCluster.execute_command, and its
        # retries): a node that timed out fails at once, another (a failover) is asked.
        timed_out = self._timed_out.get(target_node.name)
        if timed_out is not None:
            raise timed_out
        return super()._execute_command(target_node, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _nodes_of_stack(self) -> list[Any]:
        """The nodes the queued commands go to, routed as valkey-py's _send_cluster_commands
        routes them (which passes a nodes flag as `node_flag`, so that only a list of nodes
        counts)."""
        found: dict[str, Any] = {}
        for command in self.command_stack:
            targets = command.options.get("target_nodes")
            given = targets is not None and not self._is_nodes_flag(targets)  # type: ignore[no-untyped-call]
            try:
                if given:
                    nodes = self._parse_target_nodes(targets)  # type: ignore[no-untyped-call]
                else:
                    nodes = self._determine_nodes(*command.args, node_flag=targets)
            except vx.ValkeyError:
                continue  # no key, several slots...: the pipeline raises that itself
            found.update((node.name, node) for node in nodes)
        return list(found.values())

    def get_valkey_connection(self, node: Any) -> _GuardedNode:
        client = super().get_valkey_connection(node)  # type: ignore[no-untyped-call]
        guard = _node_breaker(self.nodes_manager, node.host, node.port)
        return _GuardedNode(client, guard, node.name, self._timed_out)
