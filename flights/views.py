from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from flightsite.errors import error_page
from passengers import session as sess
from passengers.decorators import passenger_required
from passengers.session_store import SessionConflict

from .models import Flight

# ASCII only: str.isdigit() also accepts fullwidth and other Unicode digits.
FLIGHT_ID_RE = re.compile(r"[0-9]{1,10}")


def _flight_id(request: HttpRequest) -> int | None:
    raw = request.POST.get("flight_id", "")
    return int(raw) if FLIGHT_ID_RE.fullmatch(raw) else None


@require_safe
@passenger_required
def flight_list(request: HttpRequest) -> HttpResponse:
    chosen = {f["flight_id"] for f in sess.flights(request.session)}
    return render(
        request,
        "flights/list.html",
        {
            "flights": Flight.objects.today(limit=settings.FLIGHTS_PAGE_LIMIT),
            "chosen": chosen,
            "today": timezone.localdate(),
            "limit": settings.FLIGHTS_PAGE_LIMIT,
        },
    )


@require_POST
@passenger_required
def add_flight(request: HttpRequest) -> HttpResponse:
    flight_id = _flight_id(request)
    if flight_id is None:
        return error_page(request, 400, "That is not a valid flight.")
    if sess.has_flight(request.session, flight_id):
        messages.info(request, "This flight is already in your flights.")
        return redirect("flights:list")
    if len(sess.flights(request.session)) >= settings.MAX_FLIGHTS_PER_SESSION:
        messages.warning(
            request,
            f"You can keep at most {settings.MAX_FLIGHTS_PER_SESSION} flights. "
            "Remove one from your dashboard first.",
        )
        return redirect("flights:list")
    flight = Flight.objects.for_session(flight_id)
    if flight is None:
        return error_page(request, 404, "We could not find that flight.")
    sess.add_flight(request.session, flight)
    try:
        # Saved here, not in the middleware, so that a flight another tab added at the same
        # moment, pushing this one over the limit, gets the same message as above.
        request.session.save()
    except SessionConflict as exc:
        messages.warning(request, exc.user_message)
        return redirect("flights:list")
    messages.success(
        request, f"Flight {flight['flightno']} to {flight['to_airport']} added to your flights."
    )
    return redirect("flights:list")


@require_POST
@passenger_required
def remove_flight(request: HttpRequest) -> HttpResponse:
    flight_id = _flight_id(request)
    if flight_id is None:
        return error_page(request, 400, "That is not a valid flight.")
    if sess.remove_flight(request.session, flight_id):
        messages.success(request, "Flight removed from your flights.")
    else:
        messages.info(request, "That flight was not in your flights.")
    return redirect("passengers:dashboard")
