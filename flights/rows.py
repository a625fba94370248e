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
from typing import Any

from django.utils.translation import get_language
from jinja2 import Environment
from jinja2.ext import Extension
from markupsafe import Markup, escape

from flightsite.jinja2 import days_after, isodatetime
from passengers.session import FLIGHT_FIELDS

# Per process, for each of the two caches: ~40 pages of rows, ~1 KB a row.
_CACHE_SIZE = 2048


def flight_cells(flight: Mapping[str, Any], with_date: bool = False) -> Markup:
    """The six data cells (flight, from, to, departure, arrival, airline) of one flight, each on
    its own line; `with_date` adds the departure's weekday and date (the dashboard's rows may
    span many days, the list's are one day)."""
    key = tuple(flight.get(name) for name in FLIGHT_FIELDS)
    # Weekday and month names depend on the language; the times alone do not.
    return _cells(key, with_date, get_language() if with_date else None)


def list_row(flight: Mapping[str, Any], chosen: Collection[int], now_iso: str) -> Markup:
    """The whole row of the flights list: the cells, then "Added" (in the passenger's flights),
    "Departed" (before `now_iso`, local ISO to the minute) or the add button, which submits the
    page's one form (#add-flight-form: one CSRF token a page, not one a row)."""
    key = tuple(flight.get(name) for name in FLIGHT_FIELDS)
    if flight.get("flight_id") in chosen:
        state = "chosen"
    elif str(flight.get("departure")) < now_iso:
        state = "departed"
    else:
        state = ""
    return _list_row(key, state)


class FlightRows(Extension):
    """`flight_cells` and `list_row` as globals of the site's Jinja environment (named in
    settings.TEMPLATES' "extensions": the project's environment does not import the apps)."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals.update({"flight_cells": flight_cells, "list_row": list_row})


_ACTIONS = {
    "chosen": ' class="is-chosen"',
    "departed": ' class="is-departed"',
    "": "",
}


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _list_row(key: tuple[Any, ...], state: str) -> Markup:
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
        f'{_cells(key, False, None)}  <td class="action">{action}</td>\n</tr>\n'
    )


def _text(value: Any) -> str:
    # What Jinja prints for a value: None as "None" never shows up here (callers guard it).
    return str(escape(value))


def _airport(name: Any, iata: Any) -> str:
    code = f'<span class="iata">{_text(iata)}</span> ' if iata else ""
    label = _text(name)
    name_html = f'<span class="airport-name" title="{label}">{label}</span>'
    return f'<span class="airport">{code}{name_html}</span>'


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cells(key: tuple[Any, ...], with_date: bool, language: str | None) -> Markup:
    # `key`: the flight's values in FLIGHT_FIELDS order (the session layout's).
    (_id, flightno, from_airport, from_iata, to_airport, to_iata, departure, arrival, airline) = key
    when = ""
    if with_date:
        when = (
            f'<span class="date"><span class="weekday">{_text(isodatetime(departure, "D"))} '
            f"</span>{_text(isodatetime(departure, 'j M'))}</span> "
        )
    plus = days_after(arrival, departure)
    later = ""
    if plus:
        later = (
            f'<span class="plus-days" aria-hidden="true">+{plus}</span><span class="visually-'
            f'hidden"> ({plus} day{"s" if plus > 1 else ""} later)</span>'
        )
    return Markup(
        f'\n  <td class="flightno" data-label="Flight">{_text(flightno)}</td>\n'
        f'  <td class="place" data-label="From">{_airport(from_airport, from_iata)}</td>\n'
        f'  <td class="place" data-label="To">{_airport(to_airport, to_iata)}</td>\n'
        f'  <td class="time" data-label="Departure"><time datetime="{_text(departure)}">'
        f"{when}{_text(isodatetime(departure, 'H:i'))}</time></td>\n"
        f'  <td class="time" data-label="Arrival"><time datetime="{_text(arrival)}">'
        f"{_text(isodatetime(arrival, 'H:i'))}</time>{later}</td>\n"
        f'  <td class="airline" data-label="Airline">{_text(airline or "—")}</td>\n'
    )
