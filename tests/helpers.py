from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.test import Client

SESSION_PREFIX = "flight_session:"


def session_key_of(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie and cookie.value else None


def login(client: Client, passport: str):
    return client.post("/login/", {"passportno": passport})


def tomorrows_flights(limit: int = 50) -> list[dict[str, Any]]:
    """The first flights of tomorrow, as the session stores them: flights the site offers
    (not departed) whatever the time the test runs at."""
    from django.utils import timezone

    from flights.models import Flight
    from flights.queries import day_bounds

    start, end = day_bounds(timezone.localdate() + timedelta(days=1))
    return Flight.objects.page(start=start, end=end, limit=limit).flights


class _FlightTableParser(HTMLParser):
    """The rows of the flights table (`data-testid="flights-table"`): one dict per <tr> with
    its data-flight-id and class, the text of each cell by data-label ("action" for the last
    one: "Add", "Added", "Departed"), and the datetime attributes of the Departure and Arrival
    <time> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._in_table = False
        self._row: dict[str, str] | None = None
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-testid") == "flights-table":
            self._in_table = True
        elif self._in_table and tag == "tr" and "data-flight-id" in a:
            self._row = {"flight_id": a["data-flight-id"] or "", "class": a.get("class") or ""}
            self.rows.append(self._row)
        elif self._row is not None and tag == "td":
            self._label = a.get("data-label") or ("action" if a.get("class") == "action" else None)
            if self._label:
                self._row[self._label] = ""
        elif self._row is not None and tag == "time" and self._label:
            self._row[f"{self._label} datetime"] = a.get("datetime") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._label = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._label:
            self._row[self._label] += data

    def close(self) -> None:
        super().close()
        for row in self.rows:  # cell text as a reader sees it: "FRA Frankfurt am Main"
            for key, value in row.items():
                row[key] = " ".join(value.split())


def flight_rows(page_html: str) -> list[dict[str, str]]:
    """The flights table of the flights page as a list of rows (see _FlightTableParser)."""
    parser = _FlightTableParser()
    parser.feed(page_html)
    parser.close()
    return parser.rows
