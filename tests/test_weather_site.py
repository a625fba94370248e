"""Weather through the site (Django test client): provider failures keep the session's previous
weather and the user's selection, show a message and answer a proper status, never a 500."""

from __future__ import annotations

import html
import re

import pytest
import requests
import responses
from django.test import Client

from .conftest import BOTH_DBS
from .helpers import login, session_key_of, stored_session

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

KEY = "site-test-owm-key-9876543210"
OWM_URL = "https://owm.test/data/2.5/weather"
OM_URL = "https://om.test/v1/forecast"
OWM_OK = {
    "weather": [{"description": "light rain"}],
    "main": {"temp": 11.5, "humidity": 81},
    "wind": {"speed": 4.1},
    "sys": {"country": "DE"},
    "name": "Berlin",
    "cod": 200,
}
OM_OK = {
    "current": {
        "temperature_2m": 12.34,
        "relative_humidity_2m": 64,
        "weather_code": 2,
        "wind_speed_10m": 3.21,
    }
}


@pytest.fixture(autouse=True)
def weather_settings(settings) -> None:
    settings.WEATHER_PROVIDER = "offline"
    settings.OPENWEATHER_API_KEY = KEY
    settings.OPENWEATHER_BASE_URL = "https://owm.test/data/2.5"
    settings.OPENMETEO_BASE_URL = "https://om.test/v1"
    settings.WEATHER_HTTP_BACKOFF = 0


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def raw_session(valkey_client, client) -> dict:
    data = stored_session(valkey_client, session_key_of(client))
    assert data is not None, "session key missing in Valkey"
    return data


@pytest.fixture
def with_previous_weather(client, valkey_client, passport) -> dict:
    """Logged in, with weather for Birmingham (offline provider) in the session; returns the
    stored session."""
    login(client, passport)
    response = client.post("/weather/", {"country": "GB", "zip": "B1", "units": "imperial"})
    assert response.status_code == 302
    raw = raw_session(valkey_client, client)
    assert raw["weather"]["city"] == "Birmingham"
    return raw


def assert_form_kept(response, country: str, zip_: str, units: str) -> None:
    text = response.text
    assert f'name="country" value="{country}" id="id_country_hidden"' in text
    assert re.search(rf'<option value="{re.escape(country)}" selected>', text)
    assert re.search(rf'<option value="{re.escape(zip_)}" selected>', text)
    assert re.search(rf'<input type="radio" name="units" value="{units}"[^>]*checked', text)


def weather_error(response) -> str:
    """The text of the page's one weather error message (unescaped)."""
    found = re.findall(r'<div [^>]*data-testid="weather-error">([^<]*)</div>', response.text)
    assert len(found) == 1, "expected exactly one weather error message on the page"
    return html.unescape(found[0])


FAILURES = [
    # (name, register the upstream answer, expected status, words of the message)
    (
        "server error",
        lambda m: [m.get(OWM_URL, status=500) for _ in range(3)],
        503,
        "not available",
    ),
    ("not found", lambda m: m.get(OWM_URL, status=404, json={"cod": "404"}), 404, "does not know"),
    ("bad key", lambda m: m.get(OWM_URL, status=401, json={"cod": 401}), 503, "misconfigured"),
    (
        "timeout",
        lambda m: m.get(OWM_URL, body=requests.exceptions.ReadTimeout()),
        503,
        "too long",
    ),
    ("malformed", lambda m: m.get(OWM_URL, body="<html>oops</html>"), 503, "could not read"),
    ("rate limited", lambda m: m.get(OWM_URL, status=429), 503, "busy"),
]


@pytest.mark.parametrize(
    ("name", "register", "status", "words"), FAILURES, ids=[f[0] for f in FAILURES]
)
def test_provider_failure_keeps_previous_weather(
    client, valkey_client, settings, mocked, with_previous_weather, name, register, status, words
):
    settings.WEATHER_PROVIDER = "openweathermap"
    register(mocked)
    response = client.post("/weather/", {"country": "DE", "zip": "10115", "units": "metric"})

    assert response.status_code == status
    assert words in weather_error(response)
    assert_form_kept(response, "DE", "10115", "metric")
    assert raw_session(valkey_client, client) == with_previous_weather  # byte for byte
    assert KEY not in response.text
    assert len(mocked.calls) >= 1

    dashboard = client.get("/")
    assert "Birmingham" in dashboard.text  # the previous weather is still shown


def test_missing_api_key_is_a_clear_503(
    client, valkey_client, settings, mocked, with_previous_weather
):
    settings.WEATHER_PROVIDER = "openweathermap"
    settings.OPENWEATHER_API_KEY = ""
    response = client.post("/weather/", {"country": "DE", "zip": "10115", "units": "imperial"})
    assert response.status_code == 503
    assert "misconfigured" in weather_error(response)
    assert_form_kept(response, "DE", "10115", "imperial")
    assert raw_session(valkey_client, client) == with_previous_weather
    assert len(mocked.calls) == 0


