"""Django admin: staff browse the legacy tables; nobody can add, change or delete there."""

from __future__ import annotations

import pytest
from django.test import Client

from flights.models import Airline, Airplane, Flight
from flightsite.flughafendb.models import Airport, AirportGeo
from passengers.models import Passenger, PassengerDetails

from .conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

MODELS = [Passenger, PassengerDetails, Airport, AirportGeo, Airline, Airplane, Flight]


def admin_url(model, action: str = "changelist", *args) -> str:
    from django.urls import reverse

    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_loads_for_superuser(admin_client, model):
    response = admin_client.get(admin_url(model))
    assert response.status_code == 200
    assert admin_url(model, "add") not in response.text  # no "Add" button anywhere


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_add_is_refused(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "add"), {}).status_code == 403


def test_change_page_is_view_only_and_post_is_refused(admin_client, passport):
    passenger = Passenger.objects.get(passportno=passport)
    url = admin_url(Passenger, "change", passenger.pk)
    page = admin_client.get(url)
    assert page.status_code == 200
    assert passport in page.text
    assert 'name="_save"' not in page.text  # no save button: read-only view
    response = admin_client.post(url, {"passportno": "HACKED", "firstname": "x", "lastname": "y"})
    assert response.status_code == 403
    assert Passenger.objects.get(pk=passenger.pk).passportno == passport


def test_delete_is_refused(admin_client, passport):
    passenger = Passenger.objects.get(passportno=passport)
    url = admin_url(Passenger, "delete", passenger.pk)
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Passenger.objects.filter(pk=passenger.pk).exists()
    flight = Flight.objects.first()
    assert flight is not None
    assert (
        admin_client.post(admin_url(Flight, "delete", flight.pk), {"post": "yes"}).status_code
        == 403
    )


def test_search_passengers_by_passport_and_name(admin_client, passport):
    passenger = Passenger.objects.select_related("details").get(passportno=passport)
    by_passport = admin_client.get(admin_url(Passenger), {"q": passport})
    assert by_passport.status_code == 200
    assert passport in by_passport.text
    assert passenger.details.city in by_passport.text  # details shown with the passenger
    by_name = admin_client.get(admin_url(Passenger), {"q": passenger.lastname})
    assert passport in by_name.text
    nothing = admin_client.get(admin_url(Passenger), {"q": "no-such-name-xyz"})
    assert passport not in nothing.text


def test_flight_change_page_shows_airports(admin_client):
    flight = Flight.objects.select_related("from_airport", "to_airport").first()
    assert flight is not None
    page = admin_client.get(admin_url(Flight, "change", flight.pk))
    assert page.status_code == 200
    assert flight.from_airport.name in page.text
    assert flight.to_airport.name in page.text


def test_admin_requires_staff(client):
    response = client.get(admin_url(Passenger))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_search_passengers_by_city(admin_client, passport):
    passenger = Passenger.objects.select_related("details").get(passportno=passport)
    by_city = admin_client.get(admin_url(Passenger), {"q": passenger.details.city})
    assert passport in by_city.text
    others = PassengerDetails.objects.exclude(city=passenger.details.city)
    assert others.exists()
    other = others.first()
    assert other is not None and other.passenger.passportno not in by_city.text
    # Words are combined: a first name and a city.
    both = admin_client.get(
        admin_url(Passenger), {"q": f"{passenger.firstname} {passenger.details.city}"}
    )
    assert passport in both.text


def test_passenger_page_shows_the_details_inline(admin_client, passport):
    passenger = Passenger.objects.select_related("details").get(passportno=passport)
    page = admin_client.get(admin_url(Passenger, "change", passenger.pk)).text
    details = passenger.details
    for value in (details.street, details.city, details.country, details.emailaddress):
        assert value in page
    assert f"{details.street}, {details.zip} {details.city}, {details.country}" in page


def test_admin_is_branded(admin_client):
    page = admin_client.get("/admin/").text
    assert "<title>Passengers, airports and flights | flightsite admin</title>" in page
    assert "flightsite administration" in page
    assert 'href="/">View site</a>' in page
    assert "/static/css/admin.css" in page and "/favicon.ico" in page
    login_page = Client().get("/admin/login/").text
    assert "flightsite administration" in login_page and "/static/css/admin.css" in login_page
