"""The site never writes to flughafendb: a guard on that connection refuses any statement that
is not a read, except inside `legacy_writes_allowed()` (used only by load_demo_data)."""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from typing import Any

from django.db.backends.signals import connection_created

from flightsite.flughafendb.router import LEGACY_ALIAS

_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("legacy_writes", default=False)

# Reads, transaction control and session settings pass; everything else is a write.
_READ_RE = re.compile(
    r"^\s*(\(?\s*SELECT|WITH|EXPLAIN|SHOW|DESCRIBE|DESC|PRAGMA|SET|SAVEPOINT|RELEASE|ROLLBACK|"
    r"COMMIT|BEGIN|START\s+TRANSACTION)\b",
    re.IGNORECASE,
)


class LegacyWriteError(RuntimeError):
    """A write to flughafendb was attempted outside load_demo_data."""


# A read-looking statement can still write: `WITH … DELETE` (SQLite, MySQL 8) or
# `SELECT … INTO OUTFILE`.
_HIDDEN_WRITE_RE = re.compile(
    r"\b(INSERT|UPDATE|DELETE|REPLACE)\b(?!\s*\()|\bINTO\s+(OUTFILE|DUMPFILE)\b", re.IGNORECASE
)
_FOR_UPDATE_RE = re.compile(r"\bFOR\s+UPDATE\b", re.IGNORECASE)


def is_read(sql: str) -> bool:
    if not _READ_RE.match(sql):
        return False
    if re.match(r"^\s*(\(?\s*SELECT|WITH)\b", sql, re.IGNORECASE):
        # Strip quoted identifiers/strings so a column or value called "update" is not a write.
        bare = re.sub(r"`[^`]*`|\"[^\"]*\"|'[^']*'", "", _FOR_UPDATE_RE.sub("", sql))
        return not _HIDDEN_WRITE_RE.search(bare)
    return True


def _guard(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    if not _allowed.get() and not is_read(sql):
        raise LegacyWriteError(
            "flughafendb is read-only for the site; only `manage.py load_demo_data` writes to it. "
            f"Refused: {sql[:80]!r}"
        )
    return execute(sql, params, many, context)


@contextlib.contextmanager
def legacy_writes_allowed() -> Iterator[None]:
    token = _allowed.set(True)
    try:
        yield
    finally:
        _allowed.reset(token)


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.alias == LEGACY_ALIAS and _guard not in connection.execute_wrappers:
        connection.execute_wrappers.append(_guard)


def install() -> None:
    connection_created.connect(
        _on_connection_created, dispatch_uid="flightsite.flughafendb.readonly"
    )
