from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from flightsite.outages import STORE_ERRORS

from . import session as sess


def passenger(request: HttpRequest) -> dict[str, Any]:
    """The logged-in passenger for the page header (reads the session only if there is one)."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        return {"current_passenger": None}
    try:
        return {"current_passenger": sess.passenger(session)}
    except STORE_ERRORS:  # rendering an error page while Valkey is down: no header name
        return {"current_passenger": None}
