"""The site on a real Sentinel set (primary + replica + Sentinel; VALKEY_SENTINELS, django-valkey's
SentinelClient + SentinelConnectionFactory): the whole flow, then the primary changes while a
passenger is logged in — a planned switch (SENTINEL FAILOVER … COORDINATED) and a crash of the
primary (Sentinel fails over on its own). The passenger stays logged in; during the switch the
site answers at most 503 with Retry-After, never a 500."""

from __future__ import annotations

import time
from typing import Any

import pytest
import valkey
from django.test import Client

from valkey_sessions.keys import valkey_key
from valkey_sessions.store import decode_value

from .conftest import BOTH_DBS
from .helpers import RawValkey
from .topologies import SentinelSet, log_out, site_flow_until_dashboard, use_valkey, wait_for

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

SWITCH_TIMEOUT = 30  # seconds; a switch takes 1-2 s (coordinated) or 2-4 s (crash) here


@pytest.fixture
def sentinel_set(tmp_path):
    with SentinelSet(tmp_path, service="flightsite-sessions") as sentinels:
        yield sentinels


def raw(port: int, key: str) -> bytes | None:
    client: RawValkey = valkey.Valkey(port=port)
    return client.get(valkey_key(key))


def stored(port: int, key: str) -> dict[str, Any]:
    value = raw(port, key)
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
    assert stored(new_primary, flow["session_key"])["weather"]["city"] == "Tokyo"
    log_out(client)
    assert raw(new_primary, flow["session_key"]) is None


def test_flow_and_a_planned_failover_while_logged_in(sentinel_set, settings, passport):
    with use_valkey(settings, sentinel_set.env) as topology:
        assert (topology.sessions.kind, topology.cache.kind) == ("sentinel", "sentinel")
        client = Client()
        flow = site_flow_until_dashboard(client, passport)
        old = sentinel_set.primary_port()
        assert stored(old, flow["session_key"])["flights"]

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
        wait_for(lambda: stored(replica, flow["session_key"]), 5, "the replica to catch up")

        primary = next(n for n in sentinel_set.nodes if n.port == old)
        primary.terminate()  # SIGKILL: no goodbye, Sentinel notices after down-after (1 s)
        seen = browse_through_switch(client, lambda: sentinel_set.primary_port() == replica)
        print(f"\nprimary crash: {summary(seen)}")
        after_the_switch(client, sentinel_set, flow, old)
