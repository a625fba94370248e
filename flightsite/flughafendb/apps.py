from django.apps import AppConfig


class FlughafendbConfig(AppConfig):
    """The legacy airport database: its router, read-only guard, schema and demo data."""

    name = "flightsite.flughafendb"
    label = "flughafendb"
    verbose_name = "airports"  # its models' heading in the admin: Airports, Airport locations

    def ready(self) -> None:
        from . import readonly

        readonly.install()
