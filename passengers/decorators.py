from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, overload
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from . import session as sess

View = Callable[..., HttpResponse]

# Why a browser's session is gone, as the login page says it (ended_text). "ended": the store
# cannot tell (no marker: an older engine, or the stock cache backend). "limit": the engine
# ended it when the passenger logged in once more than MAX_SESSIONS_PER_PASSENGER allows.
ENDED_MESSAGES = {
    "elsewhere": "You were logged out from another device.",
    "staff": "Your session was ended by the site's staff.",
    "limit": (
        "You were logged out here: you logged in on more than {limit} devices, and this one "
        "had been used least recently."
    ),
    "expired": "Your session expired.",
    "ended": "Your session has ended.",
}


def ended_text(reason: str) -> str:
    """The login page's sentence for why a session ended (ENDED_MESSAGES)."""
    return ENDED_MESSAGES[reason].format(limit=settings.MAX_SESSIONS_PER_PASSENGER)


def ended_reason(request: HttpRequest) -> str | None:
    """Why this browser is not logged in although its cookie names a session: "elsewhere"
    (logged out from another device), "staff", "limit" (the passenger logged in on more
    devices than allowed), "expired", or "ended" (the store cannot tell);
    None when it never was logged in (no cookie) or is logged in. Call after the session was
    read (is_logged_in): a cookie naming a missing session then leaves no session key."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    session = getattr(request, "session", None)
    if not cookie or session is None or session.session_key is not None:
        return None
    why = getattr(session, "ended_how", None)  # the engine's marker, read only now
    if why is None:
        return "ended"  # a store that keeps no markers cannot tell
    found = why(cookie)
    if found is None:
        return "expired"  # ended by nobody: its time ran out
    return found if found in ENDED_MESSAGES else "ended"


def login_redirect(
    request: HttpRequest, resume: str = "", not_done: str = "", reason: str | None = None
) -> HttpResponse:
    """To the login page, saying why when the session was ended elsewhere or expired, and what
    was not done (`not_done`, for an action posted from an ended session); `resume` is where
    the login brings the passenger back to (with what they entered, where it can)."""
    reason = reason if reason is not None else ended_reason(request)
    if reason:
        text = ended_text(reason)
        if not_done:
            text += f" {not_done} Log in again to carry on."
        else:
            text += " Please log in again."
        messages.warning(request, text, extra_tags="at:login")
    login = reverse("passengers:login")
    if resume and resume != "/":
        login += "?" + urlencode({"next": resume})
    return redirect(login)


@overload
def passenger_required(view: View) -> View: ...
@overload
def passenger_required(
    *, not_done: str = "", resume: Callable[[HttpRequest], str] | None = None
) -> Callable[[View], View]: ...
def passenger_required(
    view: View | None = None,
    *,
    not_done: str = "",
    resume: Callable[[HttpRequest], str] | None = None,
) -> View | Callable[[View], View]:
    """Redirect to the login page (keeping where the user wanted to go) unless logged in.

    A session ended elsewhere (or expired) is said on the login page. For a POST, `not_done`
    says what did not happen ("The flight was not added.") and `resume(request)` is the page
    to come back to after logging in, with the input kept where it can be (a GET is simply
    requested again)."""

    def decorate(func: View) -> View:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not sess.is_logged_in(request.session):
                if request.method in ("GET", "HEAD"):
                    back = request.get_full_path() if request.path != "/" else ""
                    return login_redirect(request, back)
                back = resume(request) if resume is not None else ""
                reason = ended_reason(request)
                return login_redirect(request, back, not_done if reason else "", reason)
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
