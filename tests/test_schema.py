"""Schema drift: the unmanaged models must match the flughafendb tables that schema/*.sql creates.

The tables are created from schema/ on the test database of the current backend (SQLite, or
MariaDB/MySQL with FLIGHTSITE_TEST_DB=mysql) and read back through Django's introspection.
Adding or renaming a model field or a schema column without the other fails here, as does a
change of nullability, rough type, length, primary key, unique key, index or foreign key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections, models
from django.db.backends.utils import CursorWrapper

from flights.models import Airline, Airplane, Flight
from flightsite.flughafendb import schema
from flightsite.flughafendb.models import Airport, AirportGeo
from flightsite.flughafendb.router import LEGACY_ALIAS
from passengers.models import Passenger, PassengerDetails

from .conftest import BOTH_DBS

LEGACY_MODELS: list[type[models.Model]] = [
    Passenger,
    PassengerDetails,
    Airport,
    AirportGeo,
    Airline,
    Airplane,
    Flight,
]
# Columns the models leave out on purpose: POINT needs GIS support and nothing reads it.
UNMODELLED_COLUMNS = {("airport_geo", "geolocation")}
# Tables without a primary key in flughafendb; the model must still declare one for Django
# (airport_geo.airport_id, unique in practice, only indexed) and has no database-level FK.
NO_PRIMARY_KEY = {"airport_geo"}

INTEGER_TYPES = {
    "AutoField",
    "SmallAutoField",
    "BigAutoField",
    "IntegerField",
    "SmallIntegerField",
    "BigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
}
# A foreign key column has the type of the key it points to, without the auto-increment.
AUTO_TO_PLAIN = {
    "AutoField": "IntegerField",
    "SmallAutoField": "SmallIntegerField",
    "BigAutoField": "BigIntegerField",
}

# Both aliases: flughafendb's test database depends on default's (Django's TEST DEPENDENCIES).
pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.fixture(scope="module", autouse=True)
def tables_from_schema(django_db_setup: None, django_db_blocker: Any) -> None:
    """Create the tables from schema/ (idempotent) outside any test transaction: on MySQL a
    CREATE TABLE commits implicitly, so it must not run inside a test's atomic block."""
    with django_db_blocker.unblock():
        schema.create_schema(LEGACY_ALIAS)


def rough(type_name: str) -> str:
    return "integer" if type_name in INTEGER_TYPES else type_name


def model_type(field: models.Field) -> str:
    if isinstance(field, models.ForeignKey):  # the concrete relations: FK and one-to-one
        target = field.target_field.get_internal_type()
        return AUTO_TO_PLAIN.get(target, target)
    return field.get_internal_type()


def concrete_fields(model: type[models.Model]) -> dict[str, models.Field]:
    return {f.column: f for f in model._meta.concrete_fields}


def describe(cursor: CursorWrapper, table: str) -> dict[str, Any]:
    intro = connections[LEGACY_ALIAS].introspection
    return {c.name: c for c in intro.get_table_description(cursor, table)}


def constraints(cursor: CursorWrapper, table: str) -> dict[str, dict]:
    return connections[LEGACY_ALIAS].introspection.get_constraints(cursor, table)


def declared_size(column: Any) -> tuple[int | None, int | None]:
    """(length or precision, scale) of a column. MySQL reports them; SQLite only keeps the
    declared type text, e.g. 'CHAR(9)' or 'DECIMAL(11,8)'."""
    if connections[LEGACY_ALIAS].vendor == "mysql":
        if column.scale and column.precision:
            return column.precision, column.scale
        return column.internal_size, None
    found = re.search(r"\((\d+)\s*(?:,\s*(\d+))?\)", str(column.type_code))
    if not found:
        return None, None
    return int(found[1]), int(found[2]) if found[2] else None


@pytest.fixture
def cursor() -> Iterator[CursorWrapper]:
    with connections[LEGACY_ALIAS].cursor() as cursor:
        yield cursor


def test_every_legacy_model_is_checked() -> None:
    legacy = {
        m for label in settings.FLUGHAFENDB_APPS for m in apps.get_app_config(label).get_models()
    }
    assert legacy == set(LEGACY_MODELS), "add new flughafendb models to LEGACY_MODELS"
    assert all(not m._meta.managed for m in legacy), "flughafendb models must be unmanaged"
    assert {m._meta.db_table for m in legacy} <= set(schema.TABLES)


