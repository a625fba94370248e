from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from flightsite.errors import wait_phrase
from flightsite.middleware import DB_ERRORS, STORE_ERRORS
from weather.providers import provider_label

from . import session as sess
from . import throttle
from .decorators import passenger_required
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
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if sess.is_logged_in(request.session):
            return redirect("passengers:dashboard")
        return render(
            request, "passengers/login.html", {"form": LoginForm(), "next": _next_url(request)}
        )

    form = LoginForm(request.POST)
    context = {"form": form, "next": request.POST.get("next", "")}
    try:
        return _login_post(request, form, context)
    except STORE_ERRORS as exc:
        # Valkey is down: keep the form (and what was typed) with a retry message.
        logger.error("Login failed, session store unavailable: %s", exc)
        return _retry_later(
            request, context, "We cannot log you in right now. Please try again in a moment."
        )


def _retry_later(
    request: HttpRequest, context: dict, message: str, status: int = 503, after: int = 5
) -> HttpResponse:
    """The login form again, with what was typed, a message and Retry-After."""
    form = context["form"]
    form.is_valid()
    form.add_error(None, message)
    response = render(request, "passengers/login.html", context, status=status)
    response["Retry-After"] = str(after)
    return response


def _login_post(request: HttpRequest, form: LoginForm, context: dict) -> HttpResponse:
    if throttle.is_blocked(request):
        # The failures are forgotten at the latest one window after the first of them.
        after = settings.LOGIN_FAILURE_WINDOW
        return _retry_later(
            request,
            context,
            f"Too many failed attempts. Please try again in {wait_phrase(after)}.",
            status=429,
            after=after,
        )
    if not form.is_valid():
        return render(request, "passengers/login.html", context, status=400)

    try:
        info = Passenger.objects.for_login(form.cleaned_data["passportno"])
    except DB_ERRORS as exc:
        logger.error("Login failed, database unavailable: %s", exc)
        return _retry_later(
            request, context, "We cannot check passports right now. Please try again in a moment."
        )
    if info is None:
        throttle.record_failure(request)
        form.add_error("passportno", "We found no passenger with this passport number.")
        return render(request, "passengers/login.html", context, status=403)

    sess.log_in(request.session, info.pop("passenger_id"), info)
    request.session.save()  # here, not in the middleware, so a failure keeps the form
    messages.success(request, f"Welcome, {info['firstname']} {info['lastname']}!")
    return redirect(_next_url(request) or "passengers:dashboard")


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
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
            "weather_source": provider_label(weather.get("provider")) if weather else "",
            "flights": sess.flights(request.session),
        },
    )
