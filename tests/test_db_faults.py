"""A hung MySQL server (accepts connections, never answers) costs a request about one connect or
read timeout, never a worker for 30 s; then the circuit breaker answers at once. Pages that do
not need flughafendb (dashboard, login page, static files) never wait.

The hung server is a local socket that accepts and stays silent; for a server that hangs in
the middle of a connection, a proxy to the real MariaDB that stops forwarding (MariaDB leg).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import pytest
from django.db import connections
from django.test import Client

from flightsite.flughafendb.router import LEGACY_ALIAS

from .conftest import BOTH_DBS
from .helpers import login
from .topologies import wait_for

pytest.importorskip("MySQLdb", reason="needs mysqlclient (make test EXTRAS=test,mysql)")

from flightsite.backends.mysql import base as mysql_backend

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


class Silent:
    """A TCP server that accepts connections and never sends a byte (a frozen mysqld: the
    kernel still completes the handshake from the listen backlog)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def has_accepted(self, count: int) -> bool:
        return len(self.accepted) == count

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class FreezingProxy:
    """TCP proxy to a real server that can stop forwarding (the server hangs mid-connection);
    `connections` counts the connections the site opened through it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = threading.Event()
        self.flowing.set()
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.sockets: list[socket.socket] = [self.sock]
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.connections += 1
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()  # frozen: held here, as a hung server would hold it
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.thaw()
        for s in self.sockets:
            s.close()


@contextmanager
def flughafendb_at(host: str, port: int, **settings_changes) -> Iterator[None]:
    """Swap this thread's flughafendb connection for one to host:port (MySQL, 1 s budgets)."""
    from flightsite.backends.mysql.base import DatabaseWrapper

    old = connections[LEGACY_ALIAS]
    real = old.settings_dict
    config = {
        **real,
        "ENGINE": "flightsite.backends.mysql",
        "HOST": host,
        "PORT": str(port),
        "NAME": real["NAME"] if real["ENGINE"].endswith("mysql") else "flughafendb",
        "USER": real["USER"] or "root",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "charset": "utf8mb4",
            "connect_timeout": 1,
            "read_timeout": 1,
            "write_timeout": 1,
        },
        "TEST": {},
        **settings_changes,
    }
    hung = DatabaseWrapper(config, LEGACY_ALIAS)
    connections[LEGACY_ALIAS] = hung
    try:
        yield
    finally:
        connections[LEGACY_ALIAS] = old
        hung.close()


def test_hung_database_costs_one_connect_then_the_breaker_answers(client, settings, passport):
    """Each request that tries pays one connect timeout (one connection, no retry: a request
    that never came back would hang this test); after three the breaker answers without
    connecting, and nothing that does not need flughafendb connects at all. The silent
    server counts the connections."""
    settings.BREAKER_FAILURES = 3
    login(client, passport)  # before: the login needs the passenger table
    silent = Silent()
    try:
        with flughafendb_at("127.0.0.1", silent.port):
            for tried in range(1, 4):
                response = client.get("/flights/")
                assert response.status_code == 503
                assert "flight database" in response.text
                assert int(response["Retry-After"]) > 0
                wait_for(partial(silent.has_accepted, tried), 5, f"connection {tried}")
            response = client.get("/flights/")
            assert response.status_code == 503  # breaker open: not even a connection
            # Nothing else needs flughafendb: the dashboard (session only), login page, static.
            for path, who in (
                ("/", client),
                ("/login/", Client()),
                ("/static/css/site.css", client),
            ):
                assert who.get(path).status_code == 200, path
            response = Client().get("/healthz")
            assert response.status_code == 503
            assert response.json()["checks"]["flughafendb"]["status"] == "failed"
            # A login needs the passenger table: 503 with the form kept, without a connection.
            response = login(Client(), passport)
            assert response.status_code == 503
            assert f'value="{passport}"' in response.text
        assert len(silent.accepted) == 3
    finally:
        silent.close()


@pytest.mark.mysql
def test_database_hanging_mid_connection_costs_one_read_timeout(client, settings, passport):
    """A query on a connection whose server stops answering fails after the read timeout (the
    request comes back: 503), and the site does not reconnect into the hung server on top."""
    real = connections[LEGACY_ALIAS].settings_dict
    if connections[LEGACY_ALIAS].vendor != "mysql":
        pytest.skip("needs the MariaDB leg (FLIGHTSITE_TEST_DB=mysql)")
    settings.BREAKER_FAILURES = 3
    login(client, passport)
    proxy = FreezingProxy(real["HOST"] or "127.0.0.1", int(real["PORT"] or 3306))
    try:
        with flughafendb_at("127.0.0.1", proxy.port, PASSWORD=real["PASSWORD"]):
            assert client.get("/flights/").status_code == 200  # connected, connection kept
            assert proxy.connections == 1
            proxy.freeze()
            # A query on the hung connection: the read timeout, then 503.
            assert client.get("/flights/").status_code == 503
            assert proxy.connections == 1  # no second connection into the hung server
            # A reused connection's health check (as at the start of a request under gunicorn;
            # the test client skips it): the ping runs into the read timeout and the request
            # fails then, without a reconnect into the hung server on top.
            proxy.thaw()
            with contextlib.suppress(Exception):  # gunicorn: closed after the failed request
                connections[LEGACY_ALIAS].close()
            assert client.get("/flights/").status_code == 200  # connected again
            assert proxy.connections == 2
            legacy = connections[LEGACY_ALIAS]
            assert isinstance(legacy, mysql_backend.DatabaseWrapper)
            legacy.health_check_done = False
            legacy.answered_at = 0.0  # not a moment ago: the health check pings
            proxy.freeze()
            assert client.get("/flights/").status_code == 503
            assert proxy.connections == 2
    finally:
        proxy.close()


@pytest.mark.mysql
def test_health_check_pings_only_a_connection_quiet_for_a_second():
    """CONN_HEALTH_CHECKS pings a reused connection before a request's first query, unless it
    answered less than a second ago (then the ping is a round trip for nothing): counted by
    the server (COM_PING is one of the connection's Com_admin_commands)."""
    legacy = connections[LEGACY_ALIAS]
    if legacy.vendor != "mysql":
        pytest.skip("needs the MariaDB leg (FLIGHTSITE_TEST_DB=mysql)")
    assert isinstance(legacy, mysql_backend.DatabaseWrapper)
    now = [1000.0]
    legacy.clock = lambda: now[0]

    def pings() -> int:
        with legacy.cursor() as cursor:  # a query: the connection answered at now[0]
            cursor.execute("SHOW SESSION STATUS LIKE 'Com_admin_commands'")
            return int(cursor.fetchone()[1])

    def next_request_checks() -> None:
        legacy.health_check_done = False  # what a new request does
        legacy.close_if_health_check_failed()

    enabled = legacy.health_check_enabled
    try:
        legacy.health_check_enabled = True
        before = pings()
        now[0] += 0.5
        next_request_checks()
        assert pings() == before  # answered 0.5 s ago: no ping
        now[0] += 1.5
        next_request_checks()
        assert pings() == before + 1  # quiet for 1.5 s: pinged
        assert legacy.connection is not None and legacy.is_usable()
    finally:
        del legacy.clock
        legacy.health_check_enabled = enabled