def test_schema_creates_all_tables() -> None:
    assert set(schema.TABLES) <= schema.existing_tables(LEGACY_ALIAS)


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda m: m._meta.db_table)
def test_columns_match(model: type[models.Model], cursor: CursorWrapper) -> None:
    table = model._meta.db_table
    in_db = {name for name in describe(cursor, table) if (table, name) not in UNMODELLED_COLUMNS}
    in_model = set(concrete_fields(model))
    assert in_db - in_model == set(), f"{table}: columns in schema/ but not in {model.__name__}"
    assert in_model - in_db == set(), f"{table}: fields of {model.__name__} not in schema/"


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda m: m._meta.db_table)
def test_types_nullability_and_sizes(model: type[models.Model], cursor: CursorWrapper) -> None:
    table = model._meta.db_table
    intro = connections[LEGACY_ALIAS].introspection
    exact = connections[LEGACY_ALIAS].vendor == "mysql"  # SQLite only knows a few types
    db_columns = describe(cursor, table)
    problems = []
    for column, field in concrete_fields(model).items():
        info = db_columns.get(column)
        if info is None:
            continue  # reported by test_columns_match
        db_type = intro.get_field_type(info.type_code, info)
        expected = model_type(field)
        if exact and field.primary_key and not field.is_relation:
            ok = db_type == field.get_internal_type()  # AutoField <-> auto_increment
        elif exact:
            ok = db_type == expected
        else:
            ok = rough(db_type) == rough(expected)
        if not ok:
            problems.append(f"{column}: {db_type} in the database, {expected} in the model")
        if bool(info.null_ok) != field.null:
            problems.append(
                f"{column}: NULL {bool(info.null_ok)} in the database, null={field.null}"
            )
        size, scale = declared_size(info)
        if isinstance(field, models.CharField) and size != field.max_length:
            problems.append(f"{column}: length {size} in the database, {field.max_length} in model")
        if isinstance(field, models.DecimalField):
            digits = (field.max_digits, field.decimal_places)
            if size is not None and (size, scale) != digits:
                problems.append(f"{column}: DECIMAL({size},{scale}) in the database, {digits}")
    assert not problems, f"{table}: " + "; ".join(problems)


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda m: m._meta.db_table)
def test_primary_key(model: type[models.Model], cursor: CursorWrapper) -> None:
    table = model._meta.db_table
    pk = connections[LEGACY_ALIAS].introspection.get_primary_key_columns(cursor, table) or []
    expected = [] if table in NO_PRIMARY_KEY else [model._meta.pk.column]
    assert pk == expected


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda m: m._meta.db_table)
def test_unique_keys(model: type[models.Model], cursor: CursorWrapper) -> None:
    table = model._meta.db_table
    in_db = {
        c["columns"][0]
        for c in constraints(cursor, table).values()
        if c["unique"] and not c["primary_key"] and len(c["columns"]) == 1
    }
    in_model = {f.column for f in model._meta.concrete_fields if f.unique and not f.primary_key}
    assert in_db == in_model, f"{table}: UNIQUE columns differ"


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda m: m._meta.db_table)
def test_indexed_fields_have_an_index(model: type[models.Model], cursor: CursorWrapper) -> None:
    """db_index=True (and every ForeignKey) documents an index the queries rely on."""
    table = model._meta.db_table
    indexed = {
        c["columns"][0]
        for c in constraints(cursor, table).values()
        if (c["index"] or c["unique"] or c["primary_key"]) and c["columns"]
    }
    # Field.db_index is set by Field.__init__; django-stubs does not declare it.
    wanted = {f.column for f in model._meta.concrete_fields if f.db_index}  # type: ignore[attr-defined]
    assert wanted <= indexed, f"{table}: no index on {sorted(wanted - indexed)}"


@pytest.mark.parametrize("model", LEGACY_MODELS, ids=lambda m: m._meta.db_table)
def test_foreign_keys(model: type[models.Model], cursor: CursorWrapper) -> None:
    table = model._meta.db_table
    modelled = {m._meta.db_table for m in LEGACY_MODELS}
    in_db = {
        c["columns"][0]: tuple(c["foreign_key"])
        for c in constraints(cursor, table).values()
        if c["foreign_key"] and c["foreign_key"][0] in modelled
    }
    in_model = {
        f.column: (f.target_field.model._meta.db_table, f.target_field.column)
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey)
    }
    if table in NO_PRIMARY_KEY:  # MyISAM: the relation exists only in the model
        in_model = {}
    assert in_db == in_model, f"{table}: foreign keys differ"


def test_departure_index_for_todays_flights(cursor: CursorWrapper) -> None:
    """Flight.objects.today() is a range on departure; the benchmark EXPLAINs departure_idx."""
    found = constraints(cursor, "flight").get("departure_idx")
    assert found and found["index"] and found["columns"] == ["departure"]


def test_passport_is_unique(cursor: CursorWrapper) -> None:
    """The login query is one lookup on the unique passportno index."""
    unique = [c for c in constraints(cursor, "passenger").values() if c["unique"]]
    assert any(c["columns"] == ["passportno"] for c in unique)


def _columns_in_sql(vendor: str) -> dict[str, dict[str, bool]]:
    """{table: {column: nullable}} parsed from a schema file (cross-check of both files)."""
    tables: dict[str, dict[str, bool]] = {}
    for statement in schema.statements(vendor):
        head = re.match(r'CREATE TABLE IF NOT EXISTS [`"](\w+)[`"]\s*\(', statement)
        if not head:
            continue
        columns = tables[head[1]] = {}
        for line in statement[head.end() :].splitlines():
            column = re.match(r'\s*[`"](\w+)[`"]\s+(.*)', line)
            if column:
                columns[column[1]] = "NOT NULL" not in column[2].upper()
    return tables


def test_mysql_and_sqlite_schema_files_agree() -> None:
    mysql, sqlite = _columns_in_sql("mysql"), _columns_in_sql("sqlite")
    assert list(mysql) == list(sqlite) == list(schema.TABLES)
    for table in mysql:
        assert list(mysql[table]) == list(sqlite[table]), f"{table}: column names/order differ"
        for column, nullable in mysql[table].items():
            if (table, column) not in UNMODELLED_COLUMNS:  # POINT must be NOT NULL for SPATIAL
                assert sqlite[table][column] == nullable, f"{table}.{column}: nullability differs"
