"""End to end in headless Chromium (Playwright) against a live server, real Valkey included.

Every step is screenshotted into test-artifacts/screenshots/ (kept by CI as artifacts). With
UPDATE_DOCS_SCREENSHOTS=1 the desktop flow also rewrites the README images in docs/:

    UPDATE_DOCS_SCREENSHOTS=1 make test PYTEST_ARGS="-m browser"

Only the browser tests are skipped when there is no Chromium (/usr/bin/chromium or
$CHROMIUM_PATH); Playwright's own browser download is never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.core.cache import caches
from django.core.handlers.wsgi import WSGIHandler
from django.template.loader import render_to_string
from django.test import override_settings
from django.test.testcases import _MediaFilesHandler
from django.utils import timezone
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from valkey_sessions import live as live_sessions
from valkey_sessions.keys import valkey_key

from .conftest import BOTH_DBS
from .helpers import SESSION_PREFIX, RawValkey, tomorrows_flights, tomorrows_list
from .helpers import stored_session as stored_session_of

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_REPORTS = ROOT / "test-artifacts" / "axe"
DOCS = ROOT / "docs"
UPDATE_DOCS = os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1"

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root without user namespaces
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 375, "height": 812}
# Generous: CI is a busy 2-core machine, sometimes with MariaDB behind the live server.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM}: install Debian's chromium or set CHROMIUM_PATH",
)
# live_server runs in another thread, so the tests need real commits, not a rolled-back atomic.
live_db = pytest.mark.django_db(transaction=True, databases=BOTH_DBS)
# axe-core (the copy bundled with axe-playwright-python): these impacts fail the test; minor
# and moderate findings are written to test-artifacts/axe/ for a look.
AXE = Axe()
BLOCKING_IMPACTS = {"serious", "critical"}


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (launching it is the slow part)."""
    with pytest.MonkeyPatch.context() as mp:
        # Playwright's sync API keeps an asyncio loop running in this thread; Django would then
        # refuse the ORM calls of pytest-django's database teardown (SynchronousOnlyOperation).
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()


OURS, STOCK = "valkey_sessions", "django.contrib.sessions.backends.cache"


def _rebuild_handler(live_server: Any) -> None:
    """A new WSGIHandler for the live server, built from the settings as they are now: Django's
    SessionMiddleware picks its SessionStore from SESSION_ENGINE once, when the handler loads
    its middleware (at the server's start), as a worker process does at its start."""
    thread = live_server.thread
    thread.httpd.set_app(thread.static_handler(_MediaFilesHandler(WSGIHandler())))


@pytest.fixture(params=[OURS, STOCK], ids=["ours", "stock"])
def engine(request: pytest.FixtureRequest, live_server: Any) -> Iterator[str]:
    """The live server on either session engine: ours, or Django's stock cache engine on the
    same django-valkey alias (what SESSION_ENGINE=django.contrib.sessions.backends.cache in the
    environment gives a worker); the server's handler is rebuilt on the setting and again when
    it is restored, so the tests after this one get ours back."""
    with override_settings(SESSION_ENGINE=request.param):
        _rebuild_handler(live_server)
        yield str(request.param)
    _rebuild_handler(live_server)


@pytest.fixture(autouse=True)
def noon(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """ "Now" is 12:00 today for the flights pages (the live server runs in this process), so
    today's list has upcoming and departed flights whenever the tests run."""
    now = datetime.combine(
        timezone.localdate(), time(12, 0), tzinfo=timezone.get_current_timezone()
    )
    monkeypatch.setattr("flights.queries.now_to_the_minute", lambda: now)
    return now


@pytest.fixture
def open_page(
    browser: Browser, live_server: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """Factory for pages in fresh browser contexts (own cookies) on the live server.

    JavaScript errors and Content-Security-Policy violations on any page fail the test; when
    the test fails, a screenshot of every open page is saved as FAILED-<test>-<n>.png.
    """
    contexts: list[BrowserContext] = []
    js_errors: list[str] = []  # uncaught page errors and failed static files

    def make(
        viewport: ViewportSize = DESKTOP, javascript: bool = True, user_agent: str | None = None
    ) -> Page:
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport,
            java_script_enabled=javascript,
            locale="en-GB",
            reduced_motion="reduce",
            user_agent=user_agent,  # None: Chromium's own
        )
        context.set_default_timeout(TIMEOUT_MS)
        # Every Content-Security-Policy violation, as the page sees it (Playwright's init
        # scripts are not subject to the page's policy).
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => window.__axeRunning"
            " || console.error('CSP violation: ' + e.violatedDirective + ' blocked '"
            " + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber));"
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: js_errors.append(str(exc)))
        page.on("console", check_console)
        page.on("response", check_asset)
        return page

    def check_console(message: ConsoleMessage) -> None:
        text = message.text
        # Chromium's own report of a violation is logged even while axe runs: the event
        # listener above is the one that knows.
        if text.startswith("CSP violation"):
            js_errors.append(f"{message.page.url if message.page else ''}: {text}")

    def check_asset(response: Response) -> None:
        # A missing stylesheet, script or icon would still let the flow pass: catch it here.
        if response.status >= 400 and "/static/" in response.url:
            js_errors.append(f"{response.status} {response.url}")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SCREENSHOTS.glob(f"FAILED-{request.node.name}-*.png"):
        stale.unlink()
    failed_before = request.session.testsfailed
    yield make
    try:
        if request.session.testsfailed > failed_before:
            pages = [page for context in contexts for page in context.pages]
            for n, page in enumerate(pages):
                # A hung page must not hide the real failure behind a teardown error.
                with contextlib.suppress(PlaywrightError):
                    page.screenshot(
                        path=SCREENSHOTS / f"FAILED-{request.node.name}-{n}.png",
                        full_page=True,
                        timeout=5_000,
                    )
        else:
            assert not js_errors, f"JavaScript errors or broken assets: {js_errors}"
    finally:
        for context in contexts:
            context.close()


