"""Turn an outage (Valkey or the database) into a clear 503 page, never a 500 or a silent
logout."""

from __future__ import annotations

import logging

import valkey.exceptions
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django_valkey.exceptions import ConnectionInterrupted

logger = logging.getLogger(__name__)

STORE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionInterrupted,
    valkey.exceptions.ConnectionError,
    valkey.exceptions.TimeoutError,
    valkey.exceptions.BusyLoadingError,
    valkey.exceptions.ReadOnlyError,
    # A full session server (noeviction: it refuses writes rather than evicting sessions).
    valkey.exceptions.OutOfMemoryError,
    # Cluster: a master down (CLUSTERDOWN, slots not covered), slots moving (TRYAGAIN, a storm
    # of MOVED/ASK redirections until the client gives up: "TTL exhausted").
    valkey.exceptions.ClusterError,
    valkey.exceptions.TryAgainError,
    valkey.exceptions.AskError,
    valkey.exceptions.SlotNotCoveredError,
)


DB_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


def unavailable(reason: str) -> HttpResponse:
    body = render_to_string("503.html", {"reason": reason}, request=None)
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


def store_unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    logger.error("Session store unavailable: %s", exc)
    return unavailable("session store")


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached (MySQL down, too many connections) is a 503.

    Only connection-level errors: a programming error in a query must stay a 500 and be fixed.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DB_ERRORS):
            logger.error("Database unavailable: %s", exception)
            return unavailable("flight database")
        return None


class ValkeySessionMiddleware(SessionMiddleware):
    """SessionMiddleware that answers 503 when Valkey cannot be reached.

    Reads happen lazily inside the view (process_exception catches them), writes after it
    (process_response). The session key is kept, so the user is still logged in once Valkey
    is back.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, STORE_ERRORS):
            return store_unavailable(request, exception)
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except STORE_ERRORS as exc:
            return store_unavailable(request, exc)


class MethodNotAllowedPageMiddleware:
    """Django answers a wrong method with an empty 405; give it a page that says so."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.content:
            from flightsite.errors import error_page

            allowed = response.get("Allow", "")
            page = error_page(
                request, 405, f"This address does not accept {request.method} requests."
            )
            page["Allow"] = allowed
            return page
        return response