def test_openweathermap_success_through_the_site(client, valkey_client, settings, mocked, passport):
    settings.WEATHER_PROVIDER = "openweathermap"
    mocked.get(
        OWM_URL,
        json=OWM_OK,
        match=[
            responses.matchers.query_param_matcher(
                {"zip": "10115,DE", "units": "metric", "appid": KEY}
            )
        ],
    )
    login(client, passport)
    response = client.post("/weather/", {"country": "DE", "zip": "10115", "units": "metric"})
    assert response.status_code == 302
    weather = raw_session(valkey_client, client)["weather"]
    assert weather["city"] == "Berlin" and weather["units"] == "metric"
    assert weather["provider"] == "openweathermap" and weather["cached"] is False
    assert weather["temp"] == 11.5 and weather["description"] == "light rain"

    # Loose on purpose: the dashboard's markup is not this feature's; its data is.
    card = client.get("/").text
    assert "11.5" in card and "°C" in card and "m/s" in card
    assert "From OpenWeatherMap, fetched" in card and "shared from the cache" not in card


def test_openmeteo_second_passenger_gets_the_shared_cache(
    client, valkey_client, settings, mocked, passport
):
    settings.WEATHER_PROVIDER = "openmeteo"
    mocked.get(OM_URL, json=OM_OK)
    login(client, passport)
    first = client.post("/weather/", {"country": "GB", "zip": "EC1A", "units": "imperial"})
    assert first.status_code == 302
    assert "From Open-Meteo, fetched" in client.get("/").text

    other = Client()
    login(other, passport)
    second = other.post("/weather/", {"country": "GB", "zip": "EC1A", "units": "imperial"})
    assert second.status_code == 302
    weather = raw_session(valkey_client, other)["weather"]
    assert weather["cached"] is True and weather["description"] == "partly cloudy"
    assert weather["temp"] == 12.3 and weather["units"] == "imperial"
    assert "shared from the cache" in other.get("/").text
    assert len(mocked.calls) == 1  # two passengers, one upstream request


def test_failure_on_first_fetch_writes_no_weather(
    client, valkey_client, settings, mocked, passport
):
    settings.WEATHER_PROVIDER = "openmeteo"
    mocked.get(OM_URL, body=requests.exceptions.ConnectTimeout())
    login(client, passport)
    before = raw_session(valkey_client, client)
    response = client.post("/weather/", {"country": "GB", "zip": "M1", "units": "metric"})
    assert response.status_code == 503
    assert_form_kept(response, "GB", "M1", "metric")
    assert raw_session(valkey_client, client) == before
    assert "weather" not in before
    assert "No weather yet" in client.get("/").text


def test_unknown_provider_at_runtime_is_503_not_500(client, passport, settings):
    """gunicorn runs no system checks: a bad WEATHER_PROVIDER must still give a clear 503."""
    from .helpers import login as do_login

    do_login(client, passport)
    settings.WEATHER_PROVIDER = "nonsense"
    response = client.post("/weather/", {"country": "GB", "zip": "B1", "units": "imperial"})
    assert response.status_code == 503
    assert "Birmingham" in response.text or 'value="B1"' in response.text


def checked_units(response) -> str:
    found = re.findall(r'<input type="radio" name="units" value="(\w+)"[^>]*checked', response.text)
    assert len(found) == 1, "exactly one unit system is preselected"
    return found[0]


@pytest.mark.parametrize(
    ("country", "units"),
    [("", "metric"), ("DE", "metric"), ("GB", "metric"), ("US", "imperial"), ("us", "imperial")],
)
def test_units_default_to_the_countrys(client, passport, country, units):
    login(client, passport)
    response = client.get(f"/weather/?country={country}")
    assert checked_units(response) == units
    # Without a remembered choice, weather.js may follow the country: it is told which.
    assert 'data-imperial-countries="AS GU LR MM MP PR UM US VI"' in response.text


def test_the_units_of_a_fetch_are_remembered_for_the_next(client, valkey_client, passport):
    login(client, passport)
    response = client.post("/weather/", {"country": "DE", "zip": "10115", "units": "imperial"})
    assert response.status_code == 302
    stored = raw_session(valkey_client, client)
    assert stored["units"] == "imperial" and stored["weather"]["units"] == "imperial"
    # Next time, for any country, the form starts with that choice (and JS leaves it alone).
    for country in ("DE", "JP", ""):
        again = client.get(f"/weather/?country={country}")
        assert checked_units(again) == "imperial"
        assert "data-imperial-countries" not in again.text


def test_no_units_sent_means_the_countrys(client, valkey_client, passport):
    login(client, passport)
    assert client.post("/weather/", {"country": "US", "zip": "10001"}).status_code == 302
    assert raw_session(valkey_client, client)["weather"]["units"] == "imperial"
    assert client.post("/weather/", {"country": "FR", "zip": "75001"}).status_code == 302
    assert raw_session(valkey_client, client)["weather"]["units"] == "metric"


def test_weather_card_names_its_source(client, passport):
    login(client, passport)
    client.post("/weather/", {"country": "GB", "zip": "B1", "units": "metric"})
    card = client.get("/").text
    assert "From the built-in demo weather, fetched" in card
    assert "°C" in card and "m/s" in card
