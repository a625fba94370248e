"""Django's session-store contract, on our store and the real Valkey, sync and async halves.

These follow what Django's own SessionTestsMixin demands of a backend (create, save, load,
cycle_key, flush, delete, exists, clear, setdefault, pop, update, expiry in all its forms,
invalid keys, no resurrection after delete), written as our tests. Every async test runs the
same scenario through the `a*` methods, which must not fall back to anything but this store.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.utils import timezone

from valkey_sessions.keys import valkey_key
from valkey_sessions.store import SessionStore

from .conftest import BOTH_DBS
from .helpers import login, session_key_of, stored_session


@pytest.fixture
def session() -> SessionStore:
    return SessionStore()


def run(coroutine_function, *args):
    """Run an async test body (asgiref, as Django's own async tests do)."""
    return async_to_sync(coroutine_function)(*args)


# --- dictionary behaviour ----------------------------------------------------------------------


def test_new_session_is_neither_modified_nor_accessed(session):
    assert not session.modified and not session.accessed
    assert session.get("cat") is None


def test_store_pop_and_defaults(session):
    session["cat"] = "dog"
    assert session.modified
    assert session.pop("cat") == "dog"
    assert session.pop("some key", "absent") == "absent"
    with pytest.raises(KeyError):
        session.pop("some key")


def test_setdefault_update_keys_values_items(session):
    assert session.setdefault("foo", "bar") == "bar"
    assert session.setdefault("foo", "baz") == "bar"
    session.update({"update key": 1})
    assert session.accessed and session.modified
    assert sorted(session.keys()) == ["foo", "update key"]
    assert sorted(session.values(), key=str) == [1, "bar"]
    assert dict(session.items()) == {"foo": "bar", "update key": 1}
    assert session.has_key("foo") and "foo" in session


def test_clear_and_is_empty(session):
    assert session.is_empty()
    session["x"] = 1
    session.modified = session.accessed = False
    session.clear()
    assert list(session.items()) == []
    assert session.modified and session.accessed


def test_async_dictionary_methods(session):
    async def body():
        assert await session.aget("cat") is None
        await session.aset("cat", "dog")
        assert await session.asetdefault("cat", "x") == "dog"
        await session.aupdate({"n": 1})
        assert await session.ahas_key("n")
        assert sorted(await session.akeys()) == ["cat", "n"]
        assert await session.apop("cat") == "dog"
        assert dict(await session.aitems()) == {"n": 1}
        await session.aset_test_cookie()
        assert await session.atest_cookie_worked()
        await session.adelete_test_cookie()
        assert session.modified

    run(body)


# --- persistence -------------------------------------------------------------------------------


def test_save_exists_load(session, valkey_client):
    session["a"] = "b"
    session.save()
    key = session.session_key
    assert session.exists(key)
    assert stored_session(valkey_client, key) == {"a": "b"}
    assert SessionStore(key).load() == {"a": "b"}


def test_async_save_exists_load(session, valkey_client):
    async def body():
        await session.aset("a", "b")
        await session.asave()
        key = session.session_key
        assert await session.aexists(key)
        other = SessionStore(key)
        assert await other.aload() == {"a": "b"}
        assert await other.aget("a") == "b"

    run(body)


@pytest.mark.django_db(databases=BOTH_DBS)
def test_load_of_a_live_session_through_the_async_api(client, valkey_client, passport):
    """The bug this store fixes: aload() must not answer {} for a live session."""
    login(client, passport)
    key = session_key_of(client)

    async def body():
        data = await SessionStore(key).aload()
        assert data["passenger"]["passportno"] == passport

    run(body)


def test_delete_and_no_resurrection(session, valkey_client):
    session["x"] = "value1"
    session.save(must_create=True)
    key = session.session_key
    SessionStore(key).delete()  # logged out in another context
    session["x"] = "value2"
    with pytest.raises(UpdateError):
        session.save()
    assert not session.exists(key)
    assert SessionStore(key).load() == {}


def test_async_delete_and_no_resurrection(session, valkey_client):
    async def body():
        await session.aset("x", "value1")
        await session.asave(must_create=True)
        key = session.session_key
        await SessionStore(key).adelete()
        await session.aset("x", "value2")
        with pytest.raises(UpdateError):
            await session.asave()
        assert not await session.aexists(key)

    run(body)


def test_delete_with_explicit_key(session):
    session.save()
    key = session.session_key
    SessionStore().delete(key)
    assert not session.exists(key)


def test_flush(session):
    session["foo"] = "bar"
    session.save()
    previous = session.session_key
    session.flush()
    assert not session.exists(previous)
    assert session.session_key != previous
    assert session.modified and session.accessed


def test_async_flush(session):
    async def body():
        await session.aset("foo", "bar")
        await session.asave()
        previous = session.session_key
        await session.aflush()
        assert not await session.aexists(previous)
        assert session.session_key != previous

    run(body)


def test_cycle_key_keeps_data_and_deletes_old_key(session, valkey_client):
    session["a"], session["b"] = "c", "d"
    session.save()
    previous, data = session.session_key, list(session.items())
    session.cycle_key()
    assert session.session_key != previous
    assert list(session.items()) == data
    assert not session.exists(previous)
    assert stored_session(valkey_client, session.session_key) == dict(data)


def test_async_cycle_key(session, valkey_client):
    async def body():
        await session.aset("a", "c")
        await session.asave()
        previous = session.session_key
        await session.acycle_key()
        assert session.session_key != previous
        assert await session.aget("a") == "c"
        assert not await session.aexists(previous)

    run(body)
    assert stored_session(valkey_client, session.session_key) == {"a": "c"}


def test_cycle_key_without_session_cache(session):
    session["a"] = "b"
    session.save()
    key = session.session_key
    fresh = SessionStore(key)
    fresh.cycle_key()
    assert fresh.session_key != key
    assert fresh["a"] == "b"


def test_save_does_not_clear_data(session):
    session["a"] = "b"
    session.save()
    assert session["a"] == "b"


@pytest.mark.parametrize("bad", ["", "1", "short", "x" * 40, "../../etc/passwd*", "A" * 40])
def test_invalid_keys_are_no_session(bad, valkey_client):
    session = SessionStore(bad)
    assert session.get("cat") is None
    assert session.session_key is None  # malformed, or well formed but unknown
    session["cat"] = "dog"
    session.save()
    assert session.session_key != bad
    assert session.exists(session.session_key)
    assert not valkey_client.exists(f"flight_session:{bad}")


def test_loading_an_unknown_key_creates_nothing(valkey_client):
    key = SessionStore()._get_new_session_key()
    session = SessionStore(key)
    assert session.load() == {}
    assert not session.exists(key)
    assert valkey_client.keys("*") == []


def test_session_key_is_read_only(session):
    with pytest.raises(AttributeError):
        session.session_key = session._get_new_session_key()


def test_clear_expired_is_a_no_op(session):
    SessionStore.clear_expired()
    run(SessionStore.aclear_expired)


# --- expiry -------------------------------------------------------------------------------------


def test_default_expiry(session, valkey_client):
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    session.set_expiry(0)  # expires at browser close; the server keeps the default age
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    session.save()
    ttl = valkey_client.pttl(valkey_key(session.session_key))
    assert settings.SESSION_COOKIE_AGE * 1000 - 2000 < ttl <= settings.SESSION_COOKIE_AGE * 1000


def test_custom_expiry_seconds(session, valkey_client):
    modification = timezone.now()
    session.set_expiry(10)
    assert session.get_expiry_date(modification=modification) == modification + dt.timedelta(
        seconds=10
    )
    assert session.get_expiry_age(modification=modification) == 10
    session.save()
    assert 8 <= valkey_client.ttl(valkey_key(session.session_key)) <= 10


def test_custom_expiry_timedelta(session, valkey_client, monkeypatch):
    modification = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: modification)
    session.set_expiry(dt.timedelta(seconds=10))
    assert session.get_expiry_date(modification=modification) == modification + dt.timedelta(
        seconds=10
    )
    assert session.get_expiry_age(modification=modification) == 10


