"""Shared by the bench scripts: a gunicorn serving the site, and a logged-in HTTP client."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
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
