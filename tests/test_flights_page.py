"""The flights list (/flights/): today from now on, "earlier"/"later" pages, other days, the
airport filter, one query per page, adding from any page, and hostile query strings.

"Now" is pinned to 12:00 today (`noon`), so the tests do not depend on the time they run at:
the tiny demo set has 60 flights a day between 05:00 and 23:45 (50 per page)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from flights import catalog
from flights.models import Flight
from flights.queries import FLIGHT_FIELDS, as_session_flight, day_bounds
from flightsite.flughafendb.router import LEGACY_ALIAS

from .conftest import BOTH_DBS
from .helpers import SecondsClock, flight_rows, login, session_key_of, stored_session

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

LINK_RE = r'<a class="[^"]*" href="([^"]+)"[^>]*>(?:<span aria-hidden="true">.</span> )?{}'


@pytest.fixture
def noon(monkeypatch) -> datetime:
    now = datetime.combine(
        timezone.localdate(), time(12, 0), tzinfo=timezone.get_current_timezone()
    )
    monkeypatch.setattr("flights.queries.now_to_the_minute", lambda: now)
    return now


@pytest.fixture
def logged_in(client, passport, noon):
    login(client, passport)
    return client


def link(page: str, label: str) -> str | None:
    """The href of the page's first link labelled `label` (HTML-unescaped)."""
    found = re.search(LINK_RE.format(re.escape(label)), page)
    return found.group(1).replace("&amp;", "&") if found else None


def href(page: str, label: str) -> str:
    """The href of a link the page must have."""
    found = link(page, label)
    assert found is not None, f"no {label!r} link"
    return found


def ids(rows: list[dict[str, str]]) -> list[int]:
    return [int(r["flight_id"]) for r in rows]


def day_flights(day, **filters) -> list[Any]:  # FlightEntry dicts, read by any key below
    start, end = day_bounds(day)
    qs = Flight.objects.filter(departure__gte=start, departure__lt=end, **filters)
    return [
        as_session_flight(r) for r in qs.order_by("departure", "flight_id").values(*FLIGHT_FIELDS)
    ]


def stored_flights(valkey_client, client) -> list[dict]:
    return stored_session(valkey_client, session_key_of(client)).get("flights", [])


# --- listing and paging ---------------------------------------------------------------------


def test_today_starts_now_and_earlier_shows_the_departed(logged_in, noon):
    page = logged_in.get("/flights/")
    assert page.status_code == 200
    rows = flight_rows(page.text)
    upcoming = [f for f in day_flights(noon.date()) if f["departure"] >= noon.isoformat()[:16]]
    assert ids(rows) == [f["flight_id"] for f in upcoming][: settings.FLIGHTS_PAGE_LIMIT]
    assert rows and all(r["Departure datetime"] >= noon.isoformat()[:16] for r in rows)
    assert "Upcoming departures from 12:00" in page.text
    assert all(r["action"] == "Add" for r in rows)

    earlier = logged_in.get(link(page.text, "Earlier"))
    assert earlier.status_code == 200
    departed = flight_rows(earlier.text)
    assert departed and all(r["Departure datetime"] < noon.isoformat()[:16] for r in departed)
    assert (
        ids(departed)
        == [f["flight_id"] for f in day_flights(noon.date()) if f not in upcoming][
            -settings.FLIGHTS_PAGE_LIMIT :
        ]
    )
    # Flights that have left are shown, but cannot be added.
    assert all(r["action"] == "Departed" for r in departed)
    assert link(earlier.text, "Later") and link(earlier.text, "Now")


def test_later_and_earlier_walk_a_whole_day(logged_in, noon):
    tomorrow = noon.date() + timedelta(days=1)
    expected = [f["flight_id"] for f in day_flights(tomorrow)]
    assert len(expected) > settings.FLIGHTS_PAGE_LIMIT  # two pages

    first = logged_in.get(f"/flights/?day={tomorrow}")
    assert first.status_code == 200
    assert link(first.text, "Earlier") is None  # the first page of another day starts at 00:00
    page_one = ids(flight_rows(first.text))
    assert page_one == expected[: settings.FLIGHTS_PAGE_LIMIT]

    second = logged_in.get(link(first.text, "Later"))
    page_two = ids(flight_rows(second.text))
    assert page_one + page_two == expected  # nothing twice, nothing left out, in order
    assert link(second.text, "Later") is None
    assert parse_qs(urlsplit(href(second.text, "Earlier")).query)["day"] == [str(tomorrow)]

    back = logged_in.get(link(second.text, "Earlier"))
    assert ids(flight_rows(back.text)) == page_one


def test_day_picker_covers_today_to_the_last_day_with_flights(logged_in, noon):
    last = timezone.localdate(Flight.objects.coverage()[1])
    page = logged_in.get("/flights/").text
    assert f'type="date" name="day" value="{noon.date()}"' in page
    assert f'min="{noon.date()}"' in page and f'max="{last}"' in page
    assert link(page, "Next day") == f"/flights/?day={noon.date() + timedelta(days=1)}"

    last_page = logged_in.get(f"/flights/?day={last}")
    assert last_page.status_code == 200 and flight_rows(last_page.text)
    assert link(last_page.text, "Next day") is None and link(last_page.text, "Previous day")
    for outside in (noon.date() - timedelta(days=1), last + timedelta(days=1)):
        response = logged_in.get(f"/flights/?day={outside}")
        assert response.status_code == 404
        assert "Flights can be browsed from" in response.text


