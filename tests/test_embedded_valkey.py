"""The embedded Valkey of `make run`: two real servers (sessions that are never evicted and
persist across restarts, an LRU cache), found again by other commands, never orphaned."""

from __future__ import annotations

import json
import subprocess
import sys

import valkey

from flightsite import embedded_valkey
from valkey_sessions.keys import valkey_key
from valkey_sessions.store import decode_value

from .helpers import RawValkey, flight_rows, tomorrows_list
from .topologies import (
    SiteClient,
    SiteProcess,
    chosen_flight_ids,
)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def config(url: str, name: str) -> str:
    client: RawValkey = valkey.Valkey.from_url(url, decode_responses=True)
    return client.config_get(name)[name]


def test_two_servers_sessions_noeviction_with_aof_cache_lru(tmp_path):
    servers = embedded_valkey.EmbeddedValkey(tmp_path)
    urls = servers.start()
    try:
        assert urls.sessions != urls.cache
        for url in (urls.sessions, urls.cache):
            assert url.startswith("valkey://127.0.0.1:") and ":6379/" not in url
        assert embedded_valkey.running_urls(tmp_path) == urls  # other commands find them
        # Sessions: refuse writes when full (never evict), bounded, append-only file.
        assert config(urls.sessions, "maxmemory-policy") == "noeviction"
        assert int(config(urls.sessions, "maxmemory")) > 0
        assert config(urls.sessions, "appendonly") == "yes"
        assert config(urls.sessions, "appendfsync") == "everysec"
        # Cache: bounded, evicts the least recently used key of any kind.
        assert config(urls.cache, "maxmemory-policy") == "allkeys-lru"
        assert int(config(urls.cache, "maxmemory")) > 0
        assert config(urls.cache, "appendonly") == "no"
    finally:
        servers.stop()
    assert embedded_valkey.running_urls(tmp_path) is None
    assert not (tmp_path / embedded_valkey.STATE_FILE).exists()


def test_other_commands_use_the_running_servers(tmp_path, settings):
    """FlightsiteConfig.ready: with no Valkey configured, a manage.py command started while
    runserver runs points its caches at runserver's servers (and at a closed port without)."""
    from flightsite.apps import _find_embedded_valkey
    from flightsite.valkey_config import NOT_RUNNING_URL, topology_from_env

    settings.VAR_DIR = tmp_path
    settings.EMBEDDED_VALKEY_DISCOVERY = True  # as for manage.py (the test settings: off)
    settings.VALKEY_TOPOLOGY = topology_from_env({})
    settings.CACHES = {
        alias: {**c, "LOCATION": NOT_RUNNING_URL} for alias, c in settings.CACHES.items()
    }
    _find_embedded_valkey()
    assert settings.CACHES["sessions"]["LOCATION"] == NOT_RUNNING_URL  # nothing runs
    servers = embedded_valkey.EmbeddedValkey(tmp_path, persistent=False)
    urls = servers.start()
    try:
        _find_embedded_valkey()
        assert settings.CACHES["sessions"]["LOCATION"] == urls.sessions
        assert settings.CACHES["default"]["LOCATION"] == urls.cache
    finally:
        servers.stop()


def test_sessions_survive_a_restart_of_the_embedded_server(tmp_path):
    first = embedded_valkey.EmbeddedValkey(tmp_path)
    urls = first.start()
    try:
        client: RawValkey = valkey.Valkey.from_url(urls.sessions)
        client.set("flight_session:kept", b"{}", ex=600)
        client.set("flight_session:expired", b"{}", px=50)
        valkey.Valkey.from_url(urls.cache).set("flightsite:1:weather:x", b"1")
    finally:
        first.stop()  # SIGTERM: the AOF is written out
    second = embedded_valkey.EmbeddedValkey(tmp_path)
    urls = second.start()
    try:
        client = valkey.Valkey.from_url(urls.sessions)
        assert client.get("flight_session:kept") == b"{}"
        assert 590 < client.ttl("flight_session:kept") <= 600  # TTLs are kept too
        assert client.get("flight_session:expired") is None
        assert valkey.Valkey.from_url(urls.cache).dbsize() == 0  # the cache starts empty
    finally:
        second.stop()


def test_orphans_of_a_killed_runserver_are_stopped(tmp_path):
    first = embedded_valkey.EmbeddedValkey(tmp_path)
    first.start()
    orphans = [first.sessions._process, first.cache._process]
    # Pretend the owner died without cleaning up (SIGKILL): its pid is gone, the servers run.
    state_file = tmp_path / embedded_valkey.STATE_FILE
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "owner": dead_pid()}))
    assert embedded_valkey.running_urls(tmp_path) is None  # a dead owner's servers are not reused

    second = embedded_valkey.EmbeddedValkey(tmp_path)
    try:
        second.start()  # stops the orphans first (and waits: the AOF directory is theirs)
        for orphan in orphans:
            assert orphan.poll() is not None, "orphaned valkey-server still running"
    finally:
        second.stop()
        first.sessions = first.cache = None  # already gone


def test_make_run_restart_keeps_the_user_logged_in(tmp_path, site_demo_db, passport):
    """`manage.py runserver` without any Valkey configured, stopped and started again (what
    Ctrl-C and `make run` do): the same cookie is still logged in, with its flight."""
    browser = SiteClient()
    with SiteProcess(tmp_path, {"FLUGHAFENDB_URL": site_demo_db}) as site:
        state = json.loads((tmp_path / embedded_valkey.STATE_FILE).read_text())
        assert browser.post(site, "/login/", {"passportno": passport}).status_code == 302
        flight_id = flight_rows(browser.get(site, tomorrows_list()).text)[0]["flight_id"]
        assert browser.post(site, "/flights/add/", {"flight_id": flight_id}).status_code == 302

        assert embedded_valkey.running_urls(tmp_path) == embedded_valkey.EmbeddedUrls(
            state["sessions"]["url"], state["cache"]["url"]
        )
    # runserver stopped its servers on the way out.
    assert not (tmp_path / embedded_valkey.STATE_FILE).exists()
    for role in ("sessions", "cache"):
        assert not embedded_valkey._pid_alive(state[role]["pid"])

    with SiteProcess(tmp_path, {"FLUGHAFENDB_URL": site_demo_db}) as site:
        dashboard = browser.get(site, "/")
        assert dashboard.status_code == 200, "logged out by the restart"
        assert passport in dashboard.text
        assert chosen_flight_ids(dashboard.text) == [flight_id]
        new_state = json.loads((tmp_path / embedded_valkey.STATE_FILE).read_text())
        sessions: RawValkey = valkey.Valkey.from_url(new_state["sessions"]["url"])
        stored = sessions.get(valkey_key(browser.session_key))
        flights = decode_value(stored)[1]["flights"]
        assert [f["flight_id"] for f in flights] == [int(flight_id)]
