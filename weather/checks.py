"""System checks for the weather settings (run by runserver, migrate, `manage.py check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from weather.providers import PROVIDERS, provider_name


@checks.register("weather")
def check_weather_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    name = provider_name()
    if name not in PROVIDERS:
        problems.append(
            checks.Error(
                f"Unknown WEATHER_PROVIDER {name!r}.",
                hint=f"Set WEATHER_PROVIDER to one of: {', '.join(sorted(PROVIDERS))}.",
                id="weather.E001",
            )
        )
    if name == "openweathermap" and not str(getattr(settings, "OPENWEATHER_API_KEY", "")).strip():
        # A warning, not an error: the site runs and the weather page says it is misconfigured.
        problems.append(
            checks.Warning(
                "WEATHER_PROVIDER is 'openweathermap' but OPENWEATHER_API_KEY is empty.",
                hint="Set OPENWEATHER_API_KEY, or use WEATHER_PROVIDER=openmeteo (no key).",
                id="weather.W001",
            )
        )
    timeout = getattr(settings, "WEATHER_HTTP_TIMEOUT", None)
    values = timeout if isinstance(timeout, tuple | list) else (timeout,)
    if not (
        1 <= len(values) <= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values)
    ):
        problems.append(
            checks.Error(
                f"WEATHER_HTTP_TIMEOUT must be seconds > 0 or a (connect, read) pair: {timeout!r}",
                id="weather.E002",
            )
        )
    retries = getattr(settings, "WEATHER_HTTP_RETRIES", 0)
    if not isinstance(retries, int) or retries < 0:
        problems.append(
            checks.Error(
                f"WEATHER_HTTP_RETRIES must be an integer >= 0: {retries!r}", id="weather.E003"
            )
        )
    ttl = getattr(settings, "WEATHER_CACHE_TTL", 0)
    if not isinstance(ttl, int) or ttl < 0:
        problems.append(
            checks.Error(
                f"WEATHER_CACHE_TTL must be an integer >= 0 (0: no cache): {ttl!r}",
                id="weather.E004",
            )
        )
    for setting in ("OPENWEATHER_BASE_URL", "OPENMETEO_BASE_URL"):
        url = str(getattr(settings, setting, "") or "")
        if url and not url.startswith(("https://", "http://")):
            problems.append(
                checks.Error(f"{setting} must be an http(s) URL: {url!r}", id="weather.E005")
            )
    return problems
