"""The engine's settings: one dict, `VALKEY_SESSIONS`, every entry optional.

    VALKEY_SESSIONS = {
        "CACHE_ALIAS": SESSION_CACHE_ALIAS,   # a django-valkey (sync) cache: the connection
        "KEY_PREFIX": "session:",             # session keys `<prefix>{<tag>}<secret>`
        "OWNER": "valkey_sessions.owners.auth_user",  # whose session it is (None: no one's)
        "MAX_SESSIONS_PER_OWNER": 100,        # a login past this ends the owner's oldest
        "TAG_SECRET": None,                   # keys the owner tag; None: SECRET_KEY
        "CODEC": "valkey_sessions.codec.MsgpackCodec",
        "MERGE": "valkey_sessions.merge.merge",
        "CLOCK": "time.time_ns",              # the app's clock (tests inject one)
        "ENDED_MARKER_MAX_AGE": 86400,        # s a "who ended it" marker may live; 0: none
    }

Read on every use (cheap: the entries are resolved once, again after `override_settings` or
pytest-django's `settings` change them; imports are cached).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    "CACHE_ALIAS": None,  # None: settings.SESSION_CACHE_ALIAS
    "KEY_PREFIX": "session:",
    "OWNER": "valkey_sessions.owners.auth_user",
    "MAX_SESSIONS_PER_OWNER": 100,
    "TAG_SECRET": None,  # None: SECRET_KEY (and SECRET_KEY_FALLBACKS)
    "CODEC": "valkey_sessions.codec.MsgpackCodec",
    "MERGE": "valkey_sessions.merge.merge",
    "CLOCK": "time.time_ns",
    # A session ended by someone else (end(..., by=...)) leaves a marker saying so, for the
    # browser that still holds its cookie: it lives as long as the session would have, at most
    # this many seconds (0: no markers).
    "ENDED_MARKER_MAX_AGE": 86400,
}


# The entries with their defaults, resolved at the first read and again after a change of the
# settings they come from (override_settings and pytest-django's `settings` fixture send
# setting_changed): a session load reads them several times, each a dict lookup.
_resolved: dict[str, Any] | None = None
_SOURCES = {"VALKEY_SESSIONS", "SESSION_CACHE_ALIAS"}


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    global _resolved, _checked_prefix
    if setting in _SOURCES:
        _resolved = _checked_prefix = None


def _entries() -> dict[str, Any]:
    global _resolved
    if _resolved is not None:
        return _resolved
    configured = getattr(settings, "VALKEY_SESSIONS", None) or {}
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"VALKEY_SESSIONS has unknown entries {sorted(unknown)}; known: {sorted(DEFAULTS)}"
        )
    entries = {**DEFAULTS, **configured}
    if entries["CACHE_ALIAS"] is None:
        entries["CACHE_ALIAS"] = settings.SESSION_CACHE_ALIAS
    _resolved = entries
    return entries


def get(name: str) -> Any:
    return _entries()[name]


@functools.lru_cache(maxsize=32)
def _imported(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"VALKEY_SESSIONS: cannot import {path!r}: {exc}") from exc


def plugin(name: str) -> Any:
    """A setting given as a dotted path (or the object itself), imported."""
    value = get(name)
    return _imported(value) if isinstance(value, str) else value


def now_ms() -> int:
    """The app server's clock in ms (`CLOCK`: a time.time_ns-like callable)."""
    clock: Callable[[], int] = plugin("CLOCK")
    return clock() // 1_000_000


_checked_prefix: Any = None  # the last KEY_PREFIX found valid (each load builds a key)


def key_prefix() -> str:
    global _checked_prefix
    prefix = get("KEY_PREFIX")
    if prefix is _checked_prefix:
        checked: str = prefix
        return checked
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ImproperlyConfigured("VALKEY_SESSIONS['KEY_PREFIX'] must be a str without braces")
    _checked_prefix = prefix
    return prefix


def tag_secrets() -> list[str]:
    """TAG_SECRET (default SECRET_KEY), then SECRET_KEY_FALLBACKS: tags made before a key
    rotation are still found while the old key is a fallback."""
    secret = get("TAG_SECRET") or settings.SECRET_KEY
    return [secret, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
