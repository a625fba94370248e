"""Cache-aside weather lookups: one upstream call per (provider, country, zip, units) per TTL.

The cache is the shared Valkey (`settings.WEATHER_CACHE_ALIAS`), so every worker process and
every passenger asking for the same city within the TTL shares one provider answer.

- Thundering herd: on a miss, the first request takes a short lock (`cache.add`, i.e. SET NX)
  and asks the provider; concurrent requests for the same key wait briefly for its answer
  instead of calling the provider too. If the lock holder fails or is slow they stop waiting
  and ask the provider themselves, so a stuck lock never blocks anyone for long.
- Valkey down: the cache is an optimisation, not a dependency. Every cache operation that
  fails is logged and skipped, and the weather comes straight from the provider.
- Failures are not cached: the next request tries the provider again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import valkey.exceptions
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django_valkey.exceptions import ConnectionInterrupted

from passengers.session import WeatherEntry
from weather.cities import City
from weather.providers import get_provider
from weather.providers.base import (
    WeatherError,
    WeatherNotConfigured,
    WeatherReport,
    normalise_units,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors that mean "the cache is unavailable", not "the code is wrong".
CACHE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionInterrupted,
    valkey.exceptions.ValkeyError,
    OSError,
)
# The lock outlives the slowest possible provider call (3 attempts of at most 3.05 s connect +
# 5 s read, plus backoff: ~25 s) so it does not expire while its holder is still fetching; it is
# deleted right after. If its holder dies, it frees itself after this many seconds.
LOCK_TTL = 30
# How long a request waits for another one's answer before it asks the provider itself.
LOCK_WAIT = 6.0
LOCK_POLL = 0.05


@dataclass(frozen=True)
class WeatherResult:
    report: WeatherReport
    fetched_at: str  # ISO 8601, when the provider answered
    cached: bool  # served from the shared Valkey cache, not from the provider

    def as_session_value(self) -> WeatherEntry:
        """The session's weather entry (passengers.session.WeatherEntry, in its field order)."""
        r = self.report  # field by field: the checker then sees both layouts agree
        return WeatherEntry(
            city=r.city,
            country=r.country,
            zip=r.zip,
            temp=r.temp,
            description=r.description,
            humidity=r.humidity,
            wind_speed=r.wind_speed,
            units=r.units,
            provider=r.provider,
            fetched_at=self.fetched_at,
            cached=self.cached,
        )


def cache_key(provider: str, city: City, units: str) -> str:
    return f"weather:{provider}:{city.country}:{city.zip}:{units}"


class _GuardedCache:
    """The weather cache, where an outage turns each operation into a no-op returning a default.

    After the first failure the remaining operations of this lookup are skipped: one warning and
    one socket timeout per request, not one per operation.
    """

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache
        self.available = True

    def run(self, operation: Callable[[BaseCache], T], default: T, what: str) -> T:
        if not self.available:
            return default
        try:
            return operation(self.cache)
        except CACHE_ERRORS as exc:
            self.available = False
            logger.warning("Weather cache unavailable (%s), fetching without it: %s", what, exc)
            return default

    def result(self, key: str) -> WeatherResult | None:
        """The cached result under `key`; None for a miss or anything unexpected."""
        value = self.run(lambda c: c.get(key), None, "get")
        try:
            return WeatherResult(WeatherReport(**value["report"]), str(value["fetched_at"]), True)
        except (KeyError, TypeError):
            return None


def _wait_for_other(cache: _GuardedCache, key: str, lock_key: str) -> WeatherResult | None:
    """Poll for the answer of the request holding the lock, until it is there, the lock is gone
    (its holder failed) or LOCK_WAIT has passed."""
    deadline = time.monotonic() + LOCK_WAIT
    while time.monotonic() < deadline and cache.available:
        time.sleep(LOCK_POLL)
        result = cache.result(key)
        if result is not None:
            return result
        if not cache.run(lambda c: c.has_key(lock_key), False, "has_key"):
            # Released without an answer: one last look, the value may have landed just now.
            return cache.result(key)
    return None


def fetch_weather(city: City, units: str = "imperial") -> WeatherResult:
    """Current weather for `city`, from the shared cache when fresh, else from the provider.

    Raises weather.providers.base.WeatherError when the provider fails; nothing is cached then.
    """
    units = normalise_units(units)
    try:
        provider = get_provider()
    except ImproperlyConfigured as exc:
        # gunicorn does not run system checks: a bad WEATHER_PROVIDER must still be a 503.
        logger.error("Weather provider misconfigured: %s", exc)
        raise WeatherNotConfigured(str(exc)) from exc
    cache = _GuardedCache(caches[settings.WEATHER_CACHE_ALIAS])
    key = cache_key(provider.name, city, units)
    ttl = int(settings.WEATHER_CACHE_TTL)

    result = cache.result(key)
    if result is not None:
        return result

    lock_key = f"{key}:lock"
    # True: we fetch. False: someone else is fetching. None: no cache, fetch without a lock.
    # bool(): django-valkey's add() answers None, not False, when the key exists.
    locked = cache.run(lambda c: bool(c.add(lock_key, 1, LOCK_TTL)), None, "add")
    if locked is False:
        result = _wait_for_other(cache, key, lock_key)
        if result is not None:
            return result
    try:
        report = provider.current(city, units=units)
        fetched_at = timezone.now().isoformat(timespec="seconds")
        if ttl > 0:
            value = {"report": report.as_dict(), "fetched_at": fetched_at}
            cache.run(lambda c: c.set(key, value, ttl), None, "set")
    except WeatherError as exc:
        # str(exc) never contains an API key (providers redact it); no traceback needed.
        log = logger.error if isinstance(exc, WeatherNotConfigured) else logger.warning
        log(
            "Weather from %s for %s,%s failed (%s): %s",
            provider.name,
            city.zip,
            city.country,
            exc.kind,
            exc,
        )
        raise
    finally:
        # Released after the value is stored, so waiting requests find it once the lock is gone.
        if locked:
            cache.run(lambda c: c.delete(lock_key), None, "delete")
    return WeatherResult(report, fetched_at, cached=False)
