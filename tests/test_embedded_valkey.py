"""The embedded Valkey of `manage.py runserver`: one real server, found again, never orphaned."""

from __future__ import annotations

import subprocess
import sys
import time

from flightsite import embedded_valkey


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_writes_url_and_stop_removes_it(tmp_path):
    server = embedded_valkey.EmbeddedValkey(tmp_path)
    url = server.start()
    try:
        assert url.startswith("valkey://127.0.0.1:") and not url.endswith(":6379/0")
        assert embedded_valkey.running_url(tmp_path) == url  # other commands find it
    finally:
        server.stop()
    assert embedded_valkey.running_url(tmp_path) is None
    assert not (tmp_path / embedded_valkey.URL_FILE).exists()


def test_orphan_of_a_killed_runserver_is_stopped(tmp_path):
    first = embedded_valkey.EmbeddedValkey(tmp_path)
    url = first.start()
    orphan = first.server._process
    # Pretend the owner died without cleaning up (SIGKILL): its pid is gone, the server runs.
    state = (tmp_path / embedded_valkey.URL_FILE).read_text().split()
    (tmp_path / embedded_valkey.URL_FILE).write_text(f"{url} {dead_pid()} {state[2]}\n")
    assert embedded_valkey.running_url(tmp_path) is None  # a dead owner's server is not reused

    second = embedded_valkey.EmbeddedValkey(tmp_path)
    try:
        second.start()  # stops the orphan first
        for _ in range(50):
            if orphan.poll() is not None:
                break
            time.sleep(0.1)
        assert orphan.poll() is not None, "orphaned valkey-server still running"
    finally:
        second.stop()
        first.server = None  # already gone
