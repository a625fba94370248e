"""Flight queries. "Today" is a half-open range on `departure` so MySQL can use its index
(`DATE(departure) = ...` would read every row of a 460,000-flight table)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import models
from django.utils import timezone

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


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the current time zone, as aware datetimes."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def as_session_flight(row: dict[str, Any]) -> dict[str, Any]:
    """The flight as stored in the session (the workshop's shape, ISO datetimes)."""
    return {
        "flight_id": row["flight_id"],
        "flightno": row["flightno"].strip(),
        "from_airport": row["from_airport__name"],
        "from_iata": row["from_airport__iata"],
        "to_airport": row["to_airport__name"],
        "to_iata": row["to_airport__iata"],
        # Local time to the minute, no offset: what the page shows, in few bytes.
        "departure": timezone.localtime(row["departure"]).strftime("%Y-%m-%dT%H:%M"),
        "arrival": timezone.localtime(row["arrival"]).strftime("%Y-%m-%dT%H:%M"),
        "airline": row["airline__airlinename"],
    }


class FlightQuerySet(models.QuerySet):
    def on_day(self, day: date) -> FlightQuerySet:
        start, end = day_bounds(day)
        return self.filter(departure__gte=start, departure__lt=end)

    def today(self, limit: int = 50) -> list[dict[str, Any]]:
        """Today's flights (at most `limit`, by departure) with airport and airline names."""
        rows = self.on_day(timezone.localdate()).order_by("departure", "flight_id")
        return [as_session_flight(r) for r in rows.values(*FLIGHT_FIELDS)[:limit]]

    def for_session(self, flight_id: int) -> dict[str, Any] | None:
        row = self.filter(flight_id=flight_id).values(*FLIGHT_FIELDS).first()
        return as_session_flight(row) if row else None
