from django.apps import AppConfig


class PassengersConfig(AppConfig):
    name = "passengers"

    def ready(self) -> None:
        from flightsite import valkey_acl

        # admin_login: its user_login_failed receiver counts the admin's failed logins.
        from . import admin_login, throttle  # noqa: F401

        valkey_acl.declare(throttle.VALKEY_ACL)
