"""What a passenger and a staff member trip over (issue #19), in headless Chromium at 1280 and
375 px: the pages fit a phone with another session present and every action there can be
tapped, a session ended elsewhere says so, the message after Add and Remove is in view (and read
out), the names people type find their airports, every time says whose clock it is, phone cards
ellipsize long names, and the admin at 375 px. axe runs on each page these tests reach.

With UPDATE_DOCS_SCREENSHOTS=1 they rewrite the docs/ images named in their shot() calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from flightsite.flughafendb.demo_data import passport_number

from .helpers import tomorrows_flights
from .test_browser import (  # noqa: F401 - fixtures
    DESKTOP,
    MOBILE,
    axe_check,
    browser,
    live_db,
    log_in,
    needs_chromium,
    noon,
    open_page,
    shot,
    submit,
)

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["1280", "375"])
pytestmark = [pytest.mark.browser, needs_chromium, live_db]


def scroll_width(page: Page) -> int:
    return int(page.evaluate("document.scrollingElement.scrollWidth"))


def assert_fits(page: Page, viewport: ViewportSize, what: str) -> None:
    width = scroll_width(page)
    assert width <= viewport["width"], f"{what}: {width} px wide at {viewport['width']} px"


def assert_tappable(page: Page, target: Locator) -> None:
    """In the viewport's width, at least 24 x 24 px (WCAG 2.2 target size), and the element
    a finger lands on at its centre is the control itself (nothing lies over it)."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box is not None, f"{target} has no box"
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{target} off-screen: {box}"
    assert box["width"] >= 24 and box["height"] >= 24, f"{target} too small: {box}"
    on_top = target.evaluate(
        """el => { const r = el.getBoundingClientRect();
                   const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                   return hit === el || el.contains(hit); }"""
    )
    assert on_top, f"{target} is covered by another element"


def in_view(page: Page, target: Locator) -> bool:
    return bool(
        target.evaluate(
            """el => { const r = el.getBoundingClientRect();
                       return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }"""
        )
    )


def times_without_zone(page: Page) -> list[str]:
    """Every <time> of a moment (datetime with a "T") whose zone is neither in its text nor
    right after it (<abbr class="tz">)."""
    return list(
        page.evaluate(
            r"""() => [...document.querySelectorAll("time[datetime*='T']")]
              .filter(t => {
                const next = t.nextElementSibling;
                const zoned = /(UTC|GMT|\b[A-Z]{2,5})$/.test(t.textContent.trim());
                return !zoned && !(next && next.matches("abbr.tz") && next.textContent.trim());
              })
              .map(t => t.outerHTML)"""
        )
    )


# --- 1. /session/ on a phone, with another session --------------------------------------------


@VIEWPORTS
def test_every_page_fits_with_another_session_and_its_actions_can_be_tapped(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture of tests/test_browser.py
    passport: str,
    viewport: ViewportSize,
) -> None:
    elsewhere = [open_page(), open_page()]
    for other in elsewhere:
        log_in(other, passport)
    page = open_page(viewport=viewport)
    log_in(page, passport)
    width = viewport["width"]
    for path in ("/", "/weather/", "/flights/", "/session/", "/logout/"):
        page.goto(path)
        assert_fits(page, viewport, path)
        assert times_without_zone(page) == [], path

    page.goto("/session/")
    others = page.get_by_test_id("other-sessions")
    expect(others.locator("tbody tr")).to_have_count(2)
    others.scroll_into_view_if_needed()
    # docs/session.png (1280) is the whole-flow test's; the phone's: its other sessions.
    shot(
        page,
        f"ux-session-{width}",
        doc="session-mobile" if width == 375 else None,
        doc_full_page=False,
    )
    axe_check(page, f"ux-session-{width}")
    end_buttons = others.get_by_role("button", name=re.compile(r"^End the session of"))
    for button in end_buttons.all():
        assert_tappable(page, button)
    everywhere = page.get_by_role("button", name="Log out everywhere else")
    assert_tappable(page, everywhere)

    # Tap "End" on one, then "Log out everywhere else" for the rest.
    submit(page, end_buttons.first)
    expect(page.locator(".message-success")).to_contain_text("That session has ended")
    expect(others.locator("tbody tr")).to_have_count(1)
    assert_fits(page, viewport, "/session/ after End")
    submit(page, page.get_by_role("button", name="Log out everywhere else"))
    expect(page.locator(".message-success")).to_contain_text("1 other session ended")
    expect(others).to_contain_text("You are not logged in anywhere else.")


# --- 2. a session ended elsewhere says so -----------------------------------------------------


