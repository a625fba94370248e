"""Failed-login throttling per client IP, counted in Valkey (the default cache).

The passport number is the password in this demo, so guessing must be slowed down. Only
failures are counted; a successful login costs one GET here.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest


def _key(request: HttpRequest) -> str:
    return f"login-fail:{request.META.get('REMOTE_ADDR', 'unknown')}"


def is_blocked(request: HttpRequest) -> bool:
    count = caches["default"].get(_key(request))
    return count is not None and int(count) >= settings.LOGIN_FAILURE_LIMIT


def record_failure(request: HttpRequest) -> None:
    cache = caches["default"]
    key = _key(request)
    # add() starts the window with its TTL; incr() keeps the TTL of the existing key.
    if not cache.add(key, 1, settings.LOGIN_FAILURE_WINDOW):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, settings.LOGIN_FAILURE_WINDOW)
