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


def test_compose_and_the_image_agree_on_who_the_proxy_is(compose):
    """The sites trust exactly the proxy's fixed address (no range), inside the fixed subnet;
    the image trusts nobody unless told (Dockerfile), and its nginx is what believes it."""
    import ipaddress
    import re

    def default(value: str) -> str:  # "${NAME:-default}" -> default
        match = re.fullmatch(r"\$\{[A-Z_]+:-([^}]+)\}", value)
        assert match, value
        return match.group(1)

    trusted = compose["services"]["site"]["environment"]["DJANGO_TRUSTED_PROXIES"]
    proxy_address = compose["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    assert trusted == proxy_address  # the same variable, the same default
    (subnet,) = compose["networks"]["default"]["ipam"]["config"]
    address = ipaddress.ip_address(default(proxy_address))
    assert address in ipaddress.ip_network(default(subnet["subnet"]))
    assert "DJANGO_TRUSTED_PROXIES= " in (ROOT / "Dockerfile").read_text()
    assert "set_real_ip_from" in (ROOT / "deploy" / "serve.py").read_text()


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


def test_the_dockerfile_server_serves_the_site(valkey_server, site_demo_db, tmp_path, passport):
    """The image's server as the Dockerfile starts it (deploy/serve.py: nginx in front of
    granian, tests/image_server.py; only the addresses are local): granian with its worker
    processes, pages over kept-alive connections, a login that lands on the dashboard."""
    import http.client
    import re

    import requests

    from .image_server import ImageServer, dockerfile_server, nginx_available

    if not nginx_available():
        pytest.skip("needs nginx (apt-get install nginx)")
    settings_env, cmd = dockerfile_server()
    assert cmd == ["python", "deploy/serve.py"]
    assert settings_env["GRANIAN_INTERFACE"] == "wsgi"
    # The entrypoint prepares the databases (migrate, demo data) for exactly this command.
    text = (ROOT / "Dockerfile").read_text()
    assert 'if [ "${1:-}" = "python" ] && [ "${2:-}" = "deploy/serve.py" ]; then' in text
    assert "COPY deploy/serve.py deploy/site-nginx.conf ./deploy/" in text
    assert int(settings_env["GRANIAN_WORKERS"]) >= 2
    server = ImageServer(tmp_path, f"valkey://127.0.0.1:{valkey_server.port}/0", site_demo_db)
    with server:
        assert server.process is not None
        children = subprocess.run(
            ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        workers = [
            subprocess.run(
                ["pgrep", "-P", pid], capture_output=True, text=True, check=False
            ).stdout.split()
            for pid in children
        ]
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
        granian = [w for w, c in zip(workers, commands, strict=True) if b"granian" in c]
        assert len(granian) == 1 and len(granian[0]) == int(settings_env["GRANIAN_WORKERS"])
        base = server.base
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
        # Keep-alive: two answers on one socket.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        answers, sockets = [], []
        for path in ("/login/", "/healthz"):
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            answers.append(answer.status)
            sockets.append(connection.sock)
        connection.close()
        assert answers == [200, 200] and sockets[0] is not None and sockets[0] is sockets[1]


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx not installed (apt-get install nginx)")
def test_nginx_accepts_the_image_configuration(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve", ROOT / "deploy" / "serve.py")
    assert spec is not None and spec.loader is not None
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    conf = serve.nginx_conf("127.0.0.1:8000", 8001, tmp_path, ["10.0.0.1/32"])
    assert "set_real_ip_from 10.0.0.1/32;" in conf
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        ["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
