"""Turn a Valkey outage into a clear 503 page instead of a 500 or a silent logout."""

from __future__ import annotations

import logging

import valkey.exceptions
from django.contrib.sessions.middleware import SessionMiddleware
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
)


def store_unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    logger.error("Session store unavailable: %s", exc)
    body = render_to_string("503.html", {"reason": "session store"}, request=None)
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


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
