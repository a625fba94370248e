"""On a real MariaDB/MySQL: load the `small` demo set with load_demo_data and log in through the
site with a passport that only that set has.

Runs in the MariaDB leg (`FLIGHTSITE_TEST_DB=mysql make test`, as CI does); skipped with the
reason when flughafendb is SQLite. An unreachable server fails the whole MariaDB run up front
(see conftest.py), so a run that asked for MariaDB never passes without it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from flights.models import Flight
from flights.queries import Cursor, day_bounds
from flightsite.flughafendb.demo_data import AIRPORTS, SIZES, Loader, passport_number
from flightsite.flughafendb.models import Airport, AirportGeo
from flightsite.flughafendb.router import LEGACY_ALIAS
from flightsite.flughafendb.testing import TINY_SEED
from passengers.models import Passenger

from .conftest import BOTH_DBS
from .helpers import flight_rows, login

pytestmark = [pytest.mark.mysql, pytest.mark.django_db(databases=BOTH_DBS)]


@pytest.fixture
def mariadb() -> str:
    connection = connections[LEGACY_ALIAS]
    if connection.vendor != "mysql":
        pytest.skip(
            f"flughafendb is {connection.vendor} in this run; run FLIGHTSITE_TEST_DB=mysql "
            "make test with MariaDB/MySQL at 127.0.0.1:3306 (or FLIGHTSITE_TEST_MYSQL_URL)"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), DATABASE()")
        version, database = cursor.fetchone()
    assert database.startswith("test_"), "tests only ever touch test_ databases"
    return version


@pytest.fixture
def small_set(mariadb: str) -> int:
    """The small set replaces the session's tiny set inside this test's transaction: InnoDB
    rolls it back afterwards. airport_geo (MyISAM) cannot roll back, but both sets write the
    same airport rows, so later tests see the same table."""
    out = io.StringIO()
    call_command("load_demo_data", size="small", flush=True, no_progress=True, stdout=out)
    size = SIZES["small"]
    assert f"{size.passengers:,} passengers" in out.getvalue()
    return size.passengers


@pytest.fixture
def analyzed_small_set(mariadb: str) -> Iterator[None]:
    """The small set committed, with fresh index statistics (ANALYZE TABLE), as a real load
    leaves it: the optimizer's plans depend on them. (Loaded inside a test's transaction, the
    statistics would be the tiny set's: ANALYZE commits implicitly, so the loader skips it
    there.) The session's tiny set is put back afterwards, statistics included."""
    loader = Loader(LEGACY_ALIAS)
    loader.clear()
    loader.load(SIZES["small"], timezone.localdate())
    try:
        yield
    finally:
        loader = Loader(LEGACY_ALIAS, seed=TINY_SEED)
        loader.clear()
        loader.load(SIZES["tiny"], timezone.localdate())


def test_small_set_loads_into_mariadb_and_login_works(client, small_set: int) -> None:
    size = SIZES["small"]
    assert Passenger.objects.count() == small_set
    assert Flight.objects.count() == (size.days_before + size.days_after) * size.flights_per_day
    assert AirportGeo.objects.count() == len(AIRPORTS)

    passport = passport_number(small_set)  # the last passenger: not in the tiny set
    response = login(client, passport)
    assert response.status_code == 302, "login with a passport of the small set"
    dashboard = client.get("/")
    assert passport in dashboard.text

    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    page = client.get(f"/flights/?day={tomorrow}")
    rows = flight_rows(page.text)
    assert len(rows) == settings.FLIGHTS_PAGE_LIMIT  # 200 a day, 50 shown
    departures = [r["Departure datetime"] for r in rows]
    assert all(d.startswith(tomorrow) for d in departures)
    assert departures == sorted(departures)
    assert all(r["Flight"] and r["Flight"] == r["Flight"].strip() for r in rows)  # CHAR(8) padding


def test_geolocation_is_a_point(small_set: int) -> None:
    """airport_geo.geolocation is a real POINT(longitude latitude) for the spatial index."""
    with connections[LEGACY_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(geolocation), ST_Y(geolocation), latitude, longitude "
            "FROM airport_geo WHERE airport_id = 1"
        )
        x, y, latitude, longitude = cursor.fetchone()
    assert (round(x, 4), round(y, 4)) == (float(longitude), float(latitude))


