"""The session store's contract with Valkey: commands per request, TTL, merges, outages."""

from __future__ import annotations

import copy
import json

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.core.cache import caches

from flights.models import Flight
from passengers import session as sess
from passengers.session_store import SessionStore, merge_sessions

from .conftest import BOTH_DBS
from .helpers import SESSION_PREFIX, login, session_key_of

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def commands(valkey_client) -> dict[str, int]:
    stats = valkey_client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): v["calls"]
        for name, v in stats.items()
        if name not in {"cmdstat_info", "cmdstat_config|resetstat"}
    }


def test_read_only_request_is_one_getex(client, valkey_client, passport):
    login(client, passport)
    client.get("/")  # first dashboard: consumes the flash message
    valkey_client.config_resetstat()
    assert client.get("/").status_code == 200
    assert commands(valkey_client) == {"getex": 1}


def test_login_is_one_write(client, valkey_client, passport):
    valkey_client.config_resetstat()
    login(client, passport)
    stats = commands(valkey_client)
    assert stats.get("set") == 1, stats  # SET NX EX, no EXISTS probe, no second SET
    assert "exists" not in stats


def test_getex_slides_the_ttl(client, valkey_client, passport):
    login(client, passport)
    key = SESSION_PREFIX + session_key_of(client)
    valkey_client.expire(key, 10)
    client.get("/")
    assert valkey_client.ttl(key) > settings.SESSION_COOKIE_AGE - 5


def test_unchanged_session_is_not_rewritten(client, valkey_client, passport):
    login(client, passport)
    flight_id = Flight.objects.today(limit=1)[0]["flight_id"]
    client.post("/flights/add/", {"flight_id": flight_id})
    valkey_client.config_resetstat()
    client.post("/flights/add/", {"flight_id": flight_id})  # duplicate: nothing changes
    stats = commands(valkey_client)
    assert "set" not in stats and "evalsha" not in stats, stats


def test_concurrent_changes_are_merged_not_lost(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    first, second = Flight.objects.today(limit=2)

    tab_a, tab_b = SessionStore(key), SessionStore(key)
    tab_a.load()
    sess.flights(tab_a)  # both tabs read the session before either writes
    tab_b.load()
    sess.add_flight(tab_b, second)
    tab_b.save()
    sess.add_flight(tab_a, first)
    tab_a.save()

    stored = json.loads(valkey_client.get(SESSION_PREFIX + key))
    assert sorted(f["flight_id"] for f in stored["flights"]) == sorted(
        [first["flight_id"], second["flight_id"]]
    )
    assert stored["passenger"]["passportno"] == passport


def test_save_after_logout_elsewhere_does_not_resurrect(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    tab = SessionStore(key)
    sess.set_weather(tab, {"city": "X"})
    SessionStore(key).delete()  # logged out in another tab
    with pytest.raises(UpdateError):
        tab.save()
    assert not valkey_client.exists(SESSION_PREFIX + key)


def test_merge_sessions_lists_and_values():
    base = {"flights": [1, 2], "weather": "a", "passenger": "p"}
    mine = {"flights": [1, 3], "weather": "b", "passenger": "p"}
    theirs = {"flights": [1, 2, 4], "weather": "c", "passenger": "q"}
    merged = merge_sessions(base, mine, theirs)
    assert merged == {"flights": [1, 4, 3], "weather": "b", "passenger": "q"}


@pytest.fixture
def valkey_down(settings):
    """Point both cache aliases at a port where nothing listens."""
    broken = copy.deepcopy(settings.CACHES)
    for alias in broken.values():
        alias["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    caches.close_all()
    yield
    caches.close_all()


def test_valkey_outage_is_a_503_not_a_logout(client, valkey_client, passport, settings):
    login(client, passport)
    key = session_key_of(client)
    saved = copy.deepcopy(settings.CACHES)
    broken = copy.deepcopy(saved)
    for alias in broken.values():
        alias["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    try:
        for response in (
            client.get("/"),
            client.get("/flights/"),
            client.post("/weather/", {"country": "GB", "zip": "B1"}),
        ):
            assert response.status_code == 503
            assert "try again" in response.text.lower()
            assert response["Retry-After"]
    finally:
        settings.CACHES = saved
    # Valkey is back: the same cookie still works, nothing was lost.
    assert session_key_of(client) == key
    assert client.get("/").status_code == 200


def test_login_during_outage_is_503_and_keeps_input(client, valkey_down, passport):
    response = login(client, passport)
    assert response.status_code == 503
    assert "try again" in response.text
    assert f'value="{passport}"' in response.text
    assert session_key_of(client) is None


def test_weather_during_outage_keeps_the_choice(client, valkey_client, passport, settings):
    login(client, passport)
    saved = copy.deepcopy(settings.CACHES)
    broken = copy.deepcopy(saved)
    broken["sessions"]["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    try:
        response = client.post("/weather/", {"country": "JP", "zip": "1000001"})
    finally:
        settings.CACHES = saved
    assert response.status_code == 503
    assert "try again" in response.text
    assert 'value="1000001" selected' in response.text  # the chosen city is still selected
