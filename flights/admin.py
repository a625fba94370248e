from __future__ import annotations

from django.contrib import admin

from flightsite.admin import ReadOnlyAdmin
from flightsite.flughafendb.models import Airport

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
    # Airports by code (their names are long: the airline column stays in view at 1280 px).
    list_display = ("flightno", "route", "departure", "arrival", "airline")
    # Words are ANDed, each matching any of these: "LH FRA" = Lufthansa flights at Frankfurt.
    search_fields = (
        "^flightno",
        "=from_airport__iata",
        "=to_airport__iata",
        "=airline__iata",
        "^airline__airlinename",  # from the start: "FRA" is Frankfurt, not Air France
    )
    search_help_text = (
        "A flight number or its start (LH, LH12), an airport code (FRA) or an airline "
        "(LH, Lufthansa). Several words narrow the list: LH FRA."
    )
    list_select_related = ("from_airport", "to_airport", "airline")
    ordering = ("-departure",)

    @admin.display(description="From → to", ordering="from_airport__iata")
    def route(self, flight: Flight) -> str:
        def code(airport: Airport) -> str:
            return str(airport.iata or airport.icao)

        return f"{code(flight.from_airport)} → {code(flight.to_airport)}"
