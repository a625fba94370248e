"""Weather providers behind one interface; `get_provider()` picks the one settings name."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from jinja2 import Environment
from jinja2.ext import Extension

from .base import WeatherError, WeatherProvider, WeatherReport

# name (the value of WEATHER_PROVIDER) -> dotted path of the class, imported on first use.
PROVIDERS: dict[str, str] = {
    "offline": "weather.providers.offline.OfflineProvider",
    "openweathermap": "weather.providers.openweathermap.OpenWeatherMapProvider",
    "openmeteo": "weather.providers.openmeteo.OpenMeteoProvider",
}


# How the weather card names each source: "From <label>, fetched …".
LABELS: dict[str, str] = {
    "offline": "the built-in demo weather",
    "openweathermap": "OpenWeatherMap",
    "openmeteo": "Open-Meteo",
}


def provider_label(name: str | None) -> str:
    """The source's name for people ("OpenWeatherMap"); an unknown name as it is."""
    return LABELS.get(name or "", name or "an unknown source")


class ProviderLabels(Extension):
    """The `provider_label` filter in the site's Jinja environment (named in settings.TEMPLATES'
    "extensions"): the dashboard names a weather's source without importing this app."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["provider_label"] = provider_label


def provider_name(name: str | None = None) -> str:
    """The normalised provider name: `name`, else settings.WEATHER_PROVIDER, else "offline"."""
    return (name or getattr(settings, "WEATHER_PROVIDER", "") or "offline").strip().lower()


def get_provider(name: str | None = None) -> WeatherProvider:
    """Instantiate the provider named by `name` or settings.WEATHER_PROVIDER.

    An unknown name is a configuration error (the `weather.E001` system check reports it at
    startup), not a WeatherError the user could do anything about.
    """
    key = provider_name(name)
    try:
        path = PROVIDERS[key]
    except KeyError:
        raise ImproperlyConfigured(
            f"Unknown WEATHER_PROVIDER {key!r}; choose one of {', '.join(sorted(PROVIDERS))}"
        ) from None
    provider: WeatherProvider = import_string(path)()
    return provider


__all__ = [
    "LABELS",
    "PROVIDERS",
    "ProviderLabels",
    "WeatherError",
    "WeatherProvider",
    "WeatherReport",
    "get_provider",
    "provider_label",
    "provider_name",
]
