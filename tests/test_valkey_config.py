"""Valkey settings from the environment (flightsite/valkey_config.py): which store goes where,
and a clear error for anything ambiguous or malformed. The real topologies run in
test_cluster.py, test_sentinel.py and test_two_instances.py."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from flightsite.valkey_config import NOT_RUNNING_URL, Timeouts, topology_from_env


def caches(env: dict[str, str]) -> tuple[dict, dict]:
    topology = topology_from_env(env)
    timeouts = Timeouts(connect=0.5, read=0.75)
    return topology.sessions.cache_setting(timeouts), topology.cache.cache_setting(timeouts)


def test_nothing_set_means_the_embedded_servers():
    topology = topology_from_env({})
    assert (topology.sessions.kind, topology.cache.kind) == ("embedded", "embedded")
    assert topology.sessions.location == topology.cache.location == NOT_RUNNING_URL
    assert topology.embedded == (topology.sessions, topology.cache)


@pytest.mark.parametrize(
    ("url", "cache_url"),
    [
        ("valkey://10.0.0.5:6380/0", "valkey://10.0.0.5:6380/1"),
        ("redis://10.0.0.5:6380", "redis://10.0.0.5:6380/1"),
        (
            "rediss://u:p%40ss@h:6380/4?ssl_cert_reqs=none",
            "rediss://u:p%40ss@h:6380/5?ssl_cert_reqs=none",
        ),
        ("unix:///run/valkey.sock?db=2", "unix:///run/valkey.sock?db=3"),
    ],
)
def test_cache_defaults_to_the_next_database_of_the_session_server(url, cache_url):
    sessions, cache = caches({"VALKEY_URL": url})
    assert sessions["LOCATION"] == url
    assert cache["LOCATION"] == cache_url
    assert sessions["BACKEND"] == cache["BACKEND"] == "django_valkey.cache.ValkeyCache"
    assert sessions["OPTIONS"]["SOCKET_TIMEOUT"] == 0.75
    assert sessions["OPTIONS"]["SOCKET_CONNECT_TIMEOUT"] == 0.5


def test_separate_cache_server_and_credentials_from_the_environment():
    env = {
        "VALKEY_URL": "valkey://sessions:6379/0",
        "VALKEY_CACHE_URL": "valkey://cache:6379/0",
        "VALKEY_USERNAME": "flightsite",
        "VALKEY_PASSWORD": "s3cret/:@",
    }
    sessions, cache = caches(env)
    assert sessions["LOCATION"] == "valkey://flightsite:s3cret%2F%3A%40@sessions:6379/0"
    assert cache["LOCATION"] == "valkey://flightsite:s3cret%2F%3A%40@cache:6379/0"
    # A URL with its own credentials keeps them.
    sessions, _ = caches({**env, "VALKEY_URL": "valkey://:other@sessions:6379/0"})
    assert sessions["LOCATION"] == "valkey://:other@sessions:6379/0"
    assert "s3cret" not in topology_from_env(env).sessions.describe()


def test_sentinel_through_django_valkeys_sentinel_client():
    env = {
        "VALKEY_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379,[fd00::3]:26379",
        "VALKEY_SENTINEL_SERVICE": "flightsite",
        "VALKEY_SENTINEL_PASSWORD": "sentinel-pw",
        "VALKEY_PASSWORD": "data-pw",
    }
    sessions, cache = caches(env)
    assert sessions["LOCATION"] == "valkey://:data-pw@flightsite/0"
    assert cache["LOCATION"] == "valkey://:data-pw@flightsite/1"
    for setting in (sessions, cache):
        options = setting["OPTIONS"]
        assert options["CLIENT_CLASS"] == "django_valkey.client.SentinelClient"
        assert options["CONNECTION_FACTORY"] == "django_valkey.pool.SentinelConnectionFactory"
        assert options["SENTINELS"] == [
            ("10.0.0.1", 26379),
            ("10.0.0.2", 26379),
            ("fd00::3", 26379),
        ]
        assert options["SENTINEL_KWARGS"] == {
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.75,
            "password": "sentinel-pw",
        }
    assert "data-pw" not in topology_from_env(env).sessions.describe()


def test_each_store_and_the_sentinels_with_a_user_of_their_own():
    """The least-privilege users (manage.py valkey_acl): the cache's credentials replace the
    sessions' where the cache follows them, and the Sentinels have a user of their own."""
    users = {
        "VALKEY_USERNAME": "flightsite-sessions",
        "VALKEY_PASSWORD": "s-pw",
        "VALKEY_CACHE_USERNAME": "flightsite-cache",
        "VALKEY_CACHE_PASSWORD": "c-pw",
    }
    sentinel = {
        "VALKEY_SENTINELS": "s:26379",
        "VALKEY_SENTINEL_USERNAME": "flightsite-sentinel",
        "VALKEY_SENTINEL_PASSWORD": "st-pw",
    }
    sessions, cache = caches({**users, **sentinel})
    assert sessions["LOCATION"] == "valkey://flightsite-sessions:s-pw@mymaster/0"
    assert cache["LOCATION"] == "valkey://flightsite-cache:c-pw@mymaster/1"
    for setting in (sessions, cache):
        kwargs = setting["OPTIONS"]["SENTINEL_KWARGS"]
        assert (kwargs["username"], kwargs["password"]) == ("flightsite-sentinel", "st-pw")
    _, cache = caches({**users, **sentinel, "VALKEY_CACHE_SENTINEL_SERVICE": "cache"})
    assert cache["LOCATION"] == "valkey://flightsite-cache:c-pw@cache/0"

    cluster = {"VALKEY_CLUSTER_URL": "valkey://n1:7000,n2:7001"}
    sessions, cache = caches({**users, **cluster})
    assert sessions["LOCATION"] == "valkey://flightsite-sessions:s-pw@n1:7000"
    assert cache["LOCATION"] == "valkey://flightsite-cache:c-pw@n1:7000"  # the same cluster
    url = "valkey://flightsite-sessions:other@n1:7000,n2:7001"
    _, cache = caches({**users, "VALKEY_CLUSTER_URL": url})
    assert cache["LOCATION"] == "valkey://flightsite-cache:c-pw@n1:7000"  # not the URL's

    sessions, cache = caches({**users, "VALKEY_URL": "valkey://host:6379/0"})
    assert cache["LOCATION"] == "valkey://flightsite-cache:c-pw@host:6379/1"
    # Without the cache's own user, everything as before: the sessions' credentials.
    del users["VALKEY_CACHE_USERNAME"], users["VALKEY_CACHE_PASSWORD"]
    _, cache = caches({**users, "VALKEY_URL": "valkey://host:6379/0"})
    assert cache["LOCATION"] == "valkey://flightsite-sessions:s-pw@host:6379/1"


