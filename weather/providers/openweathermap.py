"""OpenWeatherMap "current weather by zip code" (https://openweathermap.org/current#zip).

GET {OPENWEATHER_BASE_URL}/weather?zip=<code>,<country>&units=imperial|metric&appid=<key>
Imperial gives °F and mph, metric °C and m/s: exactly the two choices of the form.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from weather.cities import City

from . import http
from .base import (
    BadApiKey,
    CityNotFound,
    MalformedResponse,
    WeatherNotConfigured,
    WeatherReport,
    as_number,
    as_text,
    normalise_units,
)

DEFAULT_BASE_URL = "https://api.openweathermap.org/data/2.5"


class OpenWeatherMapProvider:
    name = "openweathermap"

    def __init__(self, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = (api_key if api_key is not None else settings.OPENWEATHER_API_KEY).strip()
        base = base_url or getattr(settings, "OPENWEATHER_BASE_URL", "") or DEFAULT_BASE_URL
        self.url = base.rstrip("/") + "/weather"

    def current(self, city: City, units: str = "imperial") -> WeatherReport:
        units = normalise_units(units)
        if not self.api_key:
            # Checked before any request: a missing key is the site's fault, shown as such.
            raise WeatherNotConfigured("openweathermap: OPENWEATHER_API_KEY is not set")
        response = http.get(
            self.url,
            {"zip": f"{city.zip},{city.country}", "units": units, "appid": self.api_key},
            provider=self.name,
            secrets=(self.api_key,),
        )
        if response.status_code == 401:
            raise BadApiKey("openweathermap: HTTP 401, the API key was refused")
        if response.status_code == 404:
            raise CityNotFound(f"openweathermap: HTTP 404 for {city.zip},{city.country}")
        if response.status_code == 400 and "zip" in response.text.lower():
            # {"cod":"400","message":"invalid zip code"}: OpenWeatherMap cannot use this code.
            raise CityNotFound(f"openweathermap: HTTP 400 (invalid zip) for {city.zip}")
        http.raise_for_status(response, provider=self.name)
        data = http.json_body(response, provider=self.name)
        return self.parse(data, city, units)

    def parse(self, data: Any, city: City, units: str) -> WeatherReport:
        """Map the JSON answer to a WeatherReport, or raise a WeatherError."""
        if not isinstance(data, dict):
            raise MalformedResponse(f"openweathermap: answer is a {type(data).__name__}")
        # Some errors come back as HTTP 200 with the real status in "cod" (a string or a number).
        cod = str(data.get("cod", "200"))
        if cod == "404":
            raise CityNotFound(f"openweathermap: cod 404 for {city.zip},{city.country}")
        if cod == "401":
            raise BadApiKey("openweathermap: cod 401, the API key was refused")
        try:
            main, wind = data["main"], data["wind"]
            description = data["weather"][0]["description"]
            # The place name and country are nice to have: fall back to our own city list.
            sys_, name = data.get("sys"), data.get("name")
            country = sys_.get("country") if isinstance(sys_, dict) else None
            return WeatherReport(
                city=name.strip() if isinstance(name, str) and name.strip() else city.name,
                country=(
                    country.strip().upper()
                    if isinstance(country, str) and country.strip()
                    else city.country
                ),
                zip=city.zip,
                temp=round(as_number(main["temp"], "main.temp", provider=self.name), 1),
                description=as_text(description, "weather[0].description", provider=self.name),
                humidity=round(as_number(main["humidity"], "main.humidity", provider=self.name)),
                wind_speed=round(as_number(wind["speed"], "wind.speed", provider=self.name), 1),
                units=units,
                provider=self.name,
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise MalformedResponse(
                f"openweathermap: field missing ({type(exc).__name__}: {exc})"
            ) from None
