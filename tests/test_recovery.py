"""Outages end when the outage ends: while a dependency is down the circuit breaker answers at
once, a background probe finds it back, and the first request after that is served. One log
line per breaker transition, with counts; a request too large for the site is one warning.

Behaviour is asserted by the breaker's state and counters (and an injected clock for the state
machine), never by wall-clock time; bench/reliability.py measures the time to the first 200.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

import pytest
from django.db import connections

from flightsite.outages import Breaker, ValkeyCircuitOpen, breakers, get_breaker

from . import test_faults
from .conftest import BOTH_DBS
from .helpers import login, session_key_of
from .test_faults import a_flight_id, raw, site_uses, url_of

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)
start_valkey = test_faults.start_valkey  # the fixture: dedicated servers, stopped after


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("flightsite")]


# --- the state machine, on an injected clock -----------------------------------------------
def test_without_a_probe_one_request_tries_every_probe_interval():
    clock = FakeClock()
    breaker = Breaker("dep", 3, 0.2, ValkeyCircuitOpen, clock=clock)
    for _ in range(3):
        breaker.allow()
        breaker.failure("refused")
    assert breaker.state == "open"
    with pytest.raises(ValkeyCircuitOpen):
        breaker.allow()
    clock.now += 0.2
    breaker.allow()  # this one probes...
    with pytest.raises(ValkeyCircuitOpen):
        breaker.allow()  # ...the others still fail fast
    breaker.failure("refused")  # the probe failed: wait another interval
    with pytest.raises(ValkeyCircuitOpen):
        breaker.allow()
    clock.now += 0.2
    breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    breaker.allow()


def test_with_a_background_probe_no_request_waits_and_the_probe_closes_it(caplog):
    caplog.set_level(logging.INFO, logger="flightsite")
    back = threading.Event()
    calls = []

    def probe():
        calls.append(1)
        if not back.is_set():
            raise ConnectionRefusedError("refused")

    clock = FakeClock()
    breaker = Breaker("dep", 2, 0.01, ValkeyCircuitOpen, probe=probe, clock=clock)
    breaker.failure("refused")
    breaker.failure("refused")
    assert breaker.state == "open"
    for _ in range(50):  # every request refused at once, even after the probe interval
        clock.now += 1
        with pytest.raises(ValkeyCircuitOpen):
            breaker.allow()
    assert not breaker.wait_closed(0.05)
    back.set()
    assert breaker.wait_closed(5)
    breaker.allow()
    assert calls  # the background thread probed
    lines = [line for line in outage_lines(caplog) if "circuit" in line]
    assert len(lines) == 2, lines  # one line per transition...
    assert "open after 2 failures" in lines[0]
    assert "50 requests refused" in lines[1]  # ...with counts
    breaker.stop()


# --- a real valkey-server ------------------------------------------------------------------
def _sessions_breaker():
    return next(b for b in breakers() if b.name.startswith("valkey"))


def _open_the_breaker(client, settings) -> None:
    for _ in range(settings.BREAKER_FAILURES):
        assert client.get("/").status_code == 503
    assert _sessions_breaker().state == "open"


@pytest.mark.parametrize("fault", ["freeze", "restart"])
def test_site_serves_again_once_valkey_is_back(
    fault, client, settings, start_valkey, passport, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    settings.BREAKER_FAILURES = 3
    config = {"appendonly": "yes", "appendfsync": "always"}
    server = start_valkey(config, data_dir=tmp_path, persist=True)
    port = server.port
    with site_uses(settings, url_of(server)):
        login(client, passport)
        key = session_key_of(client)
        assert client.get("/").status_code == 200
        if fault == "freeze":
            os.kill(server._process.pid, signal.SIGSTOP)
        else:
            server.stop()
        try:
            _open_the_breaker(client, settings)
            breaker = _sessions_breaker()
            for _ in range(20):  # fail fast, counted, not logged one by one
                response = client.get("/")
                assert response.status_code == 503
                assert response["Retry-After"] == "1"
            assert breaker.refused >= 20
            assert breaker.state == "open"
        finally:
            if fault == "freeze":
                os.kill(server._process.pid, signal.SIGCONT)
            else:
                start_valkey(config, data_dir=tmp_path, persist=True, port=port)
        # No request needed: the background probe sees it back and closes the breaker.
        assert breaker.wait_closed(10)
        response = client.get("/")
        assert response.status_code == 200
        assert passport in response.text
        assert session_key_of(client) == key
    lines = [r for r in caplog.records if r.name.startswith(("flightsite", "passengers"))]
    messages = [r.getMessage() for r in lines]
    transitions = [m for m in messages if "circuit" in m]
    assert len(transitions) == 2, transitions
    assert "circuit open after 3 failures" in transitions[0]
    assert "requests refused" in transitions[1]
    # The three requests that opened it: at most one line per kind of failure, not per 503.
    assert len(messages) <= 4, messages


def test_an_answer_like_oom_never_opens_the_breaker(client, settings, start_valkey, passport):
    server = start_valkey({"maxmemory-policy": "noeviction"})
    with site_uses(settings, url_of(server)):
        login(client, passport)
        raw(server).config_set("maxmemory", "1")
        try:
            for _ in range(settings.BREAKER_FAILURES + 2):
                response = client.post("/flights/add/", {"flight_id": a_flight_id()})
                assert response.status_code == 503
        finally:
            raw(server).config_set("maxmemory", "0")
        assert _sessions_breaker().state == "closed"


# --- the database (MariaDB leg) ------------------------------------------------------------
@pytest.mark.mysql
def test_site_serves_again_once_the_database_is_back(client, settings, passport):
    from .test_db_faults import FreezingProxy, flughafendb_at

    real = connections["flughafendb"].settings_dict
    if connections["flughafendb"].vendor != "mysql":
        pytest.skip("needs the MariaDB leg (FLIGHTSITE_TEST_DB=mysql)")
    settings.BREAKER_FAILURES = 3
    login(client, passport)
    proxy = FreezingProxy(real["HOST"] or "127.0.0.1", int(real["PORT"] or 3306))
    try:
        with flughafendb_at("127.0.0.1", proxy.port, PASSWORD=real["PASSWORD"]):
            assert client.get("/flights/").status_code == 200
            proxy.freeze()
            for _ in range(3):
                assert client.get("/flights/").status_code == 503
                with contextlib.suppress(Exception):
                    connections["flughafendb"].close()
            breaker = get_breaker("database flughafendb", ValkeyCircuitOpen)
            assert breaker.state == "open"
            assert client.get("/flights/").status_code == 503
            assert breaker.refused >= 1
            proxy.thaw()
            assert breaker.wait_closed(10)
            assert client.get("/flights/").status_code == 200
    finally:
        proxy.close()


# --- quiet logs ----------------------------------------------------------------------------
def test_a_request_too_large_is_one_warning_without_traceback(client, settings, caplog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    caplog.set_level(logging.INFO)
    response = client.post("/login/", {"passportno": "x" * 2000})
    assert response.status_code == 400
    # What the site's console handler (settings.LOGGING) writes of them.
    from flightsite.log_filters import SuspiciousRequestsAsWarnings

    (console,) = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, SuspiciousRequestsAsWarnings) for f in h.filters)
    ]
    security = [r for r in caplog.records if r.name.startswith("django.security")]
    assert security
    for record in security:
        assert console.filter(record)
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        assert "RequestDataTooBig" in record.getMessage()


def test_the_sites_503s_are_not_logged_one_by_one(client, settings, start_valkey, caplog, passport):
    """Django logs every 5xx at ERROR (django.request); the console drops the site's 503s,
    which the breaker and log_outage already account for."""
    from flightsite.log_filters import SuspiciousRequestsAsWarnings

    server = start_valkey()
    caplog.set_level(logging.INFO)
    with site_uses(settings, url_of(server)):
        login(client, passport)
        server.stop()
        assert client.get("/").status_code == 503
    (console,) = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, SuspiciousRequestsAsWarnings) for f in h.filters)
    ]
    request_lines = [r for r in caplog.records if r.name == "django.request"]
    assert request_lines and not any(console.filter(r) for r in request_lines)
