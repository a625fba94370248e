"""Weather providers behind one interface; `get_provider()` picks the one settings name."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import WeatherError, WeatherProvider, WeatherReport

PROVIDERS: dict[str, str] = {
    "offline": "weather.providers.offline.OfflineProvider",
}


def get_provider(name: str | None = None) -> WeatherProvider:
    """Instantiate the provider named by `name` or settings.WEATHER_PROVIDER."""
    key = (name or settings.WEATHER_PROVIDER or "offline").lower()
    try:
        path = PROVIDERS[key]
    except KeyError as exc:
        raise ValueError(
            f"Unknown WEATHER_PROVIDER {key!r}; choose one of {', '.join(sorted(PROVIDERS))}"
        ) from exc
    return import_string(path)()


__all__ = ["PROVIDERS", "WeatherError", "WeatherProvider", "WeatherReport", "get_provider"]
