"""On a real MariaDB/MySQL: load the `small` demo set with load_demo_data and log in through the
site with a passport that only that set has.

Runs in the MariaDB leg (`FLIGHTSITE_TEST_DB=mysql make test`, as CI does); skipped with the
reason when flughafendb is SQLite. An unreachable server fails the whole MariaDB run up front
(see conftest.py), so a run that asked for MariaDB never passes without it.
"""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from flights.models import AirportGeo, Flight
from flights.queries import FLIGHT_FIELDS
from flightsite.demo_data import AIRPORTS, SIZES, passport_number
from flightsite.routers import LEGACY_ALIAS
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

    page = client.get("/flights/")
    rows = flight_rows(page.text)
    assert len(rows) == settings.FLIGHTS_PAGE_LIMIT  # 200 a day, 50 shown
    today = timezone.localdate().isoformat()
    departures = [r["Departure datetime"] for r in rows]
    assert all(d.startswith(today) for d in departures)
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


def test_queries_use_the_indexes(small_set: int) -> None:
    day = Flight.objects.on_day(timezone.localdate()).order_by("departure", "flight_id")
    plan = day.values(*FLIGHT_FIELDS)[: settings.FLIGHTS_PAGE_LIMIT].explain()
    assert "departure_idx" in plan, plan
    login_plan = Passenger.objects.filter(passportno=passport_number(1)).explain()
    assert "pass_unq" in login_plan and "const" in login_plan, login_plan


def test_naive_datetimes_are_local_time(mariadb: str) -> None:
    """DATETIME has no zone: the stored wall-clock time is local time of TIME_ZONE."""
    flight = Flight.objects.on_day(timezone.localdate()).order_by("departure").first()
    with connections[LEGACY_ALIAS].cursor() as cursor:
        cursor.execute("SELECT departure FROM flight WHERE flight_id = %s", [flight.flight_id])
        (stored,) = cursor.fetchone()
    assert timezone.is_aware(flight.departure)
    assert timezone.localtime(flight.departure).replace(tzinfo=None) == stored
