from django.apps import AppConfig


class FlightsiteConfig(AppConfig):
    name = "flightsite"
    verbose_name = "flightsite"

    def ready(self) -> None:
        from . import readonly

        readonly.install()
