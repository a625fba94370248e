"""docker-compose.yml and deploy/nginx.conf say what the README promises (no Docker engine here:
the compose file is read as data; nginx, when installed, checks its configuration)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_two_valkeys_with_their_policies(compose):
    services = compose["services"]
    sessions = " ".join(services["valkey-sessions"]["command"])
    cache = " ".join(services["valkey-cache"]["command"])
    assert "--maxmemory-policy noeviction" in sessions
    assert "--appendonly yes --appendfsync everysec" in sessions
    assert "--maxmemory-policy allkeys-lru" in cache
    assert "--appendonly no" in cache and "--maxmemory" in cache
    env = services["site"]["environment"]
    assert env["VALKEY_URL"].startswith("valkey://valkey-sessions:")
    assert env["VALKEY_CACHE_URL"].startswith("valkey://valkey-cache:")


def test_only_nginx_is_published_and_health_checks_use_healthz(compose):
    services = compose["services"]
    published = [name for name, s in services.items() if s.get("ports")]
    assert published == ["proxy"]
    assert "/healthz" in " ".join(services["site"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["proxy"]["healthcheck"]["test"])
    assert services["site"]["environment"]["DJANGO_TRUSTED_PROXIES"]
    assert "DJANGO_SECRET_KEY:?" in services["site"]["environment"]["DJANGO_SECRET_KEY"]


def test_scale_profile_adds_a_replica_under_the_same_name(compose):
    replica = compose["services"]["site-2"]
    assert replica["profiles"] == ["scale"]
    assert "site" in replica["networks"]["default"]["aliases"]
    assert replica["environment"]["MIGRATE"] == "0"
    assert (
        replica["environment"]["VALKEY_URL"]
        == compose["services"]["site"]["environment"]["VALKEY_URL"]
    )
    assert compose["services"]["proxy"]["depends_on"]["site-2"]["required"] is False


def test_nginx_buffers_and_does_not_stick():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for directive in (
        "proxy_request_buffering on;",
        "proxy_buffering on;",
        "keepalive 16;",
        "client_header_timeout",
        "proxy_set_header X-Forwarded-For $remote_addr;",
    ):
        assert directive in conf
    directives = [line.split("#")[0] for line in conf.splitlines()]  # comments may name them
    assert not [d for d in directives if "ip_hash" in d or "hash " in d or "sticky" in d]


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx not installed (apt-get install nginx)")
def test_nginx_accepts_the_configuration(tmp_path):
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    # `site` only resolves inside compose: check the rest of the file as it is.
    conf = conf.replace("server site:8000;", "server 127.0.0.1:8000;")
    conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _dockerfile_server() -> tuple[dict[str, str], list[str]]:
    """The GRANIAN_* environment and the CMD of the Dockerfile's `site` target."""
    import json
    import re

    text = (ROOT / "Dockerfile").read_text()
    env = dict(re.findall(r"(GRANIAN_[A-Z_]+)=(\S+)", text))
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)
    return env, json.loads(cmd)


def test_the_dockerfile_server_serves_the_site(valkey_server, site_demo_db, tmp_path, passport):
    """granian as the image runs it (its GRANIAN_* settings and CMD; only the address is
    local): two worker processes, pages over kept-alive connections, a login that lands on
    the dashboard."""
    import http.client
    import re
    import secrets
    import sys

    import requests

    from .topologies import free_port, wait_for, without_valkey_env

    settings_env, cmd = _dockerfile_server()
    assert cmd[0] == "granian" and settings_env["GRANIAN_INTERFACE"] == "wsgi"
    # The entrypoint prepares the databases (migrate, demo data) for exactly this command.
    assert 'if [ "${1:-}" = "granian" ]; then' in (ROOT / "Dockerfile").read_text()
    assert int(settings_env["GRANIAN_WORKERS"]) >= 2
    port = free_port()
    env = {
        **without_valkey_env(),
        **settings_env,
        "GRANIAN_HOST": "127.0.0.1",
        "GRANIAN_PORT": str(port),
        "VALKEY_URL": f"valkey://127.0.0.1:{valkey_server.port}/0",
        "FLUGHAFENDB_URL": site_demo_db,
        "DJANGO_DB_URL": f"sqlite:///{tmp_path / 'django.sqlite3'}",
        "FLIGHTSITE_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    log = (tmp_path / "granian.log").open("wb")
    granian = str(Path(sys.executable).parent / "granian")
    server = subprocess.Popen(
        [granian, *cmd[1:]], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: requests.get(base + "/healthz", timeout=2).ok, 30, "granian")
        except AssertionError:
            raise AssertionError(
                "granian never answered:\n" + (tmp_path / "granian.log").read_text()[-3000:]
            ) from None
        workers = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(workers) == int(settings_env["GRANIAN_WORKERS"]), workers
        with requests.Session() as browser:
            page = browser.get(base + "/login/", timeout=5)
            assert page.status_code == 200
            (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', page.text)
            done = browser.post(
                base + "/login/",
                data={"passportno": passport, "csrfmiddlewaretoken": token},
                headers={"Referer": base + "/login/"},
                timeout=10,
            )
            assert done.status_code == 200 and done.url == base + "/"
            assert "Hello," in done.text
        # Keep-alive (nginx reuses its connections to the site): two answers on one socket.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        answers, sockets = [], []
        for path in ("/login/", "/healthz"):
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            answers.append(answer.status)
            sockets.append(connection.sock)
        connection.close()
        assert answers == [200, 200] and sockets[0] is not None and sockets[0] is sockets[1]
    finally:
        server.terminate()
        server.wait(15)
        log.close()
