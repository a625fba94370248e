"""The store's contract with Valkey itself: commands and writes per request, the TTL, compact
values, damaged data, merges and parallel requests (Valkey is the witness throughout)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
import requests
from django.contrib.sessions.backends.base import UpdateError
from django.test import Client
from django.utils import timezone

from flights.models import Flight
from passengers import session as sess
from valkey_sessions.errors import SessionConflict
from valkey_sessions.keys import ended_marker_key, index_key, valkey_key
from valkey_sessions.keys import session_key_of as key_of
from valkey_sessions.store import SessionStore, decode_value, encode_value

from .conftest import BOTH_DBS
from .helpers import (
    ValkeyMonitor,
    indexed,
    login,
    raw_value,
    session_cookie,
    session_key_of,
    stored_session,
    tomorrows_flights,
    use_clock,
)

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

WRITE_VERBS = {
    *("SET", "DEL", "GETEX", "EXPIRE", "PEXPIRE", "PEXPIREAT"),
    *("ZADD", "ZREM", "ZREMRANGEBYSCORE"),
}


def commandstats(valkey_client) -> dict[str, int]:
    stats = valkey_client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): v["calls"]
        for name, v in stats.items()
        if name not in {"cmdstat_info", "cmdstat_config|resetstat"}
    }


def workshop_flow(client: Client, passport: str) -> list[tuple[str, int]]:
    """The pass of shared/README.md; returns (step, status) pairs."""
    statuses = [("login POST", login(client, passport).status_code)]
    statuses.append(("dashboard", client.get("/").status_code))
    statuses.append(("weather form", client.get("/weather/?country=GB").status_code))
    weather = client.post("/weather/", {"country": "GB", "zip": "B1"})
    statuses.append(("weather POST", weather.status_code))
    statuses.append(("dashboard", client.get("/").status_code))
    statuses.append(("flights list", client.get("/flights/").status_code))
    flight_id = tomorrows_flights(1)[0]["flight_id"]
    add = client.post("/flights/add/", {"flight_id": flight_id})
    statuses.append(("flight POST", add.status_code))
    statuses.append(("dashboard", client.get("/").status_code))
    statuses.append(("logout POST", client.post("/logout/").status_code))
    statuses.append(("login page", client.get("/login/").status_code))
    return statuses


def test_workshop_flow_command_and_write_budget(client, valkey_client, valkey_server, passport):
    with ValkeyMonitor(valkey_server.port) as monitor:
        statuses = workshop_flow(client, passport)
    assert all(status in (200, 302) for _, status in statuses), statuses

    on_sessions = [(v, k) for v, k in monitor.commands if k.startswith("flight_session:")]
    assert len(on_sessions) <= 12, on_sessions
    inner = monitor.script_commands
    session_writes = [(v, k) for v, k in inner + on_sessions if v in WRITE_VERBS]
    session_writes = [(v, k) for v, k in session_writes if key_of(k)]
    # login, weather, flight, logout: one write each on the session key
    assert [v for v, _ in session_writes] == ["SET", "SET", "SET", "DEL"], session_writes
    index_writes = [
        (v, k)
        for v, k in inner
        if k.startswith("flight_session:") and not key_of(k) and v in WRITE_VERBS
    ]
    # login (add, expire; nothing to prune here), logout
    expected = ["ZADD", "PEXPIREAT", "ZREM"]
    assert [v for v, _ in index_writes] == expected, index_writes
    assert "GETEX" not in {v for v, _ in monitor.commands + inner}


def test_read_only_page_is_one_get_and_no_write(client, valkey_client, passport):
    login(client, passport)
    client.get("/")  # consumes the welcome message
    valkey_client.config_resetstat()
    assert client.get("/").status_code == 200
    assert client.get("/flights/").status_code == 200
    assert commandstats(valkey_client) == {"get": 2}


def test_login_is_one_script_call_and_no_exists_probe(client, valkey_client, passport):
    valkey_client.config_resetstat()
    login(client, passport)
    stats = commandstats(valkey_client)
    assert stats.get("set") == 1 and stats.get("zadd") == 1, stats  # session + owner index
    assert "exists" not in stats


def test_unchanged_session_is_not_rewritten(client, valkey_client, passport):
    login(client, passport)
    flight_id = tomorrows_flights(1)[0]["flight_id"]
    client.post("/flights/add/", {"flight_id": flight_id})
    valkey_client.config_resetstat()
    client.post("/flights/add/", {"flight_id": flight_id})  # duplicate: nothing changes
    stats = commandstats(valkey_client)
    assert "set" not in stats and "evalsha" not in stats and "eval" not in stats, stats


def test_the_ttl_is_the_sessions_own_expiry_never_reset_by_a_read(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    session = SessionStore(key)
    session.set_expiry(60)
    session.save()
    assert 55 <= valkey_client.ttl(valkey_key(key)) <= 60
    client.get("/")
    client.get("/flights/")
    assert 55 <= valkey_client.ttl(valkey_key(key)) <= 60  # not back to SESSION_COOKIE_AGE


def test_sliding_expiry(client, valkey_client, passport, settings):
    """Active every third of the idle age for three ages (the engine's clock moved, no sleep):
    still logged in, the TTL back at the full age after each refresh, and a write only when a
    refresh is due (a tenth of the age); Valkey expires an idle key after one age."""
    settings.SESSION_COOKIE_AGE = 60
    clock = use_clock(settings)
    login(client, passport)
    key = session_key_of(client)
    client.get("/")
    for _ in range(9):
        clock.advance(20)
        valkey_client.config_resetstat()
        assert client.get("/").status_code == 200, "logged out while active"
        assert commandstats(valkey_client).get("evalsha") == 1  # the refresh
        assert 58_000 <= valkey_client.pttl(valkey_key(key)) <= 60_000
    clock.advance(5)  # less than a tenth of the age: a read, no write
    valkey_client.config_resetstat()
    assert client.get("/").status_code == 200
    assert commandstats(valkey_client) == {"get": 1}
    # Idle from here: the key's own TTL (the server's clock) ends it within one age.
    assert 0 < valkey_client.pttl(valkey_key(key)) <= 60_000
    valkey_client.delete(valkey_key(key))  # as Valkey's expiry will
    assert client.get("/").status_code == 302


def test_read_far_from_expiry_writes_nothing_and_due_read_refreshes(
    client, valkey_client, passport
):
    login(client, passport)
    key = session_key_of(client)
    client.get("/")
    valkey_client.config_resetstat()
    client.get("/")
    assert "set" not in commandstats(valkey_client)

    # Make the last refresh look 1/5 of the age old: due (a tenth), so the next read moves it.
    raw = raw_value(valkey_client, valkey_key(key))
    written_at, data = decode_value(raw)
    aged = encode_value(data, written_at - 360_000)
    valkey_client.set(valkey_key(key), aged, keepttl=True)
    valkey_client.expire(valkey_key(key), 1000)
    client.get("/")
    assert 1790 <= valkey_client.ttl(valkey_key(key)) <= 1800
    assert decode_value(raw_value(valkey_client, valkey_key(key)))[0] > written_at


@pytest.mark.parametrize(
    "value",
    [
        b"{not json",
        b'{"passenger_id": 1}',  # the old JSON layout
        b"\x93\x00\xcf" + b"\x00" * 8 + b"\x95\xc0\xc0\xc0\xc0\x80",  # an older layout
        b"\x93\x01\xcf" + b"\x00" * 8 + b"\xff\xff",  # damaged body
        b"\x80",  # a msgpack map, not our array
        b"",
    ],
    ids=["garbage", "old-json", "older-layout", "damaged", "not-an-array", "empty"],
)
def test_damaged_or_foreign_value_is_no_session(value, client, valkey_client, passport, caplog):
    login(client, passport)
    key = session_key_of(client)
    valkey_client.set(valkey_key(key), value)
    with caplog.at_level(logging.WARNING, logger="passengers.session_store"):
        response = client.get("/")
        assert response.status_code == 302  # to the login page, not a 500
        assert client.get("/").status_code == 302
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1
    assert not valkey_client.exists(valkey_key(key))
    login(client, passport)
    assert client.get("/").status_code == 200


def test_a_newer_format_is_an_outage_not_a_logout(client, valkey_client, passport):
    """A rolling deploy: another instance already writes a newer envelope format. This one
    cannot read it: a 503 (the cookie kept, the value untouched), never "no session"."""
    login(client, passport)
    cookie = session_cookie(client)
    key = valkey_key(session_key_of(client))
    newer = b"\x94\x03\xcf" + b"\x00" * 8 + b"\xc0\x95\xc0\xc0\xc0\xc0\x80"
    valkey_client.set(key, newer)
    response = client.get("/")
    assert response.status_code == 503 and response["Retry-After"]
    assert raw_value(valkey_client, key) == newer
    assert session_cookie(client) == cookie


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def _previous_release_device(raw: bytes | None) -> tuple[int, str, str] | None:
    """valkey_sessions.codec.decode_device as the release before 2026-12 had it."""
    if not raw:
        return None
    try:
        created, ip, label = msgspec.msgpack.decode(raw)
    except (msgspec.DecodeError, TypeError, ValueError):
        return None
    return (created * 1000, str(ip), str(label)) if type(created) is int else None


def test_the_device_is_compact_and_the_previous_release_reads_the_session(valkey_client, passport):
    """Where a session was opened takes 25 bytes for an IPv4 address (the msgpack the previous
    release wrote took 33). That release reads such a value whole, its device as unknown (its
    pages say "Unknown device" during a rolling deploy), never as an error."""
    from valkey_sessions.codec import Envelope, decode_device

    browser = Client(HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.45")
    login(browser, passport)
    raw = raw_value(valkey_client, valkey_key(session_key_of(browser)))
    written_at, device, _ = Envelope.parts(raw)
    created, ip, label = decode_device(device) or (0, "", "")
    assert (ip, label) == ("203.0.113.45", "Firefox 132 on Linux")
    assert abs(created - written_at) < 1000 and len(device or b"") == 1 + 4 + 4 + len(label)
    assert _previous_release_device(device) is None
    assert decode_value(raw)[1]["passenger"]["passportno"] == passport  # what it decodes too


def test_a_device_the_previous_release_wrote_is_read(client, valkey_client, passport):
    from valkey_sessions.codec import Envelope

    login(client, passport)
    key = valkey_key(session_key_of(client))
    written_at, _, body = Envelope.parts(raw_value(valkey_client, key))
    old = msgspec.msgpack.encode([written_at // 1000, "198.51.100.7", "Safari 18 on iOS"])
    valkey_client.set(key, Envelope.make(written_at, old, body), keepttl=True)
    page = client.get("/session/").content.decode()
    assert "Safari 18 on iOS" in page and "198.51.100.7" in page


def test_layout_n_plus_1_is_read_by_n_and_its_fields_survive(client, valkey_client, passport):
    """Layout N+1 (a field appended to the flight entry, a new top-level value) written by a
    newer release, read and changed by this one (N): still logged in, and the newer fields are
    written back untouched."""
    from valkey_sessions.codec import Envelope, pack

    login(client, passport)
    key = session_key_of(client)
    first, second = tomorrows_flights(2)
    client.post("/flights/add/", {"flight_id": first["flight_id"]})
    written_at = Envelope.written_at(raw_value(valkey_client, valkey_key(key)))
    body = msgspec.msgpack.decode(Envelope.body_of(raw_value(valkey_client, valkey_key(key))))
    body[3][0].append("T2")  # flight entry field 10 of layout N+1 ("terminal")
    body[4]["seat_preference"] = "aisle"  # a new top-level value of N+1
    valkey_client.set(valkey_key(key), Envelope.make(written_at, None, pack(body)), keepttl=True)

    assert client.get("/").status_code == 200  # N reads N+1: still logged in
    assert client.post("/flights/add/", {"flight_id": second["flight_id"]}).status_code == 302
    after = msgspec.msgpack.decode(Envelope.body_of(raw_value(valkey_client, valkey_key(key))))
    assert after[3][0][-1] == "T2" and len(after[3]) == 2  # N's change, N+1's field kept
    assert after[4]["seat_preference"] == "aisle"


def test_layout_n_is_read_by_n_plus_1(client, valkey_client, passport):
    """The reverse: a value of an older layout (one field fewer in an entry) is read by this
    release, the missing field None."""
    from valkey_sessions.codec import Envelope, pack

    login(client, passport)
    key = session_key_of(client)
    client.post("/flights/add/", {"flight_id": tomorrows_flights(1)[0]["flight_id"]})
    raw = raw_value(valkey_client, valkey_key(key))
    body = msgspec.msgpack.decode(Envelope.body_of(raw))
    body[3][0].pop()  # written before the flight entry had its last field ("airline")
    valkey_client.set(valkey_key(key), Envelope.make(0, None, pack(body)), keepttl=True)
    assert client.get("/").status_code == 200
    assert stored_session(valkey_client, key)["flights"][0]["airline"] is None


def test_demo_session_is_small(client, valkey_client, passport):
    """The issue's budget: at most 400 B of Valkey memory (MEMORY USAGE) for a demo session
    (weather and one flight) with its owner-index entry; these figures are the README's
    ("Memory")."""
    login(client, passport)
    client.post("/weather/", {"country": "GB", "zip": "B1"})
    client.post("/flights/add/", {"flight_id": tomorrows_flights(1)[0]["flight_id"]})
    key = valkey_key(session_key_of(client))
    raw = raw_value(valkey_client, key)
    data = decode_value(raw)[1]
    assert data["weather"]["city"] == "Birmingham" and len(data["flights"]) == 1
    assert len(raw) < 240, len(raw)
    # Its owner index entry: what it adds to its bucket's sorted set (the bucket's own ~64
    # bytes are shared by the owners whose tags fall in it: ~20 each at a million sessions).
    # Measured on copies, with and without it: COPY allocates a listpack at its exact size,
    # where the index itself keeps whatever its reallocations left (up to 16 bytes more).
    index, member = index_key(session_key_of(client)), session_key_of(client)[3:]
    assert valkey_client.zscore(index, member) == float("inf")  # 5 bytes; a time takes 10
    valkey_client.zadd(index, {"n" * 37: "inf"})  # a neighbour in the bucket
    valkey_client.copy(index, index + ":a")
    valkey_client.zrem(index, member)
    valkey_client.copy(index, index + ":b")
    entry = valkey_client.memory_usage(index + ":a") - valkey_client.memory_usage(index + ":b")
    session = valkey_client.memory_usage(key)
    # 304 + 48 = 352 B on the day this was written; the weather and tomorrow's first flight
    # change the value's length, which moves it a 16-byte allocator class either way.
    assert entry <= 48 and session + entry <= 384, (len(raw), session, entry)


def test_concurrent_changes_are_merged_not_lost(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    first, second = tomorrows_flights(2)

    tab_a, tab_b = SessionStore(key), SessionStore(key)
    sess.flights(tab_a)  # both tabs read the session before either writes
    sess.add_flight(tab_b, second)
    tab_b.save()
    sess.add_flight(tab_a, first)
    tab_a.save()

    stored = stored_session(valkey_client, key)
    assert sorted(f["flight_id"] for f in stored["flights"]) == sorted(
        [first["flight_id"], second["flight_id"]]
    )
    assert stored["passenger"]["passportno"] == passport


def test_merge_keeps_the_flight_limit(client, valkey_client, passport, settings):
    settings.MAX_FLIGHTS_PER_SESSION = 2
    login(client, passport)
    key = session_key_of(client)
    flights = tomorrows_flights(3)
    tab_a, tab_b = SessionStore(key), SessionStore(key)
    sess.add_flight(tab_a, flights[0])
    sess.add_flight(tab_b, flights[1])
    sess.add_flight(tab_b, flights[2])
    tab_b.save()
    with pytest.raises(SessionConflict, match="at most 2 flights"):
        tab_a.save()
    assert len(stored_session(valkey_client, key)["flights"]) == 2


def test_merge_lists_and_values():
    base = {"flights": [1, 2], "weather": "a", "passenger": "p"}
    mine = {"flights": [1, 3], "weather": "b", "passenger": "p"}
    theirs = {"flights": [1, 2, 4], "weather": "c", "passenger": "q"}
    merged = sess.merge(base, mine, theirs)
    assert merged == {"flights": [1, 4, 3], "weather": "b", "passenger": "q"}


def test_save_after_logout_elsewhere_does_not_resurrect(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    tab = SessionStore(key)
    tab[sess.WEATHER] = {"city": "X"}  # any change
    SessionStore(key).delete()  # logged out in another tab
    with pytest.raises(UpdateError):
        tab.save()
    assert not valkey_client.exists(valkey_key(key))


def test_change_racing_a_logout_lands_on_the_login_page(
    client, valkey_client, passport, monkeypatch
):
    """The request that loses the race is told its session ended (not Django's 400)."""
    login(client, passport)
    key = session_key_of(client)
    flight_id = tomorrows_flights(1)[0]["flight_id"]
    original_load = SessionStore.load

    def load_then_logout_elsewhere(self):
        data = original_load(self)
        SessionStore(key).delete()
        return data

    monkeypatch.setattr(SessionStore, "load", load_then_logout_elsewhere)
    response = client.post("/flights/add/", {"flight_id": flight_id})
    monkeypatch.undo()
    assert response.status_code == 302
    assert response["Location"] == "/login/?ended=1"
    assert not valkey_client.exists(valkey_key(key))
    assert "has ended" in client.get("/login/?ended=1").text


def test_failed_load_is_not_retried_within_a_request(client, valkey_client, passport, monkeypatch):
    """A page that reads the session twice waits on a broken Valkey once."""
    import valkey

    login(client, passport)
    calls = []

    def broken_get(self, name):
        calls.append(name)
        raise valkey.exceptions.TimeoutError("simulated hang")

    monkeypatch.setattr(valkey.Valkey, "get", broken_get)
    response = client.post("/weather/", {"country": "GB", "zip": "B1"})
    assert response.status_code == 503
    assert len(calls) == 1


# --- parallel requests -----------------------------------------------------------------------


def _parallel_adds(
    base_url: str, cookies: dict[str, str], flight_ids: list[int], action: str = "add"
) -> list[int]:
    """POST "add flight" (or `action` "remove") for every id at once, with the same session and
    CSRF cookies."""

    def add(flight_id: int) -> int:
        response = requests.post(
            f"{base_url}/flights/{action}/",
            data={"flight_id": flight_id, "csrfmiddlewaretoken": cookies["csrftoken"]},
            cookies=cookies,
            headers={"Referer": base_url + "/flights/"},
            allow_redirects=False,
            # What these tests assert is no change lost and no error, not how fast: on a machine
            # loaded by other work besides the burners, the last of 100 may wait over 30 s.
            timeout=120,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=len(flight_ids)) as pool:
        return list(pool.map(add, flight_ids))


def http_login(base_url: str, passport: str) -> dict[str, str]:
    """Log in over HTTP; the cookies (session and CSRF) of the logged-in browser."""
    with requests.Session() as http:
        http.get(f"{base_url}/login/", timeout=10)
        response = http.post(
            f"{base_url}/login/",
            data={"passportno": passport, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": base_url + "/login/"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text
        return {c.name: c.value or "" for c in http.cookies}


BURNERS = 8  # CPU-burning processes: 4 per core of a 2-core machine, a load average past 10


@pytest.fixture
def cpu_burners() -> Iterator[None]:
    """A loaded machine while the test runs: processes that only burn CPU, so that a request
    that lost a race may wait long for the CPU before it writes again (started here, killed
    after the test)."""
    import subprocess
    import sys

    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def assert_lines_expire(valkey_client) -> None:
    """What the line of writers left behind (turn_keys) lives TURN_LEASE_MS at most."""
    from valkey_sessions.scripts import TURN_LEASE_MS

    lines = valkey_client.keys("flight_session:*:turn") + valkey_client.keys("*:wake")
    assert all(0 < valkey_client.pttl(k) <= TURN_LEASE_MS for k in lines), lines


@pytest.mark.django_db(transaction=True, databases=BOTH_DBS)  # the server runs in other threads
@pytest.mark.parametrize("parallel", [50, 100])
def test_parallel_adds_keep_every_change(
    live_server, valkey_client, passport, settings, cpu_burners, parallel
):
    """50 and 100 "add flight" POSTs at once on one session (runserver-style threads), then as
    many "remove", on a machine whose CPU is taken by other processes: every change is kept,
    every answer is the normal redirect (a lost race is never a 409)."""
    settings.MAX_FLIGHTS_PER_SESSION = parallel
    upcoming = Flight.objects.filter(departure__gte=timezone.now()).order_by("departure")
    flights = list(upcoming.values_list("flight_id", flat=True)[:parallel])
    assert len(flights) == parallel
    cookies = http_login(live_server.url, passport)
    statuses = _parallel_adds(live_server.url, cookies, flights)
    assert statuses == [302] * parallel, statuses
    stored = stored_session(valkey_client, cookies["flightsite_session"])
    assert sorted(f["flight_id"] for f in stored["flights"]) == sorted(flights)
    statuses = _parallel_adds(live_server.url, cookies, flights, "remove")
    assert statuses == [302] * parallel, statuses
    assert stored_session(valkey_client, cookies["flightsite_session"])["flights"] == []
    assert_lines_expire(valkey_client)


@pytest.mark.django_db(transaction=True, databases=BOTH_DBS)
def test_parallel_adds_never_pass_the_flight_limit(live_server, valkey_client, passport, settings):
    settings.MAX_FLIGHTS_PER_SESSION = 5
    upcoming = Flight.objects.filter(departure__gte=timezone.now()).order_by("departure")
    flights = list(upcoming.values_list("flight_id", flat=True)[:16])
    cookies = http_login(live_server.url, passport)
    statuses = _parallel_adds(live_server.url, cookies, flights)
    assert statuses == [302] * len(flights), statuses  # the refused ones are told why
    stored = stored_session(valkey_client, cookies["flightsite_session"])
    assert len(stored["flights"]) == 5


def test_a_turn_left_by_a_dead_request_holds_the_session_up_until_it_expires(
    client, valkey_client, passport, line_after_one_lost_race
):
    """A request that died in turn (its worker killed) hands nothing on: its `:turn` expires,
    and the next change that lost a race takes the turn then and is written."""
    from valkey_sessions.keys import turn_keys

    login(client, passport)
    key = session_key_of(client)
    turn, wake = turn_keys(key)
    valkey_client.set(turn, 1, px=300)  # what the dead request left: nothing in :wake
    tab_a, tab_b = SessionStore(key), SessionStore(key)
    tab_a["a"] = tab_b["b"] = 1  # both read before either writes
    tab_a.save()
    tab_b.save()  # lost the race; waits for the turn, which nobody hands on
    assert {"a", "b"} <= set(stored_session(valkey_client, key))
    assert valkey_client.llen(wake) == 1  # it handed its own turn on


def test_a_change_refused_in_turn_hands_the_turn_on(
    client, valkey_client, passport, settings, monkeypatch, line_after_one_lost_race
):
    """The merge refusing a change (the flight limit: a 409) while that request writes in turn
    ends its turn: the next waiting request is woken, not left to wait for the lease."""
    from valkey_sessions.keys import turn_keys

    settings.MAX_FLIGHTS_PER_SESSION = 2
    login(client, passport)
    key = session_key_of(client)
    flights = tomorrows_flights(3)
    tab_a, tab_b, tab_c = SessionStore(key), SessionStore(key), SessionStore(key)
    sess.add_flight(tab_a, flights[0])
    sess.add_flight(tab_b, flights[1])
    tab_b.save()
    wait_turn = SessionStore._wait_turn

    def in_turn_then_another_change(*args):
        in_turn = wait_turn(*args)
        sess.add_flight(tab_c, flights[2])  # a third tab reads and writes meanwhile
        tab_c.save()
        return in_turn

    monkeypatch.setattr(SessionStore, "_wait_turn", staticmethod(in_turn_then_another_change))
    with pytest.raises(SessionConflict, match="at most 2 flights"):
        tab_a.save()  # lost to tab_b (merged: 2 flights), in turn, lost to tab_c: 3, refused
    turn, wake = turn_keys(key)
    assert valkey_client.llen(wake) == 1 and valkey_client.pttl(turn) > 0
    assert len(stored_session(valkey_client, key)["flights"]) == 2


def test_a_waiting_change_merges_the_value_handed_over(
    client, valkey_client, passport, line_after_one_lost_race
):
    """A request waiting its turn gets the value the request before it wrote with the turn,
    and merges into it without asking the server first: its write is its second script call,
    not its third. (The handover is made by hand here, as a script in turn makes it.)"""
    import threading

    from valkey_sessions.keys import turn_keys

    from .topologies import wait_for

    login(client, passport)
    key = session_key_of(client)
    turn, wake = turn_keys(key)
    valkey_client.set(turn, 0, px=30_000)  # another request writes in turn; none handed on yet
    first, second, third = tomorrows_flights(3)
    waiting, writer, other = SessionStore(key), SessionStore(key), SessionStore(key)
    sess.add_flight(waiting, first)  # read before either of the others writes
    sess.add_flight(other, second)
    other.save()  # so `waiting` loses its race
    calls = int(valkey_client.info("commandstats")["cmdstat_evalsha"]["calls"])
    saved = threading.Thread(target=waiting.save)
    saved.start()
    wait_for(lambda: int(valkey_client.info("clients")["blocked_clients"]) > 0, 30, "its BLPOP")
    sess.add_flight(writer, third)  # the request in turn writes, then hands the turn on
    writer.save()
    valkey_client.rpush(wake, b"1:" + raw_value(valkey_client, valkey_key(key)))
    saved.join(30)
    stored = {f["flight_id"] for f in stored_session(valkey_client, key)["flights"]}
    assert stored == {first["flight_id"], second["flight_id"], third["flight_id"]}
    calls = int(valkey_client.info("commandstats")["cmdstat_evalsha"]["calls"]) - calls
    assert calls == 3  # waiting: the lost race and its write; writer: its write


def test_a_value_handed_over_before_a_request_joined_is_never_merged(
    client, valkey_client, passport, settings, line_after_one_lost_race
):
    """A handover nobody took sits in `:wake` until the turn expires; a request that joins
    later pops it, but its value is older than what that request already merged with: it
    asks the server instead. (Merged, the two flights removed since would come back and push
    the add past the limit: a 409 for a race.)"""
    from valkey_sessions.keys import turn_keys

    settings.MAX_FLIGHTS_PER_SESSION = 2
    login(client, passport)
    key = session_key_of(client)
    flights = tomorrows_flights(3)
    for flight in flights[:2]:
        assert client.post("/flights/add/", {"flight_id": flight["flight_id"]}).status_code == 302
    turn, wake = turn_keys(key)
    valkey_client.set(turn, 1, px=30_000)
    valkey_client.rpush(wake, b"1:" + raw_value(valkey_client, valkey_key(key)))  # 2 flights
    late = SessionStore(key)
    sess.add_flight(late, flights[2])  # read: 2 flights, adds a third...
    other = SessionStore(key)
    sess.remove_flight(other, flights[0]["flight_id"])  # ...while another tab removes both
    sess.remove_flight(other, flights[1]["flight_id"])
    other.save()
    late.save()  # lost its race, merged (1 flight), joined, popped the old handover
    assert [f["flight_id"] for f in stored_session(valkey_client, key)["flights"]] == [
        flights[2]["flight_id"]
    ]


def test_a_failed_ttl_refresh_is_not_an_error_page(client, valkey_client, passport, monkeypatch):
    """A read-only page whose only write would move the TTL still answers if that write fails
    (an OOM on the session store, say): the session has most of its age left."""
    import valkey

    from valkey_sessions import store as session_store

    login(client, passport)
    key = session_key_of(client)
    raw = raw_value(valkey_client, valkey_key(key))
    written_at, data = decode_value(raw)
    valkey_client.set(valkey_key(key), encode_value(data, written_at - 360_000), ex=900)

    def refused(*args, **kwargs):
        raise valkey.exceptions.ConnectionError("the session store refuses writes")

    monkeypatch.setattr(session_store, "COMPARE_AND_SET", refused)
    assert client.get("/").status_code == 200
    # A real change is not silently dropped: it is an outage (503).
    flight_id = tomorrows_flights(1)[0]["flight_id"]
    assert client.post("/flights/add/", {"flight_id": flight_id}).status_code == 503


def test_cycle_key_keeps_the_device(valkey_client, passport):
    from valkey_sessions import live as live_sessions

    client = Client(HTTP_USER_AGENT="Firefox/1", REMOTE_ADDR="192.0.2.9")
    login(client, passport)
    session = SessionStore(session_key_of(client))
    session.cycle_key()
    assert session.session_key is not None
    peeked = live_sessions.peek(session.session_key)
    assert peeked is not None and peeked.device is not None
    assert peeked.device.client_ip == "192.0.2.9"


# --- cycle_key, and what a script meets ------------------------------------------------------


def test_cycle_key_never_brings_back_an_ended_session(client, valkey_client, passport):
    from django.contrib.sessions.backends.base import UpdateError

    from valkey_sessions import live as live_sessions

    login(client, passport)
    key = session_key_of(client)
    tab = SessionStore(key)
    tab.load()
    pid = tab[sess.PASSENGER_ID]
    live_sessions.end_all(pid)  # "log out everywhere" from another browser
    with pytest.raises(UpdateError):
        tab.cycle_key()
    assert live_sessions.sessions_of(pid) == []
    assert valkey_client.keys("flight_session:*") == []


def test_cycle_key_keeps_a_change_made_meanwhile(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    tab = SessionStore(key)
    tab.load()
    other = SessionStore(key)
    other["written_by_other_tab"] = 1
    other.save()
    tab.cycle_key()
    assert tab.session_key is not None
    assert tab.session_key != key and not SessionStore().exists(key)
    assert SessionStore(key).load() == {}
    stored = stored_session(valkey_client, tab.session_key)
    assert stored["written_by_other_tab"] == 1 and stored["passenger"]["passportno"] == passport
    assert indexed(valkey_client, key) == [tab.session_key]


def test_log_out_everywhere_with_thousands_of_sessions(valkey_client):
    """Ending 9,000 sessions of one passenger: batched script calls, nothing left behind
    (Lua's unpack() limit once made this fail half-way)."""
    from valkey_sessions import live as live_sessions

    make_sessions_of_one_passenger(valkey_client, 9000)
    assert live_sessions.end_all(1) == 9000
    assert valkey_client.keys("flight_session*") == []


def make_sessions_of_one_passenger(valkey_client, count: int) -> list[str]:
    from valkey_sessions.keys import new_key, owner_tags
    from valkey_sessions.scripts import CREATE, sessions_client
    from valkey_sessions.store import encode_value

    sessions_client().script_load(CREATE.source)
    tag, keys = owner_tags(1)[0], []
    pipe = valkey_client.pipeline(transaction=False)
    data = encode_value({"passenger_id": 1, "passenger": {"passportno": "P100001"}}, 0)
    for _ in range(count):
        key = new_key(tag)
        pipe.evalsha(
            CREATE.sha, 2, valkey_key(key), index_key(tag), data, "PX", 600_000, key[3:], "", 0
        )
        keys.append(key)
    pipe.execute()
    return keys


def test_a_passenger_keeps_at_most_max_sessions(valkey_client, valkey_server, passport, settings):
    """Past the cap, a login ends the passenger's least recently used sessions, each with a
    'limit' marker written in the same script call as its delete, and that browser's login page
    says why."""
    settings.VALKEY_SESSIONS = {**settings.VALKEY_SESSIONS, "MAX_SESSIONS_PER_OWNER": 3}
    settings.MAX_SESSIONS_PER_PASSENGER = 3
    clock = use_clock(settings)
    browsers = [Client() for _ in range(5)]
    for browser in browsers[:3]:
        login(browser, passport)
        clock.advance(0.01)  # distinct creation times
    first = session_key_of(browsers[0])
    with ValkeyMonitor(valkey_server.port) as monitor:
        login(browsers[3], passport)  # one more than the cap: the first one ends
    scripts = [k for verb, k in monitor.commands if verb in ("EVALSHA", "EVAL")]
    assert len([k for k in scripts if key_of(k)]) == 1, scripts  # the login's create script
    inner = [c for c in monitor.script_commands if c[1].startswith(valkey_key(first))]
    assert inner[-2:] == [("DEL", valkey_key(first)), ("SET", ended_marker_key(first))], inner
    login(browsers[4], passport)
    key = session_key_of(browsers[-1])
    assert len(indexed(valkey_client, key)) == 3
    assert SessionStore().ended_how(first) == "limit"
    # The marker lives no longer than the session would have.
    assert 0 < valkey_client.pttl(ended_marker_key(first)) <= settings.SESSION_COOKIE_AGE * 1000
    pages = [b.get("/", follow=True) for b in browsers]
    assert [p.redirect_chain[:1] for p in pages] == [[("/login/", 302)]] * 2 + [[]] * 3
    said = (
        "You were logged out here: you logged in on more than 3 devices, and this one had been "
        "used least recently. Please log in again."
    )
    assert all(said in p.content.decode() for p in pages[:2])


def test_foreign_data_at_the_index_key_does_not_break_login(client, valkey_client, passport):
    login(client, passport)
    key = session_key_of(client)
    valkey_client.delete(index_key(key[:8]))
    valkey_client.set(index_key(key[:8]), "not a sorted set")
    other = Client()
    assert login(other, passport).status_code == 302
    new = session_key_of(other)
    assert indexed(valkey_client, new) == [new]
    flight_id = tomorrows_flights(1)[0]["flight_id"]
    assert client.post("/flights/add/", {"flight_id": flight_id}).status_code == 302


def test_index_entry_follows_its_session_after_a_tag_secret_change(
    client, valkey_client, passport, settings
):
    """Sessions made under an old tag secret keep their devices entry alive with them."""
    login(client, passport)
    key = session_key_of(client)
    settings.VALKEY_SESSIONS = {**settings.VALKEY_SESSIONS, "TAG_SECRET": "new-tag-secret" * 4}
    session = SessionStore(key)
    session.set_expiry(3600)
    session.save()
    assert indexed(valkey_client, key) == [key]
    assert 3_590_000 <= valkey_client.pttl(index_key(key)) <= 3_600_000  # the index lives on


@pytest.fixture
def gunicorn_site(valkey_server, site_demo_db, tmp_path):
    """The site under gunicorn, 4 worker processes of 25 threads each, on the test Valkey."""
    import secrets
    import subprocess
    import sys

    from .topologies import ROOT, free_port, wait_for, without_valkey_env

    port = free_port()
    env = {
        **without_valkey_env(),
        "VALKEY_URL": f"valkey://127.0.0.1:{valkey_server.port}/0",
        "FLUGHAFENDB_URL": site_demo_db,
        "DJANGO_DB_URL": f"sqlite:///{tmp_path / 'django.sqlite3'}",
        "FLIGHTSITE_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MAX_FLIGHTS_PER_SESSION": "200",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "flightsite.wsgi", "-w", "4", "-k", "gthread",
         "--threads", "25", "-b", f"127.0.0.1:{port}", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(base + "/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        try:
            wait_for(answers, 30, "gunicorn")
        except AssertionError:
            log.flush()
            output = (tmp_path / "gunicorn.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"gunicorn never answered; its output:\n{output}") from None
        yield base, site_demo_db.removeprefix("sqlite:///")
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def upcoming_flight_ids(sqlite_path: str, count: int) -> list[int]:
    import sqlite3
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")  # naive DATETIMEs in TIME_ZONE (UTC)
    with sqlite3.connect(sqlite_path) as db:
        rows = db.execute(
            "SELECT flight_id FROM flight WHERE departure > ? ORDER BY departure, flight_id "
            "LIMIT ?",
            (now, count),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("parallel", [50, 100])
def test_parallel_adds_through_four_gunicorn_workers(
    gunicorn_site, valkey_client, passport, cpu_burners, parallel
):
    """The same contention across processes: 4 gunicorn workers (25 threads each), 50 and 100
    adds at once, then as many removes, on a loaded machine: every change kept, every answer
    the normal redirect."""
    base, database = gunicorn_site
    flights = upcoming_flight_ids(database, parallel)
    assert len(flights) == parallel
    cookies = http_login(base, passport)
    assert _parallel_adds(base, cookies, flights) == [302] * parallel
    stored = stored_session(valkey_client, cookies["flightsite_session"])
    assert sorted(f["flight_id"] for f in stored["flights"]) == sorted(flights)
    assert _parallel_adds(base, cookies, flights, "remove") == [302] * parallel
    assert stored_session(valkey_client, cookies["flightsite_session"])["flights"] == []
    assert_lines_expire(valkey_client)


def full(valkey_client):
    """The session server full (noeviction: every write refused with OOM, reads and allow-oom
    scripts still served); a context manager that empties it again."""
    import contextlib

    @contextlib.contextmanager
    def filled():
        valkey_client.config_set("maxmemory", 1)
        try:
            yield
        finally:
            valkey_client.config_set("maxmemory", 0)

    return filled()


def test_a_refresh_refused_past_half_the_age_is_a_503_not_a_logout(
    client, valkey_client, passport, settings
):
    settings.SESSION_COOKIE_AGE = 600
    clock = use_clock(settings)
    login(client, passport)
    cookie = session_cookie(client)
    with full(valkey_client):
        clock.advance(100)  # a refresh is due (a tenth of the age), refused: still served
        assert client.get("/").status_code == 200
        clock.advance(250)  # refused since more than half the age: an outage, not a logout
        response = client.get("/")
        assert response.status_code == 503 and response["Retry-After"]
        assert session_cookie(client) == cookie
    assert client.get("/").status_code == 200  # back with the server
    assert 590_000 <= valkey_client.pttl(valkey_key(session_key_of(client))) <= 600_000


def test_logout_and_purge_work_on_a_full_server(client, valkey_client, passport):
    from django.core.management import call_command

    login(client, passport)
    key = session_key_of(client)
    other = Client()
    login(other, passport)
    with full(valkey_client):
        assert Client().post("/login/", {"passportno": passport}).status_code == 503
        client.post("/logout/")
        assert not valkey_client.exists(valkey_key(key))  # DELETE says allow-oom
        call_command("sessions", "purge", "--yes")
        assert valkey_client.keys("flight_session:*") == []


def test_use_peeked_keeps_the_raw_value_so_a_later_save_merges(client, valkey_client, passport):
    """The session page peeks (no load); a save in the same request afterwards compares with
    what was peeked, so a concurrent change is merged, not overwritten."""
    from valkey_sessions import live as live_sessions

    login(client, passport)
    key = session_key_of(client)
    first, second = tomorrows_flights(2)
    page = SessionStore(key)
    peeked = live_sessions.peek(key)
    assert peeked is not None and peeked.raw is not None and peeked.data is not None
    page.use_peeked(peeked.raw, peeked.data)
    other = SessionStore(key)
    sess.add_flight(other, second)
    other.save()  # another tab, after the peek
    sess.add_flight(page, first)
    page.save()
    stored = {f["flight_id"] for f in stored_session(valkey_client, key)["flights"]}
    assert stored == {first["flight_id"], second["flight_id"]}


def test_the_merge_keeps_an_in_place_edit_and_a_deletion():
    flight = {"flight_id": 1, "flightno": "LH1", "airline": None}
    base = {"flights": [flight], "units": "metric"}
    mine = {"flights": [{**flight, "airline": "Lufthansa"}], "units": "metric"}
    theirs = {"flights": [flight, {"flight_id": 2, "flightno": "BA2", "airline": None}]}
    merged = sess.merge(base, mine, theirs)
    assert merged["flights"][0]["airline"] == "Lufthansa"  # edited in place, kept once
    assert [f["flight_id"] for f in merged["flights"]] == [1, 2]
    assert "units" not in merged  # the other request deleted it; this one did not touch it
