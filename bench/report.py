#!/usr/bin/env python
"""Tables and chart of a bench/run.py run, and `make bench-publish`.

    python bench/report.py [RESULTS_DIR]            # print the Markdown of a run (default latest)
    python bench/report.py --publish [RESULTS_DIR]  # copy it into docs/benchmark.md

docs/benchmark.md holds the table between `<!-- bench:start -->` and
`<!-- bench:end -->`; only --publish changes it, on purpose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LEVELS = ("1", "8", "32")
# Goals (issue 20), checked (never asserted) on every run: the median of the paired ratios
# (ours ÷ theirs, dashboard req/s) at each level, on gunicorn and on granian for Flask.
GOALS = {
    "flask": {"1": 1.0, "8": 1.1, "32": 1.1},
    "cache": {"1": 1.05, "8": 1.05, "32": 1.05},
    "signed_cookies": {"1": 0.9, "8": 0.9, "32": 0.9},
}
FLIGHTS_GOAL = 300  # req/s at c = 1


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _rps(loop: dict) -> str:
    return " / ".join(_n(loop[c]["rps"]) for c in LEVELS if c in loop) or "—"


def _cpu(loop: dict) -> str:
    values = [loop[c]["cpu_ms_per_request"] for c in LEVELS if c in loop]
    if not values:
        return "—"  # not measured (bench/run.py --scale-only)
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "—"


def _session(c: dict) -> str:
    s = c.get("session", {})
    if "cookie_bytes" in s:
        return f"cookie {s['cookie_bytes']} B"
    if "db_value_bytes" in s and "value_bytes" not in s:
        return f"{s['db_value_bytes']} B in MariaDB"
    if "value_bytes" in s:
        extra = f" (+{s['db_value_bytes']} B in MariaDB)" if "db_value_bytes" in s else ""
        if "index_entry_bytes" in s:
            extra += f" + {s['index_entry_bytes']} B owner-index entry"
        return f"{s['value_bytes']} / {s['memory_bytes']} B{extra}"
    return "—"


def _load(results: dict) -> str:
    load = results.get("load_average")
    if not load:
        return ""
    return (
        f"; 1-minute load average during the loops {load['median']} (from {load['min']} to "
        f"{load['max']}; 2 would be this run alone on 2 cores)"
    )


def _errors(c: dict) -> int:
    loops = [*c.get("dashboard", {}).values(), *c.get("flights", {}).values()]
    return (
        c.get("flow", {}).get("errors", 0)
        + c.get("setup_errors", 0)
        + c.get("trace", {}).get("errors", 0)
        + sum(r["errors"] for r in loops)
    )


def markdown(results: dict) -> str:
    m, s, configs = results["machine"], results["settings"], results["configs"]
    lines = [
        f"Run of {results['date'][:16].replace('T', ' ')} UTC on {m['cpu']} ({m['cores']} cores, "
        f"{m['os']}), Python {m['python']}, Valkey {results['valkey']}, flughafendb: "
        f"{results['database']['flughafendb']}. {s['users']} simulated users (own passport and "
        f"cookie jar), {s['server']} for every app, {s['loader']} loops of "
        f"{s['seconds_per_point']:g} s per point, each request as the next user"
        f"{' (quick mode)' if s.get('quick') else ''}; `make bench` took "
        f"{results.get('duration_s', 0) // 60} min {results.get('duration_s', 0) % 60} s"
        + _load(results)
        + ".",
        "",
        "| configuration | dashboard req/s, c = 1 / 8 / 32 | p50 / p95 / p99 ms at c=32 "
        "| worker CPU ms/req | Valkey commands / writes per flow | round trips per flow "
        "| session value / memory | errors | 16 parallel adds kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in configs.values():
        d = c.get("dashboard", {})
        top = d.get("32", {})
        vf = c.get("flow", {}).get("valkey_per_flow", {})
        pa = c.get("parallel_adds", {})
        lines.append(
            f"| {c['label']} | {_rps(d)} | {_n(top.get('p50_ms'), 1)} / {_n(top.get('p95_ms'), 1)}"
            f" / {_n(top.get('p99_ms'), 1)} | {_cpu(d)} | {_n(vf.get('commands'), 1)} / "
            f"{_n(vf.get('writes'), 1)} | {c.get('trace', {}).get('round_trips', '—')} | "
            f"{_session(c)} | {_errors(c)} | {pa.get('kept', '—')} of {pa.get('sent', '—')} |"
        )
    ours = configs.get("ours")
    if ours:
        lines += ["", *paired_lines(results)]
        lines += ["", *goal_lines(ours)]
        if "flights" in ours:
            f = ours["flights"]
            lines += [
                "",
                f"Flights page (ours, {s['server']}): {_rps(f)} req/s at c = 1 / 8, "
                f"p99 {f['8']['p99_ms']:.1f} ms at c=8, {_cpu(f)} ms worker CPU per request.",
            ]
        if "servers" in ours:
            lines += [
                "",
                "Server choice (our store, 2 workers each):",
                "",
                "| server | dashboard req/s c = 1 / 8 / 32 | p99 ms c=32 | CPU ms/req "
                "| flights req/s c = 1 / 8 | p99 ms c=8 | CPU ms/req | errors |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in ours["servers"].values():
                if "error" in r:
                    lines.append(f"| {r['label']} | failed to start | | | | | | |")
                    continue
                d, f = r["dashboard"], r["flights"]
                errs = sum(x["errors"] for x in [*d.values(), *f.values()])
                lines.append(
                    f"| {r['label']} | {_rps(d)} | {d['32']['p99_ms']:.1f} | {_cpu(d)} | "
                    f"{_rps(f)} | {f['8']['p99_ms']:.1f} | {_cpu(f)} | {errs} |"
                )
        if "scale" in ours:
            sc = ours["scale"]
            p99 = sc["dashboard"]
            before = sc["dashboard_p99_before_ms"]
            lines += [
                "",
                f"Scale run: {sc['sessions']:,} sessions written pipelined in "
                f"{sc['write_seconds']} s ({sc['writes_per_s']:,}/s): "
                f"{sc['used_memory_mb']:,} MB of `used_memory`, {sc['bytes_per_session']} B "
                "per session" + _scale_parts(sc) + "; "
                f"dashboard p99 with them present {p99['8']['p99_ms']:.1f} ms at c=8 "
                f"(before {before['8']:.1f}), {p99['32']['p99_ms']:.1f} ms at c=32 "
                f"(before {before['32']:.1f}); all deleted afterwards "
                f"({sc['left_after_cleanup']} left).",
            ]
    return "\n".join(lines) + "\n"


def _scale_parts(sc: dict) -> str:
    """What of the scale run's memory the sessions and their owner index took (runs before
    2026-12 measured only the sum)."""
    if "index_mb" in sc:
        return (
            f" (the sessions {sc['sessions_mb']:,} MB, their owner-index entries "
            f"{sc['index_mb']:,} MB: {sc['index_bytes_per_session']:g} B each)"
        )
    return " (session and its index entry)" if sc.get("with_index") else ""


def _range(summary: dict | None) -> str:
    if not summary or summary.get("median") is None:
        return "—"
    if len(summary.get("rounds", [])) < 2:
        return f"{summary['median']:.2f}"
    return f"{summary['median']:.2f} ({summary['min']:.2f}-{summary['max']:.2f})"


def _verdict(name: str, loop: dict) -> str:
    goal = GOALS.get(name)
    if not goal:
        return "—"
    misses = []
    for level, target in goal.items():
        median = loop.get(level, {}).get("paired", {}).get("rps", {}).get("median")
        if median is not None and median < target:
            misses.append(f"c={level} {median:.2f} < {target}")
    shown = " / ".join(str(v) for v in goal.values())
    return f"≥ {shown}: " + ("met" if not misses else "missed (" + ", ".join(misses) + ")")


def _cpu_verdict(name: str, loop: dict) -> str:
    if name != "flask":
        return ""
    medians = [loop[c]["paired"]["cpu"]["median"] for c in LEVELS if "paired" in loop.get(c, {})]
    medians = [m for m in medians if m is not None]
    if not medians:
        return ""
    worst = min(medians)
    return "; CPU at or below Flask's: " + ("met" if worst >= 1 else f"missed ({worst:.2f})")


def paired_lines(results: dict) -> list[str]:
    """Ours ÷ each other app: the median of the paired rounds (ours measured just before and
    just after it), with the range of the rounds."""
    configs = results["configs"]
    ours = configs["ours"]
    server = results["settings"]["server"]
    rounds = results["settings"].get("rounds", 1)
    lines = [
        f"Ours ÷ the others, dashboard req/s: the median of {rounds} paired rounds (each "
        "measured between two measurements of ours, back to back) and their range; CPU: "
        "their worker CPU per request ÷ ours (above 1: ours spends less).",
        "",
        "| ours vs | server | c = 1 | c = 8 | c = 32 | CPU c = 1 / 8 / 32 | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    rows: list[tuple[str, str, str, dict]] = []
    for name, c in configs.items():
        if name != "ours" and "dashboard" in c:
            rows.append((name, c["label"], server, c["dashboard"]))
    pair = ours.get("granian_pair")
    if pair and "flask" in pair:
        rows.append(("flask", "Flask + Flask-Session", pair["label"], pair["flask"]["dashboard"]))
    for name, label, on, loop in rows:
        cells = [_range(loop.get(c, {}).get("paired", {}).get("rps")) for c in LEVELS]
        cpu = " / ".join(
            _n(loop.get(c, {}).get("paired", {}).get("cpu", {}).get("median"), 2) for c in LEVELS
        )
        lines.append(
            f"| {label} | {on} | {' | '.join(cells)} | {cpu} | "
            f"{_verdict(name, loop)}{_cpu_verdict(name, loop)} |"
        )
    floors = [(server, configs)]
    if pair:
        floors.append((pair["label"], pair))
    floor_rows = []
    for on, source in floors:
        o, f = source.get("ours", {}), source.get("flask", {})
        if "floor" not in o or "floor" not in f:
            continue
        for who, app in (("flightsite", o), ("Flask", f)):
            above = _mean_cpu(app["dashboard"]) - _mean_cpu(app["floor"])
            floor_rows.append(
                f"| {who} | {on} | {_rps(app['floor'])} | {_cpu(app['floor'])} | "
                f"{_rps(app['dashboard'])} | {_cpu(app['dashboard'])} | {above:.2f} |"
            )
        ratio = " / ".join(_range(f["floor"][c].get("paired", {}).get("rps")) for c in LEVELS)
        floor_rows.append(f"| ours ÷ Flask | {on} | {ratio} | | | | |")
    if floor_rows:
        lines += [
            "",
            "The floor (a one-line view behind the same middleware, no session) beside the "
            "dashboard:",
            "",
            "| app | server | floor req/s c = 1 / 8 / 32 | floor CPU ms/req | dashboard req/s "
            "| dashboard CPU ms/req | dashboard CPU above the floor, ms |",
            "|---|---|---|---|---|---|---|",
            *floor_rows,
        ]
    return lines


def _mean_cpu(loop: dict) -> float:
    return sum(loop[c]["cpu_ms_per_request"] for c in LEVELS) / len(LEVELS)


def goal_lines(ours: dict) -> list[str]:
    out = []
    if "flights" in ours:
        rps = ours["flights"]["1"]["rps"]
        cpu = ours["flights"]["1"]["cpu_ms_per_request"]
        out.append(
            f"- flights page ≥ {FLIGHTS_GOAL} req/s at c=1 (gunicorn sync): {rps:.0f} req/s, "
            f"{cpu:.2f} ms worker CPU, "
            + ("met" if rps >= FLIGHTS_GOAL else f"missed ({rps / FLIGHTS_GOAL:.2f}x)")
        )
    for server in (ours.get("servers") or {}).values():
        if "flights" in server:
            rps = server["flights"]["1"]["rps"]
            out.append(
                f"- flights page at c=1 on {server['label']}: {rps:.0f} req/s, "
                f"{server['flights']['1']['cpu_ms_per_request']:.2f} ms worker CPU, "
                + ("met" if rps >= FLIGHTS_GOAL else f"missed ({rps / FLIGHTS_GOAL:.2f}x)")
            )
    mem = ours.get("session", {}).get("memory_bytes")
    if mem:
        entry = ours.get("session", {}).get("index_entry_bytes") or 0
        total = mem + entry
        parts = f"{mem} + {entry} = {total} B" if entry else f"{mem} B (no index entry found)"
        out.append(
            "- ≤ 400 B of Valkey memory per demo session with its owner-index entry (`MEMORY "
            f"USAGE`): {parts}, " + ("met" if total <= 400 else f"missed by {total - 400} B")
        )
    sc = ours.get("scale")
    if sc:
        projected = sc["bytes_per_session"] * 1_000_000 / 1e6
        out.append(
            f"- 1,000,000 sessions in ≤ 400 MB (`used_memory` growth): {projected:,.0f} MB"
            + (" (projected)" if sc["sessions"] != 1_000_000 else "")
            + ", "
            + ("met" if projected <= 400 else f"missed by {projected - 400:,.0f} MB")
        )
    return out


def chart(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        return
    configs = {n: c for n, c in results["configs"].items() if "dashboard" in c}
    if not configs:
        return  # nothing looped (bench/run.py --scale-only)
    ours = configs.get("ours", {})
    servers = ours.get("servers", {})
    panels = 3 if servers else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5))
    width = 0.8 / max(len(configs), 1)
    for i, c in enumerate(configs.values()):
        xs = [k + (i - (len(configs) - 1) / 2) * width for k in range(len(LEVELS))]
        axes[0].bar(xs, [c["dashboard"][k]["rps"] for k in LEVELS], width, label=c["label"])
    axes[0].set_xticks(range(len(LEVELS)), [f"c={k}" for k in LEVELS])
    axes[0].set_ylabel("dashboard requests/s")
    axes[0].set_title(f"Session engines, {results['settings']['server']}")
    axes[0].legend(fontsize=8)
    # CPU per request: the figure least moved by other load on a shared machine.
    names = list(configs)
    axes[-1].barh(
        [configs[n]["label"] for n in names],
        [_mean_cpu(configs[n]["dashboard"]) for n in names],
        color=[f"C{i}" for i in range(len(names))],
    )
    axes[-1].invert_yaxis()
    axes[-1].set_xlabel("worker CPU ms per dashboard request (mean of c = 1, 8, 32)")
    axes[-1].set_title("CPU per request (lower is better)")
    if servers:
        ok = {n: r for n, r in servers.items() if "error" not in r}
        points = [("dashboard", k) for k in LEVELS] + [("flights", k) for k in ("1", "8")]
        width = 0.8 / max(len(ok), 1)
        for i, r in enumerate(ok.values()):
            xs = [k + (i - (len(ok) - 1) / 2) * width for k in range(len(points))]
            axes[1].bar(xs, [r[p][k]["rps"] for p, k in points], width, label=r["label"])
        axes[1].set_xticks(range(len(points)), [f"{p}\nc={k}" for p, k in points], fontsize=8)
        axes[1].set_title("Server choice (our store)")
        axes[1].legend(fontsize=8)
    fig.suptitle(
        f"flightsite bench, {results['date'][:10]}, {results['machine']['cpu']}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def publish(run_dir: Path, readme: Path = ROOT / "docs" / "benchmark.md") -> None:
    results = json.loads((run_dir / "results.json").read_text())
    table = markdown(results).strip()
    text = readme.read_text()
    if START not in text or END not in text:
        sys.exit(f"{readme} has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    print(f"{readme.name}: performance table of {results['date']} ({run_dir.resolve().name})")


def main(argv: list[str]) -> int:
    publish_it = "--publish" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    run_dir = Path(dirs[0]) if dirs else RESULTS / "latest"
    if not (run_dir / "results.json").exists():
        sys.exit(f"no results in {run_dir}: run `make bench` first")
    if publish_it:
        publish(run_dir)
    else:
        print(markdown(json.loads((run_dir / "results.json").read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
