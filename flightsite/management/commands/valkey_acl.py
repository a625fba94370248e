"""Print the `ACL SETUSER` commands of the site's least-privilege Valkey users."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from flightsite.valkey_acl import acl_script


class Command(BaseCommand):
    help = (
        "Print the ACL SETUSER commands for the site's Valkey users (sessions and cache): only "
        "the commands and key patterns the site uses. Run them with valkey-cli, then put the "
        "users in VALKEY_URL / VALKEY_CACHE_URL (valkey://USER:PASSWORD@host:port/db)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(acl_script())
