"""What a passenger trips over, through Django's test client (issue #19; the browser side is in
tests/test_browser_ux.py): sessions ended elsewhere say so, messages are shown where the page
comes back to, the names people type find their airports, times say whose clock they are."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from flights.catalog import catalog
from flights.places import fold, fold_keys
from flightsite.flughafendb.demo_data import AIRPORTS, passport_number
from flightsite.jinja2 import zone_label

from .conftest import BOTH_DBS
from .helpers import flight_rows, login, session_key_of, tomorrows_flights

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- a session ended elsewhere ---------------------------------------------------------------


@pytest.fixture
def two_browsers(passport: str) -> tuple[Client, Client]:
    here, there = Client(), Client()
    login(here, passport)
    login(there, passport)
    return here, there


def test_logged_out_from_another_device_is_said_on_the_login_page(two_browsers):
    here, there = two_browsers
    assert there.post("/session/end-others/").status_code == 302
    page = here.get("/flights/", follow=True)
    assert page.redirect_chain[0][0] == "/login/?next=%2Fflights%2F"
    text = _text(page.content.decode())
    assert "You were logged out from another device. Please log in again." in text
    # Said once: the cookie of the ended session is dropped with that answer.
    again = here.get("/login/")
    assert "Please log in again." not in _text(again.content.decode())


def test_an_add_from_an_ended_session_says_it_was_not_done_and_comes_back_to_its_row(
    two_browsers,
):
    here, there = two_browsers
    flight = tomorrows_flights(5)[2]
    list_page = f"day={flight['departure'][:10]}"
    there.post("/session/end-others/")
    answer = here.post("/flights/add/", {"flight_id": flight["flight_id"], "page": list_page})
    assert answer.status_code == 302
    resume = f"/flights/?{list_page}#flight-{flight['flight_id']}"
    assert answer["Location"] == "/login/?next=" + re.sub(
        "[/?=#]", lambda m: f"%{ord(m.group()):02X}", resume
    )
    text = _text(here.get(answer["Location"]).content.decode())
    assert "You were logged out from another device." in text
    assert "The flight was not added. Log in again to carry on." in text
    # Logging in brings the passenger back to the flight's row; nothing was added meanwhile.
    back = here.post(answer["Location"], {"passportno": passport_number(1)})
    assert back["Location"] == resume


def test_staff_and_expiry_are_told_apart(admin_browser, passport, valkey_client):
    from valkey_sessions import live
    from valkey_sessions.keys import valkey_key

    ended, expired = Client(), Client()
    login(ended, passport)
    login(expired, passport)
    live.end(session_key_of(ended), by="staff")  # as the admin's "End" does
    text = _text(ended.get("/", follow=True).content.decode())
    assert "Your session was ended by the site's staff. Please log in again." in text
    valkey_client.delete(valkey_key(session_key_of(expired)))  # what its TTL does
    text = _text(expired.get("/flights/", follow=True).content.decode())
    assert "Your session expired. Please log in again." in text


def test_own_logout_says_nothing_about_other_devices(client, passport):
    login(client, passport)
    client.post("/logout/")
    text = _text(client.get("/login/").content.decode())
    assert "another device" not in text and "has ended" not in text and "expired" not in text


def test_the_weather_form_keeps_its_choice_when_the_session_has_ended(two_browsers):
    here, there = two_browsers
    there.post("/session/end-others/")
    answer = here.post("/weather/", {"country": "DE", "zip": "10115", "units": "metric"})
    assert answer["Location"] == "/login/?next=%2Fweather%2F%3Fcountry%3DDE%26zip%3D10115"
    text = _text(here.get(answer["Location"]).content.decode())
    assert "The weather was not fetched." in text


# --- feedback where the eye is ----------------------------------------------------------------


def test_the_add_message_is_under_the_flights_row(client, passport):
    login(client, passport)
    client.get("/")  # the welcome message is shown (and gone)
    flight = tomorrows_flights(5)[1]
    page = f"day={flight['departure'][:10]}"
    answer = client.post("/flights/add/", {"flight_id": flight["flight_id"], "page": page})
    assert answer["Location"].endswith(f"#flight-{flight['flight_id']}")
    html = client.get(answer["Location"]).content.decode()
    row = re.search(
        rf'<tr id="flight-{flight["flight_id"]}".*?</tr>\s*(<tr class="row-note".*?</tr>)',
        html,
        re.S,
    )
    assert row is not None, "no note under the row"
    assert "added to your flights." in row.group(1) and "data-announce" in row.group(1)
    assert '<div class="messages">' not in html  # not (also) at the top of the page
    assert 'id="announcer"' in html and "js/announce.js" in html


def test_the_remove_message_is_in_the_flights_card(client, passport):
    login(client, passport)
    flight = tomorrows_flights(5)[1]
    client.post("/flights/add/", {"flight_id": flight["flight_id"]})
    client.get("/")  # the add's message is shown (and gone)
    answer = client.post("/flights/remove/", {"flight_id": flight["flight_id"]})
    assert answer["Location"] == "/#my-flights"
    html = client.get("/").content.decode()
    card = html[html.index('id="my-flights"') :]
    assert 'data-testid="flights-note">Flight removed from your flights.' in card
    assert '<div class="messages">' not in html


# --- names people type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Düsseldorf", "DUS"),
        ("Dusseldorf", "DUS"),
        ("duesseldorf", "DUS"),
        ("München", "MUC"),
        ("munchen", "MUC"),
        ("Muenchen", "MUC"),
        ("Wien", "VIE"),
        ("Praha", "PRG"),
        ("Zürich", "ZRH"),
        ("Zuerich", "ZRH"),
        ("København", "CPH"),
        ("Kobenhavn", "CPH"),
        ("Koebenhavn", "CPH"),
        ("São Paulo", "GRU"),
        ("Lisboa", "LIS"),
        ("Warszawa", "WAW"),
        ("Reykjavík", "KEF"),
    ],
)
def test_names_people_type_find_their_airports(typed, code):
    found = catalog().match(typed)
    assert found is not None, typed
    assert found.ids == catalog().by_code[code].ids


def test_folding():
    assert fold("São  Paulo") == "sao paulo"
    assert fold_keys("München") == {"munchen", "muenchen"}
    assert fold_keys("Øresund") == {"oresund", "oeresund"}
    assert fold_keys("Großbeeren") == {"grossbeeren"}
    assert fold_keys("Århus") == {"arhus", "aarhus"}
    assert fold("Saint-Denis") == fold("Saint Denis")


def test_the_suggestions_offer_the_usual_spelling(client, passport):
    login(client, passport)
    html = client.get("/flights/").content.decode()
    assert '<option value="Düsseldorf" label="Duesseldorf (DUS)">' in html
    page = client.get("/flights/", {"from": "München"})
    assert page.status_code == 200 and "from Munich (MUC)" in _text(page.content.decode())


# --- times people can read --------------------------------------------------------------------


def test_every_flight_time_has_its_zone_and_the_headings_say_utc(client, passport):
    login(client, passport)
    flight = tomorrows_flights(1)[0]
    html = client.get("/flights/", {"day": flight["departure"][:10]}).content.decode()
    rows = flight_rows(html)
    assert rows
    for row in rows:
        for cell in ("Departure", "Arrival"):
            assert re.fullmatch(r"\d\d:\d\d \S+( \+\d)?", row[cell].split(" (")[0]), row[cell]
    text = _text(html)
    assert re.search(r"Departures \d\d:\d\d\u2013\d\d:\d\d UTC", text)
    assert "(UTC)" in text  # the day


def test_zone_labels():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    winter = datetime(2030, 1, 2, 12, 0)
    assert zone_label(winter.replace(tzinfo=ZoneInfo("Europe/Berlin"))) == "CET"
    assert zone_label(winter.replace(tzinfo=ZoneInfo("UTC"))) == "UTC"
    assert zone_label(winter.replace(tzinfo=ZoneInfo("America/Sao_Paulo"))) == "UTC\u22123"
    assert zone_label(winter.replace(tzinfo=ZoneInfo("Asia/Kolkata"))) == "IST"
    assert zone_label(winter.replace(tzinfo=ZoneInfo("Asia/Kathmandu"))) == "UTC+5:45"


def test_every_airport_has_its_zone():
    zones = catalog().zones
    assert str(zones["MUC"]) == "Europe/Berlin"
    assert str(zones["EZE"]) == "America/Argentina/Buenos_Aires"
    assert str(zones["JFK"]) == "America/New_York"
    assert all(code in zones for code, *_ in AIRPORTS)


def test_session_page_times_say_utc(client, passport):
    login(client, passport)
    other = Client()
    login(other, passport)
    session_key_of(other)
    text = _text(client.get("/session/").content.decode())
    assert re.search(r"Expires \d+ \w+ \d{4}, \d\d:\d\d:\d\d UTC", text)
    assert re.search(
        r"Logged in: \d+ \w+ \d{4}, \d\d:\d\d UTC|Logged in \d+ \w+ \d{4}, \d\d:\d\d UTC", text
    )


# --- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def admin_browser(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("ux-admin", "a@example.com", "pw-ux-admin-1")
    browser = Client()
    browser.force_login(user)
    return browser


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-session="[^"]+" data-kind="(\w+)"', html)


def test_live_sessions_passengers_first_newest_first_with_a_filter(admin_browser, passport):
    anonymous = Client()
    anonymous.get("/login/")  # a CSRF cookie only: no session
    first, second = Client(), Client()
    login(first, passport)
    login(second, passport_number(2))
    page = admin_browser.get("/admin/passengers/live-sessions/").content.decode()
    kinds = _rows(page)
    # The admin's own session is a staff one, after the passengers'.
    assert kinds == ["passenger", "passenger", "staff"], kinds
    # Newest activity first: the second login above the first.
    assert page.index(passport_number(2)) < page.index(passport)
    only = admin_browser.get("/admin/passengers/live-sessions/", {"kind": "others"}).content
    assert _rows(only.decode()) == ["staff"]
    only = admin_browser.get("/admin/passengers/live-sessions/", {"kind": "passengers"}).content
    assert _rows(only.decode()) == ["passenger", "passenger"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("LH", lambda f: f.flightno.startswith("LH")),
        ("FRA", lambda f: "FRA" in (f.from_airport.iata, f.to_airport.iata)),
        ("Lufthansa", lambda f: f.airline.airlinename == "Lufthansa"),
        (
            "LH FRA",
            lambda f: (
                f.flightno.startswith("LH") and "FRA" in (f.from_airport.iata, f.to_airport.iata)
            ),
        ),
    ],
)
def test_the_flight_list_is_searchable(admin_browser, query, expected):
    from flights.models import Flight

    flights = Flight.objects.select_related("from_airport", "to_airport", "airline")
    wanted = {f.flightno for f in flights if expected(f)}
    assert wanted, query
    page = admin_browser.get("/admin/flights/flight/", {"q": query, "all": ""}).content.decode()
    shown = set(re.findall(r'<th class="field-flightno"><a [^>]*>([^<]+)</a>', page))
    assert shown and shown <= wanted, (query, shown - wanted)
    assert "A flight number or its start" in page


def test_admin_dates_are_24_hour_with_their_zone(admin_browser):
    from flights.models import Flight

    flight = Flight.objects.order_by("-departure").first()
    assert flight is not None
    page = admin_browser.get("/admin/flights/flight/").content.decode()
    assert "a.m." not in page and "p.m." not in page
    assert re.search(
        r'<td class="field-departure[^"]*">\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC</td>', page
    )
