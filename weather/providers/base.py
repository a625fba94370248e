"""The provider interface: one method, `current(city) -> WeatherReport`, and one error type."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from weather.cities import City


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


class WeatherProvider(Protocol):
    name: str

    def current(self, city: City, units: str = "imperial") -> WeatherReport:
        """Return the current weather for `city` or raise a WeatherError."""
        ...