@VIEWPORTS
def test_a_session_ended_elsewhere_is_explained_and_its_add_not_lost(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture of tests/test_browser.py
    passport: str,
    viewport: ViewportSize,
) -> None:
    width = viewport["width"]
    flight = tomorrows_flights(5)[3]
    phone = open_page(viewport=viewport)
    log_in(phone, passport)
    phone.goto(f"/flights/?day={flight['departure'][:10]}")
    row = phone.locator(f"#flight-{flight['flight_id']}")

    laptop = open_page()  # a second browser context: its own cookies
    log_in(laptop, passport)
    laptop.goto("/session/")
    submit(laptop, laptop.get_by_role("button", name="Log out everywhere else"))

    # The phone presses Add on the page it still shows: told it was not done, and why.
    submit(phone, row.get_by_role("button", name=re.compile("^Add flight")))
    message = phone.get_by_test_id("ended-message")
    expect(message).to_contain_text("You were logged out from another device.")
    expect(message).to_contain_text("The flight was not added. Log in again to carry on.")
    assert in_view(phone, message)
    expect(phone.locator("#announcer")).to_contain_text("The flight was not added.")
    assert_fits(phone, viewport, "login after an ended session")
    shot(phone, f"ux-ended-{width}", doc="login-ended" if width == 375 else None)
    axe_check(phone, f"ux-ended-{width}")
    # Logging in again brings it back to the flight's row, where Add is one tap away.
    phone.get_by_label("Passport number").fill(passport)
    submit(phone, phone.locator("main").get_by_role("button", name="Log in"))
    assert phone.url.endswith(f"#flight-{flight['flight_id']}")
    expect(row.get_by_role("button", name=re.compile("^Add flight"))).to_be_visible()

    # A page opened (GET) from an ended session: the same explanation, then where it wanted.
    laptop.goto("/session/")
    submit(laptop, laptop.get_by_role("button", name="Log out everywhere else"))
    phone.goto("/session/")
    expect(phone.get_by_test_id("ended-message")).to_contain_text("Please log in again.")
    assert "next=%2Fsession%2F" in phone.url


# --- 3. feedback where the eye is ---------------------------------------------------------------


@VIEWPORTS
def test_the_message_after_add_and_remove_is_in_view_and_read_out(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture of tests/test_browser.py
    passport: str,
    viewport: ViewportSize,
) -> None:
    width = viewport["width"]
    page = open_page(viewport=viewport)
    log_in(page, passport)
    flight = tomorrows_flights(40)[30]  # far down the page
    page.goto(f"/flights/?day={flight['departure'][:10]}")
    row = page.locator(f"#flight-{flight['flight_id']}")
    submit(page, row.get_by_role("button", name=re.compile("^Add flight")))
    note = page.get_by_test_id("row-note")
    expect(note).to_contain_text(f"Flight {flight['flightno']}")
    assert page.evaluate("window.scrollY") > 300, "the page did not come back to the row"
    assert in_view(page, note), "the confirmation is out of view"
    assert in_view(page, row.get_by_text("Added", exact=True))
    expect(page.locator("#announcer")).to_contain_text(f"Flight {flight['flightno']}")
    assert page.locator("#announcer").get_attribute("aria-live") == "polite"
    assert page.locator(".messages").count() == 0  # not (also) at the top
    assert_fits(page, viewport, "flights after an add")
    shot(
        page,
        f"ux-added-{width}",
        doc=f"flights-added{'-mobile' if width == 375 else ''}",
        doc_full_page=False,  # what the eye sees: the row and its message
    )
    axe_check(page, f"ux-added-{width}")

    page.goto("/")
    card = page.get_by_test_id("flights-card")
    submit(page, card.get_by_role("button", name=f"Remove flight {flight['flightno']}"))
    note = page.get_by_test_id("flights-note")
    expect(note).to_have_text("Flight removed from your flights.")
    assert in_view(page, note)
    expect(page.locator("#announcer")).to_have_text("Flight removed from your flights.")


# --- 4. names people type -----------------------------------------------------------------------


@VIEWPORTS
@pytest.mark.parametrize(
    ("typed", "found"), [("Düsseldorf", "Duesseldorf (DUS)"), ("München", "Munich (MUC)")]
)
def test_names_people_type_find_their_airports(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture of tests/test_browser.py
    passport: str,
    viewport: ViewportSize,
    noon: datetime,  # noqa: F811
    typed: str,
    found: str,
) -> None:
    width = viewport["width"]
    page = open_page(viewport=viewport)
    log_in(page, passport)
    page.goto("/flights/")
    page.get_by_label("From", exact=True).fill(typed)
    submit(page, page.get_by_role("button", name="Show flights"))
    expect(page.get_by_test_id("flights-day")).to_contain_text(f"from {found}")
    expect(page.get_by_label("From", exact=True)).to_have_value(typed)
    assert_fits(page, viewport, f"flights from {typed}")
    if typed == "München":
        shot(page, f"ux-muenchen-{width}", doc="flights-muenchen" if width == 1280 else None)
    # The suggestions offer the usual spelling where the data has another.
    assert page.locator("datalist#airports option[value='Düsseldorf']").count() == 1


