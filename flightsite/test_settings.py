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
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from flightsite.env import env
from flightsite.settings import *  # noqa: F403 (the site's settings, then the test databases)
from flightsite.settings import DATABASES, database

TEST_DB = env.choice("FLIGHTSITE_TEST_DB", ("sqlite", "sqlite3", "mysql", "mariadb"), "sqlite")
TEST_ON_MYSQL = TEST_DB in ("mysql", "mariadb")

if TEST_ON_MYSQL:
    _server = urlsplit(env.str("FLIGHTSITE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"))
    if _server.scheme not in ("mysql", "mariadb"):
        raise ImproperlyConfigured(
            f"FLIGHTSITE_TEST_MYSQL_URL must be a mysql:// URL, got {_server.geturl()!r}"
        )
    _suffix = env.str("FLIGHTSITE_TEST_DB_SUFFIX")
    for _alias, _name in (
        ("default", "flightsite_django"),
        ("flughafendb", "flightsite_flughafendb"),
    ):
        _url = urlunsplit((_server.scheme, _server.netloc, f"/{_name}{_suffix}", _server.query, ""))
        _config = database(_url)
        # What the settings add on top of the URL (flughafendb: TIME_ZONE, no migrations).
        _site = DATABASES[_alias]
        if "TIME_ZONE" in _site:
            _config["TIME_ZONE"] = _site["TIME_ZONE"]
        if "TEST" in _site:
            _config["TEST"] = dict(_site["TEST"])
        _config.setdefault("TEST", {}).update(
            {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
        )
        DATABASES[_alias] = _config
