"""The site on a real Sentinel set (primary + replica + Sentinel; VALKEY_SENTINELS, django-valkey's
SentinelClient + SentinelConnectionFactory): the whole flow, then the primary changes while a
passenger is logged in — a planned switch (SENTINEL FAILOVER … COORDINATED) and a crash of the
primary (Sentinel fails over on its own). The passenger stays logged in; during the switch the
site answers at most 503 with Retry-After, never a 500. Every test runs as the least-privilege
users of `manage.py valkey_acl --topology sentinel` (the sessions and cache users on both data
servers, the Sentinel user on the Sentinel; their default users can only PING) and ends with an
empty ACL LOG everywhere: nothing the site sent, before, during or after a failover, was
refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
import valkey
from django.test import Client

from flightsite.flughafendb.demo_data import passport_number
from valkey_sessions.keys import valkey_key
from valkey_sessions.store import decode_value

from .conftest import BOTH_DBS
from .helpers import RawValkey
from .topologies import (
    CACHE_USER,
    SENTINEL_USER,
    SESSIONS_USER,
    SentinelSet,
    log_out,
    password_of,
    site_acl,
    site_flow_until_dashboard,
    use_valkey,
    wait_for,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

SWITCH_TIMEOUT = 30  # seconds; a switch takes 1-2 s (coordinated) or 2-4 s (crash) here


@pytest.fixture
def sentinel_set(tmp_path):
    acl = site_acl("sentinel")
    with SentinelSet(tmp_path, service="flightsite-sessions", acl=acl) as sentinels:
        yield sentinels
        assert sentinels.acl_denials() == {}  # Valkey's witness: the site was refused nothing


def raw(sentinels: SentinelSet, port: int, key: str) -> bytes | None:
    client: RawValkey = sentinels.client(port)
    return client.get(valkey_key(key))


def stored(sentinels: SentinelSet, port: int, key: str) -> dict[str, Any]:
    value = raw(sentinels, port, key)
    assert value, f"no session {key} on :{port}"
    return decode_value(value)[1]


def browse_through_switch(client: Client, switched) -> list[tuple[float, int]]:
    """Load the dashboard again and again until a page came back that was asked for after the
    switch was over (so it came from the new primary); returns (seconds since start, status)
    of each answer."""
    seen: list[tuple[float, int]] = []
    start = time.monotonic()
    while time.monotonic() - start < SWITCH_TIMEOUT:
        over = switched()
        response = client.get("/")
        seen.append((round(time.monotonic() - start, 2), response.status_code))
        assert response.status_code in (200, 503), seen
        if response.status_code == 503:
            assert response["Retry-After"], "a 503 without Retry-After"
        elif over:
            return seen
        time.sleep(0.02)  # paces requests while the real Sentinel fails over (no clock to move)
    raise AssertionError(f"no switch within {SWITCH_TIMEOUT} s: {seen}")


def summary(seen: list[tuple[float, int]]) -> str:
    errors = [t for t, status in seen if status == 503]
    window = f"{errors[0]}-{errors[-1]} s" if errors else "none"
    return f"{len(seen)} requests, {len(errors)} x 503 (window {window}), others 200"


def after_the_switch(client: Client, sentinels: SentinelSet, flow: dict, old_primary: int) -> None:
    """Still logged in with everything, the new primary takes writes, logout deletes there."""
    new_primary = sentinels.primary_port()
    assert new_primary != old_primary
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "Birmingham" in dashboard.text
    assert client.cookies["flightsite_session"].value == flow["session_key"]
    response = client.post("/weather/", {"country": "JP", "zip": "1000001"})
    assert response.status_code == 302
    assert stored(sentinels, new_primary, flow["session_key"])["weather"]["city"] == "Tokyo"
    log_out(client)
    assert raw(sentinels, new_primary, flow["session_key"]) is None


def test_flow_and_a_planned_failover_while_logged_in(sentinel_set, settings, passport):
    with use_valkey(settings, sentinel_set.env) as topology:
        assert (topology.sessions.kind, topology.cache.kind) == ("sentinel", "sentinel")
        client = Client()
        flow = site_flow_until_dashboard(client, passport)
        old = sentinel_set.primary_port()
        assert stored(sentinel_set, old, flow["session_key"])["flights"]

        sentinel_set.failover(coordinated=True)
        seen = browse_through_switch(client, lambda: sentinel_set.switched(old))
        print(f"\nplanned failover: {summary(seen)}")
        after_the_switch(client, sentinel_set, flow, old)


def test_the_primary_crashes_while_logged_in(sentinel_set, settings, passport):
    with use_valkey(settings, sentinel_set.env):
        client = Client()
        flow = site_flow_until_dashboard(client, passport)
        old = sentinel_set.primary_port()
        replica = next(p for p in sentinel_set.data_ports if p != old)
        # The session reached the replica before the crash (replication is asynchronous).
        wait_for(
            lambda: stored(sentinel_set, replica, flow["session_key"]), 5, "the replica to catch up"
        )

        primary = next(n for n in sentinel_set.nodes if n.port == old)
        primary.terminate()  # SIGKILL: no goodbye, Sentinel notices after down-after (1 s)
        seen = browse_through_switch(client, lambda: sentinel_set.primary_port() == replica)
        print(f"\nprimary crash: {summary(seen)}")
        after_the_switch(client, sentinel_set, flow, old)


def test_the_users_can_do_what_the_site_does_and_nothing_else(sentinel_set, settings, passport):
    """Least privilege under Sentinel: the Sentinel user can ask where the primary is, not
    change what Sentinel does; the data users are refused everything outside their grant, and a
    command the grant lacks is a 503 with Retry-After from the site, never a 500."""
    assert sentinel_set.acl is not None and sentinel_set.sentinel is not None
    login = {name: password_of(sentinel_set.acl[name]) for name in sentinel_set.acl}
    sentinel: RawValkey = valkey.Valkey(
        port=sentinel_set.sentinel.port, username=SENTINEL_USER, password=login[SENTINEL_USER]
    )
    service = sentinel_set.service
    assert sentinel.execute_command("SENTINEL", "MASTERS")  # what valkey-py asks
    primary = sentinel_set.primary_port()
    sessions: RawValkey = valkey.Valkey(
        port=primary, username=SESSIONS_USER, password=login[SESSIONS_USER]
    )
    cache: RawValkey = valkey.Valkey(port=primary, username=CACHE_USER, password=login[CACHE_USER])
    refused = [
        lambda: sentinel.execute_command("SENTINEL", "FAILOVER", service),
        lambda: sentinel.execute_command("SENTINEL", "SET", service, "quorum", "2"),
        lambda: sentinel.execute_command("SENTINEL", "REMOVE", service),
        lambda: sessions.flushall(),
        lambda: sessions.keys("*"),
        lambda: sessions.config_get("maxmemory-policy"),
        lambda: sessions.get("flightsite:1:weather:x"),  # the cache's keys
        lambda: cache.get("flight_session:x"),  # the sessions' keys
        lambda: cache.execute_command("REPLICAOF", "NO", "ONE"),
    ]
    for command in refused:
        with pytest.raises(valkey.exceptions.NoPermissionError):
            command()
    assert len(sentinel_set.acl_denials()) == 2  # logged by the Sentinel and the primary

    with use_valkey(settings, sentinel_set.env):
        client = Client()
        site_flow_until_dashboard(client, passport)
        # SET taken away on both data servers: a login's script cannot write the session.
        for port in sentinel_set.data_ports:
            sentinel_set.client(port).execute_command("ACL", "SETUSER", SESSIONS_USER, "-set")
        response = Client().post("/login/", {"passportno": passport_number(2)})
        assert response.status_code == 503 and response["Retry-After"]
        assert client.get("/").status_code == 200  # reading needs no SET
        denied = [e for entries in sentinel_set.acl_denials().values() for e in entries]
        assert {(e["object"], e["context"], e["username"]) for e in denied} == {
            ("set", "lua", SESSIONS_USER)
        }
