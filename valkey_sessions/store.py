"""SessionStore: a complete Django SessionBase on Valkey, sync and async (see the package
README for what it does and why)."""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import time
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.utils.module_loading import import_string
from valkey.exceptions import ResponseError, ValkeyError

from . import conf
from .codec import DamagedSession, Envelope, encode_device
from .errors import SessionConflict, SessionUnavailable
from .keys import (
    BUCKET_LENGTH,
    TAG_LENGTH,
    index_key,
    mask,
    member,
    new_key,
    owner_tags,
    turn_keys,
    valid_key,
    valkey_key,
)
from .merge import MergeRejected
from .scripts import (
    COMPARE_AND_SET,
    CREATE,
    CYCLE,
    MOVED_TTL_MS,
    PASS_TURN,
    RETIRE,
    TURN_LEASE_MS,
    delete_sessions,
    ended_by,
    sessions_client,
)

logger = logging.getLogger("valkey_sessions")

EXPIRY_KEY = "_session_expiry"  # where Django's set_expiry() keeps a custom expiry
REFRESH_FRACTION = 10  # the TTL is moved forward once a tenth of the idle age has passed
# A change that lost this many races waits its turn (`_wait_turn`); the first lost race is
# retried at once: with a few writers that retry mostly wins, and joining the line would cost
# round trips and a wake-up of another process for nothing (bench/parallel_adds.py, 4 sync
# workers on a loaded machine: p50 about 2-5 times the old retry's when the first loss joined;
# with the second, on a par with it; docs/sessions.md).
LINE_AFTER_LOST_RACES = 2
# A refused TTL refresh (full or read-only server) is retried by the next request until half
# the idle age has passed since the last successful one; then it is an outage (503), never a
# silent logout when the key expires.
REFRESH_GIVE_UP_FRACTION = 2


def now_ms() -> int:
    return conf.now_ms()


def owner_of(data: dict[str, Any]) -> str | int | None:
    owner: str | int | None = conf.plugin("OWNER")(data)
    return owner


def encode_value(data: dict[str, Any], written_at: int, device: bytes | None = None) -> bytes:
    """The stored value of a session (the envelope around the CODEC's body)."""
    return Envelope.make(written_at, device, encode_body(data))


def decode_value(raw: bytes) -> tuple[int, dict[str, Any]]:
    """(written_at_ms, data) of a stored value; DamagedSession if unreadable."""
    written_at, _, body = Envelope.parts(raw)
    data = conf.plugin("CODEC").decode(body)
    if type(data) is not dict:
        raise DamagedSession("the codec returned no dict")
    return written_at, data


def encode_body(data: dict[str, Any]) -> bytes:
    body: bytes = conf.plugin("CODEC").encode(data)
    return body


def _wait_step(client: Any) -> float:
    """Seconds one BLPOP of `_wait_turn` may block: half the client's socket timeout (a reply
    that comes later than that timeout is an error), at most 1 s."""
    kwargs: Any = getattr(client, "get_connection_kwargs", dict)()
    timeout = kwargs.get("socket_timeout") if isinstance(kwargs, dict) else None
    return min(1.0, timeout / 2) if timeout else 1.0


