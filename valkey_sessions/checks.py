"""Is the session server usable? `server_problems(client)` says what is wrong with it, in
sentences (for /healthz and the system checks); `check_server` is the system check run at
start-up (manage.py, runserver, the test runner)."""

from __future__ import annotations

import inspect
from typing import Any

from django.core.cache import caches
from django.core.checks import CheckMessage, Error, register

from . import conf
from .scripts import REQUIRED_COMMANDS, cache_problem, sessions_client

SAFE_POLICIES = frozenset({"noeviction"})


def _info(client: Any, section: str) -> dict[str, Any]:
    info: dict[str, Any] = client.info(section)
    if "maxmemory_policy" not in info and info and all(isinstance(v, dict) for v in info.values()):
        # A cluster client answers per node: the first node stands for all (checked alike).
        info = next(iter(info.values()))
    return info


def server_problems(client: Any = None) -> list[str]:
    """What makes this Valkey server unfit to keep sessions (empty: fit). Connection errors
    propagate (the caller reports an unreachable server its own way). `client`: a valkey-py
    client of the session server (default: the engine's own)."""
    if client is None:
        client = sessions_client()
    problems = []
    missing = []
    # A cluster client cannot route COMMAND INFO by itself (no key; valkey-py fails finding
    # one): any node answers for all.
    where = {"target_nodes": client.RANDOM} if hasattr(client, "get_primaries") else {}
    for command in REQUIRED_COMMANDS:
        try:
            # One word: valkey-py's COMMAND callback turns the reply into a dict (and fails
            # on an unknown command); "COMMAND INFO" has none, the raw reply is [None] or a row.
            reply = client.execute_command("COMMAND INFO", command, **where)
        except Exception as exc:
            if "NOPERM" in str(exc) or "no permission" in str(exc).lower():
                break  # an ACL user without COMMAND: the commands cannot be listed, only used
            raise
        found = list(reply.values()) if isinstance(reply, dict) else list(reply or [])
        if not found or found[0] is None:
            missing.append(command.upper())
    if missing:
        try:
            version = _info(client, "server").get("valkey_version") or "?"
        except Exception:
            version = "?"
        problems.append(
            f"the session server (version {version}) lacks {', '.join(missing)}: "
            "valkey_sessions needs these commands"
        )
    try:
        policy = _info(client, "memory").get("maxmemory_policy")
    except Exception as exc:
        if "NOPERM" not in str(exc) and "permission" not in str(exc).lower():
            raise
        policy = None  # INFO not allowed to this user: nothing to say
    if policy is not None and policy not in SAFE_POLICIES:
        problems.append(
            f"the session server's maxmemory-policy is {policy}: under memory pressure it "
            "evicts sessions (logging people out at random); set maxmemory-policy noeviction "
            "and keep caches on another server"
        )
    return problems


@register()
def check_cache_alias(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    alias = conf.get("CACHE_ALIAS")
    try:
        cache: Any = caches[alias]
    except Exception as exc:
        return [Error(f"valkey_sessions: no cache {alias!r}: {exc}", id="valkey_sessions.E001")]
    client = getattr(getattr(cache, "client", None), "get_client", None)
    if client is None or inspect.iscoroutinefunction(client):
        return [
            Error(
                cache_problem(alias, cache),
                hint="Point VALKEY_SESSIONS['CACHE_ALIAS'] (or SESSION_CACHE_ALIAS) at a "
                "django_valkey.cache.ValkeyCache.",
                id="valkey_sessions.E001",
            )
        ]
    return []


@register()
def check_server(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if check_cache_alias():
        return []
    try:
        problems = server_problems()
    except Exception:
        # Not reachable now (a command run before the server is up): it may come up later,
        # and every request that needs it will say so (503); /healthz reports it.
        return []
    return [Error(f"valkey_sessions: {p}", id="valkey_sessions.E002") for p in problems]
