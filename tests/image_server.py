"""The site's production server started as the Dockerfile's `site` target starts it: its ENV
(GRANIAN_*, FLIGHTSITE_*) and its CMD (deploy/serve.py: nginx in front of granian), only the
ports and the data made local. Used by tests (slow clients, proxy trust, headers) and
bench/reliability.py. `front=False` runs granian alone, as the image did before (the bench's
comparison)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dockerfile_server() -> tuple[dict[str, str], list[str]]:
    """The server settings (ENV of GRANIAN_*, FLIGHTSITE_*, DJANGO_TRUSTED_PROXIES) and the CMD of
    the Dockerfile's `site` target."""
    text = DOCKERFILE.read_text()
    site = text[text.index("AS site") : text.index("AS proxy")]
    env = dict(re.findall(r"\b((?:GRANIAN|FLIGHTSITE)_[A-Z_]+)=(\S+)", site))
    env = {k: v for k, v in env.items() if k != "FLIGHTSITE_VAR_DIR"}
    (cmd,) = re.findall(r"^CMD (\[.*\])$", site, re.MULTILINE)
    return env, json.loads(cmd)


class ImageServer:
    def __init__(
        self,
        var_dir: Path,
        valkey_url: str,
        flughafendb_url: str,
        env: Mapping[str, str] | None = None,
        front: bool = True,
    ) -> None:
        self.var_dir = Path(var_dir)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.granian_port = free_port()
        self.front = front
        settings, self.cmd = dockerfile_server()
        base = {k: v for k, v in os.environ.items() if not k.startswith("VALKEY_")}
        self.env = {
            **base,
            **settings,
            "DJANGO_SETTINGS_MODULE": "flightsite.settings",
            "FLIGHTSITE_HOST": "127.0.0.1",
            "FLIGHTSITE_PORT": str(self.port),
            "GRANIAN_PORT": str(self.granian_port if front else self.port),
            "FLIGHTSITE_HEALTH_PORT": str(free_port()),
            "VALKEY_URL": valkey_url,
            "FLUGHAFENDB_URL": flughafendb_url,
            "DJANGO_DB_URL": f"sqlite:///{self.var_dir / 'django.sqlite3'}",
            "FLIGHTSITE_VAR_DIR": str(self.var_dir),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WEATHER_PROVIDER": "offline",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log_path = self.var_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ImageServer:
        bin_dir = Path(sys.executable).parent
        if self.front:
            assert self.cmd == ["python", "deploy/serve.py"], self.cmd
            argv = [sys.executable, "deploy/serve.py"]
        else:  # granian alone, on the public port, as the image ran before
            argv = [str(bin_dir / "granian"), "flightsite.wsgi:application"]
            self.env["GRANIAN_HOST"] = "127.0.0.1"
            del self.env["FLIGHTSITE_HEALTH_PORT"]
        migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
        subprocess.run(migrate, cwd=ROOT, env=self.env, check=True, timeout=120)
        env = {**self.env, "PATH": f"{bin_dir}:{self.env.get('PATH', '')}"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base + "/login/", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the server never answered:\n{self.log()}")
            time.sleep(0.1)  # polls the real server process until it answers

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
