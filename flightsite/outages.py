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
breaker per node, for the client's commands and its pipelines alike.
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
        guard = get_breaker(self._breaker_name, ValkeyCircuitOpen, self._ping)
        if guard is not self._registered_with:  # once per breaker (tests reset them)
            guard.pools.add(self.connection_pool)
            self._registered_with = guard
        return guard

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
    client.ping()
    client.connection_pool.disconnect(inuse_connections=False)


def _node_breaker(nodes: Any, node: Any) -> Breaker:
    """The breaker of a cluster node: the same one for the client, its pipelines and a plain
    client of that server (named by address)."""
    return get_breaker(
        f"valkey {node.host}:{node.port}",
        ValkeyCircuitOpen,
        functools.partial(_ping_node, nodes, node.host, node.port),
    )


class BreakerValkeyCluster(valkey.cluster.ValkeyCluster):
    """valkey.cluster.ValkeyCluster whose commands go through a breaker per node.

    django-valkey's BASE_CLIENT_CLASS on a cluster. Per node, not per cluster: a master down
    makes its own slots fail fast while every other slot is served (tests/test_cluster.py).
    The node is the one the command is sent to first; redirections are the cluster client's.
    Pipelines (the engine's session page and admin) are BreakerClusterPipeline, and every
    connection parses replies with ClusterOutageParser.
    """

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

    def _execute_command(self, target_node: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _node_breaker(self.nodes_manager, target_node)
        guard.allow()  # before valkey-py: a refused command costs no slot-map refresh
        run = super()._execute_command
        return _answered(guard, run, target_node, *args, **kwargs)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> BreakerClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
        # valkey-py builds it from this client's state (slot map, command parser, lock);
        # only its class changes, so that it stays in step with the library's own.
        pipe.__class__ = BreakerClusterPipeline
        assert isinstance(pipe, BreakerClusterPipeline)
        return pipe


class _GuardedNode:
    """A cluster node's client as a pipeline uses it (valkey-py takes its pool, a connection
    from it and its parse_response): connecting and reading replies go through the node's
    breaker. Connecting alone proves nothing (a hung server still accepts connections): only
    failures to connect count, an answer closes."""

    connection = None  # not a single-connection client: valkey-py takes one from the pool

    def __init__(self, client: Any, guard: Breaker) -> None:
        self.client = client
        self.guard = guard

    @property
    def connection_pool(self) -> _GuardedNode:
        return self

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.guard.allow()
        try:
            return self.client.connection_pool.get_connection(*args, **kwargs)
        except (vx.ConnectionError, vx.TimeoutError, TimeoutError) as exc:
            self.guard.failure(exc)
            raise

    def release(self, connection: Any) -> None:
        self.client.connection_pool.release(connection)

    def parse_response(self, connection: Any, command: Any, **options: Any) -> Any:
        return _answered(self.guard, self.client.parse_response, connection, command, **options)


class BreakerClusterPipeline(valkey.cluster.ClusterPipeline):
    """The cluster client's pipeline, through the same breaker per node as its commands.

    valkey-py's ClusterPipeline writes to and reads from each node's connections itself, past
    ValkeyCluster._execute_command (and so past BreakerValkeyCluster's breaker); the commands
    that failed are sent again one by one. Here: a pipeline with a command for a node whose
    breaker is open is refused before anything is sent (ValkeyCircuitOpen, a 503 at once, no
    slot-map refresh), and every connection and reply of a node, the retries included, tells
    that node's breaker (_GuardedNode).
    """

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        for node in self._nodes_of_stack():
            _node_breaker(self.nodes_manager, node).allow()
        result: list[Any] = super().execute(raise_on_error)  # type: ignore[no-untyped-call]
        return result

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
        return _GuardedNode(client, _node_breaker(self.nodes_manager, node))
