"""The site on a real 3-master Valkey Cluster (VALKEY_CLUSTER_URL, django-valkey's
ClusterValkeyCache): the whole flow, every key on the node that owns its slot, no cross-slot
command anywhere. Every test runs as the least-privilege users of `manage.py valkey_acl
--topology cluster` (on every node; the default user can only PING), and every test ends with
an empty ACL LOG on every node: not one command, key or login of the site was refused."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from valkey.client import NEVER_DECODE
from valkey.cluster import ClusterNode, ValkeyCluster
from valkey.exceptions import NoPermissionError

from flightsite import valkey_config
from flightsite.flughafendb.demo_data import passport_number
from valkey_sessions import live as live_sessions
from valkey_sessions.keys import valkey_key
from valkey_sessions.scripts import sessions_client
from valkey_sessions.store import decode_value

from .conftest import BOTH_DBS
from .test_faults import assert_unavailable, connections_received, settled_connections
from .topologies import (
    CACHE_USER,
    HARNESS,
    SESSIONS_USER,
    Cluster,
    chosen_flight_ids,
    info,
    info_cluster,
    log_out,
    password_of,
    site_acl,
    site_flow_until_dashboard,
    use_valkey,
    wait_for,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    acl = site_acl("cluster")
    with Cluster(tmp_path_factory.mktemp("cluster"), masters=3, acl=acl) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def nothing_refused(cluster):
    """Valkey's witness, after each test: the site's users were refused nothing."""
    yield
    assert cluster.acl_denials() == {}


def spread_passengers(cluster: Any, count: int = 6) -> tuple[list[Client], list, Any, int]:
    """`count` passengers logged in through the site (the cache aliases point at `cluster`):
    their clients and flows, the node holding the first one's session (the victim) and the
    index of a passenger whose session is on another node."""
    clients = [Client() for _ in range(count)]
    passports = [passport_number(i + 1) for i in range(count)]
    flows = [site_flow_until_dashboard(c, p) for c, p in zip(clients, passports, strict=True)]
    holders = cluster.key_nodes()
    on = [holders[valkey_key(f["session_key"])] for f in flows]
    victim = next(n for n in cluster.nodes if n.port == on[0])
    other = on.index(next(p for p in on if p != victim.port))
    return clients, flows, victim, other


def test_the_passenger_flow_on_a_cluster(cluster, settings, passport):
    with use_valkey(settings, cluster.env) as topology:
        assert (topology.sessions.kind, topology.cache.kind) == ("cluster", "cluster")
        # Several passengers (a passenger's sessions share a slot), so that their sessions land
        # on different masters.
        clients = [Client() for _ in range(6)]
        flows = [
            site_flow_until_dashboard(c, passport_number(i + 1)) for i, c in enumerate(clients)
        ]

        keys = cluster.key_nodes()
        session_keys = [valkey_key(f["session_key"]) for f in flows]
        assert set(session_keys) <= set(keys)
        assert len({keys[k] for k in session_keys}) > 1, "all sessions on one node"
        raw = cluster.client().execute_command("GET", session_keys[0], **{NEVER_DECODE: True})
        stored = decode_value(raw)[1]
        assert stored["weather"]["city"] == "Birmingham"
        assert [f["flight_id"] for f in stored["flights"]] == [int(flows[0]["flight_id"])]
        assert any(k.startswith("flightsite:1:weather:") for k in keys)  # the cache, too
        # The session page (pipelines) and the health checks (scripts, INFO, COMMAND INFO).
        assert clients[0].get("/session/").status_code == 200
        health = clients[0].get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.json()

        for client in clients:
            log_out(client)
        assert not [k for k in cluster.key_nodes() if k.startswith("flight_session")]

    errors = cluster.errorstats()
    assert not [name for name in errors if "CROSSSLOT" in name], errors


def node_timeout(cluster: Cluster, ms: int) -> None:
    """cluster-node-timeout on every node that runs: how long a silent node may stay silent
    before the others mark it failed (and, with no replica to promote, the cluster down)."""
    for node in cluster.nodes:
        if node._process is not None and node._process.poll() is None:
            cluster.node_client(node).config_set("cluster-node-timeout", ms)


@contextmanager
def stopped(cluster: Cluster, node: Any) -> Iterator[None]:
    """`node` stopped while the others still serve every other slot (an hour of node timeout:
    they do not agree it failed for as long as the test takes); started again at the end in any
    case, and the cluster healed."""
    node_timeout(cluster, 3_600_000)
    node.stop()
    try:
        yield
    finally:
        node.start()
        node_timeout(cluster, cluster.node_timeout_ms)
        wait_for(cluster.ready, 30, "the cluster to heal")


def test_a_master_down_is_a_503_and_nobody_is_logged_out(cluster, settings):
    with use_valkey(settings, cluster.env):
        # Six passengers: each passenger's sessions share a slot, so theirs spread over masters.
        clients = [Client() for _ in range(6)]
        passports = [passport_number(i + 1) for i in range(len(clients))]
        flows = [site_flow_until_dashboard(c, p) for c, p in zip(clients, passports, strict=True)]
        holders = cluster.key_nodes()
        victim = next(
            n for n in cluster.nodes if n.port == holders[valkey_key(flows[0]["session_key"])]
        )
        on_victim = [holders[valkey_key(f["session_key"])] == victim.port for f in flows]
        assert True in on_victim and False in on_victim, on_victim
        # Until the others agree the master failed, the cluster serves every other slot.
        with stopped(cluster, victim):
            statuses = [client.get("/") for client in clients + clients[:1]]
            for response in statuses:
                if response.status_code == 503:
                    assert response["Retry-After"]
            # The down master's passengers: 503; everyone else: their dashboard.
            expected = [503 if down else 200 for down in on_victim + on_victim[:1]]
            assert [r.status_code for r in statuses] == expected

            # Once the others agree it failed (cluster-node-timeout), the whole cluster answers
            # CLUSTERDOWN (no replica to promote): every passenger gets a 503, none a 500.
            node_timeout(cluster, cluster.node_timeout_ms)
            other = next(n for n in cluster.nodes if n is not victim)
            wait_for(
                lambda: info_cluster(cluster.node_client(other))["cluster_state"] == "fail",
                30,
                "cluster_state:fail",
            )
            response = clients[on_victim.index(False)].get("/")
            assert response.status_code == 503 and response["Retry-After"]
        for client, flow in zip(clients, flows, strict=True):
            dashboard = client.get("/")
            assert dashboard.status_code == 200, "logged out by the outage"
            assert chosen_flight_ids(dashboard.text) == [flow["flight_id"]]


def test_devices_and_log_out_everywhere_on_a_cluster(cluster, settings, passport):
    """One passenger in three browsers, other passengers around: the session page lists the
    other devices, "log out everywhere else" ends them in one script call (their keys and
    index share a slot), and SCAN-based listing walks every master."""
    cluster.client().flushall()  # the cluster is shared by this module's tests
    with use_valkey(settings, cluster.env):
        mine = [Client(HTTP_USER_AGENT=f"Browser/{i}") for i in range(3)]
        for client in mine:
            site_flow_until_dashboard(client, passport)
        others = [Client() for _ in range(4)]
        for i, client in enumerate(others):
            site_flow_until_dashboard(client, passport_number(i + 2))
        page = mine[0].get("/session/")
        assert page.status_code == 200 and page.text.count('name="session"') == 2

        assert live_sessions.count() == (7, True)
        seen: list[str] = []
        cursor: str | None = "0"
        while cursor:
            found = live_sessions.scan_page(cursor, page_size=2)
            seen += [s.session_key for s in found.sessions]
            cursor = found.next_cursor
        assert len(set(seen)) == 7

        response = mine[0].post("/session/end-others/", follow=True)
        assert "2 other sessions ended" in response.text
        assert [c.get("/").status_code for c in mine] == [200, 302, 302]
        assert all(c.get("/").status_code == 200 for c in others)
        log_out(mine[0])
        assert live_sessions.count() == (4, True)
    errors = cluster.errorstats()
    assert not [name for name in errors if "CROSSSLOT" in name], errors


def test_the_breaker_is_per_node_and_closes_when_the_node_is_back(cluster, settings):
    """A master down opens its own node's breaker (its passengers: a 503 at once) and no other
    (everyone else is served); back, the breaker's probe closes it and its passengers are
    served again (flightsite/outages.py BreakerValkeyCluster)."""
    from flightsite.outages import breakers, open_breakers

    settings.BREAKER_FAILURES = 2
    with use_valkey(settings, cluster.env):
        clients, _, victim, other = spread_passengers(cluster)
        victim_port = victim.port
        with stopped(cluster, victim):
            for _ in range(3):
                assert clients[0].get("/").status_code == 503
            assert open_breakers() == [f"valkey 127.0.0.1:{victim_port}"]
            assert clients[other].get("/").status_code == 200
        assert all(b.wait_closed(10) for b in breakers())
        assert clients[0].get("/").status_code == 200


def as_user(cluster: Cluster, user: str) -> ValkeyCluster:
    """A cluster client logged in as one of the site's users (its start-up is CLUSTER SLOTS
    and COMMAND: the grant allows them)."""
    assert cluster.acl is not None
    return ValkeyCluster(
        startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in cluster.nodes],
        username=user,
        password=password_of(cluster.acl[user]),
    )


def acl_setuser_everywhere(cluster: Cluster, *rules: str) -> None:
    for node in cluster.nodes:
        cluster.node_client(node).execute_command("ACL", "SETUSER", *rules)


def test_a_command_outside_the_grant_is_refused_and_a_503(cluster, settings, passport):
    """The users can do what the site does and nothing else; a command the grant lacks is a
    NOPERM from Valkey and a 503 with Retry-After from the site, never a 500 — also inside a Lua
    script, where Valkey answers a plain ERR (flightsite/outages.py ClusterOutageParser)."""
    sessions, cache = as_user(cluster, SESSIONS_USER), as_user(cluster, CACHE_USER)
    refused = [
        lambda: sessions.flushall(),
        lambda: sessions.keys("*"),
        lambda: sessions.config_get("maxmemory-policy"),
        lambda: sessions.get("flightsite:1:weather:x"),  # the cache's keys
        lambda: cache.get("flight_session:x"),  # the sessions' keys
        lambda: cache.eval("return 1", 0),
    ]
    for command in refused:
        with pytest.raises(NoPermissionError):
            command()
    assert cluster.acl_denials()  # Valkey logged each (and forgets them for what follows)

    with use_valkey(settings, cluster.env):
        client = Client()
        site_flow_until_dashboard(client, passport)
        # SET taken away: a login's script cannot write the session.
        acl_setuser_everywhere(cluster, SESSIONS_USER, "-set")
        try:
            response = Client().post("/login/", {"passportno": passport_number(2)})
            assert response.status_code == 503 and response["Retry-After"]
            assert client.get("/").status_code == 200  # reading needs no SET
        finally:
            acl_setuser_everywhere(cluster, SESSIONS_USER, "+set")
        denied = [e for entries in cluster.acl_denials().values() for e in entries]
        assert {(e["object"], e["context"], e["username"]) for e in denied} == {
            ("set", "lua", SESSIONS_USER)
        }
        assert Client().post("/login/", {"passportno": passport_number(2)}).status_code == 302


def test_a_slot_moving_to_another_master_while_logged_in(cluster, settings, passport):
    """A slot migrating (resharding): the session key already moved answers ASK from its old
    master and is read after ASKING from the new one; once the slot has moved, MOVED sends the
    client to the new master. The passenger's dashboard is served throughout (the grant has
    ASKING and CLUSTER SLOTS), and nothing is refused."""
    admin = cluster.client()
    with use_valkey(settings, cluster.env):
        client = Client()
        flow = site_flow_until_dashboard(client, passport)
        key = valkey_key(flow["session_key"])
        slot = admin.keyslot(key)
        ids = {
            n.port: cluster.node_client(n).execute_command("CLUSTER", "MYID") for n in cluster.nodes
        }
        source = next(n for n in cluster.nodes if n.port == cluster.key_nodes()[key])
        target = next(n for n in cluster.nodes if n is not source)
        old, new = cluster.node_client(source), cluster.node_client(target)
        asks, moves = errorstat(cluster, source, "ASK"), errorstat(cluster, source, "MOVED")

        new.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
        old.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
        try:
            migrate(old, target.port, [key])  # the session first, its index stays behind
            dashboard = client.get("/")
            assert dashboard.status_code == 200
            assert chosen_flight_ids(dashboard.text) == [flow["flight_id"]]
            assert errorstat(cluster, source, "ASK") > asks
        finally:  # the rest of the slot, then every node says where it is now
            migrate(old, target.port, old.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000))
            for node in cluster.nodes:
                cluster.node_client(node).execute_command(
                    "CLUSTER", "SETSLOT", slot, "NODE", ids[target.port]
                )
        assert client.get("/").status_code == 200
        assert errorstat(cluster, source, "MOVED") > moves
        assert cluster.key_nodes()[key] == target.port
        log_out(client)


def migrate(source: Any, port: int, keys: list[str]) -> None:
    """MIGRATE keys from the `source` node to the node at `port`, as the harness user."""
    if keys:
        source.execute_command(
            "MIGRATE", "127.0.0.1", port, "", 0, 5000, "AUTH2", *HARNESS, "KEYS", *keys
        )


def errorstat(cluster: Cluster, node: Any, code: str) -> int:
    """How many times `node` answered the error `code` (INFO errorstats)."""
    stats = info(cluster.node_client(node), "errorstats")
    return int(stats.get(f"errorstat_{code}", {}).get("count", 0))


def test_the_session_pages_pipelines_go_through_the_nodes_breaker(cluster, settings):
    """The session page reads through a cluster pipeline (valkey_sessions.live.overview), which
    valkey-py sends past the client's per-node commands: it has the same breaker. A master down:
    its passengers' session pages open that node's breaker and are then refused by it at once
    (503 with Retry-After), everyone else's page is served; back, the probe closes it."""
    from flightsite.outages import breakers, open_breakers

    settings.BREAKER_FAILURES = 2
    with use_valkey(settings, cluster.env):
        clients, _, victim, other = spread_passengers(cluster)
        victim_name = f"valkey 127.0.0.1:{victim.port}"
        with stopped(cluster, victim):
            for _ in range(2):  # BREAKER_FAILURES pages, each failing on the node
                page = clients[0].get("/session/")
                assert page.status_code == 503 and page["Retry-After"]
            assert open_breakers() == [victim_name]
            guard = next(b for b in breakers() if b.name == victim_name)
            refused = guard.refused
            page = clients[0].get("/session/")
            assert page.status_code == 503 and page["Retry-After"]
            assert guard.refused > refused  # the breaker said no: nothing was sent
            assert clients[other].get("/session/").status_code == 200
        assert all(b.wait_closed(10) for b in breakers())
        assert clients[0].get("/session/").status_code == 200
        for client in clients:
            log_out(client)


