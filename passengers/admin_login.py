"""The Django admin's login, behind the same failed-login throttle as the passenger login
(per client address and per user name; see passengers/throttle.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from flightsite.errors import error_page, log_outage, retry_after
from flightsite.outages import STORE_ERRORS

from . import throttle

logger = logging.getLogger(__name__)
KIND = "admin"


def admin_login(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    if request.method == "POST":
        try:
            wait = throttle.blocked_for(request, KIND, request.POST.get("username", ""))
        except STORE_ERRORS as exc:
            log_outage("Admin login: throttle store", exc)
            response = error_page(request, 503, "Logging in is not possible right now.")
            response["Retry-After"] = str(retry_after())
            return response
        if wait:
            response = error_page(
                request, 429, "Too many failed attempts. Please wait and try again later."
            )
            response["Retry-After"] = str(wait)
            return response
    return admin.site.login(request, **kwargs)


@receiver(user_login_failed)
def count_failed_admin_login(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Django's authenticate() failed (the admin login form): count it for client and user."""
    if request is None:
        return
    try:
        throttle.record_failure(request, KIND, str(credentials.get("username", "")))
    except STORE_ERRORS as exc:
        log_outage("Counting a failed admin login: throttle store", exc)
