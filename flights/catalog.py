"""What the flights pages can offer, kept in memory for a few minutes: the airports (to turn
"FRA" or "London" into airport ids without a query on every page) and the span of days the
flight table covers. So a page of the flights list costs exactly one query.

Each process loads it with two small queries on first use and again after
settings.FLIGHTS_CATALOG_TTL seconds; `load_demo_data` forgets it at once (its data_changed
signal, connected in flights/apps.py; other processes, e.g. gunicorn workers, see new data
within the TTL).
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from markupsafe import Markup

from flightsite.flughafendb.models import Airport, AirportRow

from .models import Flight
from .places import Place, fold, fold_keys, other_names, zone_at


def normalise(text: str) -> str:
    """Case-, accent-, script- and spacing-insensitive form of a name: "São  Paulo" -> "sao
    paulo", "München" -> "munchen" (flights/places.py)."""
    return fold(text)


@dataclass(frozen=True)
class AirportMatch:
    """The airports a filter text stands for, and how to show it ("London (LHR, LGW)")."""

    ids: tuple[int, ...]
    label: str


@dataclass(frozen=True)
class Suggestion:
    """One entry of the filter's <datalist>: the value to fill in and what it stands for."""

    value: str
    label: str


@dataclass
class Catalog:
    first_departure: datetime | None = None
    last_departure: datetime | None = None
    by_code: dict[str, AirportMatch] = field(default_factory=dict)
    # Folded names (places.fold_keys) of cities and airports, the data's own names first,
    # then the other names GeoNames knows the cities by.
    by_name: dict[str, AirportMatch] = field(default_factory=dict)
    suggestions: list[Suggestion] = field(default_factory=list)
    # The time zone of each airport, by IATA code and by name (a session's flight has both).
    zones: dict[str, ZoneInfo] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Catalog:
        first, last = Flight.objects.coverage()
        catalog = cls(first_departure=first, last_departure=last)
        cities: dict[str, list[AirportRow]] = {}
        places: dict[str, Place] = {}  # city -> where its (first) airport is
        for row in Airport.objects.directory():
            code = (row["iata"] or "").strip().upper()
            city = (row["geo__city"] or "").strip()
            latitude, longitude = row.get("geo__latitude"), row.get("geo__longitude")
            if latitude is not None and longitude is not None:
                zone = zone_at(float(latitude), float(longitude))
                if zone is not None:
                    catalog.zones.setdefault(row["name"], zone)
                    if code:
                        catalog.zones[code] = zone
                if city:
                    places.setdefault(city, Place(city, float(latitude), float(longitude)))
            if code:
                catalog.by_code[code] = AirportMatch(
                    (row["airport_id"],), f"{row['name']} ({code})"
                )
                # "Zurich" or "London Heathrow" already name their city: no "Zurich, Zurich".
                in_name = not city or normalise(city) in normalise(row["name"])
                where = "" if in_name else f", {city}"
                catalog.suggestions.append(Suggestion(code, f"{row['name']}{where}"))
            match = AirportMatch(
                (row["airport_id"],), f"{row['name']}{f' ({code})' if code else ''}"
            )
            for key in fold_keys(row["name"]):
                catalog.by_name.setdefault(key, match)
            if city:
                cities.setdefault(city, []).append(row)
        city_matches: dict[str, AirportMatch] = {}
        for city, rows in cities.items():
            codes = ", ".join(r["iata"].strip() for r in rows if r["iata"])
            ids = tuple(r["airport_id"] for r in rows)
            # A city wins over an airport of the same name ("Frankfurt" means all of them).
            label = f"{city} ({codes})" if codes else city
            city_matches[city] = AirportMatch(ids, label)
            for key in fold_keys(city):
                catalog.by_name[key] = city_matches[city]
            if len(rows) > 1:
                catalog.suggestions.append(Suggestion(city, f"all {len(rows)} airports ({codes})"))
        catalog._add_other_names(places, city_matches)
        catalog.suggestions.sort(key=lambda s: (s.label.casefold(), s.value))
        return catalog

    def _add_other_names(self, places: dict[str, Place], matches: dict[str, AirportMatch]) -> None:
        """GeoNames' names of the cities (places.other_names), where they do not already name
        something of our own and name one city only (several cities called "Vin" in some
        language: none of them)."""
        own = set(self.by_name)
        found: dict[str, set[str]] = {}  # folded other name -> our cities it names
        for place, names in other_names(places.values()).items():
            for name in (names.name, *names.alternates):
                for key in fold_keys(name):
                    if key not in own:
                        found.setdefault(key, set()).add(place.city)
            if fold(names.name) != fold(place.city) or names.name != place.city:
                # Its usual spelling, when the data spells it otherwise ("Duesseldorf"):
                # offered in the suggestions too.
                label = matches[place.city].label
                self.suggestions.append(Suggestion(names.name, label))
        for key, named in found.items():
            if len(named) == 1:
                self.by_name[key] = matches[next(iter(named))]

    def zone_of(self, code: str | None, name: str | None = None) -> ZoneInfo | None:
        """The time zone of an airport, by IATA code or name (None: not known)."""
        return self.zones.get((code or "").strip().upper()) or self.zones.get(name or "")

    @functools.cached_property
    def datalist_options(self) -> Markup:
        """The <option>s of the filter's <datalist>, rendered once per catalog (not per page)."""
        return Markup("").join(
            Markup('<option value="{}" label="{}"></option>').format(s.value, s.label)
            for s in self.suggestions
        )

    def match(self, text: str) -> AirportMatch | None:
        """The airports of an IATA code ("fra"), a city ("London") or an airport's name."""
        cleaned = text.strip()
        if len(cleaned) == 3 and cleaned.isascii() and cleaned.isalpha():
            found = self.by_code.get(cleaned.upper())
            if found:
                return found
        for key in sorted(fold_keys(cleaned), key=len):
            found = self.by_name.get(key)
            if found:
                return found
        return None

    def last_day(self) -> date | None:
        """The last day with departures, in the current time zone."""
        return timezone.localdate(self.last_departure) if self.last_departure else None


_lock = threading.Lock()
_current: tuple[float, Catalog] | None = None
# Seconds on a monotonic clock: the tests move it forward instead of sleeping out the TTL.
clock = time.monotonic


def catalog() -> Catalog:
    """The catalog of this process, loaded (again) when older than FLIGHTS_CATALOG_TTL."""
    global _current
    entry = _current
    if entry is None or clock() - entry[0] > settings.FLIGHTS_CATALOG_TTL:
        with _lock:
            entry = _current
            if entry is None or clock() - entry[0] > settings.FLIGHTS_CATALOG_TTL:
                entry = _current = (clock(), Catalog.load())
    return entry[1]


def forget() -> None:
    """Drop the catalog (the flughafendb data changed): the next page loads it again."""
    global _current
    _current = None