def test_changes_racing_on_a_cluster_wait_their_turn_on_the_session_slot(
    cluster, settings, line_after_one_lost_race
):
    """Three changes racing on one session: the one that lost writes in turn, the next waits
    for the handover (SET NX PX and BLPOP on keys of the session's slot, on its node)."""
    from valkey_sessions import SessionStore
    from valkey_sessions.keys import turn_keys
    from valkey_sessions.scripts import sessions_client
    from valkey_sessions.store import _wait_step

    with use_valkey(settings, cluster.env):
        # A BLPOP waits half the socket timeout of the cluster's nodes: always answered in time.
        timeout = sessions_client().get_connection_kwargs()["socket_timeout"]
        assert _wait_step(sessions_client()) == timeout / 2
        session = SessionStore()
        session["passenger_id"] = 3
        session.save()
        key = session.session_key or ""
        tabs = [SessionStore(key) for _ in range(3)]
        for n, tab in enumerate(tabs):
            tab[f"tab{n}"] = n  # all three read before any writes
        for tab in tabs:
            tab.save()
        assert {"tab0", "tab1", "tab2"} <= set(SessionStore(key).load())
        nodes = cluster.key_nodes()
        assert {nodes[k] for k in turn_keys(key)} == {nodes[valkey_key(key)]}
    errors = cluster.errorstats()
    assert not [name for name in errors if "CROSSSLOT" in name], errors


