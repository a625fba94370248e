"""The environment: every variable the code reads is in .env.example, and a malformed value
stops start-up with a message naming it (flightsite/env.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from flightsite.env import Env
from flightsite.valkey_config import CACHE_VARS, SESSION_VARS

ROOT = Path(__file__).resolve().parents[1]
READ = re.compile(r"""env\.(?:str|bool|int|float|list|choice)\(\s*"([A-Z0-9_]+)\"""")
# flightsite/valkey_config.py reads the Valkey variables from a mapping: _get(env, "NAME").
READ_VALKEY = re.compile(r"""_get\(env, "([A-Z0-9_]+)"\)""")


def documented() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z0-9_]+=", line)}


def test_every_variable_read_is_in_env_example():
    read: set[str] = set()
    for path in [*(ROOT / "flightsite").rglob("*.py"), *(ROOT / "passengers").rglob("*.py")]:
        read |= set(READ.findall(path.read_text()))
    read |= set(READ_VALKEY.findall((ROOT / "flightsite" / "valkey_config.py").read_text()))
    read |= {*SESSION_VARS, *CACHE_VARS}  # read through _only_one(env, names)
    assert {"VALKEY_SENTINEL_SERVICE", "VALKEY_CACHE_PASSWORD"} <= read
    assert len(read) > 40
    assert read - documented() == set()


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("bool", "ture", "1/true/yes/on"),
        ("int", "30m", "a whole number"),
        ("int", "-5", "at least 0"),
        ("float", "fast", "a number"),
    ],
)
def test_malformed_values_name_the_variable(kind, value, expected):
    env = Env({"SOME_SETTING": value})
    read = {
        "bool": lambda: env.bool("SOME_SETTING"),
        "int": lambda: env.int("SOME_SETTING", 1, minimum=0),
        "float": lambda: env.float("SOME_SETTING", 1.0),
    }[kind]
    with pytest.raises(ImproperlyConfigured, match=f"SOME_SETTING='{value}'.*{expected}"):
        read()


def test_empty_means_the_default():
    env = Env({"A": "", "B": "  ", "C": "off", "D": "a, b ,,c"})
    assert env.int("A", 7) == 7 and env.str("B", "x") == "x"
    assert env.bool("C", True) is False and env.list("D") == ["a", "b", "c"]


def test_a_malformed_setting_stops_manage_py_with_a_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "SESSION_COOKIE_AGE": "30 minutes",
            "FLIGHTSITE_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "flightsite.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SESSION_COOKIE_AGE='30 minutes' in the environment: expected a whole number" in (
        result.stderr
    )


def test_importing_settings_does_no_io(tmp_path):
    """Settings are data: importing them creates no directory and opens no socket."""
    code = (
        "import socket, os\n"
        "def refuse(*a, **k): raise AssertionError('socket at settings import')\n"
        "socket.socket.connect = refuse\n"
        "import flightsite.settings as s\n"
        f"assert not os.path.exists({str(tmp_path / 'var')!r}), 'var/ made at import'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "FLIGHTSITE_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
