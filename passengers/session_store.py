"""Session store: Django's cache backend on the django-valkey `sessions` alias, tuned for Valkey.

Keys are exactly `flight_session:<session key>` (as in the workshop), values compact JSON.
Compared with django.contrib.sessions.backends.cache it:
- reads with one GETEX that also refreshes the TTL (sliding idle timeout, no write per request);
- creates with one SET NX EX (no EXISTS probe first; NX already rejects a collision);
- updates with one compare-and-set (a small Lua script): the write only lands if the stored value
  is still the one this request read, it never resurrects a session deleted meanwhile (logout in
  another tab), and on a conflict (two tabs adding flights at once) the two versions are merged
  instead of the last writer silently dropping the other's change;
- skips the write when the data did not change;
- lets Valkey outages raise instead of silently treating them as "logged out", so the site can
  answer 503 and the user keeps their session.
"""

from __future__ import annotations

import hashlib
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
MAX_MERGE_ATTEMPTS = 5

# KEYS[1] session key; ARGV: SHA-1 of the value this request read, new value, ttl.
# Returns 1 when written, -1 when the key is gone, or the current value on a conflict.
# (A digest, not the old value itself, so an update sends the session over the wire once.)
CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if redis.sha1hex(current) ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
_MISSING = object()


def merge_sessions(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> dict:
    """Three-way merge of session data: what this request changed (base → mine) applied on top
    of what another request stored meanwhile (theirs). Lists merge element-wise (additions
    and removals of both sides survive); other values: this request's change wins."""
    result = dict(theirs)
    for key in set(base) | set(mine):
        before, after = base.get(key, _MISSING), mine.get(key, _MISSING)
        if before == after:
            continue  # not changed by this request: keep theirs
        if after is _MISSING:
            result.pop(key, None)
            continue
        other = theirs.get(key, _MISSING)
        if isinstance(after, list) and isinstance(other, list):
            old = before if isinstance(before, list) else []
            removed = [x for x in old if x not in after]
            added = [x for x in after if x not in old]
            merged = [x for x in other if x not in removed]
            merged += [x for x in added if x not in merged]
            result[key] = merged
        else:
            result[key] = after
    return result


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

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        payload = self._cache.client.encode(data)
        ttl = self.get_expiry_age()
        if must_create:
            if not self._valkey.set(self._key(), payload, ex=ttl, nx=True):
                raise CreateError
            self._stored_payload = payload
            return None
        if payload == self._stored_payload:
            return None  # unchanged: GETEX already refreshed the TTL on load
        if self._stored_payload is None:
            raise UpdateError  # load() found no key: the session is gone, never recreate it

        cas = self._valkey.register_script(CAS_SCRIPT)
        expected = self._stored_payload
        for _ in range(MAX_MERGE_ATTEMPTS):
            digest = hashlib.sha1(expected, usedforsecurity=False).hexdigest()
            result = cas(keys=[self._key()], args=[digest, payload, ttl])
            if result == 1:
                self._stored_payload = payload
                return None
            if result == -1:
                raise UpdateError  # deleted meanwhile (logged out in another tab)
            # Another request wrote first: merge both changes and try again.
            base = self._cache.client.decode(self._stored_payload)
            theirs = self._cache.client.decode(result)
            data = merge_sessions(base, data, theirs)
            self._session_cache = data
            self._stored_payload = expected = result
            payload = self._cache.client.encode(data)
        raise UpdateError
