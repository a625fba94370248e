"""The provider interface: one method, `current(city, units) -> WeatherReport`, and typed errors.

Every failure a provider can hit is a `WeatherError` subclass carrying the HTTP status the page
answers with and a friendly `user_message`; the view shows that message and never a traceback.
The exception text (`str(exc)`) is for logs: providers build it without the API key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from weather.cities import City


def normalise_units(units: str | None) -> str:
    """ "metric" or "imperial" (the default for anything else, as the form does)."""
    return "metric" if units == "metric" else "imperial"


@dataclass(frozen=True)
class WeatherReport:
    """Current weather for one city, in the units named by `units`."""

    city: str
    country: str
    zip: str
    temp: float
    description: str
    humidity: int
    wind_speed: float
    units: str = "imperial"  # "imperial" (°F, mph) or "metric" (°C, m/s)
    provider: str = "offline"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class WeatherError(Exception):
    """A failure the user can be told about; `kind` says which, `status` the HTTP status to use."""

    kind = "error"
    status = 503
    user_message = "The weather service is not available right now. Please try again."

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message:
            self.user_message = user_message


class CityNotFound(WeatherError):
    kind = "not_found"
    status = 404
    user_message = "The weather service does not know that city."


class WeatherTimeout(WeatherError):
    # 503, not 504: this site is not a gateway the user asked to reach the provider through.
    kind = "timeout"
    status = 503
    user_message = "The weather service took too long to answer. Please try again in a moment."


class ProviderUnavailable(WeatherError):
    kind = "unavailable"
    status = 503
    user_message = "The weather service is not available right now. Please try again later."


class MalformedResponse(WeatherError):
    kind = "malformed"
    status = 503
    user_message = "The weather service sent an answer we could not read. Please try again later."


class WeatherNotConfigured(WeatherError):
    """The site's configuration is incomplete (e.g. no API key): nothing the user can fix."""

    kind = "not_configured"
    status = 503
    user_message = (
        "Weather is not available: this site's weather service is misconfigured. "
        "Please try again later."
    )


class BadApiKey(WeatherNotConfigured):
    """The provider refused the API key (HTTP 401): the site is misconfigured."""

    kind = "bad_key"


def as_number(value: Any, field: str, *, provider: str) -> float:
    """`value` as a finite float, or MalformedResponse (JSON booleans and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedResponse(f"{provider}: {field} is not a number: {value!r:.40}")
    return float(value)


def as_text(value: Any, field: str, *, provider: str) -> str:
    """`value` as a non-empty, stripped string, or MalformedResponse."""
    if not isinstance(value, str) or not value.strip():
        raise MalformedResponse(f"{provider}: {field} is not a text: {value!r:.40}")
    return value.strip()


class WeatherProvider(Protocol):
    name: str

    def current(self, city: City, units: str = "imperial") -> WeatherReport:
        """Return the current weather for `city` in `units` or raise a WeatherError."""
        ...
