"""Django's MySQL backend with a circuit breaker and a hung-server guard.

Used for every mysql:// URL (settings.database). Django documents subclassing a built-in backend
for this: https://docs.djangoproject.com/en/5.2/ref/databases/#subclassing-the-built-in-database-backends

- Connecting and every query go through the breaker of the alias (flightsite.outages): while it
  is open nothing is tried, the request gets a 503 at once.
- The health check of a reused connection (CONN_HEALTH_CHECKS) pings the server; if that ping
  ran into the read timeout the server is hung, so the request fails now instead of spending a
  connect timeout more on a reconnect that would hang too.
- No ping for a connection that answered a query less than HEALTH_CHECK_FRESH_SECONDS ago:
  under load that is every request, and the ping was a round trip to the server in series
  with the page's query (docs/performance.md). A connection the server dropped within that
  second fails its query instead: an outage (503) for that one request, and Django closes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import MySQLdb as Database  # the driver module, as django.db.backends.mysql.base names it
from django.db import OperationalError
from django.db.backends.mysql import base as mysql

from flightsite.outages import Breaker, DatabaseCircuitOpen, get_breaker, mysql_error_is_outage

T = TypeVar("T")

HEALTH_CHECK_FRESH_SECONDS = 1.0


def _is_outage(exc: Exception) -> bool:
    return bool(exc.args) and mysql_error_is_outage(exc.args[0])


class CursorWrapper(mysql.CursorWrapper):
    def __init__(self, cursor: Any, guard: Breaker, answered: Callable[[], None]) -> None:
        super().__init__(cursor)
        self.guard = guard
        self.answered = answered

    def _guarded(self, run: Callable[[], T]) -> T:
        self.guard.allow()
        try:
            result = run()
        except Database.OperationalError as exc:
            if _is_outage(exc):
                self.guard.failure(exc)
            raise
        self.guard.success()
        self.answered()
        return result

    def execute(self, query: Any, args: Any = None) -> Any:
        return self._guarded(lambda: super(CursorWrapper, self).execute(query, args))

    def executemany(self, query: Any, args: Any) -> Any:
        return self._guarded(lambda: super(CursorWrapper, self).executemany(query, args))


class DatabaseWrapper(mysql.DatabaseWrapper):
    # Set by BaseDatabaseWrapper (CONN_HEALTH_CHECKS, Django 4.1+); django-stubs omits them.
    health_check_enabled: bool
    health_check_done: bool

    @property
    def guard(self) -> Breaker:
        return get_breaker(f"database {self.alias}", DatabaseCircuitOpen, self._probe)

    def _probe(self) -> None:
        """The breaker's background probe: a bare connect and ping with this alias's
        parameters and time budget (its own connection: Django's are per thread)."""
        connection = Database.connect(**self.get_connection_params())
        try:
            connection.ping()
        finally:
            connection.close()

    # When this connection last answered a query or a ping (clock()); 0: not since connecting.
    answered_at = 0.0
    clock = staticmethod(time.monotonic)  # tests set another

    def _answered(self) -> None:
        self.answered_at = self.clock()

    def get_new_connection(self, conn_params: Any) -> Any:
        self.answered_at = 0.0
        guard = self.guard
        guard.allow()
        try:
            connection = super().get_new_connection(conn_params)
        except Database.OperationalError as exc:
            if _is_outage(exc):
                guard.failure(exc)
            raise
        guard.success()
        return connection

    def create_cursor(self, name: Any = None) -> CursorWrapper:
        return CursorWrapper(self.connection.cursor(), self.guard, self._answered)

    def close_if_health_check_failed(self) -> None:
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if self.clock() - self.answered_at < HEALTH_CHECK_FRESH_SECONDS:
            self.health_check_done = True  # answered a moment ago: no ping
            return
        started = time.monotonic()
        if self.is_usable():
            self.health_check_done = True
            self._answered()
            return
        self.close()
        read_timeout = self.settings_dict.get("OPTIONS", {}).get("read_timeout")
        if read_timeout and time.monotonic() - started >= 0.9 * read_timeout:
            error = f"database {self.alias} did not answer a ping within {read_timeout} s"
            self.guard.failure(error)
            raise OperationalError(error)
