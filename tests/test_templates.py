"""The site's Jinja2 templates (flightsite/jinja2.py): every template compiles, the admin stays on
Django templates, and the environment's helpers behave like the Django template tags they
replace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import engines
from django.template.loader import get_template
from django.urls import set_script_prefix

from flightsite.jinja2 import icon, url

from .conftest import BOTH_DBS
from .helpers import login, tomorrows_flights

TEMPLATE_DIR = Path(settings.BASE_DIR) / "templates"
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"')


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(TEMPLATE_DIR)) for p in TEMPLATE_DIR.rglob("*.html"))
)
def test_every_site_template_is_jinja2(name):
    template = get_template(name)
    backend = getattr(template, "backend", None)  # Django's template wrappers name their engine
    assert backend is engines["jinja2"], f"{name} must load with the Jinja2 engine"


def test_admin_templates_stay_on_django_templates():
    assert getattr(get_template("admin/login.html"), "backend", None) is engines["django"]


def test_url_reverses_and_follows_the_script_prefix():
    assert url("flights:list") == "/flights/"
    try:
        set_script_prefix("/sub/")
        assert url("flights:list") == "/sub/flights/"  # not the remembered "/flights/"
    finally:
        set_script_prefix("/")
    assert url("flights:list") == "/flights/"


def test_icon_is_inline_svg_markup():
    svg = icon("plane")
    assert svg.__html__().strip().startswith('<svg class="icon"')
    assert 'aria-hidden="true"' in svg
    assert "<path" not in icon("no-such-icon")  # empty, harmless


@pytest.mark.django_db(databases=BOTH_DBS)
def test_one_csrf_token_per_page_and_none_without_a_form(client, passport):
    anonymous = client.get("/nope/")
    assert anonymous.status_code == 404
    assert settings.CSRF_COOKIE_NAME not in anonymous.cookies  # no form: no CSRF cookie

    login(client, passport)
    for flight in tomorrows_flights(2):
        assert client.post("/flights/add/", {"flight_id": flight["flight_id"]}).status_code == 302
    page = client.get("/").text
    tokens = CSRF_VALUE.findall(page)
    assert len(tokens) == 3  # log out + one remove form per flight
    assert len(set(tokens)) == 1  # masked once for the page, as Django templates do


@pytest.mark.django_db(databases=BOTH_DBS)
def test_csrf_token_unmasks_to_the_cookie_which_is_not_sent_again(passport):
    """The page's token (flightsite.jinja2.masked_csrf_token) is a valid Django token for the
    browser's CSRF cookie, masked afresh on every page; the cookie is set when the browser has
    none (and at login) but not re-sent on every page with a form."""
    from django.middleware.csrf import _unmask_cipher_token  # type: ignore[attr-defined]
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    first = client.get("/login/")
    assert settings.CSRF_COOKIE_NAME in first.cookies  # no cookie yet: one is set
    cookie = client.cookies[settings.CSRF_COOKIE_NAME].value
    tokens = []
    for _ in range(3):
        page = client.get("/login/")
        assert settings.CSRF_COOKIE_NAME not in page.cookies  # the browser has it: not again
        (token,) = CSRF_VALUE.findall(page.text)
        assert len(token) == 64 and _unmask_cipher_token(token) == cookie
        tokens.append(token)
    assert len(set(tokens)) == 3  # a new mask on every page (BREACH)

    # The token works: the login POST passes the CSRF check, and login rotates the cookie.
    done = client.post("/login/", {"passportno": passport, "csrfmiddlewaretoken": tokens[-1]})
    assert done.status_code == 302
    assert done.cookies[settings.CSRF_COOKIE_NAME].value != cookie
    forged = client.post("/logout/", {"csrfmiddlewaretoken": tokens[-1]})
    assert forged.status_code == 403  # the token of the old cookie is worthless now


def test_never_cache_merges_with_an_existing_cache_control(rf):
    """A response that already says something about caching keeps it, merged the way Django's
    @never_cache merges (flightsite.http.never_cache writes the headers directly otherwise)."""
    from django.http import HttpResponse

    from flightsite.http import never_cache

    def view(request):
        response = HttpResponse("x")
        response["Cache-Control"] = "no-transform"
        return response

    response = never_cache(view)(rf.get("/"))
    directives = {d.strip() for d in response["Cache-Control"].split(",")}
    assert directives == {
        "no-transform", "max-age=0", "no-cache", "no-store", "must-revalidate", "private"
    }  # fmt: skip
    assert response["Expires"].endswith(" GMT")


@pytest.mark.django_db(databases=BOTH_DBS)
def test_passenger_pages_are_never_cached(client, passport):
    """flightsite.http.never_cache writes what Django's @never_cache does."""
    login(client, passport)
    for path in ("/", "/flights/", "/weather/", "/session/", "/logout/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == (
            "max-age=0, no-cache, no-store, must-revalidate, private"
        ), path
        assert response["Expires"].endswith(" GMT"), path


