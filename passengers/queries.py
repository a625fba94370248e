"""Passenger queries: the login lookup is one indexed query on passenger.passportno."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from .session import PassengerEntry

if TYPE_CHECKING:  # the model its QuerySet["..."] is of (ruff does not read that string)
    from .models import Passenger  # noqa: F401


class PassengerQuerySet(models.QuerySet["Passenger"]):
    def for_login(self, passportno: str) -> tuple[int, PassengerEntry] | None:
        """(passenger_id, the session's passenger entry) for a passport number, or None if
        unknown.

        One query (passenger LEFT JOIN passengerdetails on the unique passportno index).
        """
        row = (
            self.filter(passportno=passportno)
            .values(
                "passenger_id",
                "passportno",
                "firstname",
                "lastname",
                "details__city",
                "details__country",
                "details__zip",
            )
            .first()
        )
        if row is None:
            return None
        return row["passenger_id"], {
            "passportno": row["passportno"].strip(),
            "firstname": row["firstname"],
            "lastname": row["lastname"],
            "city": row["details__city"],
            "country": row["details__country"],
            "zip": row["details__zip"],
        }
