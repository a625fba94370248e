"""Owner functions (VALKEY_SESSIONS["OWNER"]): whose session this is, from its data. A session
with an owner is in that owner's index ("your devices", end one, end all others) and counts
toward MAX_SESSIONS_PER_OWNER; its key's tag is derived from the owner.

An owner function takes the session dict and returns an int or str id, or None (no owner)."""

from __future__ import annotations

from typing import Any

AUTH_USER_ID = "_auth_user_id"  # django.contrib.auth's SESSION_KEY


def auth_user(data: dict[str, Any]) -> str | int | None:
    """Django's logged-in user (django.contrib.auth.login stores the id under _auth_user_id)."""
    owner = data.get(AUTH_USER_ID)
    return owner if isinstance(owner, str | int) and not isinstance(owner, bool) else None
