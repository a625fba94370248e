"""GET/HEAD /healthz: can this process serve requests? For load balancers, compose health checks
and monitors.

JSON, one entry per dependency: {"status": "ok"|"failed", "latency_ms": ..., "required": ...}
(and "error" when failed). 200 when every required dependency answers, 503 (with Retry-After)
when one does not. The weather cache is not required: weather is fetched without it. Never
cached, never touches the session (no cookie, no session key), and each check is bounded by the
dependency's time budget and circuit breaker (a hung Valkey costs at most its socket timeout).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from flightsite.errors import retry_after
from flightsite.http import never_cache

logger = logging.getLogger(__name__)

# name in the answer -> (what is checked, required)
VALKEY_CHECKS = {"valkey_sessions": ("sessions", True), "valkey_cache": ("default", False)}
DATABASE_CHECKS = {"flughafendb": ("flughafendb", True), "default_db": ("default", True)}


def _ping_valkey(alias: str) -> None:
    cache: Any = caches[alias]  # django-valkey's cache (BaseCache has no .client)
    cache.client.get_client(write=True).ping()


def _ping_database(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check(probe: Callable[[str], None], target: str, required: bool) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"status": "ok", "required": required}
    try:
        probe(target)
    except Exception as exc:  # a health check reports every failure, it never raises
        logger.warning("Health check of %s failed: %s", target, exc)
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:200])
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        **{n: _check(_ping_valkey, a, r) for n, (a, r) in VALKEY_CHECKS.items()},
        **{n: _check(_ping_database, a, r) for n, (a, r) in DATABASE_CHECKS.items()},
    }
    healthy = all(c["status"] == "ok" for c in checks.values() if c["required"])
    degraded = healthy and any(c["status"] != "ok" for c in checks.values())
    status = "degraded" if degraded else "ok" if healthy else "failed"
    response = JsonResponse({"status": status, "checks": checks}, status=200 if healthy else 503)
    if not healthy:
        response["Retry-After"] = str(retry_after())
    return response