CITIES = {"London": {"LHR", "LGW"}, "Paris": {"CDG", "ORY"}, "Tokyo": {"HND", "NRT"}}


def test_filter_by_airport_code_city_or_name(logged_in, noon):
    tomorrow = noon.date() + timedelta(days=1)
    flights = day_flights(tomorrow)
    code, name = flights[0]["from_iata"], flights[0]["from_airport"]
    # A city with two airports that tomorrow's flights go to (the tiny set has 60 a day).
    city = next(c for f in flights for c, codes in CITIES.items() if f["to_iata"] in codes)
    cases = [
        (f"from={code}", "from_iata", {code}),
        (f"from={code.lower()}", "from_iata", {code}),
        (f"from={quote_plus(name)}", "from_iata", {code}),  # an airport's full name
        (f"to={city}", "to_iata", CITIES[city]),  # every airport of the city
        (f"to=++{city.upper()}+", "to_iata", CITIES[city]),
    ]
    for query, field, codes in cases:
        page = logged_in.get(f"/flights/?day={tomorrow}&{query}")
        assert page.status_code == 200, query
        expected = [f["flight_id"] for f in flights if f[field] in codes]
        assert ids(flight_rows(page.text)) == expected, query


def test_from_and_to_together(logged_in, noon):
    tomorrow = noon.date() + timedelta(days=1)
    flight = day_flights(tomorrow)[0]
    page = logged_in.get(
        f"/flights/?day={tomorrow}&from={flight['from_iata']}&to={flight['to_iata']}"
    )
    rows = flight_rows(page.text)
    assert flight["flight_id"] in ids(rows)
    assert all(r["From"].startswith(flight["from_iata"]) for r in rows)
    assert all(r["To"].startswith(flight["to_iata"]) for r in rows)


def test_every_page_is_one_query(logged_in, noon, django_assert_num_queries):
    tomorrow = noon.date() + timedelta(days=1)
    first = logged_in.get("/flights/")  # loads the catalog (airports, days) once
    urls = [
        "/flights/",
        link(first.text, "Earlier"),
        link(logged_in.get(f"/flights/?day={tomorrow}").text, "Later"),
        f"/flights/?day={tomorrow}",
        f"/flights/?day={tomorrow}&from=London&to=FRA",
        "/flights/?to=JFK&after=130000-1",
    ]
    for url in urls:
        with django_assert_num_queries(1, connection=connections[LEGACY_ALIAS]):
            assert logged_in.get(url).status_code == 200, url


def test_the_catalog_is_kept_for_its_ttl_then_loaded_again(
    logged_in, settings, django_assert_num_queries, monkeypatch
):
    clock = SecondsClock()
    monkeypatch.setattr(catalog, "clock", clock)
    settings.FLIGHTS_CATALOG_TTL = 300
    logged_in.get("/flights/")
    legacy = connections[LEGACY_ALIAS]
    clock.advance(300)  # not older than the TTL yet: the page is its one query
    with django_assert_num_queries(1, connection=legacy):
        logged_in.get("/flights/")
    clock.advance(1)
    with django_assert_num_queries(3, connection=legacy):  # days, airports, the page
        logged_in.get("/flights/")


# --- bad input: 400 or 404 with a message, never a 500 --------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("day=2026-02-30", 400, "YYYY-MM-DD"),
        ("day=tomorrow", 400, "YYYY-MM-DD"),
        ("day=99999-01-01", 400, "YYYY-MM-DD"),
        ("day=2026-1-1%00", 400, "YYYY-MM-DD"),
        ("day=1999-01-01", 404, "can be browsed"),
        ("day=2999-12-31", 404, "can be browsed"),
        ("after=999999-1", 400, "page link is not valid"),
        ("after=120000-99999999999", 400, "page link is not valid"),
        ("after=120000-2147483648", 400, "page link is not valid"),
        ("before=" + "9" * 5000, 400, "page link is not valid"),
        ("after=120000-1&before=130000-1", 400, "page link is not valid"),
        ("from=%3Cscript%3E", 400, "IATA code"),
        ("from=FRA%00", 400, "IATA code"),
        ("to=" + "A" * 51, 400, "at most 50"),
        ("to=1234", 400, "IATA code"),
        ("from=ZZZ", 404, "no airport or city called"),
        ("to=Atlantis", 404, "no airport or city called"),
    ],
)
def test_hostile_query_strings(logged_in, query, status, words):
    response = logged_in.get(f"/flights/?{query}")
    assert response.status_code == status, response.text[:300]
    assert words in response.text.replace("&#x27;", "'")
    assert 'data-testid="flights-error"' in response.text
    assert flight_rows(response.text) == []


