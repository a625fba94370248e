from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.test import Client
from valkey.client import NEVER_DECODE

from passengers.session import FlightEntry
from valkey_sessions.codec import encode_device
from valkey_sessions.keys import valkey_key
from valkey_sessions.store import decode_value, encode_value
from weather.cities import City, find_city

SESSION_PREFIX = "flight_session:"

# A valkey.Valkey client. valkey-py gives its sync and asyncio clients one signature, so every
# command "returns" Awaitable[Any] | Any; the tests' raw clients are typed Any instead.
RawValkey = Any


def raw_value(valkey_client: Any, key: str) -> bytes:
    """The bytes stored under `key` (the test client decodes responses; session values are
    msgpack). Fails the test if there are none."""
    raw: bytes | None = valkey_client.execute_command("GET", key, **{NEVER_DECODE: True})
    assert raw is not None, f"{key} is missing in Valkey"
    return raw


def stored_session(valkey_client: Any, session_key: str) -> dict[str, Any]:
    """The session `session_key` as stored in Valkey, decoded (fails the test if missing)."""
    return decode_value(raw_value(valkey_client, valkey_key(session_key)))[1]


def session_keys(valkey_client: Any) -> list[str]:
    """All session keys in Valkey (not the devices index)."""
    return [k for k in valkey_client.keys(SESSION_PREFIX + "*")]


def session_cookie(client: Client) -> str | None:
    """The client's session cookie; None when it has none."""
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie and cookie.value else None


def session_key_of(client: Client) -> str:
    """The session key of a client that has a session (fails the test otherwise)."""
    key = session_cookie(client)
    assert key is not None, "the client has no session cookie"
    return key


def city(country: str, zip_code: str) -> City:
    """A city of weather/cities.py that the tests rely on (fails the test if it is gone)."""
    found = find_city(country, zip_code)
    assert found is not None, (country, zip_code)
    return found


def login(client: Client, passport: str):
    return client.post("/login/", {"passportno": passport})


def tomorrows_list() -> str:
    """The flights page of tomorrow: it offers flights to add whatever the time the test runs
    at (late in the evening today's list has none left)."""
    from django.utils import timezone

    return f"/flights/?day={timezone.localdate() + timedelta(days=1)}"


def tomorrows_flights(limit: int = 50) -> list[FlightEntry]:
    """The first flights of tomorrow, as the session stores them: flights the site offers
    (not departed) whatever the time the test runs at."""
    from django.utils import timezone

    from flights.models import Flight
    from flights.queries import day_bounds

    start, end = day_bounds(timezone.localdate() + timedelta(days=1))
    return Flight.objects.page(start=start, end=end, limit=limit).flights