def test_sentinel_cache_on_another_primary_of_the_same_sentinels():
    env = {"VALKEY_SENTINELS": "s:26379", "VALKEY_CACHE_SENTINEL_SERVICE": "flightsite-cache"}
    sessions, cache = caches(env)
    assert sessions["LOCATION"] == "valkey://mymaster/0"  # the default service name
    assert cache["LOCATION"] == "valkey://flightsite-cache/0"
    assert cache["OPTIONS"]["SENTINELS"] == [("s", 26379)]


def test_cluster_through_django_valkeys_cluster_cache():
    env = {"VALKEY_CLUSTER_URL": "valkey://:pw@n1:7000,n2:7001,n3:7002"}
    sessions, cache = caches(env)
    for setting in (sessions, cache):
        assert setting["BACKEND"] == "django_valkey.cluster_cache.cache.ClusterValkeyCache"
        assert setting["LOCATION"] == "valkey://:pw@n1:7000"
        kwargs = setting["OPTIONS"]["BASE_CLIENT_KWARGS"]
        assert [(n.host, n.port) for n in kwargs["startup_nodes"]] == [("n2", 7001), ("n3", 7002)]
        assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.5, 0.75)
    _, cache = caches({**env, "VALKEY_CACHE_CLUSTER_URL": "valkey://c1:7000"})
    assert cache["LOCATION"] == "valkey://c1:7000"  # its own URL, its own credentials
    _, cache = caches({**env, "VALKEY_CACHE_URL": "valkey://cache:6379/0"})
    assert cache["BACKEND"] == "django_valkey.cache.ValkeyCache"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VALKEY_URL": "valkey://a/0", "VALKEY_CLUSTER_URL": "valkey://b:7000"}, "only one of"),
        ({"VALKEY_URL": "valkey://a/0", "VALKEY_SENTINELS": "s:26379"}, "only one of"),
        (
            {"VALKEY_CACHE_URL": "valkey://a/0", "VALKEY_CACHE_CLUSTER_URL": "valkey://b:1"},
            "only one",
        ),
        ({"VALKEY_URL": "http://a/0"}, "valkey://"),
        ({"VALKEY_URL": "valkey://a/zero"}, "database number"),
        ({"VALKEY_SENTINELS": "s"}, "host:port"),
        ({"VALKEY_SENTINELS": "s:99999"}, "host:port"),
        ({"VALKEY_SENTINELS": " , "}, "empty"),
        ({"VALKEY_SENTINELS": "s:26379", "VALKEY_SENTINEL_SERVICE": "MyMaster"}, "lower-case"),
        ({"VALKEY_CACHE_SENTINEL_SERVICE": "cache"}, "needs VALKEY_SENTINELS"),
        ({"VALKEY_URL": "valkey://a/0", "VALKEY_SENTINEL_SERVICE": "s"}, "needs VALKEY_SENTINELS"),
        ({"VALKEY_CLUSTER_URL": "n1:7000"}, "valkey://host:port"),
        ({"VALKEY_CLUSTER_URL": "valkey://n1"}, "host:port"),
    ],
)
def test_ambiguous_or_malformed_settings_fail_clearly(env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        topology_from_env(env)