def test_custom_expiry_datetime_is_a_fixed_date(session, valkey_client):
    expiry = timezone.now() + dt.timedelta(days=14)  # "remember me"
    session.set_expiry(expiry)
    assert session.get_expiry_date() == expiry
    session.save()
    key = session.session_key
    expire_time_ms = valkey_client.pexpiretime(valkey_key(key))
    assert abs(expire_time_ms - expiry.timestamp() * 1000) < 2
    # Reading it again (and saving a change) never moves a fixed date.
    again = SessionStore(key)
    again["x"] = 1
    again.save()
    assert abs(valkey_client.pexpiretime(valkey_key(key)) - expiry.timestamp() * 1000) < 2


def test_custom_expiry_reset(session):
    session.set_expiry(None)
    session.set_expiry(10)
    session.set_expiry(None)
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_async_expiry_methods(session, valkey_client):
    async def body():
        await session.aset_expiry(60)
        assert await session.aget_expiry_age() == 60
        await session.aset("a", 1)
        await session.asave()
        assert not await session.aget_expire_at_browser_close()
        date = await session.aget_expiry_date()
        assert date > timezone.now()

    run(body)
    assert 55 <= valkey_client.ttl(valkey_key(session.session_key)) <= 60


@pytest.mark.parametrize("browser_close", [False, True])
def test_get_expire_at_browser_close(session, settings, browser_close):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = browser_close
    session.set_expiry(10)
    assert session.get_expire_at_browser_close() is False
    session.set_expiry(0)
    assert session.get_expire_at_browser_close() is True
    session.set_expiry(None)
    assert session.get_expire_at_browser_close() is browser_close


