"""valkey_sessions: Django sessions in Valkey, done right. A reusable Django app that imports
nothing of any site: add "valkey_sessions" to INSTALLED_APPS and set

    SESSION_ENGINE = "valkey_sessions"
    SESSION_CACHE_ALIAS = "sessions"      # a django-valkey cache (noeviction server)
    VALKEY_SESSIONS = {...}               # optional: see valkey_sessions/conf.py

See valkey_sessions/README.md for what it does, what it sends to Valkey and its guarantees.

The public API is what this module exports: the engine (`SessionStore`), its errors, the
server check for health endpoints (`server_problems`), and `live` (owner index and live-session
helpers).
"""

from .checks import server_problems
from .errors import SessionConflict, SessionUnavailable
from .merge import MergeRejected
from .store import SessionStore

__all__ = [
    "MergeRejected",
    "SessionConflict",
    "SessionStore",
    "SessionUnavailable",
    "server_problems",
]
