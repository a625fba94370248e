"""`make` alone lists every target of the Makefile, one line each (the `## ` comments)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .topologies import ROOT

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="make not installed")


def makefile_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE)


def test_bare_make_prints_one_line_for_every_target():
    targets = makefile_targets()
    assert {"help", "run", "test", "install", "lint", "clean"} <= set(targets)
    for args in ([], ["help"]):
        result = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        listed = re.findall(r"^  ([a-z][a-z-]*) +\S", result.stdout, re.MULTILINE)
        assert listed == targets, result.stdout
        assert "is up to date" not in result.stdout