def test_flight_rows_escape_and_follow_the_flight():
    """flights/rows.py renders a row once per flight: what it shows is escaped, and a flight
    whose data or state differ gets its own row (the cache is keyed by every value)."""
    from flights.rows import flight_cells, list_row

    flight = {
        "flight_id": 7,
        "flightno": "XY123",
        "from_airport": 'Chicago O\'Hare <script>alert("x")</script>',
        "from_iata": "ORD",
        "to_airport": "Zurich",
        "to_iata": None,
        "departure": "2030-01-02T23:10",
        "arrival": "2030-01-03T01:05",
        "airline": None,
    }
    row = str(list_row(flight, set(), "2030-01-02T12:00", {}))
    assert "<script>" not in row and "&lt;script&gt;" in row and "O&#39;Hare" in row
    assert 'title="Chicago O&#39;Hare &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in row
    hostile = {
        **flight,
        "flightno": "<b>XY</b>",
        "from_iata": '"><i>',
        "to_airport": "<u>Z</u>",
        "airline": "A&B <img>",
    }
    hostile_row = str(list_row(hostile, set(), "2030-01-02T12:00", {}))
    for html in (hostile_row, str(flight_cells(hostile, zones={}))):
        assert "<b>" not in html and "<i>" not in html and "<u>" not in html, html
        assert "<img>" not in html and "A&amp;B &lt;img&gt;" in html
        assert "&lt;b&gt;XY&lt;/b&gt;" in html and "&#34;&gt;&lt;i&gt;" in html
    assert '<span class="iata">ORD</span>' in row and 'iata">None' not in row
    assert ">—</td>" in row  # no airline
    assert '+1</span><span class="visually-hidden"> (1 day later)' in row
    assert 'value="7"' in row and "Add</button>" in row
    assert "Added" in list_row(flight, {7}, "2030-01-02T12:00", {})
    assert "Departed" in list_row(flight, set(), "2030-01-03T00:00", {})
    renamed = {**flight, "to_airport": "Zurich Kloten"}
    assert "Zurich Kloten" in list_row(renamed, set(), "2030-01-02T12:00", {})
    assert "Zurich Kloten" not in list_row(flight, set(), "2030-01-02T12:00", {})
    dated = str(flight_cells(flight, with_date=True, zones={}))
    assert '<span class="weekday">Wed </span>2 Jan</span> 23:10' in dated
    from django.utils import translation

    with translation.override("de"):  # the names follow the language, never from the cache
        german = str(flight_cells(flight, with_date=True, zones={}))
    assert '<span class="weekday">Mi </span>2 Jan</span> 23:10' in german


