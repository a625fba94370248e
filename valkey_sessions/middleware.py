"""Django's SessionMiddleware, with answers for what the engine raises (use it in place of the
stock one; the stock one also works: conflicts are UpdateErrors, a 400 there).

- Valkey cannot serve the session (down, timeout, full, read-only, SessionUnavailable): 503
  with Retry-After; the cookie is kept, so the user is still logged in once Valkey is back.
- A change that could not be merged (SessionConflict): 409 with its message.
- The session was ended by another request (logout elsewhere): 400, as Django says it.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from valkey import exceptions as vx

from .errors import SessionConflict

RETRY_AFTER = "5"
OUTAGES: tuple[type[BaseException], ...] = (
    vx.ConnectionError,  # refused, reset, LOADING, SessionUnavailable
    vx.TimeoutError,
    TimeoutError,
    vx.OutOfMemoryError,
    vx.ReadOnlyError,
    vx.NoPermissionError,
    vx.ClusterError,
    vx.TryAgainError,
    vx.ValkeyClusterException,
)


def _answer(exc: BaseException) -> HttpResponse | None:
    if isinstance(exc, OUTAGES):
        response = HttpResponse(
            "The session store is unavailable. Please try again in a moment.",
            status=503,
            content_type="text/plain",
        )
        response["Retry-After"] = RETRY_AFTER
        return response
    if isinstance(exc, SessionConflict):
        return HttpResponse(exc.user_message, status=409, content_type="text/plain")
    if isinstance(exc, UpdateError | SessionInterrupted):
        return HttpResponse(
            "Your session ended in another request. Please sign in again.",
            status=400,
            content_type="text/plain",
        )
    return None


class SessionMiddleware(DjangoSessionMiddleware):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return _answer(exception)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except SessionInterrupted as exc:
            cause = exc.__cause__ or exc.__context__ or exc
            answer = _answer(cause)
            if answer is None:
                raise
            return answer
        except Exception as exc:
            answer = _answer(exc)
            if answer is None:
                raise
            return answer
