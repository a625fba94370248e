#!/usr/bin/env python
"""Database benchmark on MariaDB/MySQL with the flughafendb_large-sized demo set.

Times the queries the site sends to flughafendb, with their EXPLAIN plans and the rows the
server really reads (Handler_read_* counters):

- every kind of page of the flights list, `Flight.objects.page()` (flights/queries.py): today
  from 12:00 on, the next and the previous page (keyset cursors), another day, filtered by a
  departure airport, by an arrival city (two airports) and by both; each one query, a
  half-open range on `departure` (departure_idx), median and p99 over --page-runs;
- for the record, the airport filter as the optimizer plans it on its own (no STRAIGHT_JOIN /
  FORCE INDEX): why the site gives the hints;
- the flight lookup of an add (primary key) and the passport login (unique passportno);
- for comparison, today's flights filtered the naive way, `DATE(departure) = CURDATE()`, as the
  Flask original does: no index can serve it, so every flight row is read.

    export BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/flightsite_bench
    .venv/bin/python bench/db_queries.py [--url URL] [--runs 21] [--page-runs 200]
                                         [--naive-runs 5] [--reload | --fresh] [--output FILE]

bench/run.py (`make bench`) runs it first when BENCH_MYSQL_URL is set. The database it names
(never `test` or a test_ database) is created if missing on the server of that URL, and loaded
with `load_demo_data --size large` unless it already holds that set; the load time is
recorded. --reload deletes the rows and loads again; --fresh drops and re-creates the database
first (only for a database whose name contains "bench"), which gives the cleanest load time.
Results go to bench/results/db_queries.json (untracked) or --output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "db_queries.json"
SIZE = "large"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("BENCH_MYSQL_URL", ""),
        help="MySQL/MariaDB URL of the benchmark database (default: $BENCH_MYSQL_URL), "
        "e.g. mysql://root@127.0.0.1:3306/flightsite_bench",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON file to write")
    parser.add_argument("--runs", type=int, default=21, help="timed runs of the fast queries")
    parser.add_argument(
        "--page-runs", type=int, default=200, help="timed runs of each flights page (p99)"
    )
    parser.add_argument("--naive-runs", type=int, default=5, help="timed runs of DATE(...)")
    parser.add_argument(
        "--reload", action="store_true", help="delete the rows and load again even if loaded"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="drop and re-create the (bench) database, then load"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON file")
    args = parser.parse_args()
    if not args.url:
        parser.exit(2, "Set BENCH_MYSQL_URL (or --url) to the MariaDB/MySQL benchmark database.\n")
    return args


def ensure_database(url: str, fresh: bool = False) -> str:
    """Create the benchmark database if it does not exist (drop it first if `fresh`)."""
    import MySQLdb

    parts = urlsplit(url)
    name = parts.path.strip("/")
    if parts.scheme not in {"mysql", "mariadb"} or not name:
        sys.exit(f"--url must be mysql://user[:password]@host[:port]/database, got {url!r}")
    if name == "test" or name.startswith("test_"):
        sys.exit(f"refusing to use {name!r}: that is where test runs live")
    if fresh and "bench" not in name:
        sys.exit(f"--fresh drops the database; refusing for {name!r} (no 'bench' in the name)")
    conn = MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        charset="utf8mb4",
    )
    try:
        # The name is checked above and quoted here; it cannot be a bound parameter.
        if fresh:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    return name


def setup_django(url: str) -> None:
    # The settings read FLUGHAFENDB_URL at import: point the flughafendb alias at the bench DB.
    os.environ["FLUGHAFENDB_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def load_if_needed(reload: bool) -> dict[str, Any]:
    from django.core.management import call_command

    from flightsite.flughafendb import schema
    from flightsite.flughafendb.demo_data import SIZES, Loader

    size = SIZES[SIZE]
    expected = {
        "passenger": size.passengers,
        "flight": (size.days_before + size.days_after) * size.flights_per_day,
    }
    schema.create_schema()
    loader = Loader()
    counts = {table: loader.count(table) for table in expected}
    if counts == expected and not reload:
        # Same set; add flights for coming days if it was loaded long ago.
        call_command("load_demo_data", size=SIZE, if_needed=True, no_progress=True)
        return {"loaded_now": False, "rows": counts}
    if any(counts.values()) and not reload:
        sys.exit(f"the database holds another data set ({counts}); run with --reload")
    result: dict[str, Any] = {"loaded_now": True, "fresh_database": not any(counts.values())}
    if any(counts.values()):
        started = time.perf_counter()
        loader.clear()  # timed apart: deleting 460,000 rows is not part of loading them
        result["flush_seconds"] = round(time.perf_counter() - started, 1)
    print(f"Loading the {SIZE} demo set (load_demo_data --size {SIZE}) ...", flush=True)
    started = time.perf_counter()
    call_command("load_demo_data", size=SIZE, no_progress=True)
    result["load_seconds"] = round(time.perf_counter() - started, 1)  # ANALYZE TABLE included
    result["rows"] = {table: loader.count(table) for table in expected}
    return result


def handler_reads() -> int:
    """Rows the server read so far in this session (all Handler_read_* counters)."""
    from django.db import connections

    with connections["flughafendb"].cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%%'")
        return sum(int(value) for _, value in cursor.fetchall())


def explain(sql: str) -> list[dict[str, Any]]:
    from django.db import connections

    with connections["flughafendb"].cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def timed(call: Callable[[int], Any], runs: int) -> list[float]:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def p99(times: list[float]) -> float:
    """The 99th percentile (the max below 100 runs, where it means nothing more)."""
    return statistics.quantiles(times, n=100)[98] if len(times) >= 100 else max(times)


def measure(run: Callable[[int], Any], runs: int) -> dict[str, Any]:
    """Time the ORM call (what a page pays) and its SQL alone (what the server pays)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    flughafendb = connections["flughafendb"]
    with CaptureQueriesContext(flughafendb) as captured:
        run(0)  # also the warm-up: buffer pool, connection
    sql = captured.captured_queries[-1]["sql"]  # as sent, parameters filled in
    before = handler_reads()
    result = run(1)
    rows_read = handler_reads() - before - 1  # the SHOW itself reads one row

    def raw(i: int) -> None:
        with flughafendb.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchall()

    def run_at(i: int) -> Callable[[int], Any]:
        return lambda _: run(i + 2)

    # Interleaved, so a busy moment of the (shared) machine hits both series alike.
    orm: list[float] = []
    only_sql: list[float] = []
    for i in range(runs):
        orm += timed(run_at(i), 1)
        only_sql += timed(raw, 1)
    if hasattr(result, "flights"):  # a FlightPage
        result = result.flights
    return {
        "median_ms": round(statistics.median(orm), 3),
        "p99_ms": round(p99(orm), 3),
        "min_ms": round(min(orm), 3),
        "max_ms": round(max(orm), 3),
        "sql_median_ms": round(statistics.median(only_sql), 3),
        "sql_p99_ms": round(p99(only_sql), 3),
        "runs": runs,
        "rows_returned": len(result) if isinstance(result, list) else int(result is not None),
        "rows_read": rows_read,
        "sql": sql,
        "explain": explain(sql),
    }


