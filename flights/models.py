"""Unmanaged models over the legacy flughafendb airline and flight tables, and their queries
(the airports, which the weather needs too, are flughafendb's: flightsite/flughafendb/models.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import connections, models
from django.db.models import Max, Min
from django.utils import timezone

from flightsite.flughafendb.models import Airport
from passengers.session import FlightEntry

from . import queries
from .queries import FLIGHT_FIELDS, Cursor, FlightPage, as_session_flight, day_bounds


class FlightQuerySet(models.QuerySet["Flight"]):
    def on_day(self, day: date) -> FlightQuerySet:
        start, end = day_bounds(day)
        return self.filter(departure__gte=start, departure__lt=end)

    def today(self, limit: int = 50) -> list[FlightEntry]:
        """Today's first flights (at most `limit`, by departure), departed or not."""
        start, end = day_bounds(timezone.localdate())
        return self.page(start=start, end=end, limit=limit).flights

    def page(
        self,
        *,
        start: datetime,
        end: datetime,
        after: Cursor | None = None,
        before: Cursor | None = None,
        from_ids: tuple[int, ...] = (),
        to_ids: tuple[int, ...] = (),
        limit: int = 50,
    ) -> FlightPage:
        """One page of flights departing in [start, end), optionally from/to some airports.

        Without a cursor: the first `limit` flights from `start`. `after`: the next `limit`
        after that flight; `before`: the `limit` flights just before it (read backwards on the
        same index). One query; one row more than shown tells whether there is a next page.
        """
        if after is not None and before is not None:
            raise ValueError("after and before exclude each other")
        connection = connections[self.db]
        adapt = connection.ops.adapt_datetimefield_value
        params: list[Any] = [
            adapt(end),
            adapt(start if after is None else max(start, after.departure)),
        ]
        if after is not None:
            params += [adapt(after.departure), after.flight_id]
        if before is not None:
            params += [adapt(before.departure), adapt(before.departure), before.flight_id]
        params += [*from_ids, *to_ids, limit + 1]
        # Through the module: bench/db_queries.py swaps it for the plan without hints.
        sql = queries._page_sql(
            connection,
            after=after is not None,
            before=before is not None,
            from_count=len(from_ids),
            to_count=len(to_ids),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [dict(zip(FLIGHT_FIELDS, row, strict=True)) for row in cursor.fetchall()]
        more = len(rows) > limit
        rows = rows[:limit]
        if before is not None:
            rows.reverse()
        flights = queries.session_flights(connection, rows, timezone.get_current_timezone())
        ends: dict[str, Cursor] = {}
        if rows:
            ends = {
                "first": Cursor(rows[0]["departure"], rows[0]["flight_id"]),
                "last": Cursor(rows[-1]["departure"], rows[-1]["flight_id"]),
            }
        return FlightPage(
            flights,
            has_earlier=more if before is not None else after is not None,
            has_later=True if before is not None else more,
            **ends,
        )

    def for_session(self, flight_id: int) -> tuple[FlightEntry, datetime] | None:
        """The flight as the session stores it, and its (aware) departure; None if unknown."""
        row = self.filter(flight_id=flight_id).values(*FLIGHT_FIELDS).first()
        return (as_session_flight(row), row["departure"]) if row else None

    def coverage(self) -> tuple[datetime | None, datetime | None]:
        """First and last departure in the table (two index ends: no row is read)."""
        span = self.aggregate(first=Min("departure"), last=Max("departure"))
        return span["first"], span["last"]


class Airline(models.Model):
    airline_id = models.SmallAutoField(primary_key=True)
    iata = models.CharField("IATA", max_length=2, unique=True)
    airlinename = models.CharField("name", max_length=30, null=True, blank=True)  # noqa: DJ001
    base_airport = models.ForeignKey(
        Airport, on_delete=models.DO_NOTHING, db_column="base_airport", related_name="+"
    )

    class Meta:
        managed = False
        db_table = "airline"
        ordering = ["airlinename"]

    def __str__(self) -> str:
        return f"{self.airlinename} ({self.iata})"


class Airplane(models.Model):
    airplane_id = models.AutoField(primary_key=True)
    capacity = models.PositiveIntegerField()
    type_id = models.IntegerField()
    airline_id = models.IntegerField()

    class Meta:
        managed = False
        db_table = "airplane"

    def __str__(self) -> str:
        return f"airplane {self.airplane_id}"


class Flight(models.Model):
    flight_id = models.AutoField(primary_key=True)
    flightno = models.CharField("flight number", max_length=8)
    from_airport = models.ForeignKey(
        Airport, on_delete=models.DO_NOTHING, db_column="from", related_name="departures"
    )
    to_airport = models.ForeignKey(
        Airport, on_delete=models.DO_NOTHING, db_column="to", related_name="arrivals"
    )
    departure = models.DateTimeField(db_index=True)
    arrival = models.DateTimeField(db_index=True)
    airline = models.ForeignKey(
        Airline, on_delete=models.DO_NOTHING, db_column="airline_id", related_name="flights"
    )
    airplane = models.ForeignKey(
        Airplane, on_delete=models.DO_NOTHING, db_column="airplane_id", related_name="flights"
    )

    objects = FlightQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "flight"
        ordering = ["departure"]

    def __str__(self) -> str:
        return f"{self.flightno.strip()} {self.departure:%Y-%m-%d %H:%M}"
