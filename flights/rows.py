"""The cells of a flight's table row, shared by the flights list and the dashboard.

Written in Python rather than as a Jinja macro because it was most of the flights page: 50 rows
of nine escaped fields, four date filters and two nested macro calls each cost ~40 us a row in
Jinja's macro machinery. A flight's cells depend only on the flight (as the session stores it)
and, for dates, the language, so they are rendered once and reused from a bounded cache: a page
of flights seen before costs a dictionary lookup a row. The markup is what the macro rendered
(the stacked layout of small screens in site.css places cells by position).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import get_language
from jinja2 import Environment
from jinja2.ext import Extension
from markupsafe import Markup, escape

from flightsite.jinja2 import zone_label
from passengers.session import FLIGHT_FIELDS

# Airport -> time zone (the catalog's zones: by IATA code and by airport name).
Zones = Mapping[str, tzinfo]

# Per process, for each of the two caches: ~40 pages of rows, ~1 KB a row.
_CACHE_SIZE = 2048


# (id of the zones, the flight's airports) -> (the zones, their names): a page looks up the
# same few dozen airport pairs for each of its 50 rows. The zones object is kept with its
# entry, so an id is never confused with a later object's.
_zone_pairs: dict[tuple[int, tuple[Any, ...]], tuple[Zones, tuple[str, str]]] = {}


def _zone_names(
    flight: Mapping[str, Any], zones: Zones | None, key: tuple[Any, ...] | None = None
) -> tuple[str, str]:
    """The zones (IANA names, "" when unknown: the site's zone) of departure and arrival;
    `zones` None: the catalog's (computed once per catalog, not per page). `key`: the flight's
    values in FLIGHT_FIELDS order, if the caller has them."""
    if zones is None:
        from .catalog import catalog  # the catalog imports the models: not at import time

        zones = catalog().zones
    airports = (key or tuple(map(flight.get, FLIGHT_FIELDS)))[2:6]
    memo = _zone_pairs.get((id(zones), airports))
    if memo is not None and memo[0] is zones:
        return memo[1]
    if len(_zone_pairs) >= _CACHE_SIZE:
        _zone_pairs.clear()
    names = _find_zone_names(flight, zones)
    _zone_pairs[(id(zones), airports)] = (zones, names)
    return names


def _find_zone_names(flight: Mapping[str, Any], zones: Zones) -> tuple[str, str]:
    found = []
    for code, name in (("from_iata", "from_airport"), ("to_iata", "to_airport")):
        zone = zones.get((flight.get(code) or "").strip().upper()) or zones.get(
            flight.get(name) or ""
        )
        found.append(str(zone) if zone is not None else "")
    return found[0], found[1]


def flight_cells(
    flight: Mapping[str, Any], with_date: bool = False, zones: Zones | None = None
) -> Markup:
    """The six data cells (flight, from, to, departure, arrival, airline) of one flight, each on
    its own line; `with_date` adds the departure's weekday and date (the dashboard's rows may
    span many days, the list's are one day). Times are the airports' local times, each with its
    zone (`zones`, the catalog's; an airport not in it shows the site's zone, labelled)."""
    key = tuple(map(flight.get, FLIGHT_FIELDS))
    # Weekday and month names depend on the language; the times alone do not.
    return _cells(
        key, with_date, get_language() if with_date else None, *_zone_names(flight, zones, key)
    )


def list_row(
    flight: Mapping[str, Any], chosen: Collection[int], now_iso: str, zones: Zones | None = None
) -> Markup:
    """The whole row of the flights list: the cells, then "Added" (in the passenger's flights),
    "Departed" (before `now_iso`, local ISO to the minute) or the add button, which submits the
    page's one form (#add-flight-form: one CSRF token a page, not one a row)."""
    key = tuple(map(flight.get, FLIGHT_FIELDS))
    if key[0] in chosen:
        state = "chosen"
    elif str(flight.get("departure")) < now_iso:
        state = "departed"
    else:
        state = ""
    return _list_row(key, state, *_zone_names(flight, zones, key))


def list_rows(
    flights: Collection[Mapping[str, Any]],
    chosen: Collection[int],
    now_iso: str,
    zones: Zones | None = None,
) -> Markup:
    """list_row() of every flight of a page, in one call from the template: a Jinja call costs
    more than a cached row (50 of them were a tenth of the flights page)."""
    return Markup("    ".join([list_row(f, chosen, now_iso, zones) for f in flights]))


class FlightRows(Extension):
    """`flight_cells` and `list_row` as globals of the site's Jinja environment (named in
    settings.TEMPLATES' "extensions": the project's environment does not import the apps)."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals.update(
            {"flight_cells": flight_cells, "list_row": list_row, "list_rows": list_rows}
        )


_ACTIONS = {
    "chosen": ' class="is-chosen"',
    "departed": ' class="is-departed"',
    "": "",
}


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _list_row(key: tuple[Any, ...], state: str, from_zone: str, to_zone: str) -> Markup:
    flight_id, flightno = _text(key[0]), _text(key[1])
    if state == "chosen":
        action = '<span class="badge">Added</span>'
    elif state == "departed":
        action = '<span class="status-departed">Departed</span>'
    else:
        action = (
            f'<button type="submit" form="add-flight-form" name="flight_id" value="{flight_id}" '
            f'class="button button-small" aria-label="Add flight {flightno}">Add</button>'
        )
    return Markup(
        f'<tr id="flight-{flight_id}" data-flight-id="{flight_id}"{_ACTIONS[state]}>'
        f'{_cells(key, False, None, from_zone, to_zone)}  <td class="action">{action}</td>\n</tr>\n'
    )


def _text(value: Any) -> str:
    # What Jinja prints for a value: None as "None" never shows up here (callers guard it).
    return str(escape(value))


def _airport(name: Any, iata: Any) -> str:
    code = f'<span class="iata">{_text(iata)}</span> ' if iata else ""
    label = _text(name)
    name_html = f'<span class="airport-name" title="{label}">{label}</span>'
    return f'<span class="airport">{code}{name_html}</span>'


def _at(value: Any, zone_name: str) -> datetime | None:
    """A stored time (ISO, the site's local time, no offset) as an aware time in the airport's
    zone (the site's zone when the airport's is unknown)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=timezone.get_default_timezone())
    if zone_name:
        from zoneinfo import ZoneInfo

        return parsed.astimezone(ZoneInfo(zone_name))
    return parsed


def _duration(minutes: int) -> str:
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _clock(moment: datetime | None, raw: Any, prefix: str = "", title: str = "") -> str:
    """<time> with the local time and, after it, the zone it is in ("07:55 CET")."""
    if moment is None:
        return _text(raw)
    zone = zone_label(moment)
    where = getattr(moment.tzinfo, "key", zone)
    title_attr = f' title="{_text(title)}"' if title else ""
    return (
        f'<time datetime="{moment.isoformat(timespec="minutes")}"{title_attr}>{prefix}'
        f'{moment:%H:%M}</time> <abbr class="tz" title="{_text(where)}">{_text(zone)}</abbr>'
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cells(
    key: tuple[Any, ...], with_date: bool, language: str | None, from_zone: str, to_zone: str
) -> Markup:
    # `key`: the flight's values in FLIGHT_FIELDS order (the session layout's).
    (_id, flightno, from_airport, from_iata, to_airport, to_iata, departure, arrival, airline) = key
    leaves, lands = _at(departure, from_zone), _at(arrival, to_zone)
    when = ""
    if with_date and leaves is not None:
        when = (
            f'<span class="date"><span class="weekday">{_text(date_format(leaves, "D"))} '
            f"</span>{_text(date_format(leaves, 'j M'))}</span> "
        )
    later, took = "", ""
    if leaves is not None and lands is not None:
        # "+1": the arrival's local date after the departure's local date (each airport's
        # calendar); the flight time from the two instants, whatever the zones.
        plus = (lands.date() - leaves.date()).days
        if plus:
            sign = "+" if plus > 0 else "\u2212"
            later = (
                f'<span class="plus-days" aria-hidden="true">{sign}{abs(plus)}</span><span '
                f'class="visually-hidden"> ({abs(plus)} day{"s" if abs(plus) > 1 else ""} '
                f"{'later' if plus > 0 else 'earlier'})</span>"
            )
        minutes = int((lands - leaves).total_seconds() // 60)
        if minutes >= 0:
            took = f"Flight time {_duration(minutes)}"
    return Markup(
        f'\n  <td class="flightno" data-label="Flight">{_text(flightno)}</td>\n'
        f'  <td class="place" data-label="From">{_airport(from_airport, from_iata)}</td>\n'
        f'  <td class="place" data-label="To">{_airport(to_airport, to_iata)}</td>\n'
        f'  <td class="time" data-label="Departure">{_clock(leaves, departure, when)}</td>\n'
        f'  <td class="time" data-label="Arrival">{_clock(lands, arrival, "", took)}{later}</td>\n'
        f'  <td class="airline" data-label="Airline">{_text(airline or "—")}</td>\n'
    )
