"""The site on either engine: ours (valkey_sessions) and Django's stock cache engine on the same
django-valkey alias (SESSION_ENGINE from the environment). The whole passenger flow works on
both; the pages that need ours say so; and what the stock engine costs, measured (the README's
"Django's stock engine" lines quote a run of test_what_the_stock_engine_costs)."""

from __future__ import annotations

import json
from importlib import import_module

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from passengers import session as sess

from .conftest import BOTH_DBS
from .helpers import login, session_cookie, tomorrows_flights
from .test_session_store import commandstats, workshop_flow

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

OURS, STOCK = "valkey_sessions", "django.contrib.sessions.backends.cache"


@pytest.fixture(params=[OURS, STOCK], ids=["ours", "stock"])
def engine(request, settings) -> str:
    settings.SESSION_ENGINE = request.param
    return str(request.param)


def test_the_whole_passenger_flow_on_either_engine(client, engine, passport):
    statuses = workshop_flow(client, passport)
    assert all(status in (200, 302) for _, status in statuses), statuses
    # Logged out at the end: the dashboard sends the browser to the login page.
    assert client.get("/").status_code == 302


def test_a_flight_added_shows_on_the_dashboard_on_either_engine(client, engine, passport):
    login(client, passport)
    flight = tomorrows_flights(1)[0]
    assert client.post("/flights/add/", {"flight_id": flight["flight_id"]}).status_code == 302
    assert flight["flightno"] in client.get("/").text
    store = import_module(engine).SessionStore(session_cookie(client))
    assert [f["flight_id"] for f in sess.flights(store)] == [flight["flight_id"]]


def test_pages_that_need_our_engine_say_so(client, settings, passport):
    settings.SESSION_ENGINE = STOCK
    login(client, passport)
    page = client.get("/session/")
    assert page.status_code == 501 and "SESSION_ENGINE=valkey_sessions" in page.text
    assert client.post("/session/end-others/").status_code == 501
    with pytest.raises(CommandError, match="valkey_sessions"):
        call_command("sessions", "count")


def _racing_adds(engine: str, key: str) -> int:
    """Two tabs read the session, each adds a flight, both save: how many of the two adds
    are stored."""
    store = import_module(engine).SessionStore
    first, second = tomorrows_flights(2)
    tab_a, tab_b = store(key), store(key)
    sess.flights(tab_a)
    sess.flights(tab_b)
    sess.add_flight(tab_a, first)
    sess.add_flight(tab_b, second)
    tab_a.save()
    tab_b.save()
    return len(sess.flights(store(key)))


def test_what_the_stock_engine_costs(client, engine, passport, valkey_client):
    valkey_client.config_resetstat()
    login(client, passport)
    client.post("/weather/", {"country": "GB", "zip": "B1"})
    client.post("/flights/add/", {"flight_id": tomorrows_flights(1)[0]["flight_id"]})
    for _ in range(5):
        client.get("/")  # read-only pages
    stats = commandstats(valkey_client)
    writes = sum(stats.get(c, 0) for c in ("set", "del", "evalsha", "eval", "unlink"))
    keys = [k for k in valkey_client.scan_iter(match="flight_session:*", _type="string")]
    (key,) = keys
    memory = valkey_client.memory_usage(key)
    client.post("/flights/remove/", {"flight_id": tomorrows_flights(1)[0]["flight_id"]})
    kept = _racing_adds(engine, session_cookie(client) or "")
    print(
        "ENGINE-COSTS",
        json.dumps(
            {"engine": engine, "writes": writes, "memory": memory, "racing_adds_kept": kept}
        ),
    )
    if engine == OURS:
        assert kept == 2 and memory <= 400
    else:
        assert kept == 1  # the last writer wins: one of the two adds is lost
