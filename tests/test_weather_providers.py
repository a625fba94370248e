"""The weather providers end to end through the shared requests Session: canned answers from
`responses` (which sits under the session's HTTPAdapter, so the retry policy is exercised), and a
real local HTTP server for what only real sockets show (read timeouts, refused connections)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from responses import matchers

from weather.providers import PROVIDERS, get_provider, http
from weather.providers.base import (
    BadApiKey,
    CityNotFound,
    MalformedResponse,
    ProviderUnavailable,
    WeatherError,
    WeatherNotConfigured,
    WeatherTimeout,
)
from weather.providers.openmeteo import WMO_CODES, OpenMeteoProvider, coordinates, describe_wmo
from weather.providers.openweathermap import OpenWeatherMapProvider

from .conftest import BOTH_DBS
from .helpers import city

KEY = "sekrit-owm-key-0123456789"
OWM_BASE = "https://owm.test/data/2.5"
OWM_URL = f"{OWM_BASE}/weather"
OM_BASE = "https://om.test/v1"
OM_URL = f"{OM_BASE}/forecast"

LONDON = city("GB", "EC1A")
BERLIN = city("DE", "10115")
BIRMINGHAM = city("GB", "B1")
SAO_PAULO = city("BR", "01000-000")

OWM_OK = {
    "coord": {"lon": -0.1, "lat": 51.52},
    "weather": [{"id": 803, "main": "Clouds", "description": "broken clouds", "icon": "04d"}],
    "main": {"temp": 57.24, "feels_like": 55.9, "pressure": 1012, "humidity": 71},
    "wind": {"speed": 9.22, "deg": 250},
    "sys": {"country": "GB"},
    "name": "London",
    "cod": 200,
}
OM_OK: dict[str, Any] = {
    "latitude": 51.5,
    "longitude": -0.46,
    "current_units": {"temperature_2m": "°F", "wind_speed_10m": "mp/h"},
    "current": {
        "time": "2025-01-01T12:00",
        "interval": 900,
        "temperature_2m": 48.26,
        "relative_humidity_2m": 80.4,
        "weather_code": 61,
        "wind_speed_10m": 7.04,
    },
}


@pytest.fixture(autouse=True)
def weather_settings(settings) -> None:
    settings.OPENWEATHER_API_KEY = KEY
    settings.OPENWEATHER_BASE_URL = OWM_BASE
    settings.OPENMETEO_BASE_URL = OM_BASE
    settings.WEATHER_HTTP_BACKOFF = 0  # urllib3 would sleep 0.5 s before the second retry
    settings.WEATHER_HTTP_RETRIES = 2


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def owm_params(units: str = "imperial", zip_: str = "EC1A,GB") -> list:
    return [
        matchers.query_param_matcher({"zip": zip_, "units": units, "appid": KEY}),
        matchers.header_matcher({"User-Agent": http.USER_AGENT}),
    ]


# --- OpenWeatherMap ----------------------------------------------------------------------------


def test_owm_success_imperial(mocked):
    mocked.get(OWM_URL, json=OWM_OK, match=owm_params("imperial"))
    report = OpenWeatherMapProvider().current(LONDON, units="imperial")
    assert report.city == "London"
    assert report.country == "GB"
    assert report.zip == "EC1A"
    assert report.temp == 57.2
    assert report.humidity == 71
    assert report.description == "broken clouds"
    assert report.wind_speed == 9.2
    assert report.units == "imperial"
    assert report.provider == "openweathermap"
    assert len(mocked.calls) == 1


def test_shared_session_keeps_no_cookies(mocked):
    mocked.get(OWM_URL, json=OWM_OK, headers={"Set-Cookie": "tracking=1; Path=/"})
    OpenWeatherMapProvider().current(LONDON)
    assert len(http.get_session().cookies) == 0  # nothing per-user in the shared session


def test_owm_metric_asks_for_metric(mocked):
    mocked.get(
        OWM_URL, json={**OWM_OK, "main": {"temp": 14.0, "humidity": 71}}, match=owm_params("metric")
    )
    report = OpenWeatherMapProvider().current(LONDON, units="metric")
    assert (report.temp, report.units) == (14.0, "metric")


def test_owm_401_is_bad_key_without_leaking_it(mocked):
    mocked.get(
        OWM_URL,
        status=401,
        json={"cod": 401, "message": "Invalid API key. Please see https://openweathermap.org/faq"},
    )
    with pytest.raises(BadApiKey) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 503
    assert "misconfigured" in info.value.user_message
    assert KEY not in str(info.value) and KEY not in info.value.user_message
    assert len(mocked.calls) == 1  # a 401 is not retried


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"cod": "404", "message": "city not found"}),
        (200, {"cod": "404", "message": "city not found"}),  # the status only in the JSON
        (400, {"cod": "400", "message": "invalid zip code"}),
    ],
)
def test_owm_not_found(mocked, status, body):
    mocked.get(OWM_URL, status=status, json=body)
    with pytest.raises(CityNotFound) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 404
    assert len(mocked.calls) == 1


def test_owm_500_then_success_retries_once(mocked):
    mocked.get(OWM_URL, status=500, json={"cod": 500, "message": "internal error"})
    mocked.get(OWM_URL, json=OWM_OK)
    report = OpenWeatherMapProvider().current(LONDON)
    assert report.city == "London"
    assert len(mocked.calls) == 2


def test_owm_5xx_until_retries_are_spent(mocked):
    for status in (502, 503, 504, 500):
        mocked.get(OWM_URL, status=status, body="Bad gateway")
    with pytest.raises(ProviderUnavailable) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 503
    assert len(mocked.calls) == 3  # the first try and WEATHER_HTTP_RETRIES=2 retries


def test_owm_retries_follow_the_setting(mocked, settings):
    settings.WEATHER_HTTP_RETRIES = 0  # the shared session is rebuilt on the setting change
    mocked.get(OWM_URL, status=500)
    mocked.get(OWM_URL, json=OWM_OK)
    with pytest.raises(ProviderUnavailable):
        OpenWeatherMapProvider().current(LONDON)
    assert len(mocked.calls) == 1


def test_owm_429_is_busy(mocked):
    mocked.get(OWM_URL, status=429, json={"cod": 429, "message": "too many requests"})
    with pytest.raises(ProviderUnavailable) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 503
    assert "busy" in info.value.user_message
    assert len(mocked.calls) == 1  # 429 is not in the retry list


@pytest.mark.parametrize(
    "error",
    [requests.exceptions.ConnectTimeout("connect timed out"), requests.exceptions.ReadTimeout()],
)
def test_owm_timeout(mocked, error):
    mocked.get(OWM_URL, body=error)
    with pytest.raises(WeatherTimeout) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 503
    assert "too long" in info.value.user_message


def test_owm_connection_error_is_unavailable(mocked):
    mocked.get(OWM_URL, body=requests.exceptions.ConnectionError(f"refused: {OWM_URL}?appid={KEY}"))
    with pytest.raises(ProviderUnavailable) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert KEY not in str(info.value)
    assert "appid=***" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>Gateway</body></html>",  # not JSON
        json.dumps([1, 2, 3]),  # JSON, not an object
        json.dumps({**OWM_OK, "main": {"humidity": 71}}),  # main.temp missing
        json.dumps({**OWM_OK, "main": {"temp": "warm", "humidity": 71}}),  # not a number
        json.dumps({**OWM_OK, "weather": []}),  # no description
        json.dumps({**OWM_OK, "wind": None}),
        json.dumps({k: v for k, v in OWM_OK.items() if k != "main"}),
    ],
)
def test_owm_malformed(mocked, body):
    mocked.get(OWM_URL, body=body, content_type="application/json")
    with pytest.raises(MalformedResponse) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 503


def test_owm_missing_name_falls_back_to_our_city(mocked):
    mocked.get(OWM_URL, json={k: v for k, v in OWM_OK.items() if k not in {"name", "sys"}})
    report = OpenWeatherMapProvider().current(LONDON)
    assert (report.city, report.country) == ("London", "GB")


def test_owm_missing_key_is_a_configuration_error(mocked, settings):
    settings.OPENWEATHER_API_KEY = ""
    with pytest.raises(WeatherNotConfigured) as info:
        OpenWeatherMapProvider().current(LONDON)
    assert info.value.status == 503
    assert "misconfigured" in info.value.user_message
    assert len(mocked.calls) == 0  # no request without a key


# --- Open-Meteo --------------------------------------------------------------------------------


def om_params(lat: str, lon: str, temp: str, wind: str) -> list:
    return [
        matchers.query_param_matcher(
            {
                "latitude": lat,
                "longitude": lon,
                "current": "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m",
                "temperature_unit": temp,
                "wind_speed_unit": wind,
            }
        ),
        matchers.header_matcher({"User-Agent": http.USER_AGENT}),
    ]


@pytest.mark.django_db(databases=BOTH_DBS)
def test_openmeteo_success_imperial_prefers_airport_geo(mocked):
    # London has LHR (23 km) and LGW (39 km) in airport_geo: the nearest one is used.
    mocked.get(OM_URL, json=OM_OK, match=om_params("51.4700", "-0.4543", "fahrenheit", "mph"))
    report = OpenMeteoProvider().current(LONDON, units="imperial")
    assert report.city == "London" and report.country == "GB" and report.zip == "EC1A"
    assert report.temp == 48.3
    assert report.humidity == 80
    assert report.wind_speed == 7.0
    assert report.description == "slight rain"
    assert report.units == "imperial"
    assert report.provider == "openmeteo"


@pytest.mark.django_db(databases=BOTH_DBS)
def test_openmeteo_metric(mocked):
    mocked.get(OM_URL, json=OM_OK, match=om_params("51.4700", "-0.4543", "celsius", "ms"))
    report = OpenMeteoProvider().current(LONDON, units="metric")
    assert report.units == "metric"


@pytest.mark.django_db(databases=BOTH_DBS)
def test_openmeteo_coordinates():
    assert coordinates(LONDON) == (51.47, -0.4543)
    assert coordinates(SAO_PAULO) == (-23.4356, -46.4731)  # "São Paulo" = "Sao Paulo" (GRU)
    assert coordinates(BIRMINGHAM) == (BIRMINGHAM.lat, BIRMINGHAM.lon)  # no airport row


@pytest.mark.django_db(databases=BOTH_DBS)
def test_openmeteo_500_then_success_retries_once(mocked):
    mocked.get(OM_URL, status=503, body="busy")
    mocked.get(OM_URL, json=OM_OK)
    assert OpenMeteoProvider().current(BIRMINGHAM).description == "slight rain"
    assert len(mocked.calls) == 2


@pytest.mark.django_db(databases=BOTH_DBS)
def test_openmeteo_timeout(mocked):
    mocked.get(OM_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(WeatherTimeout):
        OpenMeteoProvider().current(BIRMINGHAM)


@pytest.mark.django_db(databases=BOTH_DBS)
def test_openmeteo_rejected_request(mocked):
    mocked.get(OM_URL, status=400, json={"error": True, "reason": "Cannot initialize ..."})
    with pytest.raises(ProviderUnavailable) as info:
        OpenMeteoProvider().current(BIRMINGHAM)
    assert info.value.status == 503


@pytest.mark.django_db(databases=BOTH_DBS)
@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"latitude": 1.0}),  # no "current"
        json.dumps({"current": {**OM_OK["current"], "temperature_2m": None}}),
        json.dumps({"current": {**OM_OK["current"], "weather_code": 2.5}}),
        json.dumps({"current": {k: v for k, v in OM_OK["current"].items() if k != "weather_code"}}),
    ],
)
def test_openmeteo_malformed(mocked, body):
    mocked.get(OM_URL, body=body, content_type="application/json")
    with pytest.raises(MalformedResponse):
        OpenMeteoProvider().current(BIRMINGHAM)


def test_wmo_table_is_complete():
    expected = {0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77}
    expected |= {80, 81, 82, 85, 86, 95, 96, 99}
    assert set(WMO_CODES) == expected
    assert all(isinstance(v, str) and v for v in WMO_CODES.values())
    assert describe_wmo(0) == "clear sky"
    assert describe_wmo(42) == "unknown weather (WMO code 42)"


# --- the shared session, registry, checks ------------------------------------------------------


def test_one_shared_session_with_timeouts_and_retry():
    session = http.get_session()
    assert http.get_session() is session
    agent = session.headers["User-Agent"]
    assert isinstance(agent, str) and agent.startswith("flightsite/")
    adapter = session.get_adapter("https://api.openweathermap.org/")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    retry = adapter.max_retries
    assert retry.total == 2
    assert set(retry.status_forcelist) == {500, 502, 503, 504}
    assert retry.allowed_methods == frozenset({"GET"})
    assert retry.read is False
    assert not retry.respect_retry_after_header
    connect, read = http.http_timeout()
    assert 0 < connect <= 5 and 0 < read <= 10


def test_redact():
    text = f"GET /weather?zip=1,GB&appid={KEY}&units=metric failed; key {KEY}"
    assert KEY not in http.redact(text, [KEY])
    assert "appid=***&units=metric" in http.redact(text)


def test_registry_and_unknown_provider(settings):
    assert {"offline", "openweathermap", "openmeteo"} <= set(PROVIDERS)
    assert get_provider("OpenMeteo").name == "openmeteo"
    settings.WEATHER_PROVIDER = "openweathermap"
    assert get_provider().name == "openweathermap"
    settings.WEATHER_PROVIDER = "yahoo"
    with pytest.raises(ImproperlyConfigured, match="yahoo"):
        get_provider()


def test_system_checks(settings):
    def ids() -> set[str | None]:
        return {m.id for m in checks.run_checks(tags=["weather"])}

    assert ids() == set()
    settings.WEATHER_PROVIDER = "yahoo"
    assert ids() == {"weather.E001"}
    settings.WEATHER_PROVIDER = "openweathermap"
    settings.OPENWEATHER_API_KEY = ""
    assert ids() == {"weather.W001"}
    settings.WEATHER_PROVIDER = "openmeteo"
    settings.WEATHER_HTTP_TIMEOUT = (0, 5)
    settings.WEATHER_CACHE_TTL = -1
    settings.OPENMETEO_BASE_URL = "ftp://x"
    assert ids() == {"weather.E002", "weather.E004", "weather.E005"}


def test_every_error_has_an_allowed_status_and_a_message():
    for cls in (
        WeatherError,
        CityNotFound,
        WeatherTimeout,
        ProviderUnavailable,
        MalformedResponse,
        WeatherNotConfigured,
        BadApiKey,
    ):
        assert cls.status in {400, 403, 404, 429, 503}
        assert cls.user_message


# --- a real local HTTP server ------------------------------------------------------------------


class StubServer:
    """Answers each request with the next planned (status, body, hang) for its path; a
    hanging answer is held until the server closes (a provider that stopped answering)."""

    def __init__(self) -> None:
        self.plans: dict[str, list[tuple[int, str, bool]]] = {}
        self.closing = threading.Event()
        self.requests: list[tuple[str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                stub.requests.append((self.path, dict(self.headers)))
                plan = stub.plans.get(path) or [(404, "{}", False)]
                status, body, hang = plan.pop(0) if len(plan) > 1 else plan[0]
                if hang:
                    stub.closing.wait(60)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (read timeout)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def plan(self, path: str, *answers: tuple[int, object, bool]) -> None:
        self.plans[path] = [
            (s, b if isinstance(b, str) else json.dumps(b), d) for s, b, d in answers
        ]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.close()


def test_real_server_retry_then_success(stub, settings):
    settings.OPENWEATHER_BASE_URL = stub.base + "/data/2.5"
    stub.plan("/data/2.5/weather", (502, "bad gateway", False), (200, OWM_OK, False))
    report = OpenWeatherMapProvider().current(LONDON, units="metric")
    assert report.city == "London"
    assert len(stub.requests) == 2
    path, headers = stub.requests[-1]
    assert "zip=EC1A%2CGB" in path and "units=metric" in path
    assert headers["User-Agent"] == http.USER_AGENT


def test_real_server_read_timeout_is_not_retried(stub, settings):
    settings.OPENWEATHER_BASE_URL = stub.base + "/data/2.5"
    settings.WEATHER_HTTP_TIMEOUT = (1.0, 0.2)
    stub.plan("/data/2.5/weather", (200, OWM_OK, True))  # never answers
    with pytest.raises(WeatherTimeout):  # after the read timeout, the server still silent
        OpenWeatherMapProvider().current(LONDON)
    assert len(stub.requests) == 1


def test_real_refused_connection_is_retried_and_logs_no_key(settings, caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.OPENWEATHER_BASE_URL = f"http://127.0.0.1:{port}/data/2.5"
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderUnavailable) as info:
        OpenWeatherMapProvider().current(LONDON)
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == 2  # connection errors are retried WEATHER_HTTP_RETRIES times
    assert "appid=***" in caplog.text  # urllib3 logs the URL, redacted
    assert KEY not in caplog.text
    assert KEY not in str(info.value)
