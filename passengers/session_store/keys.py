"""Session keys: what a cookie may hold and where its session lives in Valkey.

A session key (the cookie value) is a tag of 8 characters and a secret of 32, all [a-z0-9]; its
Valkey key is `flight_session:{<tag>}<secret>` and the devices index of its tag is
`flight_session_index:{<tag>}`. A logged-in passenger's sessions share one tag, a keyed hash of
the passenger id (so a cookie does not show the id): they and their index are in one cluster
slot, and scripts can change them together.
"""

from __future__ import annotations

import re
import string
from typing import Any, TypeGuard

from django.conf import settings
from django.utils.crypto import get_random_string, salted_hmac

KEY_PREFIX = "flight_session:"
INDEX_PREFIX = "flight_session_index:"
KEY_CHARS = string.ascii_lowercase + string.digits
TAG_LENGTH = 8  # one passenger's sessions share it (and a cluster slot)
RANDOM_LENGTH = 32  # 165 bits of randomness: the secret part of the key
KEY_LENGTH = TAG_LENGTH + RANDOM_LENGTH

_VALID_KEY = re.compile(f"[a-z0-9]{{{KEY_LENGTH}}}")


def valid_key(key: Any) -> TypeGuard[str]:
    """A key this store could have made (anything else in a cookie is no session)."""
    return isinstance(key, str) and _VALID_KEY.fullmatch(key) is not None


def valkey_key(session_key: str) -> str:
    """The Valkey key of a session: `flight_session:{<tag>}<secret>`."""
    return f"{KEY_PREFIX}{{{session_key[:TAG_LENGTH]}}}{session_key[TAG_LENGTH:]}"


def session_key_of(valkey_key_: str | bytes) -> str | None:
    """The session key (cookie value) back from a Valkey key, or None if it is not one."""
    if isinstance(valkey_key_, bytes):
        valkey_key_ = valkey_key_.decode("ascii", "replace")
    start = len(KEY_PREFIX) + 1
    if not valkey_key_.startswith(KEY_PREFIX + "{") or valkey_key_[start + TAG_LENGTH :][:1] != "}":
        return None
    key = valkey_key_[start : start + TAG_LENGTH] + valkey_key_[start + TAG_LENGTH + 1 :]
    return key if valid_key(key) else None


def index_key(tag: str) -> str:
    """The devices index of the sessions whose key starts with `tag`."""
    return f"{INDEX_PREFIX}{{{tag}}}"


def mask(session_key: str | None) -> str:
    """The Valkey key without its secret part: enough to recognise a session, never to use it
    (pages and logs show this, never a whole key)."""
    if not session_key:
        return "-"
    return f"{KEY_PREFIX}{{{session_key[:TAG_LENGTH]}}}{session_key[TAG_LENGTH:][:4]}…"


def _base36(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(KEY_CHARS[digit])
    return "".join(digits)


def passenger_tags(passenger_id: int) -> list[str]:
    """The key tag of a passenger's sessions: a keyed hash of the id under SESSION_TAG_SECRET
    (default SECRET_KEY), then under each SECRET_KEY_FALLBACKS, so sessions made before a key
    rotation are still found while the old key is a fallback."""
    secrets = [settings.SESSION_TAG_SECRET, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    tags = []
    for secret in secrets:
        digest = salted_hmac("flightsite.session-tag", str(passenger_id), secret=secret)
        tag = _base36(int(digest.hexdigest(), 16), TAG_LENGTH)
        if tag not in tags:
            tags.append(tag)
    return tags


def new_key(tag: str | None = None) -> str:
    """A fresh session key with `tag` (a random one when None)."""
    tag = tag or get_random_string(TAG_LENGTH, KEY_CHARS)
    return tag + get_random_string(RANDOM_LENGTH, KEY_CHARS)
