"""Processes, servers and counters for bench/run.py: everything it starts is tracked here and
stopped by `cleanup()` (also on Ctrl-C / SIGTERM), so a run never leaves a server behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

# A valkey.Valkey client. valkey-py gives its sync and asyncio clients one signature, so every
# command "returns" Awaitable[Any] | Any; the bench's raw clients are typed Any instead.
RawValkey = Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
WORKERS = 2
TIMEOUT = 30  # gunicorn's default worker timeout; the same for every server
# What the harness itself sends to Valkey (counters, sizes): left out of "commands per flow".
OWN_COMMANDS = {"info", "config", "command", "memory", "strlen", "scan", "dbsize", "monitor"}

_processes: list[subprocess.Popen] = []


def flights_page() -> str:
    """The flights page the benchmark requests: tomorrow's first 50 flights. Today's first page
    starts from now and, late in the evening, holds few flights or none (the site's default
    time zone, UTC)."""
    import datetime

    tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    return f"/flights/?day={tomorrow.isoformat()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def track(process: subprocess.Popen) -> subprocess.Popen:
    _processes.append(process)
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a server and its workers (it was started in its own process group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    if process in _processes:
        _processes.remove(process)


def cleanup() -> None:
    for process in list(_processes):
        stop(process)


def raise_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C: the `finally` blocks run and every process is stopped."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    """One HTTP server kind, started the same way for every configuration."""

    name: str
    label: str

    def command(self, app: str, port: int) -> list[str]:
        """`app` is "module:callable" (WSGI) — the ASGI servers get flightsite.asgi."""
        bind = f"127.0.0.1:{port}"
        gunicorn = [
            str(VENV_BIN / "gunicorn"),
            app,
            "-w",
            str(WORKERS),
            "-b",
            bind,
            "--timeout",
            str(TIMEOUT),
            "--log-level",
            "warning",
            "--no-control-socket",
        ]
        if self.name == "sync":
            return [*gunicorn, "-k", "sync"]
        if self.name == "gthread":
            return [*gunicorn, "-k", "gthread", "--threads", "4"]
        if self.name == "uvicorn":
            return [
                str(VENV_BIN / "uvicorn"),
                "flightsite.asgi:application",
                "--workers",
                str(WORKERS),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--timeout-keep-alive",
                "5",
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        if self.name in ("granian", "granian4"):
            threads = ["--blocking-threads", "4"] if self.name == "granian4" else []
            return [
                str(VENV_BIN / "granian"),
                "--interface",
                "wsgi",
                app,
                "--workers",
                str(WORKERS),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-ws",
                "--log-level",
                "warning",
                *threads,
            ]
        raise ValueError(self.name)


SERVERS = {
    "sync": Server("sync", "gunicorn sync x2"),
    "gthread": Server("gthread", "gunicorn gthread x2 (4 threads)"),
    "uvicorn": Server("uvicorn", "uvicorn x2 (ASGI)"),
    "granian": Server("granian", "granian x2 (WSGI)"),
    "granian4": Server("granian4", "granian x2 (WSGI, 4 threads)"),
}


@dataclass
class Running:
    process: subprocess.Popen
    base: str
    log: Path
    pids: list[int] = field(default_factory=list)

    def worker_cpu(self) -> float:
        """CPU seconds (user + system) used so far by the server's worker processes."""
        return cpu_seconds(self.pids)


def start_server(
    server: Server, app: str, env: dict[str, str], log: Path, cwd: Path = ROOT
) -> Running:
    # Serving with DEBUG off requires a real secret key (flightsite/settings.py): one per run.
    env = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **env}
    port = free_port()
    with log.open("ab") as out:
        process = track(
            subprocess.Popen(
                server.command(app, port),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: stop() ends the workers too
            )
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start: see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            pids = descendants(process.pid)
            if len(pids) >= WORKERS:
                return Running(process, base, log, pids)
        except OSError:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"{server.name} did not answer within 30 s: see {log}")


def descendants(pid: int) -> list[int]:
    """All processes below `pid` (the workers, and their own children if any)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


# --- Valkey counters ----------------------------------------------------------------------------


class ValkeyStats:
    """INFO commandstats deltas, split into commands and writes by each command's flags."""

    def __init__(self, client: RawValkey) -> None:
        self.client = client
        self._write: dict[str, bool] = {}

    def snapshot(self) -> dict[str, int]:
        return {
            name.removeprefix("cmdstat_"): stats["calls"]
            for name, stats in self.client.info("commandstats").items()
        }

    def is_write(self, command: str) -> bool:
        """COMMAND INFO's `write` flag (a subcommand such as `client|setname` never writes)."""
        if command not in self._write:
            base = command.split("|")[0]
            info = self.client.execute_command("COMMAND", "INFO", base) or {}
            flags = (info.get(base) or {}).get("flags", [])  # valkey-py parses the reply
            names = {f.decode() if isinstance(f, bytes) else f for f in flags}
            self._write[command] = "write" in names and "|" not in command
        return self._write[command]

    def delta(self, before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        return {
            name: after[name] - before.get(name, 0)
            for name in after
            if after[name] > before.get(name, 0) and name.split("|")[0] not in OWN_COMMANDS
        }

    def summary(self, delta: dict[str, int], per: int) -> dict:
        per = max(per, 1)
        writes = sum(n for name, n in delta.items() if self.is_write(name))
        return {
            "commands": round(sum(delta.values()) / per, 2),
            "writes": round(writes / per, 2),
            "by_command": {k: round(v / per, 2) for k, v in sorted(delta.items())},
        }


# --- single scripts (bench/reliability.py, bench/parallel_adds.py) --------------------------
PASSPORT = "P100001"


def start_gunicorn(
    env: dict[str, str], port: int, workers: int = 2, worker_class: str = "sync"
) -> subprocess.Popen:
    """gunicorn with the site on 127.0.0.1:`port`; returns once it answers."""
    # Serving with DEBUG off requires a real secret key (flightsite/settings.py): one per run.
    env = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **env}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "flightsite.wsgi",
            "-w",
            str(workers),
            "-k",
            worker_class,
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/login/", timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("gunicorn did not answer within 10 s")


class SiteClient:
    """A browser-like session: CSRF token from the login page, Referer on every POST."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.get(base + "/login/")
        self.csrf = self.http.cookies["csrftoken"]
        self.headers = {"Referer": base + "/"}

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        return self.http.post(
            self.base + path,
            {**data, "csrfmiddlewaretoken": self.csrf},
            headers=self.headers,
            **kwargs,
        )

    def login(self, passport: str = PASSPORT) -> None:
        self.post("/login/", {"passportno": passport}).raise_for_status()
        self.csrf = self.http.cookies["csrftoken"]  # rotated at login

    def cookies(self) -> dict[str, str]:
        return self.http.cookies.get_dict()
