"""Unmanaged models over the legacy flughafendb airport, airline and flight tables."""

from __future__ import annotations

from django.db import models

from .queries import AirportQuerySet, FlightQuerySet


class Airport(models.Model):
    airport_id = models.SmallAutoField(primary_key=True)
    iata = models.CharField("IATA", max_length=3, null=True, blank=True, db_index=True)  # noqa: DJ001
    icao = models.CharField("ICAO", max_length=4, unique=True)
    name = models.CharField(max_length=50, db_index=True)

    objects = AirportQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "airport"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.iata or self.icao})"


class AirportGeo(models.Model):
    # The table has no primary key; airport_id is unique in practice, so Django may use it as one.
    airport = models.OneToOneField(
        Airport,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_column="airport_id",
        related_name="geo",
    )
    name = models.CharField(max_length=50)
    city = models.CharField(max_length=50, null=True, blank=True)  # noqa: DJ001
    country = models.CharField(max_length=50, null=True, blank=True)  # noqa: DJ001
    latitude = models.DecimalField(max_digits=11, decimal_places=8)
    longitude = models.DecimalField(max_digits=11, decimal_places=8)
    # `geolocation` (POINT) is left out: nothing here reads it and it needs GIS support.

    class Meta:
        managed = False
        db_table = "airport_geo"
        verbose_name = "airport location"

    def __str__(self) -> str:
        return f"{self.name}, {self.city}, {self.country}"


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
