"""Who the client is behind reverse proxies: X-Forwarded-For believed only from
DJANGO_TRUSTED_PROXIES (TrustedProxyMiddleware applies it), and a watch that notices a proxy the
site does not trust (reported in the log and by /healthz)."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def resolve_client(
    remote_addr: str,
    forwarded_for: str,
    trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> tuple[str, int]:
    """The client's address and how many X-Forwarded-For entries were left unbelieved: walk the
    header from the right (the entry our own proxy added) past every trusted proxy; the first
    untrusted address is the client. Anything further left is ignored, so a client cannot
    choose its own address."""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()] if forwarded_for else []
    current = remote_addr
    while True:
        try:
            address = ipaddress.ip_address(current)
        except ValueError:
            return current, len(hops)  # not an address (garbage from a proxy): use it as it is
        if not any(address in network for network in trusted) or not hops:
            return current, len(hops)
        current = hops.pop()


def client_address(
    remote_addr: str,
    forwarded_for: str,
    trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    return resolve_client(remote_addr, forwarded_for, trusted)[0]


class ProxyWatch:
    """Notices a proxy the site does not trust: every request comes from the same private
    address and carries an X-Forwarded-For the site did not believe. Then every client is
    counted as that one address (one client's failed logins block everyone's): the site warns
    once in the log and /healthz says so until a request breaks the pattern."""

    THRESHOLD = 50  # requests in a row

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.peer = ""
        self.streak = 0
        self.warned = False

    def observe(self, client: str, unbelieved_hops: int) -> None:
        suspect = unbelieved_hops > 0 and _is_private(client)
        if not suspect and not self.streak:
            return
        with self._lock:
            if not suspect:
                self.peer, self.streak = "", 0
                return
            self.streak = self.streak + 1 if client == self.peer else 1
            self.peer = client
            if self.streak >= self.THRESHOLD and not self.warned:
                self.warned = True
                logger.warning("%s", self.problem())

    def problem(self) -> str | None:
        if self.streak < self.THRESHOLD:
            return None
        return (
            f"the last {self.streak} requests all came from {self.peer} with an "
            "X-Forwarded-For header that is not believed: a reverse proxy the site does not "
            "trust? Every client is then counted as that address (login throttle). Set "
            "DJANGO_TRUSTED_PROXIES to the proxy's address."
        )


def _is_private(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.is_private or address.is_loopback


proxy_watch = ProxyWatch()
