"""load_demo_data: deterministic data, flights for every day of the window, safe re-runs."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from flights.models import Flight
from flightsite.demo_data import SIZES, passport_number
from flightsite.readonly import legacy_writes_allowed
from passengers.models import Passenger

from .conftest import BOTH_DBS

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
    page = client.get("/flights/")
    first = Flight.objects.today(limit=1)[0]
    assert first["flightno"] in page.text
    assert f'data-flight-id="{first["flight_id"]}"' in page.text
