"""bench/report.py: the Markdown of a run and `make bench-publish` (no benchmark is run here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import report


def _loop(rps: float, cpu: float) -> dict:
    return {
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


def _config(label: str, rps: float, cpu: float, **extra) -> dict:
    return {
        "label": label,
        "dashboard": _loop(rps, cpu),
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
    "settings": {"users": 200, "seconds_per_point": 8, "loader": "wrk", "server": "gunicorn"},
    "duration_s": 543,
    "configs": {
        "ours": _config("flightsite (our store)", 1200, 1.0),
        "flask": _config("Flask + Flask-Session", 1000, 1.2),
        "signed_cookies": _config(
            "Django signed_cookies", 1300, 0.9, session={"cookie_bytes": 600}
        ),
    },
}


def test_markdown_names_the_machine_and_compares_with_the_baseline() -> None:
    text = report.markdown(RESULTS)
    assert "2025-01-02 03:04 UTC on Test CPU (2 cores" in text
    assert "took 9 min 3 s" in text
    assert "| flightsite (our store) | 1,200 / 1,200 / 1,200 |" in text
    assert "| Flask + Flask-Session | 1.20 | 1.20 | 1.20 | 1.20 | ≥ 1.2x: met |" in text
    assert "missed (0.92x)" in text  # signed_cookies: 1200 / 1300 < 0.95
    assert "cookie 600 B" in text
    assert "worker CPU per dashboard request ≤ 1.1 ms: 1.00 ms, met" in text


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
