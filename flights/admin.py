from __future__ import annotations

from django.contrib import admin

from flightsite.admin import ReadOnlyAdmin

from .models import Airline, Airplane, Flight


@admin.register(Airline)
class AirlineAdmin(ReadOnlyAdmin):
    list_display = ("airlinename", "iata", "base_airport")
    search_fields = ("airlinename", "=iata")
    list_select_related = ("base_airport",)


@admin.register(Airplane)
class AirplaneAdmin(ReadOnlyAdmin):
    list_display = ("airplane_id", "capacity", "type_id", "airline_id")


@admin.register(Flight)
class FlightAdmin(ReadOnlyAdmin):
    list_display = ("flightno", "from_airport", "to_airport", "departure", "arrival", "airline")
    search_fields = ("=flightno",)
    list_select_related = ("from_airport", "to_airport", "airline")
    ordering = ("-departure",)
