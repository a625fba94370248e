"""The engine's errors. Conflicts are `UpdateError`s, so Django's stock SessionMiddleware handles
them (a 400 "session interrupted"); `valkey_sessions.middleware.SessionMiddleware` answers each
one properly (409, the session-ended page, 503 with Retry-After)."""

from __future__ import annotations

from django.contrib.sessions.backends.base import UpdateError
from valkey.exceptions import ConnectionError as ValkeyConnectionError


class SessionConflict(UpdateError):
    """A change the merge policy refused (MergeRejected), or one that raced a renewal of the
    session (cycle_key) — never a race alone, however long. `user_message` says what to do."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class SessionUnavailable(ValkeyConnectionError):
    """Valkey cannot serve this session now, though it answered: TTL refreshes refused for too
    long (a full or read-only server), or a value written by a newer release in a format this
    one cannot read. An outage (503, cookie kept): a subclass of valkey-py's ConnectionError,
    so whatever already maps Valkey outages to 503 maps this one too."""
