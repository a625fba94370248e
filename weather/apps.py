from django.apps import AppConfig


class WeatherConfig(AppConfig):
    name = "weather"
    verbose_name = "weather"

    def ready(self) -> None:
        # Registers the weather system checks: a wrong WEATHER_PROVIDER stops `runserver`,
        # `migrate` and `check` at startup instead of failing on the first weather request.
        from . import checks  # noqa: F401