# --- 5. and 6. times people can read, phone cards ------------------------------------------------


@VIEWPORTS
def test_every_time_has_its_zone_and_phone_cards_ellipsize(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture of tests/test_browser.py
    passport: str,
    viewport: ViewportSize,
    noon: datetime,  # noqa: F811
) -> None:
    width = viewport["width"]
    page = open_page(viewport=viewport)
    log_in(page, passport)
    flights = tomorrows_flights(50)
    longest = max(flights, key=lambda f: len(f["from_airport"]) + len(f["to_airport"]))
    page.goto(f"/flights/?day={longest['departure'][:10]}")
    submit(page, page.locator(f"#flight-{longest['flight_id']}").get_by_role("button"))
    for path in ("/flights/", f"/flights/?day={longest['departure'][:10]}", "/", "/session/"):
        page.goto(path)
        assert times_without_zone(page) == [], path
    page.goto(f"/flights/?day={longest['departure'][:10]}")
    cells = page.locator("td.time")
    assert cells.count() > 0
    for zone in page.locator("td.time abbr.tz").all()[:20]:
        assert zone.get_attribute("title"), "the zone's full name is not given"
    expect(page.get_by_test_id("flights-summary")).to_contain_text("UTC")
    expect(page.get_by_test_id("flights-day")).to_contain_text("(UTC)")
    shot(
        page,
        f"ux-flights-{width}",
        doc="flights-cards-mobile" if width == 375 else "flights-zones",
        doc_full_page=False,
    )

    # Every airport name is whole or cut with an ellipsis, its full name in the title.
    names = page.locator("tbody .airport-name")
    cut = names.evaluate_all(
        """els => els.filter(el => el.scrollWidth > el.clientWidth).map(el => ({
             title: el.title, text: el.textContent,
             ellipsis: getComputedStyle(el).textOverflow === "ellipsis"}))"""
    )
    if width == 375:
        assert cut, "no long name to look at"
    for name in cut:
        assert name["ellipsis"] and name["title"] == name["text"], name
    assert_fits(page, viewport, "flights")


# --- 7. the admin ---------------------------------------------------------------------------------


@VIEWPORTS
def test_the_admin_at_both_widths(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture of tests/test_browser.py
    passport: str,
    viewport: ViewportSize,
    django_user_model: Any,
) -> None:
    width = viewport["width"]
    passenger = open_page()
    log_in(passenger, passport)
    other = open_page()
    log_in(other, passport_number(2))
    anonymous = open_page()
    anonymous.goto("/login/")

    django_user_model.objects.create_superuser("ux-admin", "a@example.com", "ux-admin-pw-1")
    page = open_page(viewport=viewport)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("ux-admin")
    page.get_by_label("Password").fill("ux-admin-pw-1")
    submit(page, page.get_by_role("button", name="Log in"))

    page.goto("/admin/passengers/live-sessions/")
    kinds = page.locator("#result_list tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert kinds == ["passenger", "passenger", "staff"], kinds
    assert_fits(page, viewport, "live sessions")
    assert_tappable(page, page.get_by_role("button", name=re.compile("^End session")).first)
    shot(
        page,
        f"ux-admin-sessions-{width}",
        doc="admin-sessions-mobile" if width == 375 else None,  # 1280: the session test's
        doc_full_page=False,
    )
    axe_check(page, f"ux-admin-sessions-{width}")
    page.get_by_role("link", name="Staff and anonymous").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    page.goto(f"/admin/passengers/passenger/?q={passport}")
    page.get_by_role("link", name=passport).click()
    assert_fits(page, viewport, "a passenger's page")
    assert_tappable(page, page.get_by_role("button", name=re.compile("^End session")).first)

    page.goto("/admin/flights/flight/?q=LH")
    assert_fits(page, viewport, "flights list")
    flightnos = page.locator("#result_list tbody th.field-flightno").all_inner_texts()
    assert flightnos and all(n.startswith("LH") for n in flightnos)
    text = page.locator("#result_list").inner_text()
    assert not re.search(r"[ap]\.m\.", text) and re.search(r"\d\d:\d\d UTC", text)
    shot(page, f"ux-admin-flights-{width}", doc="admin-flights" if width == 1280 else None)
    if width == 1280:
        # Every column in view: no sideways scroll inside the list either.
        assert page.locator(".results").evaluate("el => el.scrollWidth <= el.clientWidth")
    axe_check(page, f"ux-admin-flights-{width}")
