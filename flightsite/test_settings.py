"""Settings of the test suite (pytest-django reads DJANGO_SETTINGS_MODULE from pyproject.toml):
the site's settings, with the test databases on SQLite (the default) or a real MariaDB/MySQL.

    .venv/bin/pytest -q                            # SQLite test databases (in memory)
    FLIGHTSITE_TEST_DB=mysql .venv/bin/pytest -q   # MariaDB/MySQL at 127.0.0.1:3306, user root

FLIGHTSITE_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306) sets host, port, user and
password. Both aliases then point at that server, `default` at flightsite_django and
`flughafendb` at flightsite_flughafendb (plus FLIGHTSITE_TEST_DB_SUFFIX, so that two checkouts
can share a server). Those databases are never opened: pytest-django creates the `test_` copies
and drops them at the end. The root conftest.py checks that the server answers before any test
runs, and prints which databases a run uses.

A test run never uses the state of a running site (`make run` in the same checkout, or any site
the environment describes): VAR_DIR is a directory of this run's own (never var/, where
runserver writes valkey.json and its SQLite files), the site's VALKEY_*, DJANGO_DB_URL and
FLUGHAFENDB_URL are ignored, nothing looks for running embedded servers, and both cache aliases
point at a closed port until tests/conftest.py starts the run's own Valkey servers.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from flightsite import valkey_config
from flightsite.env import env
from flightsite.settings import *  # noqa: F403 (the site's settings, then the test databases)
from flightsite.settings import (
    BASE_DIR,
    CACHES,
    DATABASES,
    SESSION_CACHE_ALIAS,
    VALKEY_TIMEOUTS,
    database,
)

# --- the tests' own state, never a running site's ------------------------------------------------
# One directory per checkout in the temp directory, made by FlightsiteConfig.ready (settings do no
# I/O at import) and kept: it holds only empty directories (tests keep their files in tmp_path),
# and mypy's Django plugin loads these settings too.
_CHECKOUT = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:12]
VAR_DIR = Path(tempfile.gettempdir()) / f"flightsite-test-{_CHECKOUT}"
STATIC_ROOT = VAR_DIR / "staticfiles"
EMBEDDED_VALKEY_DISCOVERY = False
# As if no Valkey were configured: the embedded topology, whose aliases point at a closed port
# (valkey_config.NOT_RUNNING_URL) until the `valkey_servers` fixture sets its servers' URLs.
VALKEY_TOPOLOGY = valkey_config.topology_from_env({})
CACHES = {
    SESSION_CACHE_ALIAS: VALKEY_TOPOLOGY.sessions.retarget(
        CACHES[SESSION_CACHE_ALIAS], VALKEY_TIMEOUTS
    ),
    "default": VALKEY_TOPOLOGY.cache.retarget(CACHES["default"], VALKEY_TIMEOUTS),
}

TEST_DB = env.choice("FLIGHTSITE_TEST_DB", ("sqlite", "sqlite3", "mysql", "mariadb"), "sqlite")
TEST_ON_MYSQL = TEST_DB in ("mysql", "mariadb")

if TEST_ON_MYSQL:
    _server = urlsplit(env.str("FLIGHTSITE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"))
    if _server.scheme not in ("mysql", "mariadb"):
        raise ImproperlyConfigured(
            f"FLIGHTSITE_TEST_MYSQL_URL must be a mysql:// URL, got {_server.geturl()!r}"
        )
_suffix = env.str("FLIGHTSITE_TEST_DB_SUFFIX")
for _alias, _name in (("default", "flightsite_django"), ("flughafendb", "flightsite_flughafendb")):
    if TEST_ON_MYSQL:
        _url = urlunsplit((_server.scheme, _server.netloc, f"/{_name}{_suffix}", _server.query, ""))
    else:  # in memory (pytest-django), whatever DJANGO_DB_URL/FLUGHAFENDB_URL say
        _url = f"sqlite:///{VAR_DIR / _name}.sqlite3"
    _config = database(_url)
    # What the settings add on top of the URL (flughafendb: TIME_ZONE, no migrations).
    _site = DATABASES[_alias]
    if "TIME_ZONE" in _site:
        _config["TIME_ZONE"] = _site["TIME_ZONE"]
    if "TEST" in _site:
        _config["TEST"] = dict(_site["TEST"])
    if TEST_ON_MYSQL:
        _config.setdefault("TEST", {}).update(
            {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
        )
    DATABASES[_alias] = _config
