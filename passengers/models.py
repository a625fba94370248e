"""Unmanaged models over the legacy flughafendb passenger tables (we read them, never migrate),
and their queries: the login lookup is one indexed query on passenger.passportno."""

from __future__ import annotations

from django.db import models

from .session import PassengerEntry


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


class Passenger(models.Model):
    passenger_id = models.AutoField(primary_key=True)
    passportno = models.CharField("passport number", max_length=9, unique=True)
    firstname = models.CharField("first name", max_length=100)
    lastname = models.CharField("last name", max_length=100)

    objects = PassengerQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "passenger"
        ordering = ["lastname", "firstname"]
        # Ending sessions (admin: live sessions) is more than viewing passengers.
        permissions = [("end_session", "Can end a passenger's sessions")]

    def __str__(self) -> str:
        return f"{self.firstname} {self.lastname} ({self.passportno})"


class PassengerDetails(models.Model):
    passenger = models.OneToOneField(
        Passenger,
        primary_key=True,
        on_delete=models.DO_NOTHING,  # the database cascades; Django never deletes here
        db_column="passenger_id",
        related_name="details",
    )
    birthdate = models.DateField()
    sex = models.CharField(max_length=1, null=True, blank=True)  # noqa: DJ001 (legacy column)
    street = models.CharField(max_length=100)
    city = models.CharField(max_length=100)
    zip = models.SmallIntegerField()
    country = models.CharField(max_length=100)
    emailaddress = models.CharField(  # noqa: DJ001 (legacy column)
        "email address", max_length=120, null=True, blank=True
    )
    telephoneno = models.CharField(  # noqa: DJ001 (legacy column)
        "telephone number", max_length=30, null=True, blank=True
    )

    class Meta:
        managed = False
        db_table = "passengerdetails"
        verbose_name_plural = "passenger details"

    def __str__(self) -> str:
        # The heading of the details on the passenger's admin page: their address.
        return f"{self.street}, {self.zip} {self.city}, {self.country}"