class _FlightTableParser(HTMLParser):
    """The rows of the flights table (`data-testid="flights-table"`): one dict per <tr> with
    its data-flight-id and class, the text of each cell by data-label ("action" for the last
    one: "Add", "Added", "Departed"), and the datetime attributes of the Departure and Arrival
    <time> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._in_table = False
        self._row: dict[str, str] | None = None
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-testid") == "flights-table":
            self._in_table = True
        elif self._in_table and tag == "tr" and "data-flight-id" in a:
            self._row = {"flight_id": a["data-flight-id"] or "", "class": a.get("class") or ""}
            self.rows.append(self._row)
        elif self._row is not None and tag == "td":
            self._label = a.get("data-label") or ("action" if a.get("class") == "action" else None)
            if self._label:
                self._row[self._label] = ""
        elif self._row is not None and tag == "time" and self._label:
            # The airport's local time with its offset, as the site's local time to the minute
            # (the session's form), so rows compare with what the session and queries hold.
            self._row[f"{self._label} datetime"] = _site_minutes(a.get("datetime") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._label = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._label:
            self._row[self._label] += data

    def close(self) -> None:
        super().close()
        for row in self.rows:  # cell text as a reader sees it: "FRA Frankfurt am Main"
            for key, value in row.items():
                row[key] = " ".join(value.split())


def _site_minutes(value: str) -> str:
    from datetime import datetime

    from django.utils import timezone

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_aware(moment):
        moment = moment.astimezone(timezone.get_default_timezone())
    return moment.isoformat()[:16]


def flight_rows(page_html: str) -> list[dict[str, str]]:
    """The flights table of the flights page as a list of rows (see _FlightTableParser)."""
    parser = _FlightTableParser()
    parser.feed(page_html)
    parser.close()
    return parser.rows


class ValkeyMonitor:
    """Records what Valkey executes (MONITOR) while the `with` block runs.

    `commands` are what clients sent; `script_commands` what Lua scripts ran inside them (MONITOR
    shows both, the latter as client_type "lua"). Each entry is (verb, first key or "").
    """

    def __init__(self, port: int) -> None:
        import threading

        import valkey

        self._client = valkey.Valkey(host="127.0.0.1", port=port, decode_responses=True)
        self._marker = "flightsite-monitor-stop"
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._ready = threading.Event()
        self.commands: list[tuple[str, str]] = []
        self.script_commands: list[tuple[str, str]] = []

    def _watch(self) -> None:
        with self._client.monitor() as monitor:
            self._ready.set()
            for event in monitor.listen():
                parts = _split_monitor_command(event["command"])
                if parts[:2] == ["ECHO", self._marker]:
                    break
                verb = parts[0].upper()
                if verb in {"CLIENT", "HELLO", "AUTH"}:
                    continue  # connection handshakes, not what a page asked for
                key = parts[1] if len(parts) > 1 else ""
                if verb in {"EVAL", "EVALSHA"} and len(parts) > 3:
                    key = parts[3]  # the script's first key
                target = (
                    self.script_commands if event.get("client_type") == "lua" else self.commands
                )
                target.append((verb, key))

    def __enter__(self) -> ValkeyMonitor:
        self._thread.start()
        # Set once the server answered MONITOR with OK (valkey-py's Monitor.__enter__ reads it):
        # from then on every command is recorded.
        assert self._ready.wait(5), "MONITOR did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.echo(self._marker)
        self._thread.join(5)
        self._client.close()

    def write_verbs(self) -> set[str]:
        verbs = {v for v, _ in self.commands + self.script_commands}
        info = self._client.execute_command("COMMAND", "INFO", *verbs) if verbs else {}
        return {v.upper() for v, meta in info.items() if meta and "write" in meta.get("flags", [])}


def _split_monitor_command(line: str) -> list[str]:
    """MONITOR prints each argument as a quoted string: '"SET" "key" "value"'."""
    import shlex

    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def make_sessions(valkey_client: Any, count: int, first_passenger: int = 1) -> list[str]:
    """`count` logged-in sessions written straight into Valkey (pipelined), as a login makes
    them: the value (with its device) and the owner index entry. Returns their session keys."""
    from django.utils.crypto import get_random_string

    from valkey_sessions.keys import KEY_CHARS, index_key, member, owner_tags
    from valkey_sessions.scripts import CREATE
    from valkey_sessions.store import now_ms

    keys: list[str] = []
    valkey_client.script_load(CREATE.source)
    pipe = valkey_client.pipeline(transaction=False)
    expires = now_ms() + 3_600_000
    for i in range(count):
        pid = first_passenger + i
        key = owner_tags(pid)[0] + get_random_string(32, KEY_CHARS)
        data = {"passenger_id": pid, "passenger": {"passportno": f"P{pid:06d}"}}
        device = encode_device(now_ms(), "10.0.0.1", "bench")
        pipe.evalsha(
            CREATE.sha,
            2,
            valkey_key(key),
            index_key(key),
            encode_value(data, now_ms(), device),
            "AT",
            expires,
            member(key),
            key[3:8],
            0,
            0,
        )
        keys.append(key)
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return keys


def indexed(valkey_client: Any, session_key: str) -> list[str]:
    """The session keys of `session_key`'s tag in its owner index (as stored)."""
    from valkey_sessions.keys import index_key

    members = valkey_client.zrange(index_key(session_key), 0, -1)
    found = [m.decode() if isinstance(m, bytes) else m for m in members]
    return [session_key[:3] + m for m in found if m.startswith(session_key[3:8])]


class FakeClock:
    """The session engine's clock in tests (VALKEY_SESSIONS["CLOCK"]): time moves only when a
    test says so, so no test sleeps for time to pass. Starts at the real time (Valkey's TTLs
    and PXAT dates are on the server's clock)."""

    def __init__(self) -> None:
        import time

        self.ns = time.time_ns()

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


def use_clock(settings: Any) -> FakeClock:
    """Install a FakeClock in the engine's settings (pytest-django's `settings` fixture)."""
    clock = FakeClock()
    settings.VALKEY_SESSIONS = {**settings.VALKEY_SESSIONS, "CLOCK": clock}
    return clock


class SecondsClock:
    """A monotonic clock in seconds (like time.monotonic) that the test moves forward, for the
    site's own clocks (the circuit breaker, the flights catalog): time passes at once."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
