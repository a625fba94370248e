"""The test run's databases: chosen by flightsite/test_settings.py (FLIGHTSITE_TEST_DB=mysql for
MariaDB/MySQL); here they are only checked and shown.

A run that asked for MariaDB must not quietly test SQLite instead, nor fail test by test: an
unreachable server stops it at once with what to do. The pytest header names the databases in
use (CI logs show them at the top).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

_server_key = pytest.StashKey[str]()


def _server_version(config: Mapping[str, Any]) -> str:
    """Connect once without a database; the server's version, or pytest.UsageError."""
    try:
        import MySQLdb
    except ImportError as exc:
        raise pytest.UsageError(
            "FLIGHTSITE_TEST_DB=mysql needs mysqlclient: .venv/bin/pip install -c "
            "constraints.txt -e '.[test,mysql]' (and the client headers, see README)"
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
        raise pytest.UsageError(
            f"FLIGHTSITE_TEST_DB=mysql, but MariaDB/MySQL at {where} is not reachable: {exc}. "
            "Start it or point FLIGHTSITE_TEST_MYSQL_URL at one (e.g. mysql://user:pass@host:3306)."
        ) from exc
    try:
        version: str = conn.get_server_info()
        return version
    finally:
        conn.close()


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    if getattr(settings, "TEST_ON_MYSQL", False):
        config.stash[_server_key] = _server_version(settings.DATABASES["default"])


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    version = config.stash.get(_server_key, "")
    lines = [f"flightsite test databases (FLIGHTSITE_TEST_DB={settings.TEST_DB}):"]
    for alias, db in settings.DATABASES.items():
        engine = db["ENGINE"].rsplit(".", 1)[-1]
        if db["ENGINE"].endswith("mysql"):
            where = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 3306}, server {version}"
            name = db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"
            lines.append(f"  {alias}: mysql {name} ({where})")
        else:
            lines.append(f"  {alias}: {engine} (in memory)")
    return lines
