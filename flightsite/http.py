"""Small HTTP helpers shared by the apps."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date

# What django.utils.cache.add_never_cache_headers() writes.
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"

_expires = (0, "")  # (second, its HTTP date): formatted once a second, not on every page


def http_date_now() -> str:
    """http_date(time.time()), which costs ~15 us (email.utils.formatdate) a call."""
    global _expires
    second = int(time.time())
    cached = _expires
    if cached[0] != second:
        cached = _expires = (second, http_date(second))
    return cached[1]


def never_cache(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's @never_cache for the site's (sync) views, with the same headers: a passenger's
    pages must not be kept by a browser's or a proxy's cache. The headers are written
    directly (Django's patch_cache_control() parses and merges them twice, ~40 us a page);
    a response that already has Cache-Control goes through Django's merge."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        headers = response.headers
        if "Cache-Control" in headers:
            add_never_cache_headers(response)
        else:
            headers["Cache-Control"] = NEVER_CACHE
            if "Expires" not in headers:
                headers["Expires"] = http_date_now()
        return response

    return wrapper
