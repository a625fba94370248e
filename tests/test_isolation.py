"""A test run never touches a running site: `make run` and `make test` side by side.

`make run` starts embedded Valkey servers and writes where they are to var/valkey.json, so that
other manage.py commands of the checkout find them (flightsite/apps.py). The test settings
(flightsite/test_settings.py) turn that off, give the run a var/ of its own and ignore the
site's VALKEY_* and database variables; every process a test starts gets a clean environment
(tests/topologies.py without_valkey_env). The proof: a real `manage.py runserver` with its
embedded servers and a logged-in passenger, then a part of the suite in a pytest subprocess whose
environment points at that site every way it can, and the live servers' keys, values and
expiry times are exactly as before (nobody even connected to them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import valkey

from flightsite import embedded_valkey

from .topologies import ROOT, SiteClient, SiteProcess

# Tests that write what a running site keeps (sessions and their devices index, weather answers,
# failed-login counters, the admin's staff sessions), from threads too, and that start site
# processes of their own.
SUITE_PART = [
    "tests/test_flow.py::test_login_creates_session_key_in_valkey",
    "tests/test_flow.py::test_weather_flow_stored_in_session",
    "tests/test_flow.py::test_add_flight_twice_stores_once_and_remove",
    "tests/test_flow.py::test_logout_deletes_key_and_next_login_is_empty",
    "tests/test_flow.py::test_failed_logins_are_throttled",
    "tests/test_weather_site.py::test_openmeteo_second_passenger_gets_the_shared_cache",
    "tests/test_weather_cache.py::test_concurrent_misses_make_one_upstream_call",  # threads
    "tests/test_hardening.py::test_client_limit_and_real_retry_after",
    "tests/test_admin_sessions.py::test_end_from_the_list_is_logged",
    "tests/test_admin_sessions.py::test_command_end_key_and_purge",
    "tests/test_embedded_valkey.py::test_make_run_restart_keeps_the_user_logged_in",
]


def test_test_settings_never_point_at_a_running_site(settings):
    """The test process's own state: not the checkout's var/, no lookup of running servers;
    its caches point at the run's own servers (tests/conftest.py valkey_servers)."""
    assert Path(settings.VAR_DIR) != ROOT / "var"
    assert not Path(settings.VAR_DIR).is_relative_to(ROOT)
    assert getattr(settings, "EMBEDDED_VALKEY_DISCOVERY", 1) is False
    assert settings.VALKEY_TOPOLOGY.embedded == (
        settings.VALKEY_TOPOLOGY.sessions,
        settings.VALKEY_TOPOLOGY.cache,
    )
    for db in settings.DATABASES.values():
        assert not str(db["NAME"]).startswith(str(ROOT))


def snapshot(client: Any) -> dict[bytes, tuple[bytes, bytes, int]]:
    """Every key with its type, its value (DUMP, field TTLs included) and when it expires."""
    return {
        key: (client.type(key), client.dump(key), client.pexpiretime(key))
        for key in client.scan_iter(count=1000)
    }


def connections_received(client: Any) -> int:
    return int(client.info("stats")["total_connections_received"])


def test_make_test_leaves_a_running_make_run_alone(tmp_path, site_demo_db, passport):
    live_var = tmp_path / "var"
    # `make run`: runserver starts its embedded servers and writes var/valkey.json.
    with SiteProcess(live_var, {"FLUGHAFENDB_URL": site_demo_db}) as site:
        browser = SiteClient()
        assert browser.post(site, "/login/", {"passportno": passport}).status_code == 302
        weather = {"country": "GB", "zip": "B1", "units": "metric"}
        assert browser.post(site, "/weather/", weather).status_code == 302
        SiteClient().post(site, "/login/", {"passportno": "P999999"})  # no such passenger
        state = json.loads((live_var / embedded_valkey.STATE_FILE).read_text())
        live = {role: valkey.Valkey.from_url(state[role]["url"]) for role in ("sessions", "cache")}
        live["sessions"].set("live:marker", b"keep me", ex=3600)
        before = {role: snapshot(client) for role, client in live.items()}
        assert any(b"login-fail" in key for key in before["sessions"]), before["sessions"]
        assert len(before["sessions"]) >= 4 and before["cache"]  # + the session, its index
        connections = {role: connections_received(client) for role, client in live.items()}

        # `make test` in the same checkout, with an environment that names the running site
        # every way one can: its var/ (valkey.json), its servers, its database files.
        env = {
            **os.environ,
            "FLIGHTSITE_VAR_DIR": str(live_var),
            "VALKEY_URL": state["sessions"]["url"],
            "VALKEY_CACHE_URL": state["cache"]["url"],
            "DJANGO_DB_URL": f"sqlite:///{live_var / 'django.sqlite3'}",
            "FLUGHAFENDB_URL": site_demo_db,
            # The part runs on SQLite whatever this run uses (its MariaDB test databases are
            # this run's own).
            "FLIGHTSITE_TEST_DB": "sqlite",
        }
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE_PART],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout

        for role, client in live.items():
            assert connections_received(client) == connections[role], f"{role}: a connection"
            assert snapshot(client) == before[role], role
        # And the passenger is still logged in, as they were.
        assert browser.get(site, "/").status_code == 200
