"""Every page carries a strict Content-Security-Policy and a Permissions-Policy, and no template
needs anything the policy forbids (inline scripts, style attributes, event handlers,
javascript: URLs). The browser test (tests/test_browser.py) listens for violations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from .conftest import BOTH_DBS
from .helpers import login

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)
ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [ROOT / "templates", ROOT / "flightsite" / "templates"]


def assert_strict_headers(response, what: str) -> None:
    policy = response.get("Content-Security-Policy", "")
    directives = dict(
        [*part.split(" ", 1), ""][:2] for part in (p.strip() for p in policy.split(";")) if part
    )
    assert directives.get("default-src") == "'none'", (what, policy)
    assert directives.get("script-src") == "'self'", (what, policy)
    assert directives.get("style-src") == "'self'", (what, policy)
    assert directives.get("frame-ancestors") == "'none'", (what, policy)
    assert directives.get("object-src") == "'none'", (what, policy)
    assert "unsafe" not in policy, (what, policy)
    permissions = response.get("Permissions-Policy", "")
    for feature in ("camera=()", "geolocation=()", "microphone=()", "payment=()"):
        assert feature in permissions, (what, permissions)


LOGGED_OUT = ["/login/", "/no-such-page/", "/admin/login/", "/weather/cities/?country=GB"]
LOGGED_IN = ["/", "/flights/", "/weather/", "/session/", "/weather/?country=GB"]


def test_every_page_has_the_headers(passport):
    anonymous = Client()
    for path in LOGGED_OUT:
        assert_strict_headers(anonymous.get(path), path)
    passenger = Client()
    assert_strict_headers(login(passenger, passport), "login redirect")
    for path in LOGGED_IN:
        response = passenger.get(path)
        assert response.status_code == 200, path
        assert_strict_headers(response, path)
    assert_strict_headers(passenger.post("/"), "405")
    staff = Client()
    User.objects.create_superuser("boss", password="right-password-123")
    staff.login(username="boss", password="right-password-123")
    for path in ("/admin/", "/admin/auth/user/", "/admin/auth/user/add/"):
        response = staff.get(path)
        assert response.status_code == 200, path
        assert_strict_headers(response, path)


def test_error_pages_have_the_headers(client, settings, passport):
    import copy

    login(client, passport)
    broken = copy.deepcopy(settings.CACHES)
    broken["sessions"]["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    response = client.get("/")
    assert response.status_code == 503
    assert_strict_headers(response, "503")


def _template_files() -> list[Path]:
    return [p for d in TEMPLATE_DIRS for p in d.rglob("*.html")]


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("an inline <script> (without src)", r"<script(?![^>]*\bsrc=)[^>]*>"),
        ("a <style> element", r"<style[\s>]"),
        ("a style attribute", r"\sstyle\s*="),
        ("an event handler attribute", r"\son[a-z]+\s*=\s*[\"']"),
        ("a javascript: URL", r"javascript:"),
    ],
)
def test_templates_need_nothing_the_policy_forbids(what, pattern):
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _template_files()
        for match in re.finditer(pattern, path.read_text(), re.IGNORECASE)
    ]
    assert not found, f"{what} in templates: {found}"


def _through(middleware_class, response, path="/"):
    from django.test import RequestFactory

    request = RequestFactory().get(path)
    middleware = middleware_class(lambda request: response)
    middleware.process_request(request)
    return middleware.process_response(request, response)


def test_the_site_wide_policy_built_once_is_django_csps():
    """flightsite.middleware.CSPMiddleware writes the header django-csp's own middleware
    writes, follows a settings change, and leaves per-response policies to django-csp."""
    from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
    from django.http import HttpResponse
    from django.test import override_settings

    from flightsite.middleware import CSPMiddleware

    ours = _through(CSPMiddleware, HttpResponse("x"))["Content-Security-Policy"]
    assert ours == _through(DjangoCSPMiddleware, HttpResponse("x"))["Content-Security-Policy"]
    assert "default-src 'none'" in ours

    changed = {"DIRECTIVES": {"default-src": ["'self'"]}}
    with override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=changed):
        response = _through(CSPMiddleware, HttpResponse("x"))
        assert response["Content-Security-Policy-Report-Only"] == "default-src 'self'"
        assert response["Content-Security-Policy"] == ours
    assert "Content-Security-Policy-Report-Only" not in _through(CSPMiddleware, HttpResponse("x"))

    updated = HttpResponse("x")
    updated._csp_update = {"img-src": ["https://img.example"]}  # type: ignore[attr-defined]
    header = _through(CSPMiddleware, updated)["Content-Security-Policy"]
    assert "https://img.example" in header and header != ours

    exempt = HttpResponse("x")
    exempt._csp_exempt = True  # type: ignore[attr-defined]
    assert "Content-Security-Policy" not in _through(CSPMiddleware, exempt)
