"""Fill the flughafendb alias with deterministic demo data (SQLite by default, or MySQL/MariaDB)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils import timezone
from tqdm import tqdm

from flightsite.flughafendb import schema
from flightsite.flughafendb.demo_data import SIZES, Loader, Progress, Size, passport_number
from flightsite.flughafendb.router import LEGACY_ALIAS


class Command(BaseCommand):
    help = (
        "Load generated demo data (airports, airlines, airplanes, passengers with details and "
        "flights around today) into the flughafendb database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--size",
            choices=sorted(SIZES),
            default="small",
            help="preset size (default: small; large = flughafendb_large)",
        )
        parser.add_argument("--passengers", type=int, help="override the number of passengers")
        parser.add_argument(
            "--flights-per-day", type=int, help="override the number of flights per day"
        )
        parser.add_argument("--days-before", type=int, help="days of flights before today")
        parser.add_argument(
            "--days-after", type=int, help="days of flights from today on (today included)"
        )
        parser.add_argument(
            "--create-schema",
            action="store_true",
            help="create missing flughafendb tables from schema/ first",
        )
        parser.add_argument(
            "--flush", action="store_true", help="delete existing demo rows first (tables are kept)"
        )
        parser.add_argument(
            "--if-needed",
            action="store_true",
            help="create schema and load only if empty; otherwise just add "
            "flights for coming days that have none (used by `make run`)",
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--database", default=LEGACY_ALIAS, help="database alias (default: flughafendb)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args: Any, **opts: Any) -> None:
        alias = opts["database"]
        if alias not in connections:
            raise CommandError(f"Unknown database alias {alias!r}")
        base = SIZES[opts["size"]]
        size = Size(
            passengers=opts["passengers"] or base.passengers,
            flights_per_day=opts["flights_per_day"] or base.flights_per_day,
            days_before=base.days_before if opts["days_before"] is None else opts["days_before"],
            days_after=opts["days_after"] or base.days_after,
            airplanes=base.airplanes,
        )
        if size.passengers < 1 or size.flights_per_day < 1 or size.days_after < 1:
            raise CommandError("--passengers, --flights-per-day and --days-after must be ≥ 1")

        loader = Loader(alias, seed=opts["seed"], progress=self._progress_factory(opts))
        today: date = timezone.localdate()
        where = self._describe(alias)

        if opts["create_schema"] or opts["if_needed"]:
            schema.create_schema(alias)
        elif not schema.has_schema(alias):
            raise CommandError(
                f"The flughafendb tables do not exist in {where}. Run again with --create-schema."
            )

        started = time.monotonic()
        if opts["if_needed"] and not opts["flush"] and loader.count("passenger") > 0:
            added = loader.top_up(size, today)
            msg = f"added {added} flights for coming days" if added else "up to date"
            self.stdout.write(f"Demo data in {where}: {msg}.")
            return

        if opts["flush"]:
            loader.clear()
        elif loader.count("passenger") or loader.count("flight"):
            raise CommandError(
                f"{where} already holds data. Use --flush to replace it (or --if-needed to "
                "only add flights for the coming days)."
            )
        counts = loader.load(size, today)
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n:,} {table}s" for table, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Loaded {summary} into {where} in {elapsed:.1f} s."))
        self.stdout.write(f"Log in with passport number {passport_number(1)}.")

    def _progress_factory(self, opts: dict[str, Any]) -> Progress:
        show = not opts["no_progress"] and opts["verbosity"] > 0

        def factory(label: str, total: int) -> Callable[[int], None]:
            if not show or total < 1_000:
                return lambda n: None
            bar = tqdm(
                total=total,
                desc=f"{label:>18}",
                unit="rows",
                unit_scale=True,
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )

            def advance(n: int) -> None:
                bar.update(n)
                if bar.n >= total:
                    bar.close()

            return advance

        return factory

    @staticmethod
    def _describe(alias: str) -> str:
        s = connections[alias].settings_dict
        if connections[alias].vendor == "sqlite":
            return f"SQLite {s['NAME']}"
        return f"{connections[alias].vendor} {s.get('HOST') or 'localhost'}/{s['NAME']}"
