"""valkey_sessions: a session ended by someone else leaves a short-lived marker saying who, read
only when a cookie names a session that is gone; a logout by the user is a plain DEL. Engine
level (no page); the pages' side is in tests/test_ux.py."""

from __future__ import annotations

import pytest
from django.test import Client

from valkey_sessions import live
from valkey_sessions.keys import ended_marker_key, session_key_of, valkey_key
from valkey_sessions.scripts import ended_by
from valkey_sessions.store import SessionStore

from .conftest import BOTH_DBS
from .helpers import ValkeyMonitor, login
from .helpers import session_key_of as cookie_key

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def _session(valkey_client, owner_data: dict | None = None) -> str:
    store = SessionStore()
    store.update(owner_data or {"note": "x"})
    store.set_expiry(600)
    store.save(must_create=True)
    assert store.session_key
    return store.session_key


def test_an_ended_session_says_by_whom_for_as_long_as_it_would_have_lived(valkey_client):
    key = _session(valkey_client)
    ttl = valkey_client.pttl(valkey_key(key))
    assert live.end(key, by="staff")
    assert valkey_client.exists(valkey_key(key)) == 0
    assert ended_by(key) == "staff"
    assert SessionStore().ended_how(key) == "staff"
    # The marker lives as long as the session would have (then "expired" is the truth), no longer.
    assert 0 < valkey_client.pttl(ended_marker_key(key)) <= ttl
    # Not a session: counts, SCAN pages and purges pass it by.
    assert session_key_of(ended_marker_key(key)) is None
    assert live.count()[0] == 0


def test_markers_are_capped_and_can_be_switched_off(valkey_client, settings):
    settings.VALKEY_SESSIONS = {
        **getattr(settings, "VALKEY_SESSIONS", {}),
        "ENDED_MARKER_MAX_AGE": 5,
    }
    key = _session(valkey_client)
    live.end(key, by="elsewhere")
    assert 0 < valkey_client.pttl(ended_marker_key(key)) <= 5000
    settings.VALKEY_SESSIONS = {**settings.VALKEY_SESSIONS, "ENDED_MARKER_MAX_AGE": 0}
    other = _session(valkey_client)
    live.end(other, by="elsewhere")
    assert ended_by(other) is None and valkey_client.exists(ended_marker_key(other)) == 0


def test_a_plain_end_an_expiry_and_a_logout_leave_no_marker(valkey_client, client, passport):
    key = _session(valkey_client)
    live.end(key)  # no `by`: nobody to name
    assert ended_by(key) is None
    gone = _session(valkey_client)
    valkey_client.delete(valkey_key(gone))  # as an expiry does
    assert ended_by(gone) is None
    login(client, passport)
    mine = cookie_key(client)
    client.post("/logout/")
    assert valkey_client.exists(valkey_key(mine)) == 0
    assert ended_by(mine) is None
    assert ended_by("not a key") is None


def test_a_marker_only_for_sessions_that_existed_and_all_in_one_step(
    valkey_client, valkey_server, passport
):
    """End everywhere: one script call per tag, a marker per session that was there; the
    markers are written inside the script (MONITOR shows them), not by extra round trips."""
    browsers = [Client() for _ in range(3)]
    for browser in browsers:
        login(browser, passport)
    keys = [cookie_key(b) for b in browsers]
    from passengers import session as sess

    owner = SessionStore(keys[0]).load()[sess.PASSENGER_ID]
    with ValkeyMonitor(valkey_server.port) as monitor:
        assert live.end_all(owner, keep=keys[0], by="elsewhere") == 2
    sent = [verb for verb, _ in monitor.commands]
    assert sent.count("EVALSHA") + sent.count("EVAL") == 1, sent
    assert sorted(k for verb, k in monitor.script_commands if verb == "SET") == sorted(
        ended_marker_key(k) for k in keys[1:]
    )
    assert [ended_by(k) for k in keys] == [None, "elsewhere", "elsewhere"]
    # Ending what is already gone writes no marker.
    assert not live.end(keys[1], by="staff")
    assert ended_by(keys[1]) == "elsewhere"


def test_markers_are_read_only_for_a_missing_session(client, valkey_server, passport):
    """A normal page never reads a marker: only a cookie naming a gone session does."""
    login(client, passport)
    key = cookie_key(client)
    with ValkeyMonitor(valkey_server.port) as monitor:
        client.get("/")
    assert all(not k.endswith(":ended") for _, k in monitor.commands)
    live.end(key, by="staff")
    with ValkeyMonitor(valkey_server.port) as monitor:
        client.get("/")
    assert ("GET", ended_marker_key(key)) in monitor.commands


def test_purge_leaves_no_marker(valkey_client):
    ended, kept = _session(valkey_client), _session(valkey_client)
    live.end(ended, by="staff")
    assert live.purge() == 1
    assert valkey_client.exists(valkey_key(kept), ended_marker_key(ended)) == 0
