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
    }

Read on every use (cheap: the entries are resolved once per VALKEY_SESSIONS value, imports are
cached), so `override_settings` works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
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
}


_NOT_SET: dict[str, Any] = {}
# (the VALKEY_SESSIONS object, SESSION_CACHE_ALIAS, the entries with defaults): checked once
# per settings value, not on each of the several reads a session load makes.
_resolved: tuple[Any, Any, dict[str, Any]] | None = None


def _entries() -> dict[str, Any]:
    global _resolved
    configured = getattr(settings, "VALKEY_SESSIONS", None) or _NOT_SET
    alias = settings.SESSION_CACHE_ALIAS
    cached = _resolved
    # The same object as last time (override_settings and the tests' `settings` fixture assign
    # a new dict; a dict changed in place is not seen, like any other setting read at start).
    if cached is not None and cached[0] is configured and cached[1] == alias:
        return cached[2]
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"VALKEY_SESSIONS has unknown entries {sorted(unknown)}; known: {sorted(DEFAULTS)}"
        )
    entries = {**DEFAULTS, **configured}
    if entries["CACHE_ALIAS"] is None:
        entries["CACHE_ALIAS"] = alias
    _resolved = (configured, alias, entries)
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
