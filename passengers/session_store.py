"""Session store: Django's cache backend on the django-valkey `sessions` alias, tuned for Valkey.

Keys are exactly `flight_session:<session key>` (as in the workshop), values compact JSON.
Compared with django.contrib.sessions.backends.cache it:
- reads with one GETEX that also refreshes the TTL (sliding idle timeout, no write per request);
- creates with one SET NX EX (no EXISTS probe first; NX already rejects a collision);
- updates with one SET XX EX (no GET first; XX refuses to resurrect a session deleted meanwhile),
  and skips the write when the data did not change;
- lets Valkey outages raise instead of silently treating them as "logged out", so the site can
  answer 503 and the user keeps their session.
"""

from __future__ import annotations

import json
import string
from typing import Any

from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.crypto import get_random_string
from django_valkey.serializers.json import JSONSerializer

KEY_CHARS = string.ascii_lowercase + string.digits
KEY_LENGTH = 32


def make_session_cache_key(key: str, key_prefix: str, version: int | None) -> str:
    """KEY_FUNCTION of the `sessions` cache alias: `<prefix><key>`, no version part."""
    return f"{key_prefix}{key}"


class CompactJSONSerializer(JSONSerializer):
    """JSON without the default ", "/": " padding: smaller values, still readable in MONITOR."""

    def dumps(self, value: Any) -> bytes:
        return json.dumps(
            value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
        ).encode()


class SessionStore(CacheSessionStore):
    cache_key_prefix = ""  # the alias's KEY_PREFIX supplies `flight_session:`

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._stored_payload: bytes | None = None

    # Only keys we could have made reach Valkey: anything else in the cookie is ignored.
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(key) and len(key) == KEY_LENGTH and all(c in KEY_CHARS for c in key)

    def _get_new_session_key(self) -> str:
        # 32 chars of [a-z0-9] (165 bits); create() uses SET NX, so a collision is retried there.
        return get_random_string(KEY_LENGTH, KEY_CHARS)

    @property
    def _valkey(self):
        return self._cache.client.get_client(write=True)

    def _key(self) -> str:
        return self._cache.make_key(self.cache_key)

    def load(self) -> dict[str, Any]:
        raw = self._valkey.getex(self._key(), ex=self.get_session_cookie_age())
        if raw is None:
            self._session_key = None
            return {}
        self._stored_payload = raw
        data = self._cache.client.decode(raw)
        return data if isinstance(data, dict) else {}

    def exists(self, session_key: str) -> bool:
        return bool(session_key) and bool(
            self._valkey.exists(self._cache.make_key(self.cache_key_prefix + session_key))
        )

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        payload = self._cache.client.encode(data)
        if not must_create and payload == self._stored_payload:
            return None  # unchanged: GETEX already refreshed the TTL on load
        written = self._valkey.set(
            self._key(),
            payload,
            ex=self.get_expiry_age(),
            nx=must_create,
            xx=not must_create,
        )
        if not written:
            raise CreateError if must_create else UpdateError
        self._stored_payload = payload
        return None

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._valkey.delete(self._cache.make_key(self.cache_key_prefix + session_key))
        self._stored_payload = None