def naive_queryset() -> Any:
    """Today's flights as the Flask original selects them: DATE(departure) = CURDATE().
    The same query as Flight.objects.today() except for the WHERE clause."""
    from django.db.models import DateField, F, Func

    from flights.models import Flight
    from flights.queries import FLIGHT_FIELDS

    return (
        Flight.objects.alias(day=Func(F("departure"), function="DATE", output_field=DateField()))
        .filter(day=Func(function="CURDATE", output_field=DateField()))
        .order_by("departure", "flight_id")
        .values(*FLIGHT_FIELDS)
    )


def page_queries(runs: int) -> dict[str, dict[str, Any]]:
    """The flights list's page queries, as flights/views.py sends them, on fixed days and times
    (today from 12:00, and 30 days ahead) so that runs on different days compare."""
    import functools
    from datetime import datetime, timedelta
    from unittest import mock

    from django.conf import settings
    from django.utils import timezone

    from flights.catalog import catalog
    from flights.models import Flight
    from flights.queries import Cursor, day_bounds
    from passengers.session import FlightEntry

    limit = settings.FLIGHTS_PAGE_LIMIT
    start, end = day_bounds(timezone.localdate())
    noon = start.replace(hour=12)
    day, day_end = day_bounds(timezone.localdate() + timedelta(days=30))
    first = Flight.objects.page(start=noon, end=end, limit=limit).flights
    tz = timezone.get_current_timezone()

    def cursor(flight: FlightEntry) -> Cursor:
        departure = datetime.fromisoformat(flight["departure"]).replace(tzinfo=tz)
        return Cursor(departure, flight["flight_id"])

    airports = catalog()
    fra_match, london_match = airports.match("FRA"), airports.match("London")
    assert fra_match and london_match, "the demo data has FRA and London"
    fra, london = fra_match.ids, london_match.ids
    variants: dict[str, tuple[str, dict[str, Any]]] = {
        "page_today_from_noon": ("today, departures from 12:00", {"start": noon, "end": end}),
        "page_later": (
            "the next page (after the last flight of the first)",
            {"start": noon, "end": end, "after": cursor(first[-1])},
        ),
        "page_earlier": (
            "the page before 12:00 (departed flights, read backwards)",
            {"start": start, "end": end, "before": cursor(first[0])},
        ),
        "page_other_day": ("a day 30 days ahead, first page", {"start": day, "end": day_end}),
        "page_from_airport": (
            "that day, from FRA",
            {"start": day, "end": day_end, "from_ids": fra},
        ),
        "page_to_city": (
            "that day, to London (LHR and LGW)",
            {"start": day, "end": day_end, "to_ids": london},
        ),
        "page_route": (
            "that day, from FRA to London (few matches: the whole day is read)",
            {"start": day, "end": day_end, "from_ids": fra, "to_ids": london},
        ),
    }
    queries: dict[str, dict[str, Any]] = {}
    for key, (what, kwargs) in variants.items():
        queries[key] = {
            "code": "Flight.objects.page(...)",
            "where": what,
            "run": lambda i, kwargs=kwargs: Flight.objects.page(limit=limit, **kwargs),
            "runs": runs,
        }

    def unhinted(i: int) -> Any:
        from flights import queries as flight_queries

        plain = functools.partial(flight_queries._page_sql, hints=False)
        with mock.patch("flights.queries._page_sql", plain):
            return Flight.objects.page(limit=limit, **variants["page_from_airport"][1])

    queries["page_from_airport_optimizer_plan"] = {
        "code": "Flight.objects.page(...) without STRAIGHT_JOIN / FORCE INDEX",
        "where": "page_from_airport as the optimizer plans it on its own (for comparison)",
        "run": unhinted,
        "runs": runs,
    }
    flight_ids = [f["flight_id"] for f in first]
    queries["flight_add_lookup"] = {
        "code": "Flight.objects.for_session(flight_id)",
        "where": "flight_id = %s (primary key), the check of an add",
        "run": lambda i: Flight.objects.for_session(flight_ids[i % len(flight_ids)]),
        "runs": runs,
    }
    return queries


