"""Open-Meteo current weather (https://open-meteo.com/en/docs): free, no API key, by coordinates.

GET {OPENMETEO_BASE_URL}/forecast?latitude=..&longitude=..
    &current=temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m
    &temperature_unit=fahrenheit&wind_speed_unit=mph        (celsius / ms for metric)

Coordinates come from the built-in city list, or from flughafendb's `airport_geo` when it has an
airport of that city (the nearest one, if it is plausibly the same place).
"""

from __future__ import annotations

import logging
import math
import unicodedata
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q

from weather.cities import COUNTRY_NAMES, City

from . import http
from .base import (
    MalformedResponse,
    ProviderUnavailable,
    WeatherReport,
    as_number,
    normalise_units,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.open-meteo.com/v1"
CURRENT_FIELDS = "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m"
# An airport further than this from the city's own coordinates is not "the city's" airport
# (or the row is wrong): the built-in coordinates are used then.
MAX_AIRPORT_DISTANCE_KM = 100.0

# WMO weather interpretation codes (WW), as listed in the Open-Meteo documentation.
WMO_CODES: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "depositing rime fog",
    51: "light drizzle",
    53: "moderate drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "dense freezing drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "heavy freezing rain",
    71: "slight snow fall",
    73: "moderate snow fall",
    75: "heavy snow fall",
    77: "snow grains",
    80: "slight rain showers",
    81: "moderate rain showers",
    82: "violent rain showers",
    85: "slight snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}


def describe_wmo(code: int) -> str:
    """The description of a WMO weather code; unknown codes are named, not an error."""
    return WMO_CODES.get(code, f"unknown weather (WMO code {code})")


def _ascii_fold(text: str) -> str:
    # "São Paulo" -> "Sao Paulo": airport_geo spells city names without accents.
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), good enough to compare airports."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def coordinates(city: City) -> tuple[float, float]:
    """(latitude, longitude) for `city`: the nearest airport_geo row of that city and country
    if there is a plausible one, else the built-in coordinates.

    Only called on a cache miss, so this query runs at most once per city per cache TTL.
    """
    from flightsite.flughafendb.models import AirportGeo

    country = COUNTRY_NAMES.get(city.country)
    if not country:
        return city.lat, city.lon
    names = {city.name, _ascii_fold(city.name)}
    query = Q()
    for name in names:
        query |= Q(city__iexact=name)
    try:
        rows = list(
            AirportGeo.objects.filter(query, country__iexact=country)
            .order_by("airport_id")
            .values_list("latitude", "longitude")
        )
    except DatabaseError as exc:
        # The legacy database being down must not cost the weather: use our own coordinates.
        logger.warning(
            "airport_geo lookup for %s failed, using built-in coordinates: %s", city.name, exc
        )
        return city.lat, city.lon
    candidates = [
        (distance_km(city.lat, city.lon, float(lat), float(lon)), float(lat), float(lon))
        for lat, lon in rows
        if lat is not None and lon is not None
    ]
    candidates = [c for c in candidates if c[0] <= MAX_AIRPORT_DISTANCE_KM]
    if not candidates:
        return city.lat, city.lon
    _, lat, lon = min(candidates)
    return lat, lon


class OpenMeteoProvider:
    name = "openmeteo"

    def __init__(self, base_url: str | None = None) -> None:
        base = base_url or getattr(settings, "OPENMETEO_BASE_URL", "") or DEFAULT_BASE_URL
        self.url = base.rstrip("/") + "/forecast"

    def current(self, city: City, units: str = "imperial") -> WeatherReport:
        units = normalise_units(units)
        lat, lon = coordinates(city)
        metric = units == "metric"
        response = http.get(
            self.url,
            {
                # 4 decimals is ~11 m, finer than Open-Meteo's grid; keeps URLs (and logs) tidy.
                "latitude": f"{lat:.4f}",
                "longitude": f"{lon:.4f}",
                "current": CURRENT_FIELDS,
                "temperature_unit": "celsius" if metric else "fahrenheit",
                "wind_speed_unit": "ms" if metric else "mph",
            },
            provider=self.name,
        )
        if response.status_code == 400:
            # {"error": true, "reason": "..."}: Open-Meteo rejected the request we built.
            raise ProviderUnavailable(f"openmeteo: HTTP 400: {http.redact(response.text[:160])!r}")
        http.raise_for_status(response, provider=self.name)
        data = http.json_body(response, provider=self.name)
        return self.parse(data, city, units)

    def parse(self, data: Any, city: City, units: str) -> WeatherReport:
        """Map the JSON answer to a WeatherReport, or raise a WeatherError."""
        if not isinstance(data, dict):
            raise MalformedResponse(f"openmeteo: answer is a {type(data).__name__}")
        if data.get("error"):
            raise ProviderUnavailable(f"openmeteo: error answer: {data.get('reason')!r:.160}")
        current = data.get("current")
        if not isinstance(current, dict):
            raise MalformedResponse("openmeteo: no 'current' object in the answer")
        try:
            temp = as_number(current["temperature_2m"], "temperature_2m", provider=self.name)
            humidity = as_number(
                current["relative_humidity_2m"], "relative_humidity_2m", provider=self.name
            )
            wind = as_number(current["wind_speed_10m"], "wind_speed_10m", provider=self.name)
            code = as_number(current["weather_code"], "weather_code", provider=self.name)
        except KeyError as exc:
            raise MalformedResponse(f"openmeteo: field missing: {exc}") from None
        if not code.is_integer():
            raise MalformedResponse(f"openmeteo: weather_code is not an integer: {code!r}")
        return WeatherReport(
            city=city.name,
            country=city.country,
            zip=city.zip,
            temp=round(temp, 1),
            description=describe_wmo(int(code)),
            humidity=round(humidity),
            wind_speed=round(wind, 1),
            units=units,
            provider=self.name,
        )
