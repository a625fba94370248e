"""Live sessions in the admin (all of them, and a passenger's own) and `manage.py sessions`."""

from __future__ import annotations

import logging
import re
import sys
from io import StringIO
from urllib.parse import unquote

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client

from passengers import admin_sessions
from passengers.models import Passenger
from valkey_sessions import live as live_sessions
from valkey_sessions.keys import mask, valkey_key
from valkey_sessions.scripts import CREATE, sessions_client

from .conftest import BOTH_DBS
from .helpers import ValkeyMonitor, login, make_sessions, session_key_of

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.fixture
def staff(db) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_passenger"),
        Permission.objects.get(codename="end_session"),
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def scripts_loaded(valkey_client):
    sessions_client().script_load(CREATE.source)  # make_sessions pipelines EVALSHA


def test_only_staff_who_may_view_passengers_see_sessions_and_only_some_end_them(
    client, valkey_client, passport
):
    assert client.get("/admin/passengers/live-sessions/").status_code == 302  # to admin login
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/passengers/live-sessions/").status_code == 403
    assert client.post("/admin/passengers/live-sessions/end/").status_code == 403

    # Viewing passengers shows sessions, without an end button; ending needs end_session.
    user.user_permissions.add(Permission.objects.get(codename="view_passenger"))
    passenger_browser = Client()
    login(passenger_browser, passport)
    key = session_key_of(passenger_browser)
    page = client.get("/admin/passengers/live-sessions/")
    assert page.status_code == 200 and live_sessions.handle_of(key) in page.text
    assert 'value="End"' not in page.text
    ending = {"tag": key[:8], "session": live_sessions.handle_of(key)}
    assert client.post("/admin/passengers/live-sessions/end/", ending).status_code == 403
    assert valkey_client.exists(valkey_key(key))


def test_list_pages_through_2000_sessions_without_keys(
    staff, valkey_client, valkey_server, monkeypatch
):
    """Every session on some page, over 8 pages of several SCAN calls each (the scale itself is
    the benchmark's: bench/ writes a million)."""
    keys = set(make_sessions(valkey_client, 2_000))
    handles = {live_sessions.handle_of(k): k for k in keys}
    monkeypatch.setattr(admin_sessions, "PAGE_SIZE", 250)
    # The whole count, however busy the machine (the budget: test_a_count_over_budget_...).
    monkeypatch.setattr(admin_sessions, "COUNT_BUDGET", 600.0)
    seen: set[str] = set()
    url = "/admin/passengers/live-sessions/"
    with ValkeyMonitor(valkey_server.port) as monitor:
        first = staff.get(url)
    assert "2001</strong> live sessions" in first.text  # and the staff member's own
    assert "Live sessions" in staff.get("/admin/").text  # listed on the admin index
    page, pages = first, 0
    while True:
        pages += 1
        seen |= {handles[h] for h in re.findall(r'data-session="(\w+)"', page.text) if h in handles}
        if 'data-testid="next-page"' not in page.text:
            break
        cursor = unquote(page.text.split("?cursor=")[1].split('"')[0])
        page = staff.get(url, {"cursor": cursor})
        assert page.status_code == 200
    assert seen == keys
    assert pages >= 5
    assert "KEYS" not in {v for v, _ in monitor.commands}
    assert "SCAN" in {v for v, _ in monitor.commands}
    assert not set(re.findall(r"[a-z0-9]{32}", first.text)) & {k[8:] for k in keys}, "a key shown"


def test_a_count_over_its_budget_says_it_stopped(staff, valkey_client, monkeypatch):
    """Past COUNT_BUDGET the page stops counting and says so: the number is a lower bound."""
    make_sessions(valkey_client, 300)
    monkeypatch.setattr(admin_sessions, "COUNT_BUDGET", -1.0)  # over before the first SCAN
    monkeypatch.setattr(live_sessions, "SCAN_COUNT", 100)
    page = staff.get("/admin/passengers/live-sessions/")
    assert page.status_code == 200
    counted = re.search(r"<strong>(\d+)\+</strong> live sessions", page.text)
    assert counted is not None, page.text
    assert int(counted.group(1)) < 301
    assert "counting stopped after" in page.text


