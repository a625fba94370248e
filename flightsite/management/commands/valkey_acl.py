"""Print the `ACL SETUSER` commands of the site's least-privilege Valkey users."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from flightsite.valkey_acl import TOPOLOGIES, Topology, acl_script


def configured(kind: str) -> Topology:
    """The ACL topology of a configured store (the embedded server is one server)."""
    return "standalone" if kind == "embedded" else kind  # type: ignore[return-value]


class Command(BaseCommand):
    help = (
        "Print the ACL SETUSER commands for the site's Valkey users (sessions and cache, and the "
        "Sentinels' user under Sentinel): only the commands and key patterns the site and its "
        "client library use. Run them with valkey-cli on every server (ACLs are not "
        "replicated), then put the users in the settings (VALKEY_URL / VALKEY_CACHE_URL, "
        "VALKEY_CLUSTER_URL / VALKEY_CACHE_CLUSTER_URL, or VALKEY_USERNAME, "
        "VALKEY_CACHE_USERNAME and VALKEY_SENTINEL_USERNAME with their passwords)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--topology",
            choices=TOPOLOGIES,
            help="for both stores on this topology (default: the configured one of each)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chosen: Topology | None = options["topology"]
        if chosen is not None:
            self.stdout.write(acl_script(chosen, chosen))
            return
        topology = settings.VALKEY_TOPOLOGY
        sessions, cache = configured(topology.sessions.kind), configured(topology.cache.kind)
        self.stdout.write(acl_script(sessions, cache))
