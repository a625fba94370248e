from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import rotate_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from flightsite.errors import error_page, form_again, log_outage, wait_phrase
from flightsite.http import never_cache
from flightsite.outages import DB_ERRORS, STORE_ERRORS
from valkey_sessions import live as live_sessions

from . import session as sess
from . import throttle
from .decorators import ended_reason, ended_text, login_redirect, passenger_required
from .forms import LoginForm
from .models import Passenger

logger = logging.getLogger(__name__)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # "login": why a session ended is said in the login card (decorators.login_redirect).
        context = {"form": LoginForm(), "next": _next_url(request), "message_places": ("login",)}
        # ?ended=1: the session ended while a request was changing it (see the middleware).
        context["ended"] = request.GET.get("ended") == "1"
        try:
            if sess.is_logged_in(request.session):
                return redirect("passengers:dashboard")
            # Opened directly with the cookie of a session ended elsewhere: say so here.
            reason = ended_reason(request)
            context["ended_text"] = f"{ended_text(reason)} Please log in again." if reason else ""
        except STORE_ERRORS as exc:
            # Cannot tell whether this cookie is logged in: show the form, say why it may fail.
            log_outage("Login page: session store", exc)
            return _retry_later(
                request, context, "Logging in is not possible right now. Please try again soon."
            )
        return render(request, "passengers/login.html", context)

    form = LoginForm(request.POST)
    context = {"form": form, "next": request.POST.get("next", ""), "message_places": ("login",)}
    try:
        return _login_post(request, form, context)
    except STORE_ERRORS as exc:
        # Valkey is down: keep the form (and what was typed) with a retry message.
        log_outage("Login: session store", exc)
        return _retry_later(
            request, context, "We cannot log you in right now. Please try again in a moment."
        )


def _retry_later(
    request: HttpRequest,
    context: dict[str, Any],
    message: str,
    status: int = 503,
    after: int | None = None,
) -> HttpResponse:
    """The login form again, with what was typed, a message and Retry-After."""
    form = context["form"]
    form.is_valid()
    if not form.is_bound:  # the login page itself: add_error() needs cleaned_data
        form.cleaned_data = {}
    form.add_error(None, message)
    return form_again(request, "passengers/login.html", context, status=status, retry=after)


def _blocked(request: HttpRequest, context: dict[str, Any], wait: int) -> HttpResponse:
    # The message and Retry-After say the same: the throttle's real remaining time.
    return _retry_later(
        request,
        context,
        f"Too many failed attempts. Please try again in {wait_phrase(wait)}.",
        status=429,
        after=wait,
    )


def _login_post(request: HttpRequest, form: LoginForm, context: dict[str, Any]) -> HttpResponse:
    typed = request.POST.get("passportno", "")
    wait = throttle.blocked_for(request, "passport", typed)
    if wait:
        return _blocked(request, context, wait)
    if not form.is_valid():
        return render(request, "passengers/login.html", context, status=400)

    try:
        found = Passenger.objects.for_login(form.cleaned_data["passportno"])
    except DB_ERRORS as exc:
        log_outage("Login: database", exc)
        return _retry_later(
            request, context, "We cannot check passports right now. Please try again in a moment."
        )
    if found is None:
        throttle.record_failure(request, "passport", typed)
        form.add_error("passportno", "We found no passenger with this passport number.")
        return render(request, "passengers/login.html", context, status=403)

    passenger_id, info = found
    sess.log_in(
        request.session,
        passenger_id,
        info,
        client_ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    # Saved here, not by the middleware after the view: a failure shows the form again with the
    # passport typed, and the welcome message is only given once the session is saved.
    request.session.save()
    rotate_token(request)  # a CSRF token seen before login is worthless after it
    messages.success(request, f"Welcome, {info['firstname']} {info['lastname']}!")
    return redirect(_next_url(request) or "passengers:dashboard")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # A GET never logs out (a link or prefetch must not end a session): show a confirm form.
        if not sess.is_logged_in(request.session):
            return redirect("passengers:login")
        return render(request, "passengers/logout.html")
    was_logged_in = request.session.session_key is not None
    sess.log_out(request.session)
    if was_logged_in:
        messages.info(request, "You are logged out. Your session data has been deleted.")
    return redirect("passengers:login")


@never_cache
@require_safe
@passenger_required
def dashboard(request: HttpRequest) -> HttpResponse:
    # Everything shown here comes from the session: no database query, no weather call.
    weather = sess.weather(request.session)
    return render(
        request,
        "passengers/dashboard.html",
        {
            "passenger": sess.passenger(request.session),
            "weather": weather,
            "flights": sess.flights(request.session),
            "message_places": ("my-flights",),
        },
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def session_page(request: HttpRequest) -> HttpResponse:
    """The "your session" page: the key (masked), TTL, size, contents, and the passenger's other
    sessions. A peek: looking at it never extends the session."""
    if not sess.engine_has_extras():
        if not sess.is_logged_in(request.session):
            return redirect(reverse("passengers:login") + "?next=/session/")
        return error_page(request, 501, sess.needs_engine_message())
    found = live_sessions.overview(request.session.session_key)
    if found is None:
        sess.is_logged_in(request.session)  # read it: ended_reason() needs to know it is gone
        return login_redirect(request, reverse("passengers:session"))
    current, others = found
    use_peeked = getattr(request.session, "use_peeked", None)
    if use_peeked is not None and current.data is not None and current.raw is not None:
        # The header reads this: no second load (which might move the TTL).
        use_peeked(current.raw, current.data)
    return render(request, "passengers/session.html", {"current": current, "others": others})


@require_POST
@passenger_required(not_done="No session was ended.", resume=lambda request: "/session/")
def end_session(request: HttpRequest) -> HttpResponse:
    """End one of the passenger's other sessions (a browser they are logged in elsewhere)."""
    if not sess.engine_has_extras():
        return error_page(request, 501, sess.needs_engine_message())
    passenger_id = request.session[sess.PASSENGER_ID]
    handle = request.POST.get("session", "")
    if handle == live_sessions.handle_of(request.session.session_key or ""):
        return logout(request)  # ending this very session is logging out
    if live_sessions.end_by_handle(passenger_id, handle, by="elsewhere"):
        messages.success(request, "That session has ended: its browser is logged out.")
    else:
        messages.info(request, "That session had already ended.")
    return redirect("passengers:session")


@require_POST
@passenger_required(not_done="No session was ended.", resume=lambda request: "/session/")
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    """Log out everywhere else: every session of this passenger but this one, in one go."""
    if not sess.engine_has_extras():
        return error_page(request, 501, sess.needs_engine_message())
    ended = live_sessions.end_all(
        request.session[sess.PASSENGER_ID], keep=request.session.session_key, by="elsewhere"
    )
    messages.success(
        request,
        f"Logged out everywhere else: {ended} other session{'' if ended == 1 else 's'} ended."
        if ended
        else "You were not logged in anywhere else.",
    )
    return redirect("passengers:session")
