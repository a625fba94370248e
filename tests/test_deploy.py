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