@pytest.mark.parametrize(
    "expiry",
    [
        -10,
        -dt.timedelta(seconds=10),
        dt.timedelta(0),
        "past-datetime",
    ],
    ids=["negative-seconds", "negative-timedelta", "zero-timedelta", "datetime-in-the-past"],
)
def test_expiry_in_the_past_ends_the_session_without_error(expiry, session, valkey_client):
    session["foo"] = "bar"
    session.save()
    key = session.session_key
    if expiry == "past-datetime":
        expiry = timezone.now() - dt.timedelta(minutes=1)
    session.set_expiry(expiry)
    session.save()  # no "invalid expire time" from Valkey, no 500
    assert not valkey_client.exists(valkey_key(key))
    assert "foo" not in SessionStore(key)


def test_new_session_born_expired_is_never_stored(session, valkey_client):
    session["foo"] = "bar"
    session.set_expiry(-dt.timedelta(seconds=10))
    session.save()
    assert "foo" not in SessionStore(session.session_key)
    assert valkey_client.keys("*") == []


def test_async_expiry_in_the_past(session, valkey_client):
    async def body():
        await session.aset("foo", "bar")
        await session.asave()
        key = session.session_key
        await session.aset_expiry(-5)
        await session.asave()
        return key

    key = run(body)
    assert not valkey_client.exists(valkey_key(key))


def test_a_fixed_date_is_decided_on_the_servers_clock(valkey_client, settings):
    """The app server's clock an hour off either way changes nothing: a date in the future
    (as Valkey sees it) is kept, one in the past ends the session, never a 500."""
    from .helpers import use_clock

    clock = use_clock(settings)
    for skew in (-3600, 3600):
        clock.ns = time.time_ns() + skew * 1_000_000_000
        session = SessionStore()
        session["foo"] = "bar"
        session.set_expiry(timezone.now() + dt.timedelta(minutes=5))
        session.save()
        assert SessionStore(session.session_key).load()["foo"] == "bar"
        assert 290_000 <= valkey_client.pttl(valkey_key(session.session_key or "")) <= 300_000
        session.set_expiry(timezone.now() - dt.timedelta(minutes=1))
        session.save()
        assert not valkey_client.exists(valkey_key(session.session_key or ""))
        born_ended = SessionStore()
        born_ended.set_expiry(timezone.now() - dt.timedelta(minutes=1))
        born_ended.create()
        assert not valkey_client.exists(valkey_key(born_ended.session_key or ""))


# --- values JSON cannot hold ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [dt.datetime(2026, 1, 1), dt.date(2026, 1, 1), Decimal("1.5"), uuid.uuid4(), b"raw", {1, 2}],
    ids=["datetime", "date", "decimal", "uuid", "bytes", "set"],
)
def test_values_json_cannot_hold_raise_type_error(value, session, valkey_client):
    session["d"] = value
    with pytest.raises(TypeError):
        session.save()
    assert valkey_client.keys("*") == []


def test_values_round_trip_as_json_would(session):
    session["t"] = (1, "a")
    session["nested"] = {"k": [1.5, None, True], 7: "int key"}
    session.save()
    data = SessionStore(session.session_key).load()
    assert data == {"t": [1, "a"], "nested": {"k": [1.5, None, True], "7": "int key"}}


@pytest.mark.urls("tests.async_urls")
@pytest.mark.django_db(databases=BOTH_DBS)
def test_async_view_end_to_end(valkey_client, passport):
    """An async view under Django's async handler: reads and writes through the a* API, the
    middleware saves with compare-and-set, and Valkey holds the result."""
    from django.test import AsyncClient

    async def body():
        client = AsyncClient()
        response = await client.post("/login/", {"passportno": passport})
        assert response.status_code == 302
        for expected in (1, 2, 3):
            response = await client.get("/async-visits/")
            assert response.status_code == 200
            assert response.json() == {"passportno": passport, "visits": expected}
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    key = run(body)
    assert stored_session(valkey_client, key)["async_visits"] == 3
    anonymous = run(_anonymous_get)
    assert anonymous == 403


async def _anonymous_get() -> int:
    from django.test import AsyncClient

    return (await AsyncClient().get("/async-visits/")).status_code
