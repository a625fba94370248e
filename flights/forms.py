"""The query string of the flights list: which day, which airports, which page.

Everything here comes from a URL anyone can edit, so every value is checked before it reaches a
query: a malformed value is a 400 with a message, a well-formed one the site has nothing for
(an unknown airport, a day outside the window) a 404 — never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.utils import formats, timezone

from flightsite.jinja2 import FORM_RENDERER

from . import queries
from .catalog import AirportMatch, Catalog
from .queries import Cursor, FlightPage, day_bounds

# Letters of any script, spaces and the punctuation of place names ("St. John's", "Xi'an",
# "Saint-Denis"); at most 50 characters (airport_geo.city is a VARCHAR(50)).
PLACE_RE = re.compile(r"[^\W\d_](?:[^\W\d_]|[ .,'\u2019()\-])*")
# A page cursor: the departure time (HHMMSS) and flight id of the flight the page starts after
# (or ends before), e.g. "134000-73512". flight_id is an INT: at most 2,147,483,647.
CURSOR_RE = re.compile(r"([01][0-9]|2[0-3])([0-5][0-9])([0-5][0-9])-([0-9]{1,10})")
MAX_FLIGHT_ID = 2**31 - 1
# Error codes that mean "well-formed, but there is nothing there": 404, not 400.
NOT_FOUND_CODES = {"unknown_airport", "outside_window"}


def cursor_token(cursor: Cursor) -> str:
    """A position as a page link writes it: "134000-73512" (local time of day, flight id)."""
    return f"{timezone.localtime(cursor.departure):%H%M%S}-{cursor.flight_id}"


@dataclass(frozen=True)
class Window:
    """The days the flights pages offer: from today to the last day with departures."""

    today: date
    last_day: date
    now: datetime  # aware, to the minute: flights departing before it have left

    @classmethod
    def current(cls, catalog: Catalog) -> Window:
        now = queries.now_to_the_minute()
        today = now.date()
        return cls(today=today, last_day=max(today, catalog.last_day() or today), now=now)

    def days(self) -> int:
        return (self.last_day - self.today).days + 1


class FlightListForm(forms.Form):
    """GET parameters of /flights/: day, from, to (the visible filter), after/before (paging)."""

    default_renderer = FORM_RENDERER  # Jinja2 widget templates (flightsite/jinja2.py)

    day = forms.DateField(
        label="Day",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )
    # Checked in clean(): an error there is about the link, not about a field the user sees.
    after = forms.CharField(required=False, widget=forms.HiddenInput)
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, catalog: Catalog, window: Window, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = catalog
        self.window = window
        # "from" is a Python keyword: these two are added here rather than declared above.
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.CharField(
                label=label,
                required=False,
                max_length=50,
                error_messages={"max_length": "An airport or city has at most 50 characters."},
                widget=forms.TextInput(
                    attrs={
                        "list": "airports",
                        "autocomplete": "off",
                        "spellcheck": "false",
                        "placeholder": "e.g. FRA",
                    }
                ),
            )
        self.order_fields(["day", "from", "to", "after", "before"])
        self.fields["day"].widget.attrs.update(
            {"min": window.today.isoformat(), "max": window.last_day.isoformat()}
        )

    # -- validation -----------------------------------------------------------------------
    def clean_day(self) -> date:
        day = self.cleaned_data.get("day") or self.window.today
        if not self.window.today <= day <= self.window.last_day:
            raise forms.ValidationError(
                "Flights can be browsed from %(first)s to %(last)s.",
                code="outside_window",
                params={
                    "first": formats.date_format(self.window.today, "j M Y"),
                    "last": formats.date_format(self.window.last_day, "j M Y"),
                },
            )
        return day

    def _clean_place(self, name: str) -> AirportMatch | None:
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return None
        if not PLACE_RE.fullmatch(text):
            raise forms.ValidationError(
                "Enter an IATA code (like FRA) or a city (like London).", code="invalid"
            )
        match = self.catalog.match(text)
        if match is None:
            raise forms.ValidationError(
                "We know no airport or city called “%(text)s”.",
                code="unknown_airport",
                params={"text": text},
            )
        return match

    @staticmethod
    def _valid_cursor(token: str) -> bool:
        found = CURSOR_RE.fullmatch(token)
        return found is not None and int(found.group(4)) <= MAX_FLIGHT_ID

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in ("from", "to"):
            if name not in self.errors:
                try:
                    cleaned[f"{name}_match"] = self._clean_place(name)
                except forms.ValidationError as error:
                    self.add_error(name, error)
        after, before = cleaned.get("after") or "", cleaned.get("before") or ""
        if (after and before) or not all(map(self._valid_cursor, filter(None, (after, before)))):
            raise forms.ValidationError("This page link is not valid.", code="invalid")
        return cleaned

    def full_clean(self) -> None:
        super().full_clean()
        # Both airport fields point at the one hint under the form, and at their error.
        # (A widget's own aria-describedby replaces the one Django would write.)
        for name in ("from", "to"):
            ids = ["filter-hint", *([f"{self[name].auto_id}_error"] if name in self.errors else [])]
            self.fields[name].widget.attrs["aria-describedby"] = " ".join(ids)

    def status(self) -> int:
        """400 for malformed input, 404 when it is well-formed but names nothing we have."""
        codes = {e.code for errors in self.errors.as_data().values() for e in errors}
        return 404 if codes and codes <= NOT_FOUND_CODES else 400

    # -- what the page shows --------------------------------------------------------------
    def cursor(self, name: str) -> Cursor | None:
        found = CURSOR_RE.fullmatch(self.cleaned_data.get(name) or "")
        if found is None:
            return None
        hour, minute, second, flight_id = (int(g) for g in found.groups())
        start, _ = day_bounds(self.cleaned_data["day"])
        return Cursor(start.replace(hour=hour, minute=minute, second=second), flight_id)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) of the listed departures: the day, from now on for today's first page
        (flights that have left are behind "earlier")."""
        day = self.cleaned_data["day"]
        start, end = day_bounds(day)
        if day == self.window.today and not self.cleaned_data.get("before"):
            start = max(start, self.window.now)
        return start, end

    def query(self, **changes: Any) -> str:
        """The query string of this list with `changes` (None drops a parameter); the day is
        left out when it is today, empty values always."""
        params: dict[str, Any] = {
            "day": self.cleaned_data.get("day"),
            "from": (self.cleaned_data.get("from") or "").strip(),
            "to": (self.cleaned_data.get("to") or "").strip(),
            "after": self.cleaned_data.get("after"),
            "before": self.cleaned_data.get("before"),
        }
        params.update(changes)
        if params["day"] == self.window.today:
            params["day"] = None
        return urlencode({k: v for k, v in params.items() if v})

    def day_query(self, day: date) -> str:
        """Another day of the same filter, from its first flight."""
        return self.query(day=day, after=None, before=None)

    def is_first_page_of_today(self) -> bool:
        data = self.cleaned_data
        return data["day"] == self.window.today and not (data["after"] or data["before"])

    def links(self, page: FlightPage) -> dict[str, str]:
        """The query strings of the links around `page`: earlier, later, previous_day,
        next_day, now (back to today from now)."""
        day = self.cleaned_data["day"]
        first_of_today = self.is_first_page_of_today()
        links: dict[str, str] = {}
        # Today's first page starts now: what left earlier today is one "earlier" away.
        if page.has_earlier or (first_of_today and self.bounds()[0] > day_bounds(day)[0]):
            anchor = page.first or Cursor(self.window.now, 0)
            links["earlier"] = self.query(after=None, before=cursor_token(anchor))
        if page.has_later and page.last:
            links["later"] = self.query(before=None, after=cursor_token(page.last))
        if day > self.window.today:
            links["previous_day"] = self.day_query(day - timedelta(days=1))
        if day < self.window.last_day:
            links["next_day"] = self.day_query(day + timedelta(days=1))
        if not first_of_today:
            links["now"] = self.day_query(self.window.today)
        return links