class Frozen:
    """A master hung (SIGSTOP: the kernel still accepts connections into its backlog, nothing
    answers), with an hour of cluster-node-timeout so that the other masters keep serving their
    slots meanwhile. `resume()` (SIGCONT) gives how many connections the node received while
    frozen, as it counts them once it has accepted its backlog: Valkey's witness of how often
    the site tried it."""

    def __init__(self, cluster: Cluster, node: Any) -> None:
        self.cluster, self.node = cluster, node
        self.resumed = False
        node_timeout(cluster, 3_600_000)
        self.witness = cluster.node_client(node)
        self.before = connections_received(self.witness)
        os.kill(node._process.pid, signal.SIGSTOP)

    def resume(self) -> int:
        if not self.resumed:
            os.kill(self.node._process.pid, signal.SIGCONT)
            self.resumed = True
        return settled_connections(self.witness) - self.before


@contextmanager
def frozen(cluster: Cluster, node: Any) -> Iterator[Frozen]:
    """Frozen(cluster, node), resumed at the end in any case, and the cluster healed."""
    hung = Frozen(cluster, node)
    try:
        yield hung
    finally:
        hung.resume()
        node_timeout(cluster, cluster.node_timeout_ms)
        wait_for(cluster.ready, 30, "the cluster to heal")


