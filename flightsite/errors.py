"""Every error response of the site, in one place: friendly pages with the right status code
(never a traceback), the 503s of an outage (what counts as one: flightsite/outages.py), the
409 of a session change that could not be saved, and a form shown again with what the user
typed. Views and middleware both use these.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from flightsite.outages import DatabaseCircuitOpen, ValkeyCircuitOpen

logger = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Not saved",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Service unavailable",
}


def error_page(
    request: HttpRequest | None,
    status: int,
    message: str,
    back: tuple[str, str] | None = None,
) -> HttpResponse:
    """The error page. `back`: (url, label) of the way out that fits the page the user came
    from, e.g. the flights list they were on; otherwise the dashboard or, when logged out, the
    login page (base of the template)."""
    return render(
        request,
        "error.html",
        {"status": status, "title": TITLES.get(status, "Error"), "message": message, "back": back},
        status=status,
    )


def wait_phrase(seconds: int) -> str:
    """How long to wait, in words that match a Retry-After of `seconds`: "30 seconds",
    "1 minute", "5 minutes" (rounded up to whole minutes from 60 s on)."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 400, "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403, "You are not allowed to do that.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 404, "There is no page at this address.")


def server_error(request: HttpRequest) -> HttpResponse:
    # Without the request: no context processor may touch the session that just failed.
    return render(None, "500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_page(
        request,
        403,
        "Your form expired or was sent from another site. Go back, reload the page and try again.",
    )


# --- outages: 503 with Retry-After ----------------------------------------------------------------


def retry_after() -> int:
    """Seconds a client should wait: the breaker probes every BREAKER_PROBE_SECONDS, so the
    site serves again about that long after the dependency is back (Retry-After is whole
    seconds: at least 1)."""
    return max(1, math.ceil(settings.BREAKER_PROBE_SECONDS))


def unavailable(reason: str) -> HttpResponse:
    """The 503 page: `reason` names what is down ("session store", "flight database")."""
    body = render_to_string("503.html", {"reason": reason}, request=None)
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(retry_after())
    response["Cache-Control"] = "no-store"
    return response


class _OutageLog:
    """One warning per kind of failure per LOG_EVERY seconds, with how many 503s it stands for:
    an outage under load is thousands of 503s, and a refusal by an open circuit breaker is
    never logged here (the breaker logs its open and close, with counts)."""

    LOG_EVERY = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # -> (last logged, unlogged)

    def __call__(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, (ValkeyCircuitOpen, DatabaseCircuitOpen)):
            return
        key = (what, type(exc).__name__)
        now = time.monotonic()
        with self._lock:
            last, unlogged = self._seen.get(key, (-self.LOG_EVERY, 0))
            if now - last < self.LOG_EVERY:
                self._seen[key] = (last, unlogged + 1)
                return
            self._seen[key] = (now, 0)
        more = f" ({unlogged} more like it since the last line)" if unlogged else ""
        logger.warning("%s unavailable: %s: %s%s", what, type(exc).__name__, exc, more)


log_outage = _OutageLog()


def store_unavailable(exc: BaseException) -> HttpResponse:
    log_outage("Session store", exc)
    return unavailable("session store")


def database_unavailable(exc: BaseException) -> HttpResponse:
    log_outage("Database", exc)
    return unavailable("flight database")


def form_again(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 503,
    retry: int | None = None,
) -> HttpResponse:
    """A form's page again, with what the user typed (the bound `form` of the context), `status`
    (503: an outage, 429: throttled) and Retry-After: nothing a user entered is lost on an error
    they can retry."""
    form = context.get("form")
    if form is not None and form.is_bound:
        form.is_valid()  # the bound data is shown as typed
    response = render(request, template, context, status=status)
    response["Retry-After"] = str(retry if retry is not None else retry_after())
    response["Cache-Control"] = "no-store"
    return response


# --- the session store: a change not saved, a session ended ------------------------------------


def conflict(request: HttpRequest, exc: Any) -> HttpResponse:
    """A change the session store refused (SessionConflict: a merge rule such as the flight
    limit, or a race with a renewal of the session): 409, with why."""
    logger.info("Session change refused: %s", exc)
    response = error_page(request, 409, exc.user_message)
    response["Cache-Control"] = "no-store"
    return response


def session_ended() -> HttpResponse:
    """The session was ended while this request ran (logout in another tab, "log out
    everywhere", staff): nothing was saved and nothing is resurrected. Said on the login page
    rather than with Django's bare 400 "session was deleted". The cookie is left alone: a login
    in another tab may just have replaced it, and a dead one is dropped on the next request."""
    return HttpResponseRedirect(reverse("passengers:login") + "?ended=1")
