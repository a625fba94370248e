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
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.utils import timezone
from markupsafe import Markup

from flightsite.flughafendb.models import Airport, AirportRow

from .models import Flight


def normalise(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name: "São  Paulo" -> "sao paulo"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip()


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
    by_name: dict[str, AirportMatch] = field(default_factory=dict)  # cities and airport names
    suggestions: list[Suggestion] = field(default_factory=list)

    @classmethod
    def load(cls) -> Catalog:
        first, last = Flight.objects.coverage()
        catalog = cls(first_departure=first, last_departure=last)
        cities: dict[str, list[AirportRow]] = {}
        for row in Airport.objects.directory():
            code = (row["iata"] or "").strip().upper()
            city = (row["geo__city"] or "").strip()
            if code:
                catalog.by_code[code] = AirportMatch(
                    (row["airport_id"],), f"{row['name']} ({code})"
                )
                # "Zurich" or "London Heathrow" already name their city: no "Zurich, Zurich".
                in_name = not city or normalise(city) in normalise(row["name"])
                where = "" if in_name else f", {city}"
                catalog.suggestions.append(Suggestion(code, f"{row['name']}{where}"))
            catalog.by_name.setdefault(
                normalise(row["name"]),
                AirportMatch((row["airport_id"],), f"{row['name']}{f' ({code})' if code else ''}"),
            )
            if city:
                cities.setdefault(city, []).append(row)
        for city, rows in cities.items():
            codes = ", ".join(r["iata"].strip() for r in rows if r["iata"])
            ids = tuple(r["airport_id"] for r in rows)
            # A city wins over an airport of the same name ("Frankfurt" means all of them).
            label = f"{city} ({codes})" if codes else city
            catalog.by_name[normalise(city)] = AirportMatch(ids, label)
            if len(rows) > 1:
                catalog.suggestions.append(Suggestion(city, f"all {len(rows)} airports ({codes})"))
        catalog.suggestions.sort(key=lambda s: (s.label.casefold(), s.value))
        return catalog

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
        return self.by_name.get(normalise(cleaned))

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
