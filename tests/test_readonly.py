"""flughafendb is read-only for the site: every write through its connection is refused, except
inside legacy_writes_allowed() (load_demo_data), and no migration is ever routed there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections, router, transaction

from flights.models import Flight
from flightsite.flughafendb.models import Airport
from flightsite.flughafendb.readonly import LegacyWriteError, is_read, legacy_writes_allowed
from flightsite.flughafendb.router import LEGACY_ALIAS
from passengers.models import Passenger, PassengerDetails

from .conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


def refused(write: Callable[[], Any]) -> None:
    """The write raises LegacyWriteError. It runs in a savepoint so that the test transaction
    stays usable afterwards (Django marks a failed save as needing rollback)."""
    with pytest.raises(LegacyWriteError, match="read-only"), transaction.atomic(using=LEGACY_ALIAS):
        write()


@pytest.fixture
def passenger(passport: str) -> Iterator[Passenger]:
    yield Passenger.objects.get(passportno=passport)


def new_passenger() -> Passenger:
    return Passenger.objects.create(passportno="W0000001", firstname="Eve", lastname="Writer")


def test_orm_create_is_refused() -> None:
    before = Passenger.objects.count()
    refused(new_passenger)
    refused(lambda: Passenger.objects.bulk_create([Passenger(passportno="W0000002")]))
    refused(lambda: Passenger.objects.get_or_create(passportno="W0000003"))
    assert Passenger.objects.count() == before
    assert not Passenger.objects.filter(passportno__startswith="W").exists()


def test_orm_update_is_refused(passenger: Passenger) -> None:
    refused(lambda: Passenger.objects.filter(pk=passenger.pk).update(firstname="Mallory"))
    passenger.firstname = "Mallory"
    refused(passenger.save)
    refused(lambda: Flight.objects.all().update(flightno="XX0000"))
    assert Passenger.objects.get(pk=passenger.pk).firstname != "Mallory"


def test_orm_delete_is_refused(passenger: Passenger) -> None:
    flights = Flight.objects.count()
    refused(lambda: Passenger.objects.filter(pk=passenger.pk).delete())
    refused(passenger.delete)
    refused(lambda: PassengerDetails.objects.all().delete())
    refused(lambda: Flight.objects.all().delete())
    refused(lambda: Airport.objects.filter(iata="FRA").delete())
    assert Passenger.objects.filter(pk=passenger.pk).exists()
    assert Flight.objects.count() == flights > 0


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO passenger (passportno, firstname, lastname) VALUES ('W1', 'a', 'b')",
        "  insert into passenger (passportno, firstname, lastname) values ('W1', 'a', 'b')",
        "UPDATE passenger SET firstname = 'Mallory'",
        "DELETE FROM flight",
        "/* sneaky */ DELETE FROM flight",
        "REPLACE INTO airline (iata, base_airport) VALUES ('ZZ', 1)",
        "TRUNCATE TABLE flight",
        "DROP TABLE flight",
        "ALTER TABLE flight ADD COLUMN x INT",
        "CREATE TABLE evil (id INT)",
        "CREATE INDEX evil_idx ON flight (flightno)",
    ],
)
def test_raw_sql_write_is_refused(sql: str) -> None:
    # Refused before it reaches the server, so even DDL cannot commit implicitly on MySQL.
    with connections[LEGACY_ALIAS].cursor() as cursor:
        refused(lambda: cursor.execute(sql))


def test_raw_executemany_is_refused() -> None:
    sql = "INSERT INTO passenger (passportno, firstname, lastname) VALUES (%s, %s, %s)"
    with connections[LEGACY_ALIAS].cursor() as cursor:
        refused(lambda: cursor.executemany(sql, [("W1", "a", "b"), ("W2", "c", "d")]))


def test_reads_pass(passport: str) -> None:
    found = Passenger.objects.for_login(passport)
    assert found is not None and found[1]["passportno"] == passport
    assert Flight.objects.today(limit=3)
    with connections[LEGACY_ALIAS].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM passenger WHERE passportno = %s", [passport])
        assert cursor.fetchone()[0] == 1
        cursor.execute("WITH t AS (SELECT 1 AS x) SELECT x FROM t")
        cursor.execute("EXPLAIN SELECT * FROM flight")


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT 1", True),
        ("select * from flight", True),
        ("WITH t AS (SELECT 1) SELECT * FROM t", True),
        ("EXPLAIN SELECT 1", True),
        ("SHOW TABLES", True),
        ("SET foreign_key_checks = 1", True),
        ("SAVEPOINT s1", True),
        ("RELEASE SAVEPOINT s1", True),
        ("ROLLBACK TO SAVEPOINT s1", True),
        ("INSERT INTO flight VALUES (1)", False),
        ("SELECTED", False),  # a word boundary, not a prefix
        ("LOAD DATA INFILE 'x' INTO TABLE flight", False),
        ("CALL do_something()", False),
        ("LOCK TABLES flight WRITE", False),
        ("WITH t AS (SELECT 1) DELETE FROM flight", False),  # a write behind a CTE
        ("WITH t AS (SELECT 1) UPDATE flight SET flightno = 'X'", False),
        ("SELECT 1 INTO OUTFILE '/tmp/x'", False),
        ("SELECT * FROM flight FOR UPDATE", True),  # a locking read, not a write
        ("SELECT 'delete me', `update` FROM t", True),  # quoted words are not statements
        ("SELECT REPLACE(name, 'a', 'b') FROM airport", True),  # the function, not REPLACE INTO
    ],
)
def test_is_read(sql: str, read: bool) -> None:
    assert is_read(sql) is read


def test_legacy_writes_allowed_permits_writes() -> None:
    # Inside the test transaction: InnoDB and SQLite roll this back after the test.
    with legacy_writes_allowed():
        created = new_passenger()
        PassengerDetails.objects.create(
            passenger=created,
            birthdate=date(1990, 1, 1),
            street="Teststraße 1",
            city="Berlin",
            zip=10115,
            country="Germany",
        )
        Passenger.objects.filter(pk=created.pk).update(firstname="Eva")
        with connections[LEGACY_ALIAS].cursor() as cursor:
            cursor.execute("UPDATE passenger SET lastname = %s WHERE passenger_id = %s", ["W", 1])
    found = Passenger.objects.for_login("W0000001")
    assert found is not None and found[1]["firstname"] == "Eva"
    assert Passenger.objects.get(pk=1).lastname == "W"
    # The permission ends with the block.
    refused(lambda: Passenger.objects.filter(pk=created.pk).update(firstname="Eve"))


def test_permission_ends_even_after_an_error() -> None:
    with pytest.raises(ZeroDivisionError), legacy_writes_allowed():
        1 / 0  # noqa: B018
    refused(new_passenger)


def test_default_database_is_writable() -> None:
    # Only the flughafendb connection is guarded; Django's own tables are ordinary.
    User.objects.create_user("someone", password="x-long-enough-password")
    assert User.objects.filter(username="someone").exists()


@pytest.mark.parametrize(
    "app_label", ["passengers", "flights", "auth", "contenttypes", "admin", "sessions"]
)
def test_no_migration_is_routed_to_flughafendb(app_label: str) -> None:
    assert router.allow_migrate(LEGACY_ALIAS, app_label) is False


def test_legacy_models_never_migrate_anywhere() -> None:
    for model in (Passenger, PassengerDetails, Airport, Flight):
        assert router.allow_migrate_model(LEGACY_ALIAS, model) is False
        assert router.allow_migrate_model("default", model) is False
    assert router.allow_migrate_model("default", User) is True


def test_routing() -> None:
    assert router.db_for_read(Passenger) == router.db_for_write(Flight) == LEGACY_ALIAS
    assert router.db_for_write(User) == "default"
