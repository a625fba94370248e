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
