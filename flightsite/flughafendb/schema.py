"""Create the flughafendb tables from the SQL files in schema/ (the single source of truth)."""

from __future__ import annotations

from pathlib import Path

from django.db import connections

from flightsite.flughafendb.readonly import legacy_writes_allowed
from flightsite.flughafendb.router import LEGACY_ALIAS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
TABLES = (
    "airport",
    "airport_geo",
    "airline",
    "airplane_type",
    "airplane",
    "flight",
    "passenger",
    "passengerdetails",
    "booking",
)


def schema_file(vendor: str) -> Path:
    names = {"mysql": "mysql.sql", "sqlite": "sqlite.sql"}
    if vendor not in names:
        raise ValueError(f"No flughafendb schema for database vendor {vendor!r}")
    return SCHEMA_DIR / names[vendor]


def statements(vendor: str) -> list[str]:
    text = schema_file(vendor).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    chunks = "\n".join(lines).split("\n;")
    return [c.strip().rstrip(";").strip() for c in chunks if c.strip().rstrip(";").strip()]


def existing_tables(alias: str = LEGACY_ALIAS) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def create_schema(alias: str = LEGACY_ALIAS) -> None:
    """Create any missing flughafendb table (CREATE TABLE IF NOT EXISTS; existing data kept)."""
    connection = connections[alias]
    if set(TABLES) <= existing_tables(alias):
        # Nothing to create, and on MySQL even CREATE TABLE IF NOT EXISTS commits the open
        # transaction implicitly: don't send DDL that would do nothing else.
        return
    with legacy_writes_allowed(), connection.cursor() as cursor:
        for sql in statements(connection.vendor):
            cursor.execute(sql)


def has_schema(alias: str = LEGACY_ALIAS) -> bool:
    return {"passenger", "flight", "airport"} <= existing_tables(alias)