def test_flight_times_say_whose_clock_they_are():
    """Each time is its airport's local time with the zone's name; "+1" follows the two local
    calendars and the flight time the two instants (flights/rows.py)."""
    from zoneinfo import ZoneInfo

    from flights.rows import flight_cells

    flight = {
        "flight_id": 8,
        "flightno": "LH500",
        "from_airport": "Frankfurt am Main",
        "from_iata": "FRA",
        "to_airport": "Buenos Aires Ezeiza",
        "to_iata": "EZE",
        "departure": "2030-01-02T21:10",  # UTC (TIME_ZONE): 22:10 in Frankfurt
        "arrival": "2030-01-03T10:55",  # UTC: 07:55 in Buenos Aires, the next day
        "airline": "Lufthansa",
    }
    zones = {"FRA": ZoneInfo("Europe/Berlin"), "EZE": ZoneInfo("America/Argentina/Buenos_Aires")}
    cells = str(flight_cells(flight, zones=zones))
    assert '<time datetime="2030-01-02T22:10+01:00">22:10</time>' in cells
    assert '<abbr class="tz" title="Europe/Berlin">CET</abbr>' in cells
    assert 'datetime="2030-01-03T07:55-03:00" title="Flight time 13 h 45 min">07:55</time>' in cells
    assert 'title="America/Argentina/Buenos_Aires">UTC\u22123</abbr>' in cells
    assert '+1</span><span class="visually-hidden"> (1 day later)' in cells
    # Late in UTC, early the same day in the west: no "+1" where the local dates agree.
    west = {**flight, "departure": "2030-01-02T23:30", "arrival": "2030-01-03T02:40"}
    west_zones = {"FRA": ZoneInfo("America/New_York"), "EZE": ZoneInfo("America/Chicago")}
    cells = str(flight_cells(west, zones=west_zones))
    assert ">18:30</time>" in cells and ">20:40</time>" in cells and "plus-days" not in cells
    assert ">EST</abbr>" in cells and ">CST</abbr>" in cells
    # An airport the catalog has no zone for: the site's zone, labelled.
    assert '>21:10</time> <abbr class="tz" title="UTC">UTC</abbr>' in str(
        flight_cells(flight, zones={})
    )


def test_widget_html_rendered_once_is_djangos():
    """The form renderer keeps a widget's HTML by its (plain-value) context: the same HTML as
    Django's own Jinja2 renderer for every value and error state; contexts with objects in
    them are not kept."""
    from django import forms
    from django.forms.renderers import Jinja2

    from flightsite import jinja2 as site_jinja2

    class Form(forms.Form):
        text = forms.CharField(max_length=5, widget=forms.TextInput(attrs={"list": "x"}))
        day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
        pick = forms.ChoiceField(choices=[("a", "A"), ("b", "B")])

    valid = {"text": "<b>", "day": "2026-01-02", "pick": "b"}
    for data in (valid, {"text": "too long", "day": "x"}):
        ours = Form(data, renderer=site_jinja2.FORM_RENDERER)
        django = Form(data, renderer=Jinja2())
        ours.is_valid(), django.is_valid()
        for name in ("text", "day", "pick"):
            assert str(ours[name]) == str(django[name])
            assert str(ours[name]) == str(django[name])  # the second time from the cache
        assert str(ours) == str(django)  # the whole form: not a widget, rendered as always
    assert "django/forms/widgets/text.html" in {key[0] for key in site_jinja2._widgets}
    assert len(site_jinja2._widgets) <= site_jinja2._WIDGETS_MAX


def test_list_rows_is_every_list_row():
    """The flights page renders its rows in one call: the same rows as one list_row() each."""
    from flights.rows import list_row, list_rows

    base = {
        "flightno": "XY123",
        "from_airport": "Frankfurt",
        "from_iata": "FRA",
        "to_airport": "Zurich",
        "to_iata": "ZRH",
        "arrival": "2030-01-02T23:05",
        "airline": "Lufthansa",
    }
    flights = [{**base, "flight_id": n, "departure": f"2030-01-02T{10 + n}:05"} for n in range(3)]
    expected = "    ".join(str(list_row(f, {1}, "2030-01-02T11:00", {})) for f in flights)
    assert str(list_rows(flights, {1}, "2030-01-02T11:00", {})) == expected
    assert expected.count("<tr ") == 3 and "Added" in expected and "Departed" in expected