def test_login_uses_the_passport_index(small_set: int) -> None:
    login_plan = Passenger.objects.filter(passportno=passport_number(1)).explain()
    assert "pass_unq" in login_plan and "const" in login_plan, login_plan


def _rows_read() -> int:
    with connections[LEGACY_ALIAS].cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%%'")
        return sum(int(value) for _, value in cursor.fetchall())


def _page_variants() -> dict[str, dict]:
    """Every kind of flights page the site sends: today from now, later, earlier, another
    day, and filtered by departure airport, arrival airport (a city: two ids) or both."""
    today = timezone.localdate()
    start, end = day_bounds(today)
    noon = start.replace(hour=12)
    day_start, day_end = day_bounds(today + timedelta(days=7))
    london = tuple(
        Airport.objects.filter(iata__in=["LHR", "LGW"]).values_list("airport_id", flat=True)
    )
    fra = Airport.objects.get(iata="FRA").airport_id
    return {
        "today from now": {"start": noon, "end": end},
        "later": {"start": noon, "end": end, "after": Cursor(noon.replace(hour=15), 1)},
        "earlier": {"start": start, "end": end, "before": Cursor(noon, 0)},
        "another day": {"start": day_start, "end": day_end},
        "from an airport": {"start": day_start, "end": day_end, "from_ids": (fra,)},
        "to a city": {"start": day_start, "end": day_end, "to_ids": london},
        "from and to, later": {
            "start": day_start,
            "end": day_end,
            "from_ids": (fra,),
            "to_ids": london,
            "after": Cursor(day_start.replace(hour=9), 1),
        },
    }


@pytest.mark.django_db(transaction=True, databases=BOTH_DBS)
def test_every_flights_page_is_one_range_on_departure(analyzed_small_set: None) -> None:
    """The plan of each page query: a range on departure_idx, read in index order (no
    filesort, no temporary table), airports and airline by primary key; the rows the server
    reads stay within one day's flights however the page is filtered."""
    limit = settings.FLIGHTS_PAGE_LIMIT
    per_day = SIZES["small"].flights_per_day
    connection = connections[LEGACY_ALIAS]
    for name, variant in _page_variants().items():
        with CaptureQueriesContext(connection) as captured:
            Flight.objects.page(limit=limit, **variant)
        assert len(captured.captured_queries) == 1, name
        sql = captured.captured_queries[0]["sql"]
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            columns = [c[0] for c in cursor.description]
            plan = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        flight = next(step for step in plan if step["table"] == "flight")
        assert flight["type"] == "range" and flight["key"] == "departure_idx", (name, plan)
        assert plan[0] is flight, (name, plan)  # the join starts from the flights
        for step in plan:
            extra = step["Extra"] or ""
            assert "filesort" not in extra and "temporary" not in extra, (name, plan)
            if step is not flight:
                # const: the one airport of a filter, read once.
                assert step["type"] in ("eq_ref", "const"), (name, plan)
                assert step["key"] == "PRIMARY", (name, plan)
        before = _rows_read()
        Flight.objects.page(limit=limit, **variant)
        rows_read = _rows_read() - before - 1  # the SHOW itself reads one row
        bound = 5 * (limit + 1) + (per_day if "from_ids" in variant or "to_ids" in variant else 0)
        assert rows_read <= bound, (name, rows_read)


def test_naive_datetimes_are_local_time(mariadb: str) -> None:
    """DATETIME has no zone: the stored wall-clock time is local time of TIME_ZONE."""
    flight = Flight.objects.on_day(timezone.localdate()).order_by("departure").first()
    assert flight is not None
    with connections[LEGACY_ALIAS].cursor() as cursor:
        cursor.execute("SELECT departure FROM flight WHERE flight_id = %s", [flight.flight_id])
        (stored,) = cursor.fetchone()
    assert timezone.is_aware(flight.departure)
    assert timezone.localtime(flight.departure).replace(tzinfo=None) == stored