def _digest(payload: bytes) -> str:
    return hashlib.sha1(payload, usedforsecurity=False).hexdigest()


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None) -> None:
        # SessionBase.__init__ but for its import_string(SESSION_SERIALIZER) on every request
        # (~3 us): this store stores with its CODEC; `serializer` is made if something asks.
        self._session_key = session_key
        self.accessed = False
        self.modified = False
        self._stored: bytes | None = None  # the value as read or last written
        self._stored_data: tuple[bytes, dict[str, Any]] | None = None  # it decoded (merges)
        self._written_at = 0  # when the TTL was last moved (ms), from the stored value
        self._loaded_expiry: Any = None  # _session_expiry as read, to notice set_expiry()
        self._refresh_due = False
        self._load_error: BaseException | None = None
        self._device: bytes | None = None  # where it was opened (Envelope), kept on writes
        self._new_device: tuple[str, str] = ("", "")

    @functools.cached_property
    def serializer(self) -> Any:  # for SessionBase.encode() and decode()
        return import_string(settings.SESSION_SERIALIZER)

    # -- keys --

    def _validate_session_key(self, key: str | None) -> bool:
        # Only keys this store could have made ever reach Valkey: a forged cookie is no session.
        return valid_key(key)

    def _get_new_session_key(self) -> str:
        # No EXISTS probe: create() uses SET NX, so the rare collision is retried there.
        owner = owner_of(getattr(self, "_session_cache", None) or {})
        return new_key(owner_tags(owner)[0] if owner is not None else None)

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()

    def set_device(self, *, client_ip: str = "", user_agent: str = "") -> None:
        """Where this session is used from, for its owner's list of devices (stored with the
        session when it is created). `user_agent`: what the list shows, best a short label
        ("Firefox 132 on Linux"); at most 120 characters are kept."""
        self._new_device = (client_ip, user_agent)

    def use_peeked(self, raw: bytes, data: dict[str, Any]) -> None:
        """Take a value read by a peek (valkey_sessions.live) as this request's session, so
        the page does not load it again (a load may move the TTL; a peek never). The raw value
        is kept: a later save compares with it, so a concurrent change is merged, not lost."""
        self._session_cache = data
        self._written_at, self._device, _ = Envelope.parts(raw)
        self._stored = raw
        self._loaded_expiry = data.get(EXPIRY_KEY)

    # -- expiry --

    def _idle_age(self, expiry: Any) -> int | None:
        """Seconds of inactivity that end the session; None when it ends at a fixed date."""
        if not expiry:  # None or 0 (browser close): the server side keeps the default age
            return self.get_session_cookie_age()
        if isinstance(expiry, str):
            return None
        return int(expiry)

    def _ttl(self, data: dict[str, Any], now: int) -> tuple[str, int] | None:
        """('PX', ms) for an idle age, ('AT', ms since the epoch) for a fixed date (whether it
        has passed is decided on the server's clock, in the script); None when the session
        has ended (a non-positive age)."""
        expiry: Any = data.get(EXPIRY_KEY)  # an age, a date (str) or nothing
        age = self._idle_age(expiry)
        if age is None:
            try:
                return "AT", int(datetime.fromisoformat(expiry).timestamp() * 1000)
            except ValueError:
                return "PX", self.get_session_cookie_age() * 1000
        return ("PX", age * 1000) if age > 0 else None

    def _is_refresh_due(self, data: dict[str, Any], written_at: int, now: int) -> bool:
        age = self._idle_age(data.get(EXPIRY_KEY))
        if age is None or age <= 0:
            return False
        elapsed = now - written_at
        # A written_at ahead of this clock (another app server's) counts as due: self-correcting.
        return elapsed < 0 or elapsed >= max(100, age * 1000 // REFRESH_FRACTION)

    # -- reading --

    def _get_session(self, no_load: bool = False) -> dict[str, Any]:
        if self._load_error is not None and not hasattr(self, "_session_cache"):
            self.accessed = True
            raise self._load_error  # Valkey failed once in this request: do not wait again
        session: dict[str, Any] = super()._get_session(no_load)  # type: ignore[misc]  # private
        return session

    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        if self._load_error is not None and not hasattr(self, "_session_cache"):
            self.accessed = True
            raise self._load_error
        session: dict[str, Any] = await super()._aget_session(no_load)  # type: ignore[misc]
        return session

    _session = property(_get_session)  # SessionBase binds its own _get_session here

    def load(self) -> dict[str, Any]:
        key = self.session_key
        if key is None:
            return {}
        try:
            raw = sessions_client().get(valkey_key(key))
        except ResponseError as exc:
            if not str(exc).startswith("WRONGTYPE"):
                self._load_error = exc
                raise
            # Not a string: a renewed session's "moved" mark (a set: left to expire) or
            # foreign data (removed, or it would be "no session" forever). No session.
            if sessions_client().type(valkey_key(key)) not in (b"set", "set"):
                self._delete_quietly(key)
            raw = None
        except Exception as exc:
            self._load_error = exc
            raise
        return self._accept(raw)

    async def aload(self) -> dict[str, Any]:
        return await sync_to_async(self.load, thread_sensitive=False)()

    def _accept(self, raw: bytes | None) -> dict[str, Any]:
        self._stored = None
        if raw is None:
            self._session_key = None
            return {}
        try:
            written_at, data = decode_value(raw)
        except DamagedSession as exc:
            if exc.newer:
                # Written by a newer release (a rolling deploy): not ours to delete, and not
                # "no session" either (the cookie would be dropped): an outage until this
                # instance is replaced.
                self._load_error = SessionUnavailable(
                    f"session {mask(self.session_key)}: {exc} (a newer release wrote it)"
                )
                raise self._load_error from exc
            else:
                logger.warning(
                    "Session %s is unreadable (%s): treated as no session, key deleted",
                    mask(self.session_key),
                    exc,
                )
                self._delete_quietly(self.session_key)
            self._session_key = None
            return {}
        now = now_ms()
        expiry = data.get(EXPIRY_KEY)
        if expiry:  # set_expiry() was used: an age of its own or a date
            alive = self._ttl(data, now) is not None
            refresh_due = alive and self._is_refresh_due(data, written_at, now)
        else:  # the common case, the default idle age: one settings read, no date parsing
            age = self.get_session_cookie_age()
            elapsed = now - written_at
            alive = age > 0
            # As _is_refresh_due: a written_at ahead of this clock counts as due.
            refresh_due = alive and (
                elapsed < 0 or elapsed >= max(100, age * 1000 // REFRESH_FRACTION)
            )
        if not alive:
            self._delete_quietly(self.session_key)  # its date has passed (clock skew, by hand)
            self._session_key = None
            return {}
        self._stored, self._written_at = raw, written_at
        self._device = Envelope.parts(raw)[1]
        self._loaded_expiry = expiry
        if refresh_due:
            # Saved (by the middleware, with whatever else this request changes) to move the
            # TTL forward. Most reads are not due and write nothing.
            self._refresh_due = True
            self.modified = True
        return data

    def _delete_quietly(self, session_key: str | None) -> None:
        try:
            self.delete(session_key)
        except Exception as exc:  # best effort: the value is unusable either way
            logger.warning("Could not delete session %s: %s", mask(session_key), exc)

    # -- writing --

    def exists(self, session_key: str | None) -> bool:
        # TYPE, not EXISTS: a renewed session's old key holds a "moved" mark (a set) a while.
        if not valid_key(session_key):
            return False
        return sessions_client().type(valkey_key(session_key)) in (b"string", "string")

    async def aexists(self, session_key: str | None) -> bool:
        return await sync_to_async(self.exists, thread_sensitive=False)(session_key)

    def create(self) -> None:
        for _ in range(100):
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # a key collision (SET NX refused): draw another
            self.modified = True
            return
        raise RuntimeError("Unable to create a new session key.")

    async def acreate(self) -> None:
        await sync_to_async(self.create, thread_sensitive=False)()

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if self.session_key is None:
            # save() without a read of a session that has vanished (the load above found
            # nothing): a new session, as Django's own backends do.
            return self.create()
        if must_create:
            return self._create(data)
        return self._update(data)

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save, thread_sensitive=False)(must_create)

    def _create(self, data: dict[str, Any]) -> None:
        key = self.session_key
        assert key is not None
        now = now_ms()
        ttl = self._ttl(data, now)
        if ttl is None:
            return  # born expired: there is nothing to keep
        owner = owner_of(data)
        # Indexed under its owner's tag only: a key made otherwise is in no one's devices.
        tags = owner_tags(owner) if owner is not None else []
        indexed = key[:TAG_LENGTH] in tags
        if self._device is None and any(self._new_device):
            self._device = encode_device(now, *self._new_device)
        payload = Envelope.make(now, self._device, encode_body(data))
        cap = conf.get("MAX_SESSIONS_PER_OWNER") or 0
        result = CREATE(
            sessions_client(),
            [valkey_key(key), index_key(key)],
            [
                payload,
                *ttl,
                member(key) if indexed else "",
                key[BUCKET_LENGTH:TAG_LENGTH],
                cap,
                int(conf.get("ENDED_MARKER_MAX_AGE") * 1000),  # a 'limit' marker, past the cap
            ],
        )
        if result == 0:
            raise CreateError
        if result == 1:
            self._stored, self._written_at = payload, now
        self._loaded_expiry = data.get(EXPIRY_KEY)
        self._refresh_due = False

    def _current_value(self, key: str) -> None:
        """For a write without a read (clear(), a cleared-then-filled session): compare with
        what is there now, so that a deleted session is still never written back."""
        try:
            raw = sessions_client().get(valkey_key(key))
        except ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                raise self._moved() from exc
            raise
        if raw is None:
            raise UpdateError
        try:
            self._written_at, self._device, _ = Envelope.parts(raw)
        except DamagedSession:
            raise UpdateError from None
        self._stored = raw

    def _update(self, data: dict[str, Any]) -> None:
        key = self.session_key
        assert key is not None
        now = now_ms()
        if self._ttl(data, now) is None:
            # A past date or a non-positive age: the session ends here (Django's own backends
            # store it and never load it again; deleting it frees the key at once).
            self.delete(key)
            return
        if self._stored is None:
            self._current_value(key)
        move_ttl = self._refresh_due or data.get(EXPIRY_KEY) != self._loaded_expiry
        body = encode_body(data)
        only_ttl = body == Envelope.body_of(self._stored or b"")
        if only_ttl and not move_ttl:
            return  # nothing changed: no write
        self._write(key, data, body, move_ttl, only_ttl)

    def _write(
        self, key: str, data: dict[str, Any], body: bytes, move_ttl: bool, only_ttl: bool
    ) -> None:
        """The compare-and-set loop. A change another request beat is merged into what that
        request stored and written again; after a second lost race it is written in turn: the
        requests that keep losing on one session queue (`_wait_turn`) instead of racing again,
        so each is written after the ones before it, with one more merge. No deadline: every
        lost race means another request's change was stored, so a waiting request only waits
        for progress; a hung or dead server is an error of the call that meets it (valkey-py's
        socket timeout), never a long wait."""
        client = sessions_client()
        lines = turn_keys(key)
        in_turn = False  # this request holds the session's turn (and must hand it on)
        lost = 0  # races lost
        try:
            while True:
                now = now_ms()
                ttl = self._ttl(data, now) if move_ttl else None
                written_at = now if ttl else self._written_at
                payload = Envelope.make(written_at, self._device, body)
                mode, ttl_ms = ttl or ("KEEPTTL", 0)
                try:
                    result = COMPARE_AND_SET(
                        client,
                        [valkey_key(key), index_key(key), *lines],
                        [
                            _digest(self._stored or b""),
                            payload,
                            mode,
                            ttl_ms,
                            member(key),
                            TURN_LEASE_MS if in_turn else "",
                        ],
                    )
                except ValkeyError as exc:
                    in_turn = False  # the server failed: a handover would fail too (it expires)
                    if not only_ttl:
                        raise
                    age = self._idle_age(data.get(EXPIRY_KEY)) or 0
                    if now - self._written_at >= age * 1000 // REFRESH_GIVE_UP_FRACTION:
                        raise SessionUnavailable(
                            f"Session {mask(key)}: TTL refresh refused since "
                            f"{(now - self._written_at) // 1000} s: {exc}"
                        ) from exc
                    # Moving the TTL of an unchanged session is not worth an error page (the
                    # session still has most of its age left): the next request tries again.
                    logger.warning("Session %s: TTL refresh skipped: %s", mask(key), exc)
                    return
                if result is None or result in (1, -1, -2):
                    in_turn = False  # the script handed the turn on
                if result == 1:
                    self._stored, self._written_at = payload, written_at
                    self._loaded_expiry = data.get(EXPIRY_KEY)
                    self._refresh_due = False
                    return
                if result == -2:
                    raise self._moved()  # cycle_key in another request meanwhile
                if result == -1:  # its date has passed (on the server's clock): ended, deleted
                    self._stored = None
                    return
                if result is None:
                    raise UpdateError  # deleted meanwhile (logout in another tab): never recreate
                merged = self._merge_with(result, data, only_ttl)
                if merged is None:
                    return  # nothing of ours to write: another request saved since we read
                data, body = merged, encode_body(merged)
                lost += 1
                if in_turn or lost < LINE_AFTER_LOST_RACES:
                    continue  # write again at once (in turn, a newcomer was faster)
                handed = self._wait_turn(client, lines)
                in_turn = True
                if handed:  # what the request before wrote: merged now, no need to ask
                    merged = self._merge_with(handed, data, only_ttl)
                    assert merged is not None  # (only a change, never a bare refresh, waits)
                    data, body = merged, encode_body(merged)
        finally:
            if in_turn:  # stopped in turn without a write (a merge refused, say): hand it on
                try:
                    PASS_TURN(client, lines, [TURN_LEASE_MS])
                except ValkeyError as exc:  # it expires: the next one waits a little longer
                    logger.warning("Session %s: turn not handed on: %s", mask(key), exc)

    @staticmethod
    def _wait_turn(client: Any, lines: tuple[str, str]) -> bytes | None:
        """Wait until this request's turn to write the session: at once when nobody else waits
        (SET NX of `:turn`), else when the request before it is done (its script pushes to
        `:wake`; BLPOP serves the longest waiting first). Each BLPOP waits less than the
        socket timeout, so a healthy server always answers in time; after a timeout the turn
        is taken over only if it expired (its holder died). Returns the value the request
        before wrote, when it was handed over after this one joined (so it is newer than what
        this one merged with), else None: the next compare-and-set asks."""
        turn, wake = lines
        step = _wait_step(client)
        joined: int | None = None  # handovers counted when this request joined the line
        while True:
            count = client.set(turn, 0, nx=True, px=TURN_LEASE_MS, get=True)
            if count is None:
                return None  # nobody in line: this request's turn now
            if joined is None:
                joined = int(count)
            handed = client.blpop([wake], timeout=step)
            if handed is not None:
                number, _, value = handed[1].partition(b":")
                return value if int(number) > joined else None

    def _merge_with(
        self, theirs_raw: bytes, mine: dict[str, Any], only_ttl: bool
    ) -> dict[str, Any] | None:
        """Merge this request's change into the value another request stored first (that value
        becomes what we compare with next); None when there is nothing of ours to write: we
        only meant to move the TTL, and the other request's write is recent (the next read
        moves it again if it is due)."""
        try:
            their_written_at, theirs = decode_value(theirs_raw)
            cached = self._stored_data
            if cached is not None and cached[0] == self._stored:
                base = cached[1]  # what we merged into last time: decoded already
            else:
                _, base = decode_value(self._stored or b"")
        except DamagedSession:
            raise UpdateError from None  # replaced by something unreadable: treat as gone
        self._stored, self._written_at = theirs_raw, their_written_at
        self._stored_data = (theirs_raw, theirs)
        self._device = Envelope.parts(theirs_raw)[1]
        if only_ttl:
            self._session_cache = theirs
            self._loaded_expiry = theirs.get(EXPIRY_KEY)
            self._refresh_due = False
            return None
        try:
            merged: dict[str, Any] = conf.plugin("MERGE")(base, mine, theirs)
        except MergeRejected as exc:
            self._session_cache = theirs  # what is stored; this request's change is refused
            raise SessionConflict(exc.user_message) from exc
        self._session_cache = merged
        return merged

    @staticmethod
    def _moved() -> SessionConflict:
        return SessionConflict(
            "Your session was renewed by another request at the same moment (signing in, "
            "say), so this change was not saved. Please try again."
        )

    def cycle_key(self) -> None:
        """A new key for the same session (Django's auth login does this): compare-and-set on
        the old key, the new key created and the old one marked moved in one script, the
        index entry moved along; a session ended meanwhile is never brought back (UpdateError).
        A session that gets an owner moves to the owner's tag: the new key is created first,
        then the old one retired (two scripts: different cluster slots)."""
        data = self._session
        old = self.session_key
        if old is None or self._stored is None:
            # Never stored (a new session): Django's way, a fresh key.
            return super().cycle_key()
        client = sessions_client()
        conflicts = 0
        while True:
            now = now_ms()
            ttl = self._ttl(data, now)
            if ttl is None:  # ended: nothing to carry over
                self.delete(old)
                self._session_key = None
                self._session_cache = data
                return self.create()
            owner = owner_of(data)
            tags = owner_tags(owner) if owner is not None else []
            if tags and old[:TAG_LENGTH] not in tags:
                result = self._cycle_to(tags[0], data, old)
            else:
                new = new_key(old[:TAG_LENGTH])  # same tag: same slot, same index
                payload = Envelope.make(now, self._device, encode_body(data))
                result = CYCLE(
                    client,
                    [valkey_key(old), valkey_key(new), index_key(old)],
                    [_digest(self._stored), payload, *ttl, member(old), member(new)],
                )
                if result == 1:
                    self._session_key = new
                    self._stored, self._written_at = payload, now
            if result == -2:
                raise self._moved()
            if result == 1 or result == -1:
                if result == -1:  # its date has passed: nothing to carry over
                    self.delete(old)
                    self._session_key, self._stored = None, None
                self._loaded_expiry = data.get(EXPIRY_KEY)
                self._refresh_due = False
                self.modified = True
                return
            if result is None:
                raise UpdateError  # ended meanwhile ("log out everywhere"): not brought back
            if result != 0:  # another request changed it: merge, and try again
                data = self._merge_with(result, data, only_ttl=False) or data
                # No deadline, as in _write (each lost race is another request's progress);
                # no line either: a renewal is rare (a login), so a short pause with jitter
                # lets the writers it races finish first.
                conflicts += 1
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**conflicts)))

    def _cycle_to(self, tag: str, data: dict[str, Any], old: str) -> Any:
        """cycle_key into another tag (another slot): create, then retire the old key if it is
        unchanged (else the new one is dropped and the caller merges). Returns like CYCLE."""
        stored = self._stored
        self._session_key = new_key(tag)
        try:
            self.save(must_create=True)
        except CreateError:
            self._session_key, self._stored = old, stored
            return 0
        result = RETIRE(
            sessions_client(), [valkey_key(old)], [_digest(stored or b""), MOVED_TTL_MS]
        )
        if result != 1:
            delete_sessions([self._session_key])
            self._session_key, self._stored = old, stored
        return result

    async def acycle_key(self) -> None:
        await self._aget_session()
        await sync_to_async(self.cycle_key, thread_sensitive=False)()

    def ended_how(self, session_key: str) -> str | None:
        """Who ended the session `session_key` names (a cookie whose session is gone): what
        live.end(..., by=...) said ("staff", "elsewhere", "limit"), while its marker lives;
        None when nobody did (it expired). Not read on a normal request: only when asked."""
        return ended_by(session_key)

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        delete_sessions([session_key])
        if session_key == self.session_key:
            self._stored = None

    async def adelete(self, session_key: str | None = None) -> None:
        await sync_to_async(self.delete, thread_sensitive=False)(session_key)

    @classmethod
    def clear_expired(cls) -> None:
        pass  # Valkey expires keys (and index entries) by itself

    @classmethod
    async def aclear_expired(cls) -> None:
        pass