def test_end_from_the_list_is_logged(staff, valkey_client, passport, caplog):
    user = Client()
    login(user, passport)
    key = session_key_of(user)
    page = staff.get("/admin/passengers/live-sessions/")
    assert live_sessions.handle_of(key) in page.text and passport in page.text
    with caplog.at_level(logging.INFO, logger="passengers.audit"):
        response = staff.post(
            "/admin/passengers/live-sessions/end/",
            {"tag": key[:8], "session": live_sessions.handle_of(key)},
            follow=True,
        )
    assert "ended" in response.text
    assert not valkey_client.exists(valkey_key(key))
    assert user.get("/").status_code == 302  # that passenger is logged out
    assert any("ended session" in r.getMessage() for r in caplog.records)
    entry = LogEntry.objects.get()
    assert User.objects.get(pk=entry.user_id).username == "staff"
    assert "Ended session" in entry.change_message


def test_passenger_page_lists_and_ends_their_sessions(staff, valkey_client, passport):
    browsers = [Client(HTTP_USER_AGENT=f"Agent/{i}") for i in range(2)]
    for b in browsers:
        login(b, passport)
    passenger = Passenger.objects.get(passportno=passport)
    page = staff.get(f"/admin/passengers/passenger/{passenger.pk}/change/")
    assert page.status_code == 200 and "Live sessions" in page.text
    first = session_key_of(browsers[0])
    assert live_sessions.handle_of(first) in page.text
    response = staff.post(
        f"/admin/passengers/passenger/{passenger.pk}/sessions/end/",
        {"session": live_sessions.handle_of(first)},
    )
    assert response.status_code == 302
    assert not valkey_client.exists(valkey_key(first))
    assert valkey_client.exists(valkey_key(session_key_of(browsers[1])))
    assert LogEntry.objects.filter(object_id=str(passenger.pk)).exists()


# --- manage.py sessions ------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("sessions", *args, stdout=out)
    return out.getvalue()


def test_command_count_list_show_end(valkey_client, passport):
    user = Client(HTTP_USER_AGENT="Firefox/1")
    login(user, passport)
    key = session_key_of(user)
    make_sessions(valkey_client, 120, first_passenger=1000)
    assert run("count").strip() == "121"
    first_page = run("list", "--page-size", "50")
    assert "More: manage.py sessions list --cursor" in first_page
    assert len([line for line in first_page.splitlines() if line[:1].isalnum()]) >= 50
    mine = run("list", "--passport", passport)
    assert "1 session(s)" in mine and mask(key) in mine
    # Keys are bearer tokens: a listing shows them masked, never whole.
    assert key not in mine and key[8:] not in first_page + mine
    shown = run("show", valkey_key(key))
    assert passport in shown and "time left" in shown and "bytes of Valkey memory" in shown
    assert "Ended 1 session(s)" in run("end", "--passport", passport)
    assert user.get("/").status_code == 302
    with pytest.raises(CommandError) as missing:
        run("show", key)
    assert missing.value.returncode == 1


def test_command_progress_bar_on_a_terminal(valkey_client, monkeypatch):
    """On a terminal, count and purge show a progress bar on stderr (unless --verbosity 0)."""
    make_sessions(valkey_client, 3)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert run("count").strip() == "3"
    assert run("--verbosity", "0", "count").strip() == "3"
    assert "Ended 3 session(s)" in run("purge", "--yes")


def test_command_end_key_and_purge(valkey_client, passport):
    keys = make_sessions(valkey_client, 30)
    assert run("end", keys[0]).strip() == "Session ended."
    with pytest.raises(CommandError) as again:
        run("end", keys[0])
    assert again.value.returncode == 1
    with pytest.raises(CommandError) as bad:
        run("end", "not-a-key")
    assert bad.value.returncode == 2
    with pytest.raises(CommandError) as unconfirmed:
        run("purge")  # stdin is not a terminal: needs --yes
    assert unconfirmed.value.returncode == 2
    assert "Ended 29 session(s)" in run("purge", "--yes")
    assert valkey_client.keys("flight_session*") == []


@pytest.mark.parametrize(
    "cursor", ["garbage", "0:-1", "0:" + "9" * 30, "\u0661:\u0662", "0:18446744073709551616"]
)
def test_hostile_cursors_go_back_to_the_first_page(staff, cursor):
    response = staff.get("/admin/passengers/live-sessions/", {"cursor": cursor})
    assert response.status_code == 302
    assert response["Location"] == "/admin/passengers/live-sessions/"


def test_a_cursor_past_the_last_server_is_an_empty_last_page(staff, valkey_client, passport):
    login(Client(), passport)
    assert passport in staff.get("/admin/passengers/live-sessions/").text  # the first page
    response = staff.get("/admin/passengers/live-sessions/", {"cursor": "99:0"})
    assert response.status_code == 200
    assert passport not in response.text  # no session listed: past the end of every server
