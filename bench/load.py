"""The load of bench/run.py: simulated users (asyncio + aiohttp) and the wrk loops.

Users: each has its own passport and its own cookie jar, as a browser would, and walks the
workshop flow with the CSRF token from its cookie. An asyncio client, not locust: 200 users with
separate jars cost one process and a few ms of CPU per flow, it needs no gevent monkey-patching,
and it runs inside the harness, which reads Valkey's counters exactly around the flow.

Loops: a page requested again and again by N connections. wrk (C, event loop) is the default
because on this 2-core box every CPU cycle the load generator burns is taken from the server
(measured: ~0.2 ms of CPU per request for wrk with its Lua script, ~0.75 ms for aiohttp);
a Lua script rotates the users' cookies so each request is a different logged-in passenger, and
counts any status but 200 as an error (a lost session would otherwise be a fast 302). Without
wrk the same loop runs on aiohttp (`--loader aiohttp`); the JSON records which one ran and the
loader's own CPU per request.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from _common import flights_page

FLIGHT_ID = re.compile(r'data-flight-id="(\d+)"')
# (country, zip) of the weather step, one per user in turn: several cities, so the weather
# cache sees misses and hits as with real users.
CITIES = [("GB", "B1"), ("US", "10001"), ("JP", "1000001"), ("DE", "10115"), ("FR", "75001")]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    if not samples_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0


class User:
    """One passenger with its own cookie jar."""

    def __init__(self, base: str, passport: str, connector: aiohttp.BaseConnector, tally: Tally):
        self.base = base
        self.passport = passport
        self.tally = tally
        self.http = aiohttp.ClientSession(
            base,
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # unsafe: accept cookies of an IP host
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def close(self) -> None:
        await self.http.close()

    def cookie(self, name: str) -> str | None:
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None

    def cookie_header(self) -> str:
        return "; ".join(f"{m.key}={m.value}" for m in self.http.cookie_jar)

    async def request(self, step: str, method: str, path: str, expect: set[int], data=None) -> str:
        headers = {"Referer": self.base + "/"}
        csrf = self.cookie("csrftoken")
        if csrf and method == "POST":
            headers["X-CSRFToken"] = csrf
        started = time.perf_counter()
        try:
            async with self.http.request(
                method, path, data=data, headers=headers, allow_redirects=False
            ) as response:
                body = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.tally.requests += 1
            self.tally.errors.append(f"{step}: {type(exc).__name__}")
            return ""
        self.tally.latencies.append((time.perf_counter() - started) * 1000)
        self.tally.requests += 1
        if status not in expect:
            self.tally.errors.append(f"{step}: HTTP {status}")
        return body

    async def login(self, index: int) -> None:
        await self.request("login page", "GET", "/login/", {200})
        await self.request("login POST", "POST", "/login/", {302}, {"passportno": self.passport})

    async def weather(self, index: int) -> None:
        country, zip_ = CITIES[index % len(CITIES)]
        await self.request("weather form", "GET", f"/weather/?country={country}", {200})
        await self.request(
            "weather POST", "POST", "/weather/", {302}, {"country": country, "zip": zip_}
        )

    async def add_flight(self, index: int) -> None:
        page = await self.request("flights list", "GET", flights_page(), {200})
        ids = FLIGHT_ID.findall(page)
        if not ids:
            self.tally.errors.append("flights list: no flight on the page")
            return
        await self.request(
            "flight POST", "POST", "/flights/add/", {302}, {"flight_id": ids[index % len(ids)]}
        )

    async def flow(self, index: int) -> None:
        """The workshop pass (../shared/README.md): login, dashboard, weather form and fetch,
        dashboard, flights, add one, dashboard, logout, login page."""
        await self.login(index)
        await self.request("dashboard", "GET", "/", {200})
        await self.weather(index)
        await self.request("dashboard", "GET", "/", {200})
        await self.add_flight(index)
        await self.request("dashboard", "GET", "/", {200})
        await self.request("logout POST", "POST", "/logout/", {302})
        await self.request("login page", "GET", "/login/", {200})

    async def setup(self, index: int) -> None:
        """Logged in with weather and one flight: the session the dashboard loop reads."""
        await self.login(index)
        await self.weather(index)
        await self.add_flight(index)


async def _run_users(
    base: str, passports: list[str], concurrency: int, what: str
) -> tuple[Tally, list[User], float, aiohttp.BaseConnector]:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    users = [User(base, p, connector, tally) for p in passports]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, user: User) -> None:
        async with gate:
            await getattr(user, what)(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
    elapsed = time.perf_counter() - started
    return tally, users, elapsed, connector


def run_users(base: str, passports: list[str], concurrency: int, what: str) -> dict:
    """Every user runs `what` (flow or setup) once, `concurrency` users at a time."""

    async def main():
        tally, users, elapsed, connector = await _run_users(base, passports, concurrency, what)
        cookies = [u.cookie_header() for u in users]
        jars = [{m.key: m.value for m in u.http.cookie_jar} for u in users]
        for user in users:
            await user.close()
        await connector.close()
        return tally, elapsed, cookies, jars

    tally, elapsed, cookies, jars = asyncio.run(main())
    return {
        "users": len(passports),
        "concurrency": concurrency,
        "requests": tally.requests,
        "seconds": round(elapsed, 2),
        "rps": round(tally.requests / elapsed, 1) if elapsed else 0,
        **percentiles(tally.latencies),
        "errors": len(tally.errors),
        "error_samples": sorted(set(tally.errors))[:5],
        "_cookies": cookies,
        "_jars": jars,
    }


def parallel_adds(base: str, cookie: str, flight_ids: list[str]) -> tuple[list[int], str]:
    """len(flight_ids) "add flight" POSTs at once with one session (tabs clicking at once).
    Returns the statuses and the cookies afterwards (the last Set-Cookie wins, as in a browser:
    with signed_cookies the session *is* the cookie)."""

    async def main():
        jar = dict(part.split("=", 1) for part in cookie.split("; "))
        cookie_jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(base, cookies=jar, cookie_jar=cookie_jar) as http:
            headers = {"X-CSRFToken": jar.get("csrftoken", ""), "Referer": base + "/"}

            async def add(fid: str) -> int:
                async with http.post(
                    "/flights/add/", data={"flight_id": fid}, headers=headers, allow_redirects=False
                ) as r:
                    return r.status

            statuses = await asyncio.gather(*(add(f) for f in flight_ids))
            return statuses, "; ".join(f"{m.key}={m.value}" for m in http.cookie_jar)

    return asyncio.run(main())


# --- loops ------------------------------------------------------------------------------------

WRK_SCRIPT = """
local cookies = {}
local i = 0
errors = 0  -- global: done() reads it with thread:get
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  for line in io.lines(args[1]) do table.insert(cookies, line) end
  i = math.random(#cookies)
end
function request()
  i = i % #cookies + 1
  return wrk.format("GET", nil, {["Cookie"] = cookies[i]})
end
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("errors") end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,' ..
    '"status_errors":%d,"socket_errors":%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, bad,
    e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def loop(loader: str, url: str, cookies: list[str], connections: int, seconds: float) -> dict:
    """`connections` clients requesting `url` for `seconds`, each request as the next user."""
    if loader == "wrk":
        return _wrk(url, cookies, connections, seconds)
    return _aiohttp_loop(url, cookies, connections, seconds)


def _wrk(url: str, cookies: list[str], connections: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, jar = Path(tmp, "users.lua"), Path(tmp, "cookies.txt")
        script.write_text(WRK_SCRIPT)
        jar.write_text("\n".join(cookies) + "\n")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",  # whole seconds: wrk rejects -d0.5s
                "--timeout",
                "10s",
                "-s",
                str(script),
                url,
                "--",
                str(jar),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = json.loads(out.split("WRK_JSON ", 1)[1].splitlines()[0])
    requests = data["requests"]
    loader_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "loader": "wrk",
        "connections": connections,
        "requests": requests,
        "rps": round(requests / data["seconds"], 1),
        "p50_ms": round(data["p50_ms"], 2),
        "p95_ms": round(data["p95_ms"], 2),
        "p99_ms": round(data["p99_ms"], 2),
        "errors": data["status_errors"] + data["socket_errors"],
        "loader_cpu_ms_per_request": round(loader_cpu * 1000 / max(requests, 1), 3),
    }


def _aiohttp_loop(url: str, cookies: list[str], connections: int, seconds: float) -> dict:
    async def main() -> tuple[Tally, float]:
        tally = Tally()
        deadline = time.perf_counter() + seconds
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:

            async def worker(offset: int) -> None:
                i = offset
                while time.perf_counter() < deadline:
                    i = (i + 1) % len(cookies)
                    started = time.perf_counter()
                    try:
                        async with http.get(
                            url, headers={"Cookie": cookies[i]}, allow_redirects=False
                        ) as r:
                            await r.read()
                            status = r.status
                    except aiohttp.ClientError as exc:
                        tally.errors.append(type(exc).__name__)
                        continue
                    tally.latencies.append((time.perf_counter() - started) * 1000)
                    tally.requests += 1
                    if status != 200:
                        tally.errors.append(f"HTTP {status}")

            started = time.perf_counter()
            await asyncio.gather(*(worker(k * 7) for k in range(connections)))
            return tally, time.perf_counter() - started

    before = time.process_time()
    tally, elapsed = asyncio.run(main())
    loader_cpu = time.process_time() - before
    return {
        "loader": "aiohttp",
        "connections": connections,
        "requests": tally.requests,
        "rps": round(tally.requests / elapsed, 1),
        **percentiles(tally.latencies),
        "errors": len(tally.errors),
        "loader_cpu_ms_per_request": round(loader_cpu * 1000 / max(tally.requests, 1), 3),
    }
