"""Choose the database backend of a test run: SQLite (default) or a real MariaDB/MySQL.

    .venv/bin/pytest -q                            # SQLite test databases (files in memory)
    FLIGHTSITE_TEST_DB=mysql .venv/bin/pytest -q   # MariaDB/MySQL at 127.0.0.1:3306, user root

FLIGHTSITE_TEST_MYSQL_URL (default ``mysql://root@127.0.0.1:3306``) sets host, port, user and
password. Both aliases then point at that server: ``default`` at ``flightsite_django`` and
``flughafendb`` at ``flightsite_flughafendb``. Those two databases are never opened: pytest-django
creates ``test_flightsite_django`` and ``test_flightsite_flughafendb``, and drops them at the end.

Why here and not with environment variables: pytest-django imports ``flightsite.settings`` in
its ``pytest_load_initial_conftests`` hook, before pytest loads any conftest.py, so setting
FLUGHAFENDB_URL/DJANGO_DB_URL from a conftest would come too late. Instead ``pytest_configure``
rebuilds ``settings.DATABASES`` with the settings' own helper (same OPTIONS, TIME_ZONE, TEST)
before any database connection exists.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

BACKEND_ENV = "FLIGHTSITE_TEST_DB"
MYSQL_URL_ENV = "FLIGHTSITE_TEST_MYSQL_URL"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306"
# Database names behind the aliases; the tests only ever use the test_ copies of them.
# FLIGHTSITE_TEST_DB_SUFFIX lets two checkouts run the MariaDB leg on one server at once.
_SUFFIX = os.environ.get("FLIGHTSITE_TEST_DB_SUFFIX", "").strip()
MYSQL_NAMES = {
    "default": f"flightsite_django{_SUFFIX}",
    "flughafendb": f"flightsite_flughafendb{_SUFFIX}",
}


def selected_backend() -> str:
    """'sqlite' (the settings as configured, SQLite by default) or 'mysql'."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    if value in {"", "sqlite", "sqlite3"}:
        return "sqlite"
    if value in {"mysql", "mariadb"}:
        return "mysql"
    raise pytest.UsageError(f"{BACKEND_ENV}={value!r}: use 'sqlite' (default) or 'mysql'")


def mysql_server_url() -> str:
    url = os.environ.get(MYSQL_URL_ENV, "").strip() or DEFAULT_MYSQL_URL
    if urlsplit(url).scheme not in {"mysql", "mariadb"}:
        raise pytest.UsageError(f"{MYSQL_URL_ENV} must be a mysql:// URL, got {url!r}")
    return url


def _check_reachable(config: dict[str, Any]) -> str:
    """Connect once without a database; returns the server version or raises UsageError."""
    try:
        import MySQLdb
    except ImportError as exc:
        raise pytest.UsageError(
            f"{BACKEND_ENV}=mysql needs mysqlclient: .venv/bin/pip install -c constraints.txt "
            "-e '.[test,mysql]' (and the client headers, see README)"
        ) from exc
    where = f"{config['HOST'] or 'localhost'}:{config['PORT'] or 3306}"
    try:
        conn = MySQLdb.connect(
            host=config["HOST"] or "localhost",
            port=int(config["PORT"] or 3306),
            user=config["USER"] or "root",
            password=config["PASSWORD"] or "",
            connect_timeout=5,
        )
    except MySQLdb.Error as exc:
        # Loud on purpose: a run that asked for MariaDB must not quietly test SQLite instead.
        raise pytest.UsageError(
            f"{BACKEND_ENV}=mysql, but MariaDB/MySQL at {where} is not reachable: {exc}. "
            f"Start it or point {MYSQL_URL_ENV} at one (e.g. mysql://user:pass@host:3306)."
        ) from exc
    try:
        return conn.get_server_info()
    finally:
        conn.close()


def _use_mysql() -> str:
    from django.conf import settings
    from django.db import connections

    from flightsite.settings import _database

    server = urlsplit(mysql_server_url())
    for alias, name in MYSQL_NAMES.items():
        old = settings.DATABASES[alias]
        url = urlunsplit((server.scheme, server.netloc, f"/{name}", server.query, ""))
        new = _database(url)
        # Keep what the settings add on top of the URL (flughafendb: TIME_ZONE, MIGRATE False).
        for key in ("TIME_ZONE", "TEST"):
            if key in old:
                new[key] = dict(old[key]) if isinstance(old[key], dict) else old[key]
        new.setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})
        settings.DATABASES[alias] = new
    # The handler caches DATABASES, and model classes already built a wrapper for `default`
    # (to ask for max_name_length) without connecting. Forget both so they are rebuilt from
    # the new settings; an already open connection would mean the switch came too late.
    for alias in MYSQL_NAMES:
        if hasattr(connections._connections, alias):
            if connections[alias].connection is not None:
                raise pytest.UsageError(f"database {alias!r} was opened before conftest.py ran")
            del connections[alias]
    connections.__dict__.pop("settings", None)
    return _check_reachable(settings.DATABASES["default"])


def pytest_configure(config: pytest.Config) -> None:
    backend = selected_backend()
    version = _use_mysql() if backend == "mysql" else ""
    config.stash[_backend_key] = (backend, version)


_backend_key = pytest.StashKey[tuple[str, str]]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which backend this run really uses (CI logs show it at the top)."""
    from django.conf import settings

    backend, version = config.stash.get(_backend_key, ("?", ""))
    lines = [f"flightsite test databases ({BACKEND_ENV}={backend}):"]
    for alias, db in settings.DATABASES.items():
        engine = db["ENGINE"].rsplit(".", 1)[-1]
        if engine == "mysql":
            where = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 3306}, server {version}"
            name = db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"
            lines.append(f"  {alias}: mysql {name} ({where})")
        else:
            lines.append(f"  {alias}: {engine} (in memory)")
    return lines
