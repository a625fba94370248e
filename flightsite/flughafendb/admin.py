from __future__ import annotations

from django.contrib import admin

from flightsite.admin import ReadOnlyAdmin

from .models import Airport, AirportGeo


@admin.register(Airport)
class AirportAdmin(ReadOnlyAdmin):
    list_display = ("name", "iata", "icao")
    search_fields = ("name", "=iata", "=icao")


@admin.register(AirportGeo)
class AirportGeoAdmin(ReadOnlyAdmin):
    list_display = ("name", "city", "country", "latitude", "longitude")
    search_fields = ("name", "city", "country")