def in_new_thread(request: Callable[[], Any]) -> Any:
    """`request` served by another thread, as by another worker thread: Django's caches are per
    thread, so the site builds a new cluster client there (CLUSTER SLOTS, COMMAND)."""
    found: list[Any] = []

    def run() -> None:
        try:
            found.append(request())
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    assert found, "the request in the other thread failed"
    return found[0]


def node_breaker(node: Any) -> Any:
    from flightsite.outages import breakers

    return next(b for b in breakers() if b.name == f"valkey 127.0.0.1:{node.port}")


def test_a_frozen_master_costs_a_request_one_socket_timeout(cluster, settings):
    """A hung master costs a request on its slots one socket timeout, as a hung server does,
    not one per retry: on its own, valkey-py sends a command that timed out again after reading
    the slot map (up to 3 times), a pipeline's commands again one by one, and reads the slot map
    from the hung node too (plain clients, past the breaker). Each attempt on a hung node counts
    in its breaker, so the breaker's count is the number of socket timeouts paid; the hung node,
    once resumed, is the witness that nothing else asked it (not a new thread's client starting
    up, not a slot-map read). The other masters' passengers are served throughout."""
    settings.BREAKER_FAILURES = 3
    settings.BREAKER_PROBE_SECONDS = 3600  # the test probes once, by hand, when it is back
    settings.VALKEY_TIMEOUTS = valkey_config.Timeouts(connect=0.5, read=0.5)
    with use_valkey(settings, cluster.env):
        clients, flows, victim, other = spread_passengers(cluster)
    # A new client asks the hung node first for the slot map, unless told otherwise.
    with use_valkey(settings, cluster.env_asking_first(victim)):
        assert clients[0].get("/").status_code == 200
        sessions_client().disconnect_connection_pools()  # from here on, every attempt connects
        with frozen(cluster, victim) as hung:
            guard = node_breaker(victim)
            # The session page (a pipeline, its commands sent again one by one): one timeout.
            assert_unavailable(clients[0].get("/session/"))
            assert (guard.failures, guard.state) == (1, "closed")
            # Another passenger, from a new thread: a new client starts up (slot map, COMMAND)
            # without asking the hung node, and serves the dashboard.
            assert in_new_thread(lambda: clients[other].get("/")).status_code == 200
            assert guard.failures == 1
            # The dashboard (one GET, which valkey-py would retry): one timeout.
            assert_unavailable(clients[0].get("/"))
            assert guard.failures == 2
            # A new thread's first request for the hung node: its one timeout opens the breaker.
            assert_unavailable(in_new_thread(lambda: clients[0].get("/session/")))
            assert (guard.failures, guard.state) == (3, "open")
            # From now on refused before anything is sent.
            for path in ("/", "/session/"):
                assert_unavailable(clients[0].get(path))
            assert (guard.failures, guard.refused) == (3, 2)
            assert clients[other].get("/").status_code == 200
            timeouts = guard.failures
            # Valkey's witness: one connection per timeout the breaker counted, and none else.
            assert hung.resume() == timeouts
            assert guard.probe_once()  # back: the probe closes the breaker
        for client, flow in zip(clients, flows, strict=True):
            dashboard = client.get("/")
            assert dashboard.status_code == 200, "logged out by the outage"
            assert chosen_flight_ids(dashboard.text) == [flow["flight_id"]]
            log_out(client)


