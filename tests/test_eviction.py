"""Sessions are never evicted to make room for cache entries (the embedded default).

The cache server evicts (allkeys-lru at its maxmemory); the session server never does
(noeviction): when it is full it refuses new writes, which the site answers with a 503 and
Retry-After while every existing session stays, and stays readable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.cache import caches
from django.test import Client

from valkey_sessions.keys import valkey_key

from .conftest import BOTH_DBS
from .helpers import RawValkey, login, raw_value, session_cookie, session_key_of, stored_session
from .topologies import info

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

USERS = 20


@contextmanager
def maxmemory(client: RawValkey, limit: int) -> Iterator[None]:
    before = client.config_get("maxmemory")["maxmemory"]
    client.config_set("maxmemory", limit)
    try:
        yield
    finally:
        client.config_set("maxmemory", before)


def logged_in_clients(passport: str, n: int) -> list[Client]:
    clients = []
    for _ in range(n):
        client = Client()
        assert login(client, passport).status_code == 302
        clients.append(client)
    return clients


def test_filling_the_cache_evicts_cache_entries_and_no_session(
    valkey_client, valkey_cache_client, passport
):
    clients = logged_in_clients(passport, USERS)
    sessions: dict[str, bytes | None] = {valkey_key(session_key_of(c)): None for c in clients}
    for key in sessions:
        sessions[key] = raw_value(valkey_client, key)

    used = int(info(valkey_cache_client, "memory")["used_memory"])
    with maxmemory(valkey_cache_client, used + 1_000_000):
        cache = caches["default"]
        for i in range(300):  # ~3 MB of values into a cache with 1 MB of room
            cache.set(f"filler:{i}", "x" * 10_000, timeout=None)
        evicted = int(info(valkey_cache_client, "stats")["evicted_keys"])
        assert evicted > 0, "the cache never reached its limit"
        assert cache.get("filler:299") is not None  # the cache still works, newest entries stay

    assert int(info(valkey_client, "stats")["evicted_keys"]) == 0
    assert {key: raw_value(valkey_client, key) for key in sessions} == sessions, "a session lost"
    for client in clients:
        assert client.get("/").status_code == 200


def test_a_full_session_store_refuses_new_writes_with_503_and_keeps_every_session(
    valkey_client, passport
):
    clients = logged_in_clients(passport, 5)
    keys = [valkey_key(session_key_of(c)) for c in clients]
    first = clients[0]
    with maxmemory(valkey_client, 1):  # far below what is used: every write is refused
        newcomer = Client()
        response = login(newcomer, passport)
        assert response.status_code == 503
        assert response["Retry-After"]
        assert f'value="{passport}"' in response.text  # what was typed is kept
        assert session_cookie(newcomer) is None

        # A change is refused too (503), the cookie is kept, nothing was written.
        response = first.post("/weather/", {"country": "GB", "zip": "B1", "units": "metric"})
        assert response.status_code == 503
        assert response["Retry-After"]
        assert valkey_key(session_key_of(first)) == keys[0]
        assert "weather" not in stored_session(valkey_client, session_key_of(first))

        # Reading is not a write that needs memory: logged-in users still see their pages.
        assert first.get("/").status_code == 200
        assert int(info(valkey_client, "stats")["evicted_keys"]) == 0
        assert all(valkey_client.exists(key) for key in keys)

    # Room again: the same cookie goes on where it stopped.
    response = first.post("/weather/", {"country": "GB", "zip": "B1", "units": "metric"})
    assert response.status_code == 302
    assert login(Client(), passport).status_code == 302
