from typing import Any

from django.apps import AppConfig


class FlightsConfig(AppConfig):
    name = "flights"

    def ready(self) -> None:
        from flightsite.flughafendb.signals import data_changed

        data_changed.connect(_forget_catalog, dispatch_uid="flights.catalog.forget")


def _forget_catalog(sender: Any, **kwargs: Any) -> None:
    """New flughafendb rows (load_demo_data): the next flights page loads the catalog again."""
    from .catalog import forget

    forget()
