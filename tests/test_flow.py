"""The whole passenger flow through Django's test client, asserting on Valkey itself."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings

from flightsite.errors import wait_phrase
from valkey_sessions.keys import index_key, valkey_key

from .conftest import BOTH_DBS
from .helpers import (
    flight_rows,
    login,
    raw_value,
    session_cookie,
    session_key_of,
    session_keys,
    stored_session,
    tomorrows_flights,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def stored(valkey_client, client) -> dict:
    data = stored_session(valkey_client, session_key_of(client))
    assert data is not None, "session key missing in Valkey"
    return data


def test_login_creates_session_key_in_valkey(client, valkey_client, passport):
    response = login(client, passport)
    assert response.status_code == 302
    assert response["Location"] == "/"

    key = session_key_of(client)
    assert key, "no session cookie set"
    # Only the session and its entry in the passenger's devices index are written.
    assert sorted(valkey_client.keys("*")) == sorted([valkey_key(key), index_key(key)])
    data = stored(valkey_client, client)
    assert data["passenger"]["passportno"] == passport
    assert data["passenger"]["city"] and data["passenger"]["country"]
    assert isinstance(data["passenger_id"], int)

    ttl = valkey_client.ttl(valkey_key(key))
    assert 0 < ttl <= settings.SESSION_COOKIE_AGE

    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert passport in dashboard.text
    assert "Welcome" in dashboard.text
    assert "No weather yet" in dashboard.text
    assert "No flights yet" in dashboard.text


def test_session_value_is_msgpack_not_pickle(client, valkey_client, passport):
    login(client, passport)
    raw = raw_value(valkey_client, valkey_key(session_key_of(client)))
    assert not raw.startswith(b"\x80"), "pickle"
    assert raw[0] == 0x94  # a msgpack array: [version, written_at, device, body]


def test_cookie_is_httponly_and_lax(client, passport):
    response = login(client, passport)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


@pytest.mark.parametrize(
    ("value", "status"),
    [("", 400), ("   ", 400), ("X' OR 1=1", 400), ("ABCDEFGHIJK", 400), ("Z99999999", 403)],
)
def test_bad_or_unknown_passport_writes_nothing(client, valkey_client, value, status):
    response = client.post("/login/", {"passportno": value})
    assert response.status_code == status
    assert "field-error" in response.text or "message-error" in response.text
    assert session_keys(valkey_client) == []
    assert session_cookie(client) is None


def test_login_is_case_insensitive_and_trims(client, passport):
    response = login(client, f"  {passport.lower()} ")
    assert response.status_code == 302


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/flights/").status_code == 302
    assert client.get("/weather/").status_code == 302


def test_weather_flow_stored_in_session(client, valkey_client, passport):
    login(client, passport)
    form = client.get("/weather/?country=GB")
    assert form.status_code == 200
    assert "Birmingham" in form.text  # dependent select filled without JavaScript

    response = client.post("/weather/", {"country": "GB", "zip": "B1", "units": "imperial"})
    assert response.status_code == 302
    weather = stored(valkey_client, client)["weather"]
    assert weather["city"] == "Birmingham"
    assert weather["country"] == "GB"
    assert weather["zip"] == "B1"
    for field in ("temp", "description", "humidity", "wind_speed"):
        assert field in weather

    dashboard = client.get("/")
    assert "Birmingham" in dashboard.text
    assert "No weather yet" not in dashboard.text


def test_weather_rejects_city_of_other_country(client, valkey_client, passport):
    login(client, passport)
    before = stored(valkey_client, client)
    response = client.post("/weather/", {"country": "US", "zip": "B1"})
    assert response.status_code == 400
    assert stored(valkey_client, client) == before


def test_cities_json(client):
    response = client.get("/weather/cities/?country=jp")
    assert response.status_code == 200
    names = [c["name"] for c in response.json()["cities"]]
    assert "Tokyo" in names and len(names) == 5


def test_flights_page_lists_tomorrows_flights(client, passport):
    login(client, passport)
    from django.utils import timezone

    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.get(f"/flights/?day={tomorrow}")
    assert response.status_code == 200
    rows = flight_rows(response.text)
    assert 0 < len(rows) <= settings.FLIGHTS_PAGE_LIMIT
    departures = [r["Departure datetime"] for r in rows]
    assert departures == sorted(departures)
    assert all(d.startswith(tomorrow) for d in departures)
    # The rows are exactly the query's flights, in its order, each with its cells filled in.
    flights = tomorrows_flights(settings.FLIGHTS_PAGE_LIMIT)
    assert [int(r["flight_id"]) for r in rows] == [f["flight_id"] for f in flights]
    first, row = flights[0], rows[0]
    assert first["from_iata"] and first["to_iata"] and first["airline"]
    assert row["Flight"] == first["flightno"]
    assert row["From"] == f"{first['from_iata']} {first['from_airport']}"
    assert row["To"] == f"{first['to_iata']} {first['to_airport']}"
    assert row["Departure datetime"] == first["departure"]
    # Each time is its airport's local time and says so ("14:25 KST"; the instant is checked
    # above, through the datetime attribute with its offset).
    zone = r"(UTC|UTC\u2212\d+(:\d\d)?|UTC\+\d+(:\d\d)?|[A-Z]{2,5})"
    assert re.fullmatch(rf"\d\d:\d\d {zone}", row["Departure"]), row["Departure"]
    assert row["Arrival datetime"] == first["arrival"]
    assert re.match(rf"\d\d:\d\d {zone}", row["Arrival"]), row["Arrival"]
    assert row["Airline"] == first["airline"]
    assert row["action"] == "Add"


def test_add_flight_twice_stores_once_and_remove(client, valkey_client, passport):
    login(client, passport)
    flight_id = tomorrows_flights(1)[0]["flight_id"]

    first = client.post("/flights/add/", {"flight_id": flight_id}, follow=True)
    assert "added to your flights" in first.text
    second = client.post("/flights/add/", {"flight_id": flight_id}, follow=True)
    assert "already in your flights" in second.text
    flights = stored(valkey_client, client)["flights"]
    assert [f["flight_id"] for f in flights] == [flight_id]
    assert {
        "flightno",
        "from_airport",
        "from_iata",
        "to_airport",
        "to_iata",
        "departure",
        "arrival",
        "airline",
    } <= set(flights[0])

    dashboard = client.get("/")
    assert flights[0]["flightno"] in dashboard.text

    response = client.post("/flights/remove/", {"flight_id": flight_id})
    assert response.status_code == 302
    assert stored(valkey_client, client)["flights"] == []


def test_remove_is_post_only(client, passport):
    login(client, passport)
    assert client.get("/flights/remove/").status_code == 405
    assert client.get("/flights/add/").status_code == 405


@pytest.mark.parametrize(
    ("value", "status"), [("abc", 400), ("", 400), ("-1", 400), ("999999999", 404)]
)
def test_add_bad_flight_id(client, valkey_client, passport, value, status):
    login(client, passport)
    before = stored(valkey_client, client)
    response = client.post("/flights/add/", {"flight_id": value})
    assert response.status_code == status
    assert stored(valkey_client, client) == before


def test_logout_deletes_key_and_next_login_is_empty(client, valkey_client, passport):
    login(client, passport)
    client.post("/weather/", {"country": "DE", "zip": "10115"})
    flight_id = tomorrows_flights(1)[0]["flight_id"]
    client.post("/flights/add/", {"flight_id": flight_id})
    old_key = session_key_of(client)
    assert valkey_client.exists(valkey_key(old_key))

    response = client.post("/logout/", follow=True)
    assert "logged out" in response.text
    assert not valkey_client.exists(valkey_key(old_key))
    assert session_keys(valkey_client) == []
    assert valkey_client.keys("flight_session_index:*") == [], "its devices index entry too"

    login(client, passport)
    assert session_key_of(client) != old_key
    dashboard = client.get("/")
    assert "No weather yet" in dashboard.text
    assert "No flights yet" in dashboard.text


def test_logout_get_does_not_log_out(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    response = client.get("/logout/")
    assert response.status_code == 200
    assert valkey_client.exists(valkey_key(key))


def test_forged_session_cookie_is_ignored(client, valkey_client):
    client.cookies[settings.SESSION_COOKIE_NAME] = "../../etc/passwd*"
    response = client.get("/")
    assert response.status_code == 302
    assert valkey_client.keys("*") == []


def test_session_fixation_new_key_on_login(client, valkey_client, passport):
    login(client, passport)
    first = session_key_of(client)
    login(client, passport)  # logging in again (e.g. as someone else) gets a new id
    second = session_key_of(client)
    assert first != second
    assert not valkey_client.exists(valkey_key(first))


def test_failed_logins_are_throttled(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert client.post("/login/", {"passportno": "Z00000000"}).status_code == 403
    blocked = client.post("/login/", {"passportno": "Z00000000"})
    assert blocked.status_code == 429
    # The message says as long as Retry-After does.
    assert blocked["Retry-After"] == str(settings.LOGIN_FAILURE_WINDOW)
    minutes = settings.LOGIN_FAILURE_WINDOW // 60
    assert f"Too many failed attempts. Please try again in {minutes} minutes." in blocked.text


def test_fullwidth_digits_are_not_a_flight_id(client, valkey_client, passport):
    login(client, passport)
    response = client.post("/flights/add/", {"flight_id": "\uff11\uff12"})  # fullwidth "12"
    assert response.status_code == 400
    assert "flights" not in stored(valkey_client, client)


def test_wrong_method_gets_a_page_and_allow_header(client):
    response = client.put("/login/")
    assert response.status_code == 405
    assert "does not accept PUT" in response.text
    assert "POST" in response["Allow"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/flights/", "/flights/"), ("https://evil.example/", "/"), ("//evil.example", "/")],
)
def test_login_next_is_followed_only_on_this_site(client, passport, target, expected):
    response = client.post("/login/", {"passportno": passport, "next": target})
    assert response.status_code == 302
    assert response["Location"] == expected


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (30, "30 seconds"), (60, "1 minute"), (61, "2 minutes"), (300, "5 minutes")],
)
def test_wait_phrase_matches_retry_after(seconds, words):
    assert wait_phrase(seconds) == words


def test_404_offers_the_way_that_fits(client, passport):
    logged_out = client.get("/no-such-page/")
    assert logged_out.status_code == 404
    assert "Back to the dashboard" not in logged_out.text
    assert 'href="/login/">Log in</a>' in logged_out.text
    login(client, passport)
    logged_in = client.get("/no-such-page/")
    assert 'href="/">Back to the dashboard</a>' in logged_in.text


def test_favicon_ico_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
