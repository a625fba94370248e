from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from flightsite.errors import error_page
from flightsite.http import never_cache
from flightsite.jinja2 import moment_text, url, zone_label
from passengers import session as sess
from passengers.decorators import passenger_required
from valkey_sessions import SessionConflict

from . import queries
from .catalog import catalog
from .forms import FlightListForm, Window
from .models import Flight

# ASCII only: str.isdigit() also accepts fullwidth and other Unicode digits.
FLIGHT_ID_RE = re.compile(r"[0-9]{1,10}")
# More airports than this (the real flughafendb has thousands): no <datalist> on the page.
MAX_SUGGESTIONS = 300


def _flight_id(request: HttpRequest) -> int | None:
    raw = request.POST.get("flight_id", "")
    return int(raw) if FLIGHT_ID_RE.fullmatch(raw) else None


def _list_url(query: str = "", flight_id: int | None = None) -> str:
    # url(): reverse() once per process (a page builds up to five of these links).
    link = url("flights:list") + (f"?{query}" if query else "")
    return link + (f"#flight-{flight_id}" if flight_id else "")


@never_cache
@require_safe
@passenger_required
def flight_list(request: HttpRequest) -> HttpResponse:
    """One page of flights: a day (today by default, from now on), optionally from and/or to an
    airport, 50 at a time with "earlier"/"later" links. One database query."""
    cat = catalog()
    window = Window.current(cat)
    data = request.GET.copy()
    data.setdefault("day", window.today.isoformat())  # the date field shows the day listed
    form = FlightListForm(data, catalog=cat, window=window)
    context: dict[str, Any] = {
        "form": form,
        "window": window,
        "chosen": {f["flight_id"] for f in sess.flights(request.session)},
        # The <datalist>'s options, rendered once per catalog.
        "suggestions": cat.datalist_options if len(cat.suggestions) <= MAX_SUGGESTIONS else "",
        "now_iso": window.now.isoformat()[:16],
        "message_places": (),
        "zones": cat.zones,  # each airport's time zone, found once per catalog
        # Whose clock the days and the list's headings follow (each row says its own).
        "site_zone": zone_label(window.now),
    }
    if not form.is_valid():
        return render(request, "flights/list.html", context, status=form.status())

    cleaned = form.cleaned_data
    start, end = form.bounds()
    from_match, to_match = cleaned.get("from_match"), cleaned.get("to_match")
    page = Flight.objects.page(
        start=start,
        end=end,
        after=form.cursor("after"),
        before=form.cursor("before"),
        from_ids=from_match.ids if from_match else (),
        to_ids=to_match.ids if to_match else (),
        limit=settings.FLIGHTS_PAGE_LIMIT,
    )
    context.update(
        {
            "day": cleaned["day"],
            "flights": page.flights,
            "links": {name: _list_url(query) for name, query in form.links(page).items()},
            "page_query": form.query(),
            "from_match": from_match,
            "to_match": to_match,
            "first_page_of_today": form.is_first_page_of_today(),
            "filtered": bool(from_match or to_match),
            # An add's message is shown under its row when the row is on this page.
            "message_places": {f"flight-{f['flight_id']}" for f in page.flights},
        }
    )
    return render(request, "flights/list.html", context)


def _back_to_list(request: HttpRequest, flight_id: int) -> str:
    """The list page the add button was on (its query string comes back in `page`), at the
    flight's row; the plain list if that query is not a valid one."""
    cat = catalog()
    form = FlightListForm(
        QueryDict(request.POST.get("page", "")), catalog=cat, window=Window.current(cat)
    )
    return _list_url(form.query() if form.is_valid() else "", flight_id)


def _resume_add(request: HttpRequest) -> str:
    """Where a login brings an add from an ended session: its list page, at its row (the
    passenger presses Add again: nothing is added to a session they may not want back)."""
    flight_id = _flight_id(request)
    return _back_to_list(request, flight_id) if flight_id is not None else _list_url()


@require_POST
@passenger_required(not_done="The flight was not added.", resume=_resume_add)
def add_flight(request: HttpRequest) -> HttpResponse:
    """Add a flight the site offers: one that exists and has not departed yet (the flights
    list shows departed flights of today, behind "earlier", without an add button)."""
    flight_id = _flight_id(request)
    if flight_id is None:
        return error_page(request, 400, "That is not a valid flight.")
    back = _back_to_list(request, flight_id)
    at = f"at:flight-{flight_id}"  # said under the flight's row, where the page comes back to
    if sess.has_flight(request.session, flight_id):
        messages.info(request, "This flight is already in your flights.", extra_tags=at)
        return redirect(back)
    if len(sess.flights(request.session)) >= settings.MAX_FLIGHTS_PER_SESSION:
        messages.warning(
            request,
            f"You can keep at most {settings.MAX_FLIGHTS_PER_SESSION} flights. "
            "Remove one from your dashboard first.",
            extra_tags=at,
        )
        return redirect(back)
    found = Flight.objects.for_session(flight_id)
    if found is None:
        return error_page(
            request, 404, "We could not find that flight.", back=(back, "Back to the flights")
        )
    flight, departure = found
    if departure < queries.now_to_the_minute():
        when = moment_text(departure)
        return error_page(
            request,
            400,
            f"Flight {flight['flightno']} departed on {when}. You can add flights that have "
            "not left yet.",
            back=(back, "Back to the flights"),
        )
    sess.add_flight(request.session, flight)
    try:
        # Saved here, not in the middleware, so that a flight another tab added at the same
        # moment, pushing this one over the limit, gets the same message as above.
        request.session.save()
    except SessionConflict as exc:
        messages.warning(request, exc.user_message, extra_tags=at)
        return redirect(back)
    messages.success(
        request,
        f"Flight {flight['flightno']} to {flight['to_airport']} added to your flights.",
        extra_tags=at,
    )
    return redirect(back)


@require_POST
@passenger_required(not_done="Nothing was removed.", resume=lambda request: "/")
def remove_flight(request: HttpRequest) -> HttpResponse:
    flight_id = _flight_id(request)
    if flight_id is None:
        return error_page(request, 400, "That is not a valid flight.")
    # Said in the flights card, where the page comes back to (not at the top of the page).
    if sess.remove_flight(request.session, flight_id):
        messages.success(request, "Flight removed from your flights.", extra_tags="at:my-flights")
    else:
        messages.info(request, "That flight was not in your flights.", extra_tags="at:my-flights")
    return redirect(reverse("passengers:dashboard") + "#my-flights")
