"""For the test suite: the flughafendb test database gets its tables from schema/ (no
migration runs there) and the tiny demo data set around today."""

from __future__ import annotations

from datetime import date

from .demo_data import SIZES, Loader
from .router import LEGACY_ALIAS
from .schema import create_schema

TINY_SEED = 7  # the tests' data set is always the same


def prepare_test_database(today: date) -> None:
    """Create the tables (if missing) and load the tiny data set for `today`."""
    create_schema(LEGACY_ALIAS)
    loader = Loader(LEGACY_ALIAS, seed=TINY_SEED)
    loader.clear()
    loader.load(SIZES["tiny"], today)