def test_a_frozen_master_and_the_admins_live_sessions_and_purge(cluster, settings, passport):
    """The admin's live sessions and `manage.py sessions purge` SCAN each master with the
    cluster client's own client of that node (valkey_sessions.live), which goes through the
    node's breaker like the rest: a hung master costs the first of them one socket timeout, and
    once its breaker is open they are refused at once (503 with Retry-After; the command: one
    line and exit status 3) instead of a timeout each. The breaker's count is the number of
    timeouts paid, and the hung node, resumed, is the witness that nothing else asked it."""
    cluster.client().flushall()  # the cluster is shared by this module's tests
    settings.BREAKER_FAILURES = 2
    settings.BREAKER_PROBE_SECONDS = 3600  # the test probes once, by hand, when it is back
    settings.VALKEY_TIMEOUTS = valkey_config.Timeouts(connect=0.5, read=0.5)
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_passenger"))
    with use_valkey(settings, cluster.env):
        passenger = Client()
        site_flow_until_dashboard(passenger, passport)
        staff = Client()
        staff.force_login(user)
        page = staff.get("/admin/passengers/live-sessions/")
        assert page.status_code == 200 and passport in page.text
        holders = cluster.key_nodes()
        # A master that holds neither the staff's session nor the passenger's.
        used = {
            holders[valkey_key(c.cookies["flightsite_session"].value)] for c in (staff, passenger)
        }
        victim = next(n for n in cluster.nodes if n.port not in used)
        sessions_client().disconnect_connection_pools()  # from here on, every attempt connects
        with frozen(cluster, victim) as hung:
            # The first look: one timeout (the SCAN of the hung master), a 503.
            assert_unavailable(staff.get("/admin/passengers/live-sessions/"))
            guard = node_breaker(victim)
            assert (guard.failures, guard.state) == (1, "closed")
            # purge, first SCAN of every master (fewer sessions than a batch: nothing ended
            # before the hung one): one timeout, which opens the breaker; a clear error.
            with pytest.raises(CommandError) as failed:
                call_command("sessions", "purge", "--yes")
            assert failed.value.returncode == 3
            assert "cannot serve now" in str(failed.value)
            assert (guard.failures, guard.state) == (2, "open")
            # Then refused before anything is sent.
            assert_unavailable(staff.get("/admin/passengers/live-sessions/"))
            with pytest.raises(CommandError) as refused:
                call_command("sessions", "purge", "--yes")
            assert refused.value.returncode == 3 and "circuit open" in str(refused.value)
            assert (guard.failures, guard.refused) == (2, 2)
            assert passenger.get("/").status_code == 200  # served from its own master
            timeouts = guard.failures
            assert hung.resume() == timeouts  # Valkey's witness: nothing else asked it
            assert guard.probe_once()  # back: the probe closes the breaker
        page = staff.get("/admin/passengers/live-sessions/")
        assert page.status_code == 200 and passport in page.text
        out = io.StringIO()
        call_command("sessions", "purge", "--yes", stdout=out)
        assert "Ended 2 session(s)" in out.getvalue()  # the passenger's and the staff's
    assert passenger.get("/").status_code == 302
