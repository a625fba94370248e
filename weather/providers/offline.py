"""Deterministic built-in weather: no network, the same answer for the same city and day."""

from __future__ import annotations

import hashlib
from datetime import date

from weather.cities import City

from .base import WeatherReport

DESCRIPTIONS = [
    "clear sky",
    "few clouds",
    "scattered clouds",
    "broken clouds",
    "overcast clouds",
    "light rain",
    "moderate rain",
    "mist",
]


class OfflineProvider:
    name = "offline"

    def current(self, city: City, units: str = "imperial") -> WeatherReport:
        # Seeded by city and date so a demo shows stable values that still change day to day.
        seed = hashlib.sha256(f"{city.country}:{city.zip}:{date.today()}".encode()).digest()
        # Warmer towards the equator, like real weather.
        base_c = 30 - abs(city.lat) * 0.5
        temp_c = round(base_c + (seed[0] % 100) / 10 - 5, 1)
        wind_ms = round(1 + (seed[1] % 90) / 10, 1)
        if units == "metric":
            temp, wind = temp_c, wind_ms
        else:
            temp, wind = round(temp_c * 9 / 5 + 32, 1), round(wind_ms * 2.23694, 1)
        return WeatherReport(
            city=city.name,
            country=city.country,
            zip=city.zip,
            temp=temp,
            description=DESCRIPTIONS[seed[2] % len(DESCRIPTIONS)],
            humidity=30 + seed[3] % 65,
            wind_speed=wind,
            units=units,
            provider=self.name,
        )
