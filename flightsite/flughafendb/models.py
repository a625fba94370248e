"""Unmanaged models over the legacy flughafendb airport tables, which both the flights (routes,
the catalog) and the weather (a city's coordinates) read: below both apps, so neither imports
the other."""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import models


class AirportRow(TypedDict):
    airport_id: int
    iata: str | None
    name: str
    geo__city: str | None
    geo__country: str | None
    geo__latitude: Any  # Decimal (None: no airport_geo row)
    geo__longitude: Any


class AirportQuerySet(models.QuerySet["Airport"]):
    def directory(self) -> list[AirportRow]:
        """Every airport with its city and country (airport LEFT JOIN airport_geo)."""
        return list(
            self.order_by("airport_id").values(
                "airport_id",
                "iata",
                "name",
                "geo__city",
                "geo__country",
                "geo__latitude",
                "geo__longitude",
            )
        )


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
