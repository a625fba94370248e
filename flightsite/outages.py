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
  errors (`CLUSTERDOWN`, `TRYAGAIN`, `MOVED`/`ASK` storms, slots not covered). The plain
  (non-cluster) client only knows some of these codes: `OutageParser` maps the rest to classes.
- everything else (`WRONGTYPE`, a syntax error, `CROSSSLOT`, an unknown command) is a bug: 500.

Databases: connection-level `OperationalError`/`InterfaceError` (can't connect, gone away, lost
connection / read timeout, too many connections, lock wait timeout, deadlock); a MySQL error
about the query itself (unknown column, syntax) stays a 500 even though MySQLdb also raises it
as OperationalError.

The breaker (per process, per dependency): after `BREAKER_FAILURES` consecutive connection
failures or timeouts the dependency is "open" for `BREAKER_RESET_SECONDS`: calls fail at once
(503 in a millisecond instead of a socket timeout each, so a hung dependency does not hold every
worker). Then one call probes; success closes it, failure opens it again. Only failures that
cost time count: an `OOM` or `NOPERM` answer comes back at once and proves the server is alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import valkey
import valkey.client
import valkey.exceptions as vx
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django_valkey.exceptions import ConnectionInterrupted

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


class OutageParser(DefaultParser):
    """valkey-py's parser, knowing every error code that means "not now" (see _OUTAGE_CODES).

    django-valkey's PARSER_CLASS option; cluster clients have their own parser with these.
    """

    EXCEPTION_CLASSES = {**DefaultParser.EXCEPTION_CLASSES, **_OUTAGE_CODES}

    @classmethod
    def parse_error(cls, response: str) -> Exception:
        # A command a Lua script may not run comes back as a plain ERR, not NOPERM.
        if response.startswith("ERR ACL failure in script"):
            return vx.NoPermissionError(response[4:])
        error: Exception = super().parse_error(response)  # type: ignore[no-untyped-call]
        return error


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
class Breaker:
    """Consecutive-failure circuit breaker (thread-safe, per process)."""

    # Seconds on a monotonic clock: the tests move it forward instead of sleeping.
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self, name: str, failures: int, reset_seconds: float, error: Callable[[str], Exception]
    ) -> None:
        self.name = name
        self.threshold = failures  # 0 turns the breaker off
        self.reset_seconds = reset_seconds
        self.error = error
        self.failures = 0
        self.open_until: float | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.open_until is not None and self.clock() < self.open_until

    def allow(self) -> None:
        """Raise at once while open; after the reset time let one caller through as the probe
        (the others keep failing fast until it reports)."""
        if self.open_until is None:
            return
        with self._lock:
            now = self.clock()
            if self.open_until is None:
                return
            if now < self.open_until:
                raise self.error(f"{self.name}: circuit open after {self.failures} failures")
            self.open_until = now + self.reset_seconds  # this caller probes
            logger.info("%s: probing after %.0f s open", self.name, self.reset_seconds)

    def success(self) -> None:
        if self.failures or self.open_until is not None:
            with self._lock:
                if self.open_until is not None:
                    logger.warning("%s: circuit closed, dependency answers again", self.name)
                self.failures = 0
                self.open_until = None

    def failure(self) -> None:
        if not self.threshold:
            return
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                if self.open_until is None:
                    logger.error(
                        "%s: circuit open for %.0f s after %d failures in a row",
                        self.name,
                        self.reset_seconds,
                        self.failures,
                    )
                self.open_until = self.clock() + self.reset_seconds


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def get_breaker(name: str, error: Callable[[str], Exception]) -> Breaker:
    """The process-wide breaker called `name` (created on first use from the settings)."""
    found = _breakers.get(name)
    if found is None:
        with _breakers_lock:
            found = _breakers.setdefault(
                name,
                Breaker(name, settings.BREAKER_FAILURES, settings.BREAKER_RESET_SECONDS, error),
            )
    return found


def open_breakers() -> list[str]:
    return [b.name for b in list(_breakers.values()) if b.is_open]


def reset_breakers() -> None:
    """Forget every breaker (tests; the next use reads the settings again)."""
    with _breakers_lock:
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
        except (vx.ConnectionError, vx.TimeoutError, TimeoutError):
            guard.failure()
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

    @property
    def breaker(self) -> Breaker:
        return get_breaker(self._breaker_name, ValkeyCircuitOpen)

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
                guard.failure()
            raise
        except vx.ValkeyError:
            guard.success()  # it answered (OOM, NOPERM, WRONGTYPE...): alive
            raise
        guard.success()
        return result
