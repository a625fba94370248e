"""Passenger queries: the login lookup is one indexed query on passenger.passportno."""

from __future__ import annotations

from typing import Any

from django.db import models


class PassengerQuerySet(models.QuerySet):
    def for_login(self, passportno: str) -> dict[str, Any] | None:
        """The session's passenger dict for a passport number, or None if unknown.

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
        return {
            "passenger_id": row["passenger_id"],
            "passportno": row["passportno"].strip(),
            "firstname": row["firstname"],
            "lastname": row["lastname"],
            "city": row["details__city"],
            "country": row["details__country"],
            "zip": row["details__zip"],
        }

    def sample_passport(self) -> str | None:
        """A passport number to log in with (the demo data's first passenger)."""
        return self.order_by("passenger_id").values_list("passportno", flat=True).first()
