from __future__ import annotations

from html.parser import HTMLParser

from django.conf import settings
from django.test import Client

SESSION_PREFIX = "flight_session:"


def session_key_of(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie and cookie.value else None


def login(client: Client, passport: str):
    return client.post("/login/", {"passportno": passport})


class _FlightTableParser(HTMLParser):
    """The rows of the flights table (`data-testid="flights-table"`): one dict per <tr> with
    its data-flight-id, the text of each cell by data-label, and the datetime attributes of the
    Departure and Arrival <time> elements."""

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
            self._label = a.get("data-label")
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


def flight_rows(page_html: str) -> list[dict[str, str]]:
    """The flights table of the flights page as a list of rows (see _FlightTableParser)."""
    parser = _FlightTableParser()
    parser.feed(page_html)
    parser.close()
    return parser.rows
