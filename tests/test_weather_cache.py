"""The cache-aside weather service against the real embedded Valkey."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
import responses
from django.core.cache import caches

from weather import services
from weather.cities import City
from weather.providers import PROVIDERS
from weather.providers.base import ProviderUnavailable, WeatherReport
from weather.services import cache_key, fetch_weather

from .conftest import BOTH_DBS
from .helpers import city
from .topologies import wait_for

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

LONDON = city("GB", "EC1A")
PARIS = city("FR", "75001")
CACHE_PREFIX = "flightsite:1:"  # KEY_PREFIX and version of the `default` cache alias


class CountingProvider:
    """A provider that counts its calls; `fail` shapes the next answers, and while `gate` is
    set, each call waits for the test to open it (a slow provider, as slow as the test needs)."""

    name = "counting"
    calls = 0
    fail: list[Exception] = []
    gate: threading.Event | None = None
    lock = threading.Lock()

    def current(self, city: City, units: str = "imperial") -> WeatherReport:
        with CountingProvider.lock:
            CountingProvider.calls += 1
            error = CountingProvider.fail.pop(0) if CountingProvider.fail else None
        if CountingProvider.gate is not None:
            assert CountingProvider.gate.wait(60), "the test never opened the gate"
        if error:
            raise error
        return WeatherReport(
            city=city.name,
            country=city.country,
            zip=city.zip,
            temp=20.0 if units == "metric" else 68.0,
            description="clear sky",
            humidity=50,
            wind_speed=3.0,
            units=units,
            provider=self.name,
        )


@pytest.fixture(autouse=True)
def counting(settings, monkeypatch) -> type[CountingProvider]:
    monkeypatch.setitem(PROVIDERS, "counting", f"{__name__}.CountingProvider")
    monkeypatch.setattr(CountingProvider, "calls", 0)
    monkeypatch.setattr(CountingProvider, "gate", None)
    monkeypatch.setattr(CountingProvider, "fail", [])
    settings.WEATHER_PROVIDER = "counting"
    settings.WEATHER_CACHE_TTL = 600
    return CountingProvider


def test_second_fetch_comes_from_the_cache(counting, valkey_cache_client):
    first = fetch_weather(LONDON, "imperial")
    second = fetch_weather(LONDON, "imperial")
    assert counting.calls == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.report == first.report
    assert second.fetched_at == first.fetched_at  # when the provider answered, not now

    key = CACHE_PREFIX + cache_key("counting", LONDON, "imperial")
    assert key == "flightsite:1:weather:counting:GB:EC1A:imperial"
    stored = json.loads(valkey_cache_client.get(key))
    assert stored["report"]["city"] == "London" and stored["report"]["units"] == "imperial"
    assert 0 < valkey_cache_client.ttl(key) <= 600
    assert not valkey_cache_client.exists(key + ":lock")  # the herd lock is released


def test_units_and_cities_are_cached_apart(counting):
    assert fetch_weather(LONDON, "imperial").report.temp == 68.0
    assert fetch_weather(LONDON, "metric").report.temp == 20.0
    fetch_weather(PARIS, "metric")
    fetch_weather(LONDON, "metric")
    assert counting.calls == 3


def test_an_answer_is_kept_for_the_ttl_then_valkey_drops_it(
    counting, settings, valkey_cache_client
):
    """The answer is stored with WEATHER_CACHE_TTL as its expiry: Valkey drops it then, and a
    missing key means a new call (test_deleted_key_means_a_new_call). No waiting for it."""
    settings.WEATHER_CACHE_TTL = 90
    fetch_weather(LONDON)
    assert fetch_weather(LONDON).cached
    key = CACHE_PREFIX + cache_key("counting", LONDON, "imperial")
    assert 89_000 < valkey_cache_client.pttl(key) <= 90_000
    assert counting.calls == 1


def test_deleted_key_means_a_new_call(counting, valkey_cache_client):
    fetch_weather(LONDON)
    valkey_cache_client.delete(CACHE_PREFIX + cache_key("counting", LONDON, "imperial"))
    fetch_weather(LONDON)
    assert counting.calls == 2


def test_ttl_zero_disables_the_cache(counting, settings):
    settings.WEATHER_CACHE_TTL = 0
    fetch_weather(LONDON)
    fetch_weather(LONDON)
    assert counting.calls == 2


def lock_attempts(valkey_cache_client) -> int:
    """SET commands the cache server has run since the test reset its statistics (the herd
    lock is a SET NX)."""
    stats = valkey_cache_client.info("commandstats")
    return int(stats.get("cmdstat_set", {}).get("calls", 0))


def run_herd(size: int, valkey_cache_client, counting) -> list:
    """`size` concurrent lookups of London while the provider is held: the provider answers
    once every lookup has tried to take the lock (so all but one are waiting for it)."""
    counting.gate = threading.Event()
    valkey_cache_client.config_resetstat()

    def fetch(_: int):
        try:
            return fetch_weather(LONDON)
        except ProviderUnavailable as exc:
            return exc
        finally:
            caches.close_all()  # each thread has its own cache connection

    with ThreadPoolExecutor(max_workers=size) as pool:
        futures = [pool.submit(fetch, i) for i in range(size)]
        wait_for(lambda: lock_attempts(valkey_cache_client) >= size, 30, "every lock attempt")
        assert counting.calls == 1  # only the lock holder asked the provider
        counting.gate.set()
        _, pending = wait(futures, timeout=60)  # LOCK_WAIT is 600 s here: no waiting it out
        assert not pending
    return [f.result() for f in futures]


def test_concurrent_misses_make_one_upstream_call(counting, valkey_cache_client, monkeypatch):
    """A thundering herd: 30 requests for the same cold key while the provider is slow."""
    monkeypatch.setattr(services, "LOCK_WAIT", 600.0)
    results = run_herd(30, valkey_cache_client, counting)
    assert counting.calls == 1
    assert sum(not r.cached for r in results) == 1
    assert len({r.fetched_at for r in results}) == 1


def test_failures_are_not_cached_and_release_the_lock(counting, valkey_cache_client):
    counting.fail = [ProviderUnavailable("down")]
    with pytest.raises(ProviderUnavailable):
        fetch_weather(LONDON)
    assert valkey_cache_client.keys("*weather*") == []  # neither a value nor a stale lock
    assert not fetch_weather(LONDON).cached
    assert counting.calls == 2


def test_waiters_fetch_themselves_when_the_lock_holder_fails(
    counting, valkey_cache_client, monkeypatch
):
    """The lock holder fails: the waiters see the lock go and fetch themselves at once, long
    before LOCK_WAIT (600 s here) would have let them."""
    monkeypatch.setattr(services, "LOCK_WAIT", 600.0)
    counting.fail = [ProviderUnavailable("down")]  # only the first caller (the lock holder)
    results = run_herd(5, valkey_cache_client, counting)
    assert sum(isinstance(r, ProviderUnavailable) for r in results) == 1
    assert 2 <= counting.calls <= 5


def test_corrupt_cache_entry_is_a_miss(counting):
    caches["default"].set(cache_key("counting", LONDON, "imperial"), {"unexpected": 1}, 60)
    result = fetch_weather(LONDON)
    assert not result.cached and result.report.city == "London"
    assert counting.calls == 1


def test_unreachable_cache_still_fetches(counting, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "broken": {
            **settings.CACHES["default"],
            "LOCATION": "valkey://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {
                **settings.CACHES["default"]["OPTIONS"],
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
            },
        },
    }
    settings.WEATHER_CACHE_ALIAS = "broken"
    result = fetch_weather(LONDON)
    assert result.report.city == "London" and not result.cached
    assert counting.calls == 1
    warnings = [r for r in caplog.records if "Weather cache unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one warning, the rest of the lookup skips the cache


def test_hundred_passengers_one_http_call(settings):
    """The real Open-Meteo code path: 100 lookups of London, one HTTP request."""
    settings.WEATHER_PROVIDER = "openmeteo"
    settings.OPENMETEO_BASE_URL = "https://om.test/v1"
    body = {
        "current": {
            "temperature_2m": 10.0,
            "relative_humidity_2m": 70,
            "weather_code": 3,
            "wind_speed_10m": 4.0,
        }
    }
    with responses.RequestsMock() as mocked:
        mocked.get("https://om.test/v1/forecast", json=body)
        results = [fetch_weather(LONDON, "metric") for _ in range(100)]
        assert len(mocked.calls) == 1
    assert results[-1].cached and results[-1].report.description == "overcast"
    assert results[-1].report.provider == "openmeteo"


def test_provider_switch_uses_its_own_key(counting, settings):
    fetch_weather(LONDON)
    settings.WEATHER_PROVIDER = "offline"
    result = fetch_weather(LONDON)
    assert not result.cached and result.report.provider == "offline"
    assert counting.calls == 1
