"""GET/HEAD /healthz: can this process serve requests? For load balancers, compose health checks
and monitors.

JSON, one entry per dependency: {"status": "ok"|"failed", "latency_ms": ..., "required": ...}
(and "error" when failed), plus "warnings" (a proxy the site does not trust). 200 when every
required dependency works, 503 (with Retry-After) when one does not; "degraded" (200) when only
the cache fails: weather is fetched without it. Never cached, never touches the session.

Honest about the session store: it must take writes, not only answer PING. One EVAL of a script
that may write (so a full server under noeviction answers OOM, a replica READONLY, a server that
cannot persist MISCONF) and asks the ACL whether this user may SET and DEL session keys (NOPERM
otherwise) — while writing nothing. An evicting maxmemory-policy on the session server fails it
too (sessions would vanish under memory pressure), when the user may read INFO: the engine's
`valkey_sessions.checks.server_problems` says so.

Within its own budget: the Valkey checks run on a small pool of threads of their own and the
answer waits at most HEALTH_BUDGET seconds for them (a check still running then is "failed: no
answer within ..."); the database checks are bounded by their connect/read timeouts and
breakers (Django's connections are per thread, so they run in the request's own). In
the image, /healthz is served by a thread of each worker process on its own port
(flightsite/health_server.py, nginx routes /healthz there), so it answers even when every WSGI
thread is busy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from flightsite.errors import retry_after
from flightsite.http import never_cache
from flightsite.proxies import proxy_watch
from valkey_sessions.checks import server_problems

logger = logging.getLogger(__name__)

# name in the answer -> (what is checked, required)
VALKEY_CHECKS = {"valkey_sessions": ("sessions", True), "valkey_cache": ("default", False)}
DATABASE_CHECKS = {"flughafendb": ("flughafendb", True), "default_db": ("default", True)}

# May write (no `no-writes` flag): refused with OOM / READONLY / MISCONF exactly when a session
# write would be. Writes nothing; 1 when this user may SET and DEL the key, else 0.
WRITE_PROBE = """#!lua
if redis.acl_check_cmd('set', KEYS[1], 'x') and redis.acl_check_cmd('del', KEYS[1]) then
  return 1
end
return 0
"""
PROBE_KEY = "flight_session:healthz"  # a key name in the session keyspace (never written)

_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="healthz")


class NotWritable(Exception):
    """The session store answers but would refuse session writes."""


def _client(alias: str) -> Any:
    cache: Any = caches[alias]  # django-valkey's cache (BaseCache has no .client)
    return cache.client.get_client(write=True)


def session_store_problems(client: Any) -> list[str]:
    """Why the session server cannot keep sessions (empty: it can). Raises what the server
    answers to a write (OOM, READONLY, NOPERM...) and connection errors."""
    if not int(client.eval(WRITE_PROBE, 1, PROBE_KEY)):
        raise NotWritable("NOPERM: this Valkey user may not SET/DEL session keys")
    return list(server_problems(client))  # the engine's: commands, maxmemory-policy


def _check_sessions(alias: str) -> None:
    problems = session_store_problems(_client(alias))
    if problems:
        raise NotWritable("; ".join(problems))


def _check_cache(alias: str) -> None:
    client = _client(alias)
    client.ping()


def _check_database(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _timed(probe: Callable[[str], None], target: str) -> tuple[str | None, float]:
    started = time.perf_counter()
    try:
        probe(target)
    except Exception as exc:  # a health check reports every failure, it never raises
        return f"{type(exc).__name__}: {exc}"[:300], time.perf_counter() - started
    return None, time.perf_counter() - started


def report() -> tuple[int, dict[str, Any]]:
    """(status code, body) of /healthz, within HEALTH_BUDGET seconds."""
    budget = settings.HEALTH_BUDGET
    deadline = time.monotonic() + budget
    # Valkey: on threads of their own, cut at the budget. Databases: in this thread, since
    # Django's connections are per thread (and so is a test's fault injection); each is bounded
    # by its connect/read timeouts and its breaker.
    valkey_checks = {
        name: _pool.submit(_timed, probe, alias)
        for name, probe, alias in (
            ("valkey_sessions", _check_sessions, VALKEY_CHECKS["valkey_sessions"][0]),
            ("valkey_cache", _check_cache, VALKEY_CHECKS["valkey_cache"][0]),
        )
    }
    results = {n: _timed(_check_database, alias) for n, (alias, _) in DATABASE_CHECKS.items()}
    for name, future in valkey_checks.items():
        try:
            results[name] = future.result(timeout=max(0.01, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = (f"no answer within {budget:g} s", budget)
    required = {n: r for n, (_, r) in {**VALKEY_CHECKS, **DATABASE_CHECKS}.items()}
    checks: dict[str, dict[str, Any]] = {}
    for name in (*VALKEY_CHECKS, *DATABASE_CHECKS):
        error, took = results[name]
        checks[name] = {"status": "failed" if error else "ok", "required": required[name]}
        checks[name]["latency_ms"] = round(took * 1000, 2)
        if error:
            checks[name]["error"] = error
            logger.warning("Health check of %s failed: %s", name, error)
    healthy = all(c["status"] == "ok" for c in checks.values() if c["required"])
    degraded = healthy and any(c["status"] != "ok" for c in checks.values())
    status = "degraded" if degraded else "ok" if healthy else "failed"
    body: dict[str, Any] = {"status": status, "checks": checks}
    warning = proxy_watch.problem()
    if warning:
        body["warnings"] = [warning]
    return (200 if healthy else 503), body


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    code, body = report()
    response = JsonResponse(body, status=code)
    if code != 200:
        response["Retry-After"] = str(retry_after())
    return response
