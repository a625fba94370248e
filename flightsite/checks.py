"""System checks of the project's own wiring (run by manage.py, runserver, migrate, tests)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.management import get_commands


@register()
def runserver_is_ours(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """`manage.py runserver` must be flightsite's (it starts the embedded Valkey servers):
    Django runs the first app's command of a name, so `flightsite` must come before
    django.contrib.staticfiles in INSTALLED_APPS. Said here rather than found out as a 503."""
    if get_commands().get("runserver") == "flightsite":
        return []
    return [
        Error(
            "manage.py runserver is not flightsite's: the embedded Valkey servers would not start.",
            hint="Put 'flightsite' before 'django.contrib.staticfiles' in INSTALLED_APPS.",
            id="flightsite.E001",
        )
    ]
