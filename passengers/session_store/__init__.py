"""The session engine (`SESSION_ENGINE = "passengers.session_store"`): Django sessions in Valkey.

Modules: `store` (SessionStore), `codec` (the stored value), `keys` (key formats and tags),
`scripts` (the Lua writes), `live` (what pages, the admin and `manage.py sessions` see).

A complete `SessionBase` implementation, sync and async, written for Valkey rather than on top of
Django's cache backend (whose async half calls cache methods django-valkey's sync cache lacks):

- **Reads write nothing.** Loading a session is one `GET`. The key's TTL is the session's own
  expiry; it is moved forward only when a refresh is due (a tenth of the session's idle age has
  passed since the last one), by the write that saves the session anyway or, on a read-only
  page, by one compare-and-set. So an idle session ends between 0.9 and 1.0 of its idle age after
  the last request, never later, and an active one costs one small write per tenth of its age.
- **Every expiry Django offers** (`set_expiry` with seconds, a datetime, a timedelta, 0, None;
  `SESSION_EXPIRE_AT_BROWSER_CLOSE`): idle ages slide as above, a date is a fixed `PXAT`, a past
  date or a non-positive age ends the session (the key is deleted, no error).
- **Writes are compare-and-set** (a Lua script comparing the SHA-1 of the value this request
  read): a session deleted meanwhile is never written back (UpdateError), and when another
  request wrote first the two changes are merged (`passengers.session.merge`) and the write is
  retried, with a time budget rather than a fixed count. `cycle_key` is one script as well.
- **Compact values**: msgpack, the workshop's entries stored positionally in the field order of
  `passengers.session` (see `SessionCodec`); never pickle. Values JSON cannot hold raise
  TypeError at save, as with Django's JSONSerializer. A value that cannot be decoded (damaged,
  foreign, an older layout) is no session: logged, deleted, never a 500 (one of a newer layout,
  written by a newer release during a rolling deploy, is left alone).
- **Cluster-safe keys**: `flight_session:{<tag>}<random>`. A logged-in passenger's tag comes
  from their id (a keyed hash), so all their sessions and their devices index
  `flight_session_index:{<tag>}` (a hash with one field per session, each with the session's
  own TTL: expired entries disappear by themselves) live in one slot and change atomically.
- **Outages raise** (never "logged out"): a failed read is remembered for the request, so
  a page that touches the session twice waits on a broken Valkey once.
"""

from .codec import DamagedSession, SessionCodec, jsonable
from .keys import (
    INDEX_PREFIX,
    KEY_CHARS,
    KEY_LENGTH,
    KEY_PREFIX,
    RANDOM_LENGTH,
    TAG_LENGTH,
    index_key,
    mask,
    new_key,
    passenger_tags,
    session_key_of,
    valid_key,
    valkey_key,
)
from .scripts import CREATE, delete_sessions, sessions_client
from .store import EXPIRY_KEY, SessionConflict, SessionStore, now_ms

__all__ = [
    "CREATE",
    "EXPIRY_KEY",
    "INDEX_PREFIX",
    "KEY_CHARS",
    "KEY_LENGTH",
    "KEY_PREFIX",
    "RANDOM_LENGTH",
    "TAG_LENGTH",
    "DamagedSession",
    "SessionCodec",
    "SessionConflict",
    "SessionStore",
    "delete_sessions",
    "index_key",
    "jsonable",
    "mask",
    "new_key",
    "now_ms",
    "passenger_tags",
    "session_key_of",
    "sessions_client",
    "valid_key",
    "valkey_key",
]
