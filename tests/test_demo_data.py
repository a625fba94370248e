"""load_demo_data: deterministic data, flights for every day of the window, safe re-runs."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from flights.models import Flight
from flightsite.flughafendb.demo_data import (
    AIRPORTS,
    MAX_ROUTE_KM,
    MIN_ROUTE_KM,
    SIZES,
    block_minutes,
    great_circle_km,
    passport_number,
)
from flightsite.flughafendb.models import AirportGeo
from flightsite.flughafendb.readonly import legacy_writes_allowed
from passengers.models import Passenger

from .conftest import BOTH_DBS
from .helpers import tomorrows_flights

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def load(**options) -> str:
    out = StringIO()
    call_command("load_demo_data", no_progress=True, stdout=out, **options)
    return out.getvalue()


def test_load_is_deterministic_and_covers_every_day():
    tiny = SIZES["tiny"]
    output = load(size="tiny", flush=True, seed=7)
    assert "Loaded" in output and passport_number(1) in output
    assert Passenger.objects.count() == tiny.passengers
    assert Passenger.objects.filter(passportno=passport_number(1)).exists()
    first = list(Flight.objects.order_by("flight_id").values_list("flightno", "departure")[:5])

    today = timezone.localdate()
    for offset in range(-tiny.days_before, tiny.days_after):
        assert Flight.objects.on_day(today + timedelta(days=offset)).count() == tiny.flights_per_day

    load(size="tiny", flush=True, seed=7)
    assert list(Flight.objects.order_by("flight_id").values_list("flightno", "departure")[:5]) == (
        first
    )


def test_great_circle_distances_are_right():
    # Known distances (within 1 %): London-New York 5,570 km, Frankfurt-Munich 300 km.
    lhr, jfk, fra, muc = (
        next(a for a in AIRPORTS if a[0] == c) for c in ("LHR", "JFK", "FRA", "MUC")
    )
    assert 5_500 < great_circle_km(lhr[5], lhr[6], jfk[5], jfk[6]) < 5_600
    assert 295 < great_circle_km(fra[5], fra[6], muc[5], muc[6]) < 310
    assert block_minutes(300) == 55
    assert block_minutes(15_340) == 1140  # SIN-JFK, the longest flight today: 19 h


def test_every_arrival_is_plausible():
    """Durations follow the distance between the two airports (airport_geo), from under an
    hour to at most ~19 h; no flight is longer than the longest nonstop flights flown."""
    geo = {
        g["airport_id"]: (float(g["latitude"]), float(g["longitude"]))
        for g in AirportGeo.objects.values("airport_id", "latitude", "longitude")
    }
    flights = list(Flight.objects.values_list("from_airport", "to_airport", "departure", "arrival"))
    assert flights
    for src, dst, departure, arrival in flights:
        km = great_circle_km(*geo[src], *geo[dst])
        assert MIN_ROUTE_KM <= km <= MAX_ROUTE_KM
        assert arrival - departure == timedelta(minutes=block_minutes(km))
    longest = max(arrival - departure for _, _, departure, arrival in flights)
    assert timedelta(minutes=45) <= min(a - d for _, _, d, a in flights)
    assert longest <= timedelta(hours=19, minutes=30)


def test_refuses_to_load_over_existing_data():
    with pytest.raises(CommandError, match="already holds data"):
        load(size="tiny")


def test_if_needed_only_adds_missing_days():
    assert "up to date" in load(size="tiny", if_needed=True, days_after=3)
    today = timezone.localdate()
    with legacy_writes_allowed():
        Flight.objects.on_day(today).delete()  # stale data: no flights today
    assert not Flight.objects.on_day(today).exists()
    output = load(size="tiny", if_needed=True, days_after=3)
    assert "added" in output
    assert Flight.objects.on_day(today).count() == SIZES["tiny"].flights_per_day


def test_flights_page_lists_loaded_flights(client, passport):
    client.post("/login/", {"passportno": passport})
    page = client.get(f"/flights/?day={timezone.localdate() + timedelta(days=1)}")
    first = tomorrows_flights(1)[0]
    assert first["flightno"] in page.text
    assert f'data-flight-id="{first["flight_id"]}"' in page.text
