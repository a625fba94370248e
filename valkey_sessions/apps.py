from django.apps import AppConfig


class ValkeySessionsConfig(AppConfig):
    name = "valkey_sessions"
    verbose_name = "Sessions in Valkey"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
