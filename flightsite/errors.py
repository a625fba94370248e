"""Friendly error pages with the right status code (never a traceback)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
