"""The "your session" page, the devices index and ending sessions, with Valkey as the witness."""

from __future__ import annotations

import pytest
from django.test import Client

from valkey_sessions import live as live_sessions
from valkey_sessions.keys import index_key, valkey_key
from valkey_sessions.store import SessionStore, decode_value, encode_value, now_ms

from .conftest import BOTH_DBS
from .helpers import ValkeyMonitor, indexed, login, raw_value, session_key_of

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def browser(user_agent: str, ip: str) -> Client:
    return Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def test_session_page_shows_the_session_but_never_its_key(valkey_client, passport):
    client = browser(FIREFOX, "203.0.113.7")
    login(client, passport)
    client.post("/weather/", {"country": "GB", "zip": "B1"})
    key = session_key_of(client)
    page = client.get("/session/")
    assert page.status_code == 200
    text = page.text
    assert key not in text and key[8:] not in text, "the secret part of the key is on the page"
    assert f"flight_session:{{{key[:3]}}}{key[3:12]}…" in text
    assert "Birmingham" in text and passport in text  # the decoded contents
    assert "bytes of Valkey memory" in text and "min" in text  # size and time left
    assert "Firefox 132 on Linux" in text and "203.0.113.7" in text


def test_session_page_is_a_peek_not_a_load(client, valkey_client, valkey_server, passport):
    login(client, passport)
    key = session_key_of(client)
    # Make a TTL refresh due (its last move looks 6 minutes old): a load would write.
    raw = raw_value(valkey_client, valkey_key(key))
    written_at, data = decode_value(raw)
    valkey_client.set(valkey_key(key), encode_value(data, written_at - 360_000), ex=900)
    with ValkeyMonitor(valkey_server.port) as monitor:
        assert client.get("/session/").status_code == 200
    verbs = {v for v, _ in monitor.commands + monitor.script_commands}
    assert not verbs & {"SET", "PEXPIRE", "EXPIRE", "EVALSHA", "EVAL", "GETEX"}, verbs
    assert valkey_client.ttl(valkey_key(key)) <= 900
    assert client.get("/").status_code == 200  # a normal page does refresh it
    assert valkey_client.ttl(valkey_key(key)) > 1700


def test_session_page_needs_a_login(client):
    response = client.get("/session/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_other_sessions_are_listed_and_can_be_ended(valkey_client, passport):
    laptop, phone = browser(FIREFOX, "198.51.100.1"), browser(IPHONE, "198.51.100.2")
    login(laptop, passport)
    login(phone, passport)
    phone_key = session_key_of(phone)
    page = laptop.get("/session/").text
    assert "Mobile Safari 17 on iOS" in page and "198.51.100.2" in page
    assert phone_key[8:] not in page

    handle = live_sessions.handle_of(phone_key)
    response = laptop.post("/session/end/", {"session": handle}, follow=True)
    assert "has ended" in response.text
    assert not valkey_client.exists(valkey_key(phone_key))
    assert indexed(valkey_client, phone_key) == [session_key_of(laptop)]
    # The ended browser's next request lands on the login page; the laptop is still in.
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_a_handle_of_another_passenger_ends_nothing(valkey_client, passport):
    from flightsite.flughafendb.demo_data import passport_number

    mine, theirs = Client(), Client()
    login(mine, passport)
    login(theirs, passport_number(2))
    handle = live_sessions.handle_of(session_key_of(theirs))
    mine.post("/session/end/", {"session": handle})
    assert valkey_client.exists(valkey_key(session_key_of(theirs)))


def test_log_out_everywhere_else_ends_n_sessions_in_one_request(
    valkey_client, valkey_server, passport
):
    here = browser(FIREFOX, "192.0.2.1")
    login(here, passport)
    others = [browser(IPHONE, f"192.0.2.{i}") for i in range(2, 6)]
    for other in others:
        login(other, passport)
    with ValkeyMonitor(valkey_server.port) as monitor:
        response = here.post("/session/end-others/", follow=True)
    assert "4 other sessions ended" in response.text
    deletes = [k for v, k in monitor.commands if v in {"EVALSHA", "EVAL"}]
    assert len(deletes) == 1, monitor.commands  # one script call ends all four
    assert all(other.get("/").status_code == 302 for other in others)
    assert here.get("/").status_code == 200
    key = session_key_of(here)
    assert indexed(valkey_client, key) == [key]


def test_index_entry_expires_with_its_session(client, valkey_client, passport):
    """The owner index expires with its longest-lived session, and the entry of a session that
    is gone is pruned by the next login in its bucket: the expiry times are the proof, no
    waiting."""
    login(client, passport)
    key = session_key_of(client)
    session = SessionStore(key)
    session.set_expiry(60)
    session.save()
    assert indexed(valkey_client, key) == [key]
    assert valkey_client.zscore(index_key(key), key[3:]) == float("inf")  # 5 bytes, not 10
    session_ttl = valkey_client.pttl(valkey_key(key))
    assert valkey_client.pttl(index_key(key)) >= session_ttl  # its longest-lived session's
    # Once its session has expired (here: deleted behind the engine's back), the next login in
    # the bucket prunes the entry.
    valkey_client.delete(valkey_key(key))
    login(Client(), passport)
    assert key not in indexed(valkey_client, key)


def test_entries_of_the_previous_release_are_read_and_kept(client, valkey_client, passport):
    """A rolling deploy: the release before this one scored an entry with its session's expiry
    (ms). Such an entry is listed, survives a login in its bucket while its session lives (even
    with its score in the past: that release's refresh moved it, this one does not read it),
    gets `+inf` at the next refresh, and is pruned once its session is gone."""
    login(client, passport)
    key = session_key_of(client)
    index = index_key(key)
    valkey_client.zadd(index, {key[3:]: now_ms() - 1})  # as that release wrote it, since lapsed
    other = Client()
    login(other, passport)
    assert sorted(indexed(valkey_client, key)) == sorted([key, session_key_of(other)])
    session = SessionStore(key)
    session.set_expiry(120)  # a write that moves the TTL: the entry is this release's again
    session.save()
    assert valkey_client.zscore(index, key[3:]) == float("inf")
    valkey_client.delete(valkey_key(key))
    login(Client(), passport)
    assert key not in indexed(valkey_client, key)


def test_read_only_pages_cost_no_index_command(client, valkey_client, valkey_server, passport):
    login(client, passport)
    client.get("/")
    with ValkeyMonitor(valkey_server.port) as monitor:
        client.get("/")
        client.get("/flights/")
        client.get("/weather/")
    assert [v for v, _ in monitor.commands] == ["GET", "GET", "GET"], monitor.commands


def test_session_page_respects_the_circuit_breaker(client, valkey_client, passport, settings):
    """With the session store's breaker open, the page's pipelined reads fail fast (503)
    instead of waiting on Valkey."""
    from valkey_sessions.scripts import sessions_client

    login(client, passport)
    breaker = sessions_client().breaker
    for _ in range(settings.BREAKER_FAILURES):
        breaker.failure()
    response = client.get("/session/")
    assert response.status_code == 503 and response["Retry-After"]
