"""bench/report.py: the Markdown of a run and `make bench-publish` (no benchmark is run here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import report


def _paired(rounds: list[float]) -> dict:
    ordered = sorted(rounds)
    return {
        "median": ordered[len(ordered) // 2],
        "min": ordered[0],
        "max": ordered[-1],
        "rounds": rounds,
    }


def _loop(rps: float, cpu: float, ratios: list[float] | None = None) -> dict:
    loop: dict[str, dict[str, Any]] = {
        c: {
            "rps": rps,
            "p50_ms": 1.0,
            "p95_ms": 2.0,
            "p99_ms": 3.0,
            "errors": 0,
            "cpu_ms_per_request": cpu,
        }
        for c in ("1", "8", "32")
    }
    if ratios:  # ours ÷ this, per paired round (bench/run.py: paired_ratios)
        for point in loop.values():
            point["paired"] = {"rps": _paired(ratios), "cpu": _paired([cpu, cpu, cpu])}
    return loop


def _config(label: str, rps: float, cpu: float, ratios: list[float] | None = None, **extra):
    return {
        "label": label,
        "dashboard": _loop(rps, cpu, ratios),
        "flow": {"errors": 0, "valkey_per_flow": {"commands": 11.0, "writes": 4.0}},
        "trace": {"round_trips": 11, "errors": 0},
        "session": {"value_bytes": 480, "memory_bytes": 560},
        "parallel_adds": {"sent": 16, "kept": 16},
        **extra,
    }


RESULTS = {
    "date": "2025-01-02T03:04:05+00:00",
    "machine": {"cpu": "Test CPU", "cores": 2, "os": "Linux", "python": "3.11"},
    "valkey": "9.1.2",
    "database": {"flughafendb": "SQLite (var/), demo set small"},
    "settings": {
        "users": 200,
        "seconds_per_point": 8,
        "loader": "wrk",
        "server": "gunicorn",
        "rounds": 3,
    },
    "duration_s": 543,
    "configs": {
        "ours": _config(
            "flightsite (our store)",
            1200,
            1.0,
            floor=_loop(2000, 0.4),
            flights=_loop(310, 2.9),
        ),
        "flask": _config(
            "Flask + Flask-Session", 1000, 1.2, [1.1, 1.25, 1.2], floor=_loop(2100, 0.35)
        ),
        "signed_cookies": _config(
            "Django signed_cookies", 1300, 0.9, [0.9, 0.92, 0.8], session={"cookie_bytes": 600}
        ),
    },
}


def test_markdown_names_the_machine_and_compares_with_the_baseline() -> None:
    text = report.markdown(RESULTS)
    assert "2025-01-02 03:04 UTC on Test CPU (2 cores" in text
    assert "took 9 min 3 s" in text
    assert "| flightsite (our store) | 1,200 / 1,200 / 1,200 |" in text
    # The median of the paired rounds and their range; the goals per level.
    assert (
        "| Flask + Flask-Session | gunicorn | 1.20 (1.10-1.25) | 1.20 (1.10-1.25) "
        "| 1.20 (1.10-1.25) | 1.20 / 1.20 / 1.20 | ≥ 1.0 / 1.1 / 1.1: met; "
        "CPU at or below Flask's: met |"
    ) in text
    assert "≥ 0.9 / 0.9 / 0.9: met |" in text  # signed_cookies: median 0.90
    assert "cookie 600 B" in text
    # The floor beside the dashboard: CPU above it, ours 1.0 - 0.4, Flask's 1.2 - 0.35.
    assert "| flightsite | gunicorn | 2,000 / 2,000 / 2,000 | 0.40 |" in text
    assert "| 0.60 |" in text and "| 0.85 |" in text
    assert "flights page ≥ 300 req/s at c=1 (gunicorn sync): 310 req/s, 2.90 ms" in text


def test_publish_replaces_only_the_marked_section(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(RESULTS))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.START}\nold table\n{report.END}\n\nafter\n")
    report.publish(run, readme)
    text = readme.read_text()
    assert "old table" not in text
    assert text.startswith("# x\n\n<!-- bench:start -->\nRun of 2025-01-02 03:04 UTC")
    assert text.endswith(f"{report.END}\n\nafter\n")


def test_publish_refuses_a_readme_without_markers(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit):
        report.publish(tmp_path, readme)
    assert readme.read_text() == "# no markers\n"


def test_memory_is_reported_as_measured_session_and_index_apart() -> None:
    """The session's own MEMORY USAGE and what its owner-index entry adds, the goal on their
    sum; the scale run's total with the sessions' and the index's parts (bench/run.py measures
    each, so no figure is carried over by hand)."""
    ours = _config(
        "flightsite (our store)",
        1200,
        1.0,
        session={"value_bytes": 204, "memory_bytes": 304, "index_entry_bytes": 48},
        scale={
            "sessions": 1_000_000,
            "with_index": True,
            "write_seconds": 19.7,
            "writes_per_s": 50_885,
            "used_memory_mb": 387.4,
            "bytes_per_session": 387,
            "sessions_mb": 339.1,
            "index_mb": 48.3,
            "index_bytes_per_session": 48.3,
            "dashboard": _loop(900, 1.0),
            "dashboard_p99_before_ms": {"8": 3.0, "32": 3.0},
            "left_after_cleanup": 0,
        },
    )
    text = report.markdown({**RESULTS, "configs": {"ours": ours}})
    assert "| 204 / 304 B + 48 B owner-index entry |" in text
    assert "with its owner-index entry (`MEMORY USAGE`): 304 + 48 = 352 B, met" in text
    assert "1,000,000 sessions in ≤ 400 MB (`used_memory` growth): 387 MB, met" in text
    assert (
        "387.4 MB of `used_memory`, 387 B per session (the sessions 339.1 MB, their "
        "owner-index entries 48.3 MB: 48.3 B each)"
    ) in text
    assert "devices index" not in text


def test_a_scale_only_run_is_reported_without_loops() -> None:
    ours = _config("flightsite (our store)", 1200, 1.0)
    del ours["dashboard"], ours["parallel_adds"]
    text = report.markdown({**RESULTS, "configs": {"ours": ours}})
    assert "| flightsite (our store) | — |" in text