# --- helpers -------------------------------------------------------------------------------------


def shot(page: Page, name: str, doc: str | None = None, doc_full_page: bool = True) -> None:
    """Save a full-page screenshot; with UPDATE_DOCS_SCREENSHOTS=1 also docs/<doc>.png (of the
    viewport only with doc_full_page=False: a phone's page is long)."""
    page.wait_for_load_state("load")  # stylesheet and favicon in, so the picture is final
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled")
    if doc and UPDATE_DOCS:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=DOCS / f"{doc}.png", full_page=doc_full_page, animations="disabled")


def submit(page: Page, button: Locator) -> None:
    """Click a submit button and wait for the page it leads to (POST → redirect → GET)."""
    with page.expect_navigation(wait_until="load"):
        button.click()


def session_key(page: Page) -> str | None:
    for cookie in page.context.cookies():
        if cookie["name"] == settings.SESSION_COOKIE_NAME and cookie["value"]:
            return cookie["value"]
    return None


def stored_session(client: RawValkey, page: Page) -> dict[str, Any]:
    key = session_key(page)
    assert key, "the browser has no session cookie"
    return stored_session_of(client, key)


def session_keys(client: RawValkey) -> list[str]:
    return client.keys(SESSION_PREFIX + "*")


def log_in(page: Page, passport: str) -> None:
    page.goto("/login/")
    page.get_by_label("Passport number").fill(passport)
    submit(page, page.locator("main").get_by_role("button", name="Log in"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Hello, "))


def at_path(path: str) -> re.Pattern[str]:
    """A URL pattern for exactly this path (and query) on the live server."""
    return re.compile(r"^https?://[^/]+" + path + "$")


def unlabelled_controls(page: Page) -> list[str]:
    """Form controls without a label and buttons without a name (should be none)."""
    return page.evaluate(
        """() => [
          ...[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
            .filter(el => !el.labels.length && !el.getAttribute("aria-label"))
            .map(el => el.name || el.id),
          ...[...document.querySelectorAll("button")]
            .filter(el => !(el.getAttribute("aria-label") || el.textContent.trim()))
            .map(el => el.outerHTML),
        ]"""
    )


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def axe_check(page: Page, name: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; fail on serious or critical violations. Every
    finding is written to test-artifacts/axe/<name>.json."""
    # axe-core parses @imported stylesheets (the admin's forms.css) through <style> elements of
    # its own, which the site's Content-Security-Policy rightly blocks: not the site's
    # violations, so not reported while axe runs (see open_page).
    page.evaluate("window.__axeRunning = true")
    try:
        violations = AXE.run(page).response["violations"]
    finally:
        page.evaluate("window.__axeRunning = false")
    AXE_REPORTS.mkdir(parents=True, exist_ok=True)
    (AXE_REPORTS / f"{name}.json").write_text(json.dumps(violations, indent=2) + "\n")
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]
    assert not blocking, f"{name}: {blocking}"
    return violations


def utc_times(cells: Locator) -> list[str]:
    """The times of these cells in UTC, "HH:MM" (each shows its airport's local time; its
    <time datetime> has the offset)."""
    return [
        str(t.evaluate("el => new Date(el.getAttribute('datetime')).toISOString().slice(11, 16)"))
        for t in cells.locator("time").all()
    ]


def flight_row_ids(page: Page) -> list[int]:
    return [
        int(i)
        for i in page.get_by_test_id("flights-table")
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(r => r.dataset.flightId)")
    ]


def has_visible_focus(page: Page) -> bool:
    """The focused element shows a focus indicator (an outline or a box-shadow ring)."""
    return page.evaluate(
        """() => {
          const s = getComputedStyle(document.activeElement);
          return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)
            || s.boxShadow !== "none";
        }"""
    )


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until `target` has the focus (failing after `limit` presses); every element
    passed on the way must show where the focus is."""
    handle = target.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            continue  # past the last element the focus leaves the page, then starts again
        assert has_visible_focus(page), "focus not visible on " + page.evaluate(
            "document.activeElement.outerHTML.slice(0, 120)"
        )
        if page.evaluate("el => document.activeElement === el", handle):
            return
    raise AssertionError(f"{target} not reached with {limit} presses of Tab")


def press_and_wait(page: Page, key: str) -> None:
    """Press a key that submits a form or follows a link, and wait for the new page."""
    with page.expect_navigation(wait_until="load"):
        page.keyboard.press(key)


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
@live_db
def test_whole_flow_in_a_real_browser(
    open_page: Callable[..., Page], valkey_client: RawValkey, passport: str, engine: str
) -> None:
    """The workshop's flow on either engine, with the same outcomes; on Django's stock engine
    the page that needs ours (the session and its devices) says so."""
    ours = engine == OURS
    page = open_page()

    def stored() -> dict[str, Any]:
        """The session as Valkey holds it: our value decoded straight from its key, or what the
        stock engine reads from its cache key."""
        key = session_key(page)
        assert key, "the browser has no session cookie"
        if ours:
            return stored_session(valkey_client, page)
        data = import_module(engine).SessionStore(key).load()
        assert data, f"no session {key} in the stock engine's cache"
        return dict(data)

    def key_in_valkey(key: str) -> str:
        if ours:
            return valkey_key(key)
        stock = import_module(engine).SessionStore(key)
        return str(caches[settings.SESSION_CACHE_ALIAS].make_key(stock.cache_key))

    def doc(name: str) -> str | None:
        return name if ours else None  # the docs' pictures are of the site as it ships

    # Not logged in: the dashboard sends us to the login page.
    page.goto("/")
    expect(page).to_have_url(at_path(r"/login/"))
    expect(page.get_by_label("Passport number")).to_be_focused()
    shot(page, f"01-login-{engine}", doc=doc("login"))
    assert unlabelled_controls(page) == []
    # Keyboard focus is visible: Tab from the (autofocused) field to the button.
    page.keyboard.press("Tab")
    expect(page.locator("main").get_by_role("button", name="Log in")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "no visible focus on the login button"

    # An unknown passport: an error tied to the field, and nothing written to Valkey.
    page.get_by_label("Passport number").fill("Z9999999")
    submit(page, page.locator("main").get_by_role("button", name="Log in"))
    field = page.get_by_label("Passport number")
    expect(field).to_have_attribute("aria-invalid", "true")
    error_id = field.get_attribute("aria-describedby")
    assert error_id, "the invalid field points to no error message"
    expect(page.locator(f"#{error_id}")).to_contain_text("no passenger with this passport")
    assert session_keys(valkey_client) == []
    shot(page, f"02-login-error-{engine}")

    # Log in: the passenger is in the header, on the dashboard and in the Valkey key.
    log_in(page, passport)
    expect(page.locator(".message-success")).to_contain_text("Welcome")
    passenger = stored()["passenger"]
    assert passenger["passportno"] == passport
    full_name = f"{passenger['firstname']} {passenger['lastname']}"
    expect(page.get_by_test_id("header-name")).to_have_text(full_name)
    expect(page.get_by_test_id("passport")).to_have_text(passport)
    expect(page.get_by_test_id("weather-card")).to_contain_text("No weather yet")
    expect(page.get_by_test_id("flights-card")).to_contain_text("No flights yet")
    key = session_key(page)
    assert key and 0 < valkey_client.ttl(key_in_valkey(key)) <= settings.SESSION_COOKIE_AGE
    shot(page, f"03-dashboard-empty-{engine}")

    # Weather: the country fills the city select from /weather/cities/ without a reload.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Weather").click()
    expect(page).to_have_url(at_path(r"/weather/"))
    page.wait_for_load_state("load")  # its script listens for the country's change by then
    city = page.get_by_label("City", exact=True)
    expect(city.locator("option")).to_have_count(1)  # "Choose a country first"
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
    with page.expect_response(re.compile(r"/weather/cities/\?country=GB$")) as cities:
        page.get_by_label("Country", exact=True).select_option("GB")
    assert cities.value.ok
    expect(city.locator("option[value='B1']")).to_have_text("Birmingham (B1)")
    expect(city).to_be_enabled()
    assert page.evaluate("window.__sameDocument") is True
    expect(page).to_have_url(at_path(r"/weather/"))
    city.select_option("B1")
    assert unlabelled_controls(page) == []
    page.get_by_label("°C, m/s").check()
    shot(page, f"04-weather-form-{engine}", doc=doc("weather"))
    submit(page, page.get_by_role("button", name="Get the weather"))
    expect(page).to_have_url(at_path(r"/"))
    expect(page.locator(".message-success")).to_contain_text("Weather for Birmingham updated")
    weather_card = page.get_by_test_id("weather-card")
    expect(weather_card).to_contain_text("Birmingham, GB")
    expect(page.get_by_test_id("weather-temp")).to_contain_text("°C")
    assert stored()["weather"]["zip"] == "B1"
    shot(page, f"05-dashboard-weather-{engine}")

    # Flights: today's upcoming departures; add the first two.
    page.get_by_role("link", name="Browse flights").click()
    expect(page).to_have_url(at_path(r"/flights/"))
    expect(page.get_by_test_id("flights-summary")).to_have_text(
        "Upcoming departures from 12:00 UTC"
    )
    rows = page.get_by_test_id("flights-table").locator("tbody tr[data-flight-id]")
    expect(rows.nth(1)).to_be_visible()
    picked = []
    for n in range(2):
        row = rows.nth(n)
        flight_id = int(row.get_attribute("data-flight-id") or 0)
        flightno = row.locator("td").first.inner_text().strip()
        picked.append((flight_id, flightno))
        submit(page, row.get_by_role("button", name=f"Add flight {flightno}"))
        expect(page).to_have_url(at_path(f"/flights/#flight-{flight_id}"))
        expect(page.locator(".message-success")).to_contain_text(f"Flight {flightno}")
        added = page.locator(f"tr[data-flight-id='{flight_id}']")
        expect(added.get_by_text("Added", exact=True)).to_be_visible()
    assert [f["flight_id"] for f in stored()["flights"]] == [flight_id for flight_id, _ in picked]
    assert unlabelled_controls(page) == []
    shot(page, f"06-flights-{engine}")

    # Dashboard: both flights; remove the first one.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    flights_card = page.get_by_test_id("flights-card")
    expect(flights_card.locator("tbody tr")).to_have_count(2)
    (gone_id, gone_no), (kept_id, kept_no) = picked
    submit(page, flights_card.get_by_role("button", name=f"Remove flight {gone_no}"))
    expect(page.locator(".message-success")).to_contain_text("Flight removed")
    expect(flights_card.locator("tbody tr")).to_have_count(1)
    expect(flights_card.locator(f"tr[data-flight-id='{kept_id}']")).to_contain_text(kept_no)
    expect(flights_card.locator(f"tr[data-flight-id='{gone_id}']")).to_have_count(0)
    expect(page.get_by_test_id("passenger-card")).to_contain_text(full_name)
    expect(weather_card).to_contain_text("Birmingham, GB")
    shot(page, f"07-dashboard-{engine}", doc=doc("dashboard"))

    data = stored()
    assert data["passenger"]["passportno"] == passport
    assert data["weather"]["city"] == "Birmingham"
    assert [f["flight_id"] for f in data["flights"]] == [kept_id]

    # The session page: ours shows the session and its devices; on the stock engine it says it
    # needs ours (501), and the dashboard is one click away, the session untouched.
    with page.expect_response(at_path("/session/")) as answer:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Session").click()
    if ours:
        assert answer.value.status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text("Your session")
    else:
        assert answer.value.status == 501
        expect(page.get_by_test_id("error-page")).to_contain_text(
            "This page needs the site's own session engine (SESSION_ENGINE=valkey_sessions)"
        )
        shot(page, "07-session-page-stock")
        page.get_by_role("link", name="Back to the dashboard").click()
        expect(page).to_have_url(at_path(r"/"))
        expect(flights_card.locator("tbody tr")).to_have_count(1)
    assert stored() == data

    # Log out with the header button: the key is deleted at once.
    old_key = session_key(page)
    assert old_key is not None
    submit(page, page.locator(".site-header").get_by_role("button", name="Log out"))
    expect(page).to_have_url(at_path(r"/login/"))
    expect(page.locator(".message-info")).to_contain_text("You are logged out")
    expect(page.get_by_test_id("header-name")).to_have_count(0)
    assert not valkey_client.exists(key_in_valkey(old_key))
    assert session_keys(valkey_client) == []
    assert session_key(page) is None
    shot(page, f"08-logged-out-{engine}")

    # Log in again: a new, empty session.
    log_in(page, passport)
    assert session_key(page) != old_key
    expect(page.get_by_test_id("weather-card")).to_contain_text("No weather yet")
    expect(page.get_by_test_id("flights-card")).to_contain_text("No flights yet")
    data = stored()
    assert "weather" not in data and not data.get("flights")
    shot(page, f"09-dashboard-again-{engine}")


@pytest.mark.browser
@needs_chromium
@live_db
def test_weather_without_javascript(
    open_page: Callable[..., Page], valkey_client: RawValkey, passport: str
) -> None:
    page = open_page(javascript=False)
    log_in(page, passport)
    page.goto("/weather/")
    page.get_by_label("Country", exact=True).select_option("JP")
    # The <noscript> button submits the country form: a GET round trip fills the cities.
    submit(page, page.get_by_role("button", name="Show cities"))
    expect(page).to_have_url(at_path(r"/weather/\?country=JP"))
    city = page.get_by_label("City", exact=True)
    expect(city.locator("option")).to_have_count(6)  # the placeholder and Japan's 5 cities
    city.select_option(city.locator("option", has_text="Tokyo").get_attribute("value"))
    shot(page, "10-weather-no-js")
    submit(page, page.get_by_role("button", name="Get the weather"))
    expect(page.get_by_test_id("weather-card")).to_contain_text("Tokyo, JP")
    assert stored_session(valkey_client, page)["weather"]["city"] == "Tokyo"


@pytest.mark.browser
@needs_chromium
@live_db
def test_mobile_layout(open_page: Callable[..., Page], passport: str) -> None:
    page = open_page(viewport=MOBILE)
    page.goto("/login/")
    assert no_horizontal_scroll(page)
    shot(page, "11-mobile-login")

    log_in(page, passport)
    expect(page.locator(".site-header").get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_test_id("header-name")).to_be_visible()
    # The header's active nav pill (Dashboard, the first) starts where the logo does.
    brand = page.locator(".site-header .brand").bounding_box()
    pill = page.locator(".main-nav a[aria-current='page']").bounding_box()
    assert brand and pill and abs(pill["x"] - brand["x"]) <= 1, (brand, pill)
    page.goto(tomorrows_list())
    first = page.get_by_test_id("flights-table").locator("tbody tr").first
    submit(page, first.get_by_role("button", name=re.compile(r"^Add flight")))
    last = page.get_by_test_id("flights-table").locator("tbody tr").last
    submit(page, last.get_by_role("button", name=re.compile(r"^Add flight")))
    page.goto("/")
    rows = page.get_by_test_id("flights-card").locator("tbody tr")
    expect(rows).to_have_count(2)
    # Compact date and time: one line each (no "Wed 25 Nov, / 05:00"), the page never
    # scrolls sideways.
    for time_cell in rows.locator("td.time").all():
        assert one_line(time_cell), time_cell.inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "12-mobile-dashboard")
    page.goto("/flights/")
    assert no_horizontal_scroll(page)
    shot(page, "13-mobile-flights", doc="flights-mobile", doc_full_page=False)
    page.goto("/weather/")
    assert no_horizontal_scroll(page)
    shot(page, "14-mobile-weather")


def one_line(locator: Locator) -> bool:
    """The element's content fits on one line: its box (without padding) is at most 1.5 times
    the line height tall."""
    return locator.evaluate(
        """el => {
          const s = getComputedStyle(el);
          const line = parseFloat(s.lineHeight) || parseFloat(s.fontSize) * 1.5;
          const range = document.createRange();
          range.selectNodeContents(el);
          return range.getBoundingClientRect().height <= line * 1.5;
        }"""
    )


@pytest.mark.browser
@needs_chromium
@live_db
@pytest.mark.parametrize("width", [1024, 1280])
def test_dashboard_flights_do_not_wrap(
    open_page: Callable[..., Page], passport: str, width: int
) -> None:
    """From 1024 px on, each of "My flights" is one line: IATA codes, long airport and
    airline names (cut with an ellipsis) and dates included."""
    page = open_page(viewport={"width": width, "height": 800})
    log_in(page, passport)
    flights = tomorrows_flights(50)  # the first page of tomorrow
    # The longest names of the day, to make it hard.
    longest = sorted(
        flights, key=lambda f: -len(f["from_airport"] + f["to_airport"] + (f["airline"] or ""))
    )
    for flight in longest[:4]:
        page.goto(f"/flights/?day={flight['departure'][:10]}")
        submit(page, page.locator(f"#flight-{flight['flight_id']}").get_by_role("button"))
    page.goto("/")
    table = page.get_by_test_id("flights-card").locator("table")
    expect(table.locator("tbody tr")).to_have_count(4)
    for cell in table.locator("tbody td").all():
        assert one_line(cell), cell.inner_text()
    wrap = page.get_by_test_id("flights-card").locator(".table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table scrolls sideways"
    if width == DESKTOP["width"]:
        shot(page, "07b-dashboard-four-flights")


@pytest.mark.browser
@needs_chromium
@live_db
def test_error_pages(open_page: Callable[..., Page], passport: str) -> None:
    page = open_page()
    # Logged out, a 404 offers the login page, not a dashboard the user cannot see.
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    error = page.get_by_test_id("error-page")
    expect(error.get_by_role("link", name="Log in")).to_be_visible()
    expect(error.get_by_role("link", name="Back to the dashboard")).to_have_count(0)
    shot(page, "15-error-404-logged-out")
    log_in(page, passport)

    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-page")).to_contain_text("Not found")
    expect(page.get_by_test_id("header-name")).to_be_visible()  # still our site, still you
    shot(page, "15-error-404")

    # 500 and 503 are standalone pages (no base template, no session): render them on the
    # live server's origin so their stylesheet link resolves.
    for name, context in (("500", {}), ("503", {"reason": "session store"})):
        page.goto("/login/")
        page.set_content(render_to_string(f"{name}.html", context), wait_until="load")
        expect(page.locator("h1")).to_be_visible()
        brand = page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--brand')"
        )
        assert brand.strip(), "site.css did not load on the error page"
        shot(page, f"16-error-{name}")


@pytest.mark.django_db(databases=BOTH_DBS)
def test_form_errors_are_tied_to_their_fields(client: Any) -> None:
    """Without a browser: an invalid field says so and names its error message."""
    response = client.post("/login/", {"passportno": "X' OR 1=1"})
    assert response.status_code == 400
    html = response.text
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_passportno_error"' in html
    assert 'id="id_passportno_error"' in html


@pytest.mark.browser
@needs_chromium
@live_db
def test_flights_page_in_a_real_browser(
    open_page: Callable[..., Page], valkey_client: RawValkey, passport: str, noon: datetime
) -> None:
    """Today from now, earlier, the day picker, later, adding from page 2 (back to the same
    page and row), the airport filter, and a hostile query string."""
    page = open_page()
    log_in(page, passport)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Flights").click()
    expect(page.get_by_test_id("flights-summary")).to_have_text(
        "Upcoming departures from 12:00 UTC"
    )
    departures = page.get_by_test_id("flights-table").locator("tbody td[data-label=Departure]")
    assert min(utc_times(departures)) >= "12:00"

    # Earlier: today's departed flights, shown without an add button.
    page.get_by_role("navigation", name="Pages", exact=True).get_by_role(
        "link", name="Earlier"
    ).click()
    rows = page.get_by_test_id("flights-table").locator("tbody tr")
    expect(rows.first).to_contain_text("Departed")
    assert rows.get_by_role("button").count() == 0
    assert max(utc_times(departures)) < "12:00"
    shot(page, "20-flights-earlier")
    page.get_by_role("link", name="Now").click()
    expect(page.get_by_test_id("flights-summary")).to_have_text(
        "Upcoming departures from 12:00 UTC"
    )

    # The day picker: tomorrow, 50 flights, then "Later".
    tomorrow = noon.date() + timedelta(days=1)
    page.get_by_label("Day", exact=True).fill(tomorrow.isoformat())
    submit(page, page.get_by_role("button", name="Show flights"))
    expect(page).to_have_url(at_path(rf"/flights/\?day={tomorrow}&from=&to="))
    expect(page.get_by_test_id("flights-day")).to_contain_text(f"{tomorrow:%A} {tomorrow.day}")
    expected = [f["flight_id"] for f in tomorrows_flights(200)]
    assert flight_row_ids(page) == expected[: settings.FLIGHTS_PAGE_LIMIT]
    page.get_by_role("navigation", name="Pages", exact=True).get_by_role(
        "link", name="Later"
    ).click()
    assert flight_row_ids(page) == expected[settings.FLIGHTS_PAGE_LIMIT :]
    page_two = page.url

    # Add the fifth flight of page 2: back on page 2, at that row, marked as added.
    row = page.get_by_test_id("flights-table").locator("tbody tr").nth(4)
    flight_id = int(row.get_attribute("data-flight-id") or 0)
    submit(page, row.get_by_role("button", name=re.compile(r"^Add flight")))
    assert page.url == f"{page_two}#flight-{flight_id}"
    target = page.locator(f"#flight-{flight_id}")
    expect(target.get_by_text("Added", exact=True)).to_be_visible()
    expect(target).to_be_in_viewport()
    assert page.evaluate("document.querySelector(':target')?.id") == f"flight-{flight_id}"
    assert [f["flight_id"] for f in stored_session(valkey_client, page)["flights"]] == [flight_id]
    shot(page, "21-flights-added-on-page-2", doc="flights")

    # The airport filter: a city means all of its airports; the datalist suggests them.
    page.goto(f"/flights/?day={tomorrow}")
    cities = {"London": {"LHR", "LGW"}, "Paris": {"CDG", "ORY"}, "Tokyo": {"HND", "NRT"}}
    arrivals_tomorrow = {f["to_iata"] for f in tomorrows_flights(200) if f["to_iata"]}
    # A city with two airports if tomorrow has flights there (60 a day), else any airport.
    city, codes = next(
        ((c, iatas) for c, iatas in cities.items() if iatas & arrivals_tomorrow),
        (min(arrivals_tomorrow), {min(arrivals_tomorrow)}),
    )
    assert page.locator("datalist#airports option[value='FRA']").count() == 1
    page.get_by_label("To", exact=True).fill(city)
    submit(page, page.get_by_role("button", name="Show flights"))
    expect(page.get_by_test_id("flights-day")).to_contain_text(f"to {city}")
    arrivals = page.get_by_test_id("flights-table").locator("tbody td[data-label=To] .iata")
    assert arrivals.count() > 0 and set(arrivals.all_inner_texts()) <= codes
    shot(page, "22-flights-filtered")
    page.get_by_role("link", name="Reset").click()
    expect(page).to_have_url(at_path(r"/flights/"))

    # Hostile input: a clear message with the right status, the filter form still there.
    response = page.goto("/flights/?day=2026-02-30&from=%3Cb%3E")
    assert response is not None and response.status == 400
    expect(page.get_by_test_id("flights-error")).to_contain_text("Correct the marked field")
    expect(page.get_by_label("Day", exact=True)).to_have_attribute("aria-invalid", "true")
    shot(page, "23-flights-bad-input")


def _pages_to_check(noon: datetime) -> list[tuple[str, str]]:
    tomorrow = noon.date() + timedelta(days=1)
    return [
        ("dashboard", "/"),
        ("weather", "/weather/?country=US"),
        ("flights", "/flights/"),
        ("flights-earlier", "/flights/?before=120000-0"),
        ("flights-tomorrow", f"/flights/?day={tomorrow}"),
        ("flights-filtered", f"/flights/?day={tomorrow}&from=London"),
        ("flights-400", "/flights/?day=nonsense"),
        ("flights-404", "/flights/?to=Atlantis"),
        ("session", "/session/"),
        ("logout-confirm", "/logout/"),
        ("404", "/no-such-page/"),
    ]


@pytest.mark.browser
@needs_chromium
@live_db
@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["1280", "375"])
def test_every_page_passes_axe(
    open_page: Callable[..., Page],
    passport: str,
    noon: datetime,
    viewport: ViewportSize,
    django_user_model: Any,
) -> None:
    """axe-core finds no serious or critical violation on any page, logged out and in, with
    data on the dashboard, at desktop and phone width; a screenshot of each page is kept."""
    width = viewport["width"]
    page = open_page(viewport=viewport)
    checked: dict[str, int] = {}

    def check(name: str) -> None:
        page.wait_for_load_state("load")
        shot(page, f"a11y-{name}-{width}")
        checked[name] = len(axe_check(page, f"{name}-{width}"))

    page.goto("/login/")
    check("login")
    page.get_by_label("Passport number").fill("Z9999999")
    submit(page, page.locator("main").get_by_role("button", name="Log in"))
    check("login-error")
    page.goto("/no-such-page/")
    check("404-logged-out")

    log_in(page, passport)
    check("dashboard-empty")
    page.goto("/weather/?country=GB")
    page.get_by_label("City", exact=True).select_option("B1")
    submit(page, page.get_by_role("button", name="Get the weather"))
    for flight in tomorrows_flights(2):
        page.goto(f"/flights/?day={flight['departure'][:10]}")
        submit(page, page.locator(f"#flight-{flight['flight_id']}").get_by_role("button"))
    for name, path in _pages_to_check(noon):
        page.goto(path)
        check(name)

    # The standalone 500 and 503 pages, on the site's origin so their stylesheet loads.
    for name, context in (("500", {}), ("503", {"reason": "session store"})):
        page.set_content(render_to_string(f"{name}.html", context), wait_until="load")
        check(name)

    # The admin: Django's pages in the site's colours.
    django_user_model.objects.create_superuser("axe-admin", "a@example.com", "axe-admin-pw-1")
    page.goto("/admin/login/")
    check("admin-login")
    page.get_by_label("Username").fill("axe-admin")
    page.get_by_label("Password").fill("axe-admin-pw-1")
    submit(page, page.get_by_role("button", name="Log in"))
    check("admin-index")
    page.goto(f"/admin/passengers/passenger/?q={passport}")
    check("admin-passengers")
    page.get_by_role("link", name=passport).click()
    check("admin-passenger")
    page.goto("/admin/passengers/live-sessions/")
    check("admin-live-sessions")

    summary = AXE_REPORTS / f"summary-{width}.json"
    summary.write_text(json.dumps({"width": width, "minor_or_moderate": checked}, indent=2) + "\n")


@pytest.mark.browser
@needs_chromium
@live_db
def test_keyboard_only_flow(
    open_page: Callable[..., Page], valkey_client: RawValkey, passport: str, noon: datetime
) -> None:
    """The whole flow without a mouse: log in, fetch the weather, add a flight on page 2 of
    tomorrow, remove it, log out. Every element the focus passes shows it."""
    page = open_page()
    page.goto("/login/")
    expect(page.get_by_label("Passport number")).to_be_focused()  # autofocus
    page.keyboard.type(passport)
    press_and_wait(page, "Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Hello, "))
    # The skip link comes first.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert has_visible_focus(page)

    # Weather: the country with the arrow keys (the city list follows), a city, the units.
    tab_to(page, page.get_by_role("link", name="Get the weather"))
    press_and_wait(page, "Enter")
    country = page.get_by_label("Country", exact=True)
    tab_to(page, country)
    with page.expect_response(re.compile(r"/weather/cities/")):
        page.keyboard.press("ArrowDown")  # the first country of the list
    city = page.get_by_label("City", exact=True)
    expect(city).to_be_enabled()
    expect(city).to_be_focused()  # weather.js moves the focus on once the cities are in
    page.keyboard.press("ArrowDown")
    tab_to(page, page.get_by_role("radio", checked=True))
    page.keyboard.press("ArrowRight")  # the other unit system
    tab_to(page, page.get_by_role("button", name="Get the weather"))
    press_and_wait(page, "Enter")
    expect(page.locator(".message-success")).to_contain_text("Weather for")
    assert stored_session(valkey_client, page)["units"] in ("metric", "imperial")

    # Flights: the nav link, the day field, "Later", the add button of a row on page 2.
    tab_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Flights"))
    press_and_wait(page, "Enter")
    tab_to(page, page.get_by_role("link", name="Next day"))
    press_and_wait(page, "Enter")
    expect(page).to_have_url(at_path(rf"/flights/\?day={noon.date() + timedelta(days=1)}"))
    pager = page.get_by_role("navigation", name="Pages", exact=True)
    tab_to(page, pager.get_by_role("link", name="Later"))
    press_and_wait(page, "Enter")
    add = page.get_by_test_id("flights-table").locator("tbody tr").nth(2).get_by_role("button")
    tab_to(page, add, limit=120)
    press_and_wait(page, "Enter")
    assert len(stored_session(valkey_client, page)["flights"]) == 1
    expect(page.locator(":target").get_by_text("Added", exact=True)).to_be_visible()

    # Dashboard: remove it, then log out.
    tab_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard"))
    press_and_wait(page, "Enter")
    tab_to(page, page.get_by_role("button", name=re.compile(r"^Remove flight")))
    press_and_wait(page, "Enter")
    expect(page.get_by_test_id("flights-card")).to_contain_text("No flights yet")
    tab_to(page, page.locator(".site-header").get_by_role("button", name="Log out"))
    press_and_wait(page, "Enter")
    expect(page).to_have_url(at_path(r"/login/"))
    assert session_keys(valkey_client) == []


PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.mark.browser
@needs_chromium
@live_db
def test_session_page_devices_and_admin_in_a_real_browser(
    open_page: Callable[..., Page],
    valkey_client: RawValkey,
    passport: str,
    django_user_model: Any,
) -> None:
    """The passenger sees their session (never its whole key) and their phone, ends the phone's
    session; staff see every live session in the admin and end one. Valkey is the witness."""
    laptop, phone = open_page(), open_page(user_agent=PHONE_AGENT)
    log_in(phone, passport)
    log_in(laptop, passport)
    laptop.get_by_role("navigation", name="Main").get_by_role("link", name="Session").click()
    expect(laptop.get_by_role("heading", level=1)).to_have_text("Your session")
    key = session_key(laptop)
    assert key and key[8:] not in laptop.content(), "the secret part of the key is on the page"
    expect(laptop.get_by_test_id("session-key")).to_have_text(re.compile(r"^flight_session:\{"))
    expect(laptop.get_by_test_id("session-contents")).to_contain_text(passport)
    others = laptop.get_by_test_id("other-sessions")
    expect(others).to_contain_text("Mobile Safari 17 on iOS")
    shot(laptop, "20-session", doc="session")

    submit(laptop, others.get_by_role("button", name="Log out everywhere else"))
    expect(laptop.get_by_role("status")).to_contain_text("1 other session ended")
    phone_key = session_key(phone)
    assert phone_key and not valkey_client.exists(valkey_key(phone_key))
    phone.goto("/")
    expect(phone).to_have_url(re.compile(r"/login/"))  # the ended session lands on the login page

    # Staff: every live session, page by page (SCAN), and an end button.
    log_in(phone, passport)
    django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-password-1")
    admin = open_page()
    admin.goto("/admin/login/")
    admin.get_by_label("Username").fill("ops")
    admin.get_by_label("Password").fill("ops-password-1")
    submit(admin, admin.get_by_role("button", name="Log in"))
    admin.goto("/admin/passengers/live-sessions/")
    expect(admin.get_by_test_id("session-count")).to_contain_text("3 live sessions")
    shot(admin, "21-admin-live-sessions", doc="admin-sessions")
    phone_key = session_key(phone)
    assert phone_key
    row = admin.locator(f"tr[data-session='{live_sessions.handle_of(phone_key)}']")
    submit(admin, row.get_by_role("button", name=re.compile("End")))
    expect(admin.locator(".messagelist")).to_contain_text("ended")
    assert not valkey_client.exists(valkey_key(phone_key))
    phone.goto("/")
    expect(phone).to_have_url(re.compile(r"/login/"))
    laptop.goto("/")
    expect(laptop.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Hello, "))
