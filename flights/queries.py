"""Flight queries: the page query and the session's shape of a flight (FlightQuerySet, in
models.py, runs them).

Every page of the flights list is ONE query: a half-open range on `departure` (departure_idx;
`DATE(departure) = ...` would read every row of a 460,000-flight table), paged by keyset on
(departure, flight_id) so that "later" and "earlier" cost the same on every page and a page
shows the same flights however many were added or have left since it was first shown.
InnoDB appends the primary key to every secondary index, so departure_idx is really
(departure, flight_id): the ORDER BY is read from the index, no filesort. An airport filter is
checked on the rows of that range (see _page_sql).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from passengers.session import FlightEntry

DEPARTURE_INDEX = "departure_idx"  # flight(departure): schema/flughafendb.sql
FLIGHT_FIELDS = (
    "flight_id",
    "flightno",
    "departure",
    "arrival",
    "from_airport__name",
    "from_airport__iata",
    "to_airport__name",
    "to_airport__iata",
    "airline__airlinename",
)


def now_to_the_minute() -> datetime:
    """The current local time, to the minute: the flights pages and the add check share it, so
    a flight listed with an add button can be added until the minute it departs."""
    return timezone.localtime().replace(second=0, microsecond=0)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the current time zone, as aware datetimes."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def as_session_flight(row: dict[str, Any], tz: tzinfo | None = None) -> FlightEntry:
    """The flight as stored in the session (the workshop's shape, ISO datetimes).

    `tz`: the current time zone, when the caller converts many rows (looking it up costs more
    than the conversion)."""
    tz = tz or timezone.get_current_timezone()
    # Local time to the minute, no offset: what the page shows, in few bytes.
    return _entry(
        row,
        row["departure"].astimezone(tz).isoformat()[:16],
        row["arrival"].astimezone(tz).isoformat()[:16],
    )


def _entry(row: dict[str, Any], departure: str, arrival: str) -> FlightEntry:
    """A row's session entry with its times already formatted."""
    return {
        "flight_id": row["flight_id"],
        "flightno": row["flightno"].strip(),
        "from_airport": row["from_airport__name"],
        "from_iata": row["from_airport__iata"],
        "to_airport": row["to_airport__name"],
        "to_iata": row["to_airport__iata"],
        "departure": departure,
        "arrival": arrival,
        "airline": row["airline__airlinename"],
    }


def session_flights(
    connection: BaseDatabaseWrapper, rows: list[dict[str, Any]], tz: tzinfo
) -> list[FlightEntry]:
    """A page's rows as the session's flights. The first and last row's `departure` becomes an
    aware datetime (the page's cursors); with the backend's own conversion of a DATETIME column
    (aware, in the connection's zone), and the other rows' too unless that is skipped: when the
    connection's zone is the page's (the usual case, both TIME_ZONE) the stored wall times are
    already what the session keeps, so rows are not made aware and converted back (~4 us a
    row, a tenth of the flights page's query work)."""
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    if convert is None or not rows:
        return [as_session_flight(r, tz) for r in rows]
    first = rows[0]["departure"]
    if getattr(connection, "timezone", None) == tz and type(first) is datetime and not first.tzinfo:
        flights = [_session_flight_local(r) for r in rows]
        for row in {id(rows[0]): rows[0], id(rows[-1]): rows[-1]}.values():
            row["departure"] = convert(row["departure"], None, connection)
        return flights
    for row in rows:
        row["departure"] = convert(row["departure"], None, connection)
        row["arrival"] = convert(row["arrival"], None, connection)
    return [as_session_flight(r, tz) for r in rows]


def _session_flight_local(row: dict[str, Any]) -> FlightEntry:
    """as_session_flight() of a row whose datetimes are naive wall times of the page's zone."""
    return _entry(
        row,
        row["departure"].isoformat(timespec="minutes"),
        row["arrival"].isoformat(timespec="minutes"),
    )


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the (departure, flight_id) of a flight, exclusive."""

    departure: datetime  # aware
    flight_id: int


@dataclass(frozen=True)
class FlightPage:
    flights: list[FlightEntry]  # session-shaped, by departure
    has_earlier: bool
    has_later: bool
    # The positions of the first and last flight, to the second (the dicts have minutes).
    first: Cursor | None = None
    last: Cursor | None = None


def _page_sql(
    connection: BaseDatabaseWrapper,
    *,
    after: bool,
    before: bool,
    from_count: int,
    to_count: int,
    hints: bool = True,
) -> str:
    """The page query, written out: what `.filter(...).values(*FLIGHT_FIELDS)` compiles to, built
    in ~10 us instead of the ORM's ~0.5 ms a page (query building, compiling, one converter
    call per value). Parameters, in order: end, start, [after's departure and flight_id],
    [before's departure twice and flight_id], the from ids, the to ids, the row limit.

    On MySQL/MariaDB it runs as `SELECT STRAIGHT_JOIN … FROM flight FORCE INDEX (departure_idx)`:
    flights first, read in departure order, then their airports and airline by primary key.
    That plan reads at most one day's flights (~1,260 on the `large` set) for any page. Left to
    itself the optimizer's choice depends on the data's size and statistics: on the
    10,000-flight set it starts from the 24 airlines, then sorts in a temporary table; with
    statistics older than the data it scanned the airports first; on `large` it filters an
    airport through a rowid filter built from all ~7,000 of that airport's flights. The plan
    test (tests/test_mysql.py) holds every page to one shape; other backends (SQLite) get the
    same query without the hints (and so does `hints=False`: bench/db_queries.py compares)."""
    q = connection.ops.quote_name
    mysql = hints and connection.vendor == "mysql"
    # The flights table keeps its name (EXPLAIN shows it, tests/test_mysql.py reads the plan).
    f, fa, ta, al = q("flight"), q("fa"), q("ta"), q("al")
    departure, flight_id = f"{f}.{q('departure')}", f"{f}.{q('flight_id')}"
    where = [f"{departure} < %s", f"{departure} >= %s"]
    if after:
        where.append(f"({departure} > %s OR {flight_id} > %s)")
    if before:
        where.append(f"{departure} <= %s AND ({departure} < %s OR {flight_id} < %s)")
    if from_count:
        where.append(f"{f}.{q('from')} IN ({', '.join(['%s'] * from_count)})")
    if to_count:
        where.append(f"{f}.{q('to')} IN ({', '.join(['%s'] * to_count)})")
    order = "DESC" if before else "ASC"
    return (
        f"SELECT {'STRAIGHT_JOIN ' if mysql else ''}"
        f"{flight_id}, {f}.{q('flightno')}, {departure}, {f}.{q('arrival')}, "
        f"{fa}.{q('name')}, {fa}.{q('iata')}, {ta}.{q('name')}, {ta}.{q('iata')}, "
        f"{al}.{q('airlinename')} "
        f"FROM {f}{f' FORCE INDEX ({q(DEPARTURE_INDEX)})' if mysql else ''} "
        f"INNER JOIN {q('airport')} {fa} ON {f}.{q('from')} = {fa}.{q('airport_id')} "
        f"INNER JOIN {q('airport')} {ta} ON {f}.{q('to')} = {ta}.{q('airport_id')} "
        f"INNER JOIN {q('airline')} {al} ON {f}.{q('airline_id')} = {al}.{q('airline_id')} "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {departure} {order}, {flight_id} {order} LIMIT %s"
    )
