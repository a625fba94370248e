"""The engine lifted out: its tests (tests/bare_project/test_engine.py) in a bare Django project
(settings with Django's contrib apps and valkey_sessions only, no flightsite conftest), in a
pytest of their own, so nothing of the site is importable by accident."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_engine_passes_its_tests_in_a_bare_project():
    bare = ROOT / "tests" / "bare_project"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-c",
            str(bare / "pytest.ini"),
            "--rootdir",
            str(ROOT),
            "--confcutdir",
            str(bare),
            "--ds",
            "tests.bare_project.settings",
            str(bare),
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
