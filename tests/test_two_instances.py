"""Two instances of the site, one Valkey: the RedisConf session-store exercise.

Two real server processes (`manage.py runserver --noreload` on two ports, as two replicas
behind a round-robin load balancer would be) share the session and cache servers. One browser
(one cookie jar) talks to both in turn: the session one instance creates, the other reads,
changes and ends — with Valkey itself as the witness.
"""

from __future__ import annotations

from typing import Any

import pytest

from valkey_sessions.keys import valkey_key

from .helpers import RawValkey, stored_session, tomorrows_list
from .topologies import SiteClient, SiteProcess, chosen_flight_ids


@pytest.fixture
def two_instances(tmp_path, site_demo_db, valkey_servers):
    env = {
        "VALKEY_URL": valkey_servers.urls.sessions,
        "VALKEY_CACHE_URL": valkey_servers.urls.cache,
        "FLUGHAFENDB_URL": site_demo_db,
    }
    a, b = SiteProcess(tmp_path / "a", env), SiteProcess(tmp_path / "b", env)
    try:
        # Both start at once: the slow part is importing Django, twice.
        for site in (a, b):
            site.start_process()
        for site in (a, b):
            site.wait_until_ready()
        yield a, b
    finally:
        a.stop()
        b.stop()


def stored(valkey_client: RawValkey, browser: SiteClient) -> dict[str, Any]:
    return stored_session(valkey_client, browser.session_key)


def test_a_session_made_on_one_instance_is_read_changed_and_ended_on_the_other(
    two_instances, valkey_client, passport
):
    a, b = two_instances
    browser = SiteClient()

    # Created on A.
    assert browser.post(a, "/login/", {"passportno": passport}).status_code == 302
    key = browser.session_key
    assert stored(valkey_client, browser)["passenger"]["passportno"] == passport

    # Read on B: the same passenger, no new login, no new key.
    page = browser.get(b, "/")
    assert page.status_code == 200 and passport in page.text
    assert browser.session_key == key

    # Changed on B (a flight and the weather), seen on A.
    flight_id = chosen_flight_ids(browser.get(b, tomorrows_list()).text)[0]
    assert browser.post(b, "/flights/add/", {"flight_id": flight_id}).status_code == 302
    weather = {"country": "GB", "zip": "B1", "units": "metric"}
    assert browser.post(b, "/weather/", weather).status_code == 302
    page = browser.get(a, "/")
    assert chosen_flight_ids(page.text) == [flight_id]
    assert "Birmingham" in page.text
    data = stored(valkey_client, browser)
    assert [f["flight_id"] for f in data["flights"]] == [int(flight_id)]
    assert data["weather"]["city"] == "Birmingham"

    # Changed on A, seen on B.
    assert browser.post(a, "/flights/remove/", {"flight_id": flight_id}).status_code == 302
    assert chosen_flight_ids(browser.get(b, "/").text) == []

    # Ended on B: the key is gone, and A sends the same cookie to the login page.
    assert browser.post(b, "/logout/", {}).status_code == 302
    assert not valkey_client.exists(valkey_key(key))
    response = browser.get(a, "/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/")
    assert valkey_client.keys("flight_session:*") == []
