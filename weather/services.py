"""Cache-aside weather lookups: one upstream call per (provider, country, zip, units) per TTL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from weather.cities import City
from weather.providers import get_provider
from weather.providers.base import WeatherReport


@dataclass(frozen=True)
class WeatherResult:
    report: WeatherReport
    fetched_at: str  # ISO 8601, when the provider answered
    cached: bool  # served from the shared Valkey cache, not from the provider

    def as_session_value(self) -> dict[str, Any]:
        return {**self.report.as_dict(), "fetched_at": self.fetched_at, "cached": self.cached}


def cache_key(provider: str, city: City, units: str) -> str:
    return f"weather:{provider}:{city.country}:{city.zip}:{units}"


def fetch_weather(city: City, units: str = "imperial") -> WeatherResult:
    """Current weather for `city`, from the shared cache when fresh, else from the provider.

    Raises weather.providers.base.WeatherError when the provider fails; nothing is cached then.
    """
    provider = get_provider()
    cache = caches[settings.WEATHER_CACHE_ALIAS]
    key = cache_key(provider.name, city, units)
    hit = cache.get(key)
    if hit is not None:
        return WeatherResult(WeatherReport(**hit["report"]), hit["fetched_at"], cached=True)
    report = provider.current(city, units=units)
    fetched_at = timezone.now().isoformat(timespec="seconds")
    cache.set(
        key, {"report": report.as_dict(), "fetched_at": fetched_at}, settings.WEATHER_CACHE_TTL
    )
    return WeatherResult(report, fetched_at, cached=False)
