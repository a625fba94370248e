"""Session keys: what a cookie may hold and where its session lives in Valkey.

A session key (the cookie value) is a tag of 8 characters and a secret of 32, all [a-z0-9]. An
owner's sessions share one tag, a keyed hash of the owner id (so a cookie does not show the id).
The tag's first 3 characters are its *bucket* (46,656 of them): the Valkey key is
`<prefix>{<bucket>}<rest of the tag><secret>`, and the owner index of a bucket is the sorted set
`<prefix>{<bucket>}` (same braces: one cluster slot, so a session and its index entry change
together in one script). A bucket's index is shared by the owners whose tags fall in it (about
20 at a million sessions): its own overhead is shared too, which is what keeps a session and its
index entry under 400 bytes (README "Memory").
"""

from __future__ import annotations

import re
import string
from typing import Any, TypeGuard

from django.utils.crypto import get_random_string, salted_hmac

from . import conf

KEY_CHARS = string.ascii_lowercase + string.digits
TAG_LENGTH = 8  # one owner's sessions share it
BUCKET_LENGTH = 3  # the tag's first characters: the hash tag (cluster slot) and owner index
RANDOM_LENGTH = 32  # 165 bits of randomness: the secret part of the key
KEY_LENGTH = TAG_LENGTH + RANDOM_LENGTH

_VALID_KEY = re.compile(f"[a-z0-9]{{{KEY_LENGTH}}}")


def valid_key(key: Any) -> TypeGuard[str]:
    """A key this store could have made (anything else in a cookie is no session)."""
    return isinstance(key, str) and _VALID_KEY.fullmatch(key) is not None


def valkey_key(session_key: str) -> str:
    """The Valkey key of a session: `<prefix>{<bucket>}<rest of tag><secret>`."""
    return f"{conf.key_prefix()}{{{session_key[:BUCKET_LENGTH]}}}{session_key[BUCKET_LENGTH:]}"


def member(session_key: str) -> str:
    """A session's member in its bucket's index: the key after the bucket (tag rest + secret;
    the index key followed by the member is the session's Valkey key)."""
    return session_key[BUCKET_LENGTH:]


def ended_marker_key(session_key: str) -> str:
    """Where "who ended this session" is kept for a while (live.end(..., by=...)): next to the
    session's key, in its slot. Not a session key (session_key_of says None), so SCANs, counts
    and purges pass it by; it expires by itself."""
    return valkey_key(session_key) + ":ended"


def turn_keys(session_key: str) -> tuple[str, str]:
    """The session's line of writers (store.py `_wait_turn`): `:turn`, a counter of handovers
    that exists while a request writes in turn, and `:wake`, a list whose entry hands the turn
    (and the value written) to the request that waited longest. Next to the session's key, in
    its slot; both expire by themselves (scripts.TURN_LEASE_MS) and are no session keys
    (session_key_of says None)."""
    key = valkey_key(session_key)
    return key + ":turn", key + ":wake"


def session_key_of(valkey_key_: str | bytes) -> str | None:
    """The session key (cookie value) back from a Valkey key, or None if it is not one (an
    owner index, a foreign key)."""
    if isinstance(valkey_key_, bytes):
        valkey_key_ = valkey_key_.decode("ascii", "replace")
    prefix = conf.key_prefix()
    start = len(prefix) + 1
    if not valkey_key_.startswith(prefix + "{") or valkey_key_[start + BUCKET_LENGTH :][:1] != "}":
        return None
    key = valkey_key_[start : start + BUCKET_LENGTH] + valkey_key_[start + BUCKET_LENGTH + 1 :]
    return key if valid_key(key) else None


def index_key(tag_or_key: str) -> str:
    """The owner index of a tag's (or a session key's) bucket: `<prefix>{<bucket>}`."""
    return f"{conf.key_prefix()}{{{tag_or_key[:BUCKET_LENGTH]}}}"


def scan_pattern(tag: str = "") -> str:
    """SCAN MATCH for the session keys of a tag (all when ""); owner indexes match it too
    (session_key_of tells them apart)."""
    if not tag:
        return f"{conf.key_prefix()}{{*"
    return f"{conf.key_prefix()}{{{tag[:BUCKET_LENGTH]}}}{tag[BUCKET_LENGTH:]}*"


def mask(session_key: str | None) -> str:
    """The Valkey key without its secret part: enough to recognise a session, never to use it
    (pages, logs and `manage.py sessions` show this, never a whole key)."""
    if not session_key:
        return "-"
    return f"{valkey_key(session_key)[: -(RANDOM_LENGTH - 4)]}…"


def _base36(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(KEY_CHARS[digit])
    return "".join(digits)


def owner_tags(owner: str | int) -> list[str]:
    """The key tags of an owner's sessions: a keyed hash of the owner id under each tag secret
    (conf.tag_secrets), the current one first."""
    tags = []
    for secret in conf.tag_secrets():
        digest = salted_hmac("valkey_sessions.tag", str(owner), secret=secret)
        tag = _base36(int(digest.hexdigest(), 16), TAG_LENGTH)
        if tag not in tags:
            tags.append(tag)
    return tags


def new_key(tag: str | None = None) -> str:
    """A fresh session key with `tag` (a random one when None)."""
    tag = tag or get_random_string(TAG_LENGTH, KEY_CHARS)
    return tag + get_random_string(RANDOM_LENGTH, KEY_CHARS)