def test_repeated_parameters_use_the_last_one(logged_in, noon):
    tomorrow = noon.date() + timedelta(days=1)
    response = logged_in.get(f"/flights/?day=garbage&day={tomorrow}")
    assert response.status_code == 200
    assert f'value="{tomorrow}"' in response.text


# --- adding from any page ---------------------------------------------------------------------


def test_add_from_page_two_returns_to_the_same_page_and_row(logged_in, valkey_client, noon):
    tomorrow = noon.date() + timedelta(days=1)
    first = logged_in.get(f"/flights/?day={tomorrow}&to=")
    second_url = href(first.text, "Later")
    second = logged_in.get(second_url)
    query = urlsplit(second_url).query
    assert f'name="page" value="{query.replace("&", "&amp;")}"' in second.text
    flight_id = ids(flight_rows(second.text))[3]

    response = logged_in.post("/flights/add/", {"flight_id": flight_id, "page": query})
    assert response.status_code == 302
    assert response["Location"] == f"{second_url}#flight-{flight_id}"
    again = logged_in.get(response["Location"])
    row = next(r for r in flight_rows(again.text) if int(r["flight_id"]) == flight_id)
    assert "is-chosen" in row["class"] and row["action"] == "Added"
    assert f'id="flight-{flight_id}"' in again.text
    assert [f["flight_id"] for f in stored_flights(valkey_client, logged_in)] == [flight_id]


@pytest.mark.parametrize("page", ["", "day=garbage", "after=1", "from=<x>", "x" * 3000])
def test_add_with_a_bad_page_goes_back_to_the_plain_list(logged_in, noon, page):
    flight = day_flights(noon.date() + timedelta(days=1))[0]
    response = logged_in.post("/flights/add/", {"flight_id": flight["flight_id"], "page": page})
    assert response.status_code == 302
    assert response["Location"] == f"/flights/#flight-{flight['flight_id']}"


def test_a_departed_flight_cannot_be_added(logged_in, valkey_client, noon):
    """Only what the pages offer can be added: a flight that has left (yesterday's, or today's
    before now) is refused with a 400 however the POST was made."""
    yesterday = day_flights(noon.date() - timedelta(days=1))[-1]
    this_morning = day_flights(noon.date())[0]
    for flight in (yesterday, this_morning):
        response = logged_in.post("/flights/add/", {"flight_id": flight["flight_id"]})
        assert response.status_code == 400
        assert f"Flight {flight['flightno']} departed on" in response.text
        assert "Back to the flights" in response.text
    assert "flights" not in stored_session(valkey_client, session_key_of(logged_in))


def test_a_flight_of_a_later_day_can_be_added(logged_in, valkey_client, noon):
    last = day_flights(timezone.localdate(Flight.objects.coverage()[1]))[-1]
    assert logged_in.post("/flights/add/", {"flight_id": last["flight_id"]}).status_code == 302
    assert stored_flights(valkey_client, logged_in) == [last]


def test_unknown_flight_is_a_404(logged_in):
    response = logged_in.post("/flights/add/", {"flight_id": 2_000_000_000, "page": "to=FRA"})
    assert response.status_code == 404
    assert 'href="/flights/?to=FRA#flight-2000000000"' in response.text


def test_catalog_matches_names_and_codes():
    cat = catalog.catalog()

    def match(text: str) -> catalog.AirportMatch:
        found = cat.match(text)
        assert found is not None, text
        return found

    assert match("lhr").label == "London Heathrow (LHR)"
    assert match(" LONDON ").label == "London (LHR, LGW)"
    assert match("Zürich").ids == match("ZRH").ids  # accents do not matter
    assert match("são paulo").ids == match("GRU").ids
    assert cat.match("Atlantis") is None
    assert catalog.normalise("  São   Paulo ") == "sao paulo"


def test_pages_follow_departures_to_the_second(logged_in, noon, settings):
    """flughafendb's DATETIMEs may have seconds: a page link keeps them, so no flight of the
    same minute is shown twice or skipped (the flights shown have minutes only)."""
    from flightsite.flughafendb.readonly import legacy_writes_allowed

    tomorrow = noon.date() + timedelta(days=1)
    start, _ = day_bounds(tomorrow)
    template = Flight.objects.filter(departure__gte=start).values().first()
    assert template is not None
    base = start.replace(hour=3)  # before the demo's first departures (05:00)
    with legacy_writes_allowed():
        for n, seconds in enumerate((0, 10, 10, 59)):
            Flight.objects.create(
                **{
                    **template,
                    "flight_id": 900_000 + n,
                    "departure": base + timedelta(seconds=seconds),
                    "arrival": base + timedelta(hours=2),
                }
            )
    settings.FLIGHTS_PAGE_LIMIT = 1
    seen, url = [], f"/flights/?day={tomorrow}"
    for _ in range(4):
        page = logged_in.get(url).text
        seen += ids(flight_rows(page))
        url = href(page, "Later")
    assert seen == [900_000, 900_001, 900_002, 900_003]
    assert "after=030059-900003" in url