def main() -> None:
    args = parse_args()
    name = ensure_database(args.url, fresh=args.fresh)
    setup_django(args.url)

    from django.conf import settings
    from django.db import connections
    from django.utils import timezone

    from flights.models import Flight
    from flights.queries import as_session_flight
    from flightsite.flughafendb.demo_data import SIZES, passport_number
    from passengers.models import Passenger

    dataset = load_if_needed(args.reload or args.fresh)
    with connections["flughafendb"].cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@query_cache_type")
        server, query_cache = cursor.fetchone()
    passengers = SIZES[SIZE].passengers
    limit = settings.FLIGHTS_PAGE_LIMIT
    today = timezone.localdate()

    def passport(i: int) -> str:  # a different passenger every run, spread over the table
        return passport_number(i * 7919 % passengers + 1)

    queries = {
        **page_queries(args.page_runs),
        "todays_flights_range": {
            "code": "Flight.objects.today()",
            "where": "departure >= %s AND departure < %s (half-open range, local day)",
            "run": lambda i: Flight.objects.today(limit=limit),
            "runs": args.runs,
        },
        "passport_login": {
            "code": "Passenger.objects.for_login(passportno)",
            "where": "passportno = %s (LEFT JOIN passengerdetails)",
            "run": lambda i: Passenger.objects.for_login(passport(i)),
            "runs": args.runs,
        },
        "todays_flights_naive_date": {
            "code": "same query with WHERE DATE(departure) = CURDATE()",
            "where": "DATE(departure) = CURDATE()",
            "run": lambda i: [as_session_flight(r) for r in naive_queryset()[:limit]],
            "runs": args.naive_runs,
        },
    }
    results: dict[str, Any] = {}
    load_before = os.getloadavg()
    for key, query in queries.items():
        print(f"timing {key} ({query['runs']} runs) ...", flush=True)
        results[key] = {
            "code": query["code"],
            "where": query["where"],
            **measure(query["run"], query["runs"]),
        }
    pages = {k: r for k, r in results.items() if k.startswith("page_") and "optimizer" not in k}
    slowest = max(pages.values(), key=lambda r: r["p99_ms"])
    fast, slow = results["todays_flights_range"], results["todays_flights_naive_date"]
    speedup = slow["median_ms"] / fast["median_ms"] if fast["median_ms"] else None

    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    if not dataset["loaded_now"] and "load_seconds" in previous.get("dataset", {}):
        # Keep the load figures of the run that loaded the set.
        dataset = {**previous["dataset"], "loaded_now": False, "rows": dataset["rows"]}
    report = {
        "server": server,
        "query_cache": query_cache,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # Other jobs on the machine: p99s mean little when this is far above the core count.
        "load_average_1min": {
            "before": round(load_before[0], 2),
            "after": round(os.getloadavg()[0], 2),
        },
        "database": name,
        "time_zone": settings.TIME_ZONE,
        "today": today.isoformat(),
        "dataset": {"size": SIZE, **dataset},
        "queries": results,
        "naive_over_range": round(speedup, 1) if speedup else None,
        "flights_pages": {
            "goal_p99_ms": 5,
            "worst_p99_ms": slowest["p99_ms"],
            "worst_sql_p99_ms": max(r["sql_p99_ms"] for r in pages.values()),
        },
    }

    print(f"\n{server}, database {name}, {dataset['rows']}, today {today} ({settings.TIME_ZONE})")
    print(f"load average (1 min) before/after: {report['load_average_1min']}")
    if "load_seconds" in dataset:
        where = "a fresh database" if dataset.get("fresh_database") else "emptied tables"
        print(f"load_demo_data --size {SIZE}: {dataset['load_seconds']} s into {where}")
    if "flush_seconds" in dataset:
        print(f"deleting the previous rows first: {dataset['flush_seconds']} s")
    for key, r in results.items():
        print(
            f"\n{key}: median {r['median_ms']:.3f} ms, p99 {r['p99_ms']:.3f} (min "
            f"{r['min_ms']:.3f}, max {r['max_ms']:.3f}, {r['runs']} runs; SQL alone median "
            f"{r['sql_median_ms']:.3f}, p99 {r['sql_p99_ms']:.3f}), {r['rows_returned']} rows "
            f"returned, {r['rows_read']:,} rows read\n  {r['code']}: {r['where']}\n  EXPLAIN:"
        )
        for row in r["explain"]:
            shown = ("table", "type", "possible_keys", "key", "rows", "Extra")
            print("   ", "  ".join(f"{c}={row.get(c)}" for c in shown))
    if speedup:
        print(f"\nDATE(departure) = CURDATE() is {speedup:,.0f}x slower than the range.")
    print(
        f"Flights pages: worst p99 {report['flights_pages']['worst_p99_ms']} ms through the ORM, "
        f"{report['flights_pages']['worst_sql_p99_ms']} ms SQL alone (goal: 5 ms)."
    )
    if not args.no_write:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
