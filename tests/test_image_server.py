"""The production server as the Dockerfile starts it (deploy/serve.py: nginx in front of
granian, tests/image_server.py), without compose's proxy:

- slow clients: while 16 and 64 sockets hold a request body or headers half sent, normal users
  are answered (granian alone is not: bench/reliability.py measures both);
- who the client is: X-Forwarded-For from an untrusted peer is not believed (the peer is
  counted), from DJANGO_TRUSTED_PROXIES it is;
- no Server banner.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import valkey

from .image_server import ImageServer, nginx_available

pytestmark = pytest.mark.skipif(not nginx_available(), reason="needs nginx (apt-get install nginx)")

ROOT = Path(__file__).resolve().parent.parent
ATTACKER = "127.0.0.2"  # the slow sockets' source address (nginx limits connections per client)
PROXY = "127.0.0.3"  # a trusted outer proxy


@pytest.fixture(scope="module")
def image(valkey_server, site_demo_db, tmp_path_factory) -> Iterator[ImageServer]:
    server = ImageServer(
        tmp_path_factory.mktemp("image"),
        f"valkey://127.0.0.1:{valkey_server.port}/0",
        site_demo_db,
        env={
            "DJANGO_TRUSTED_PROXIES": PROXY,
            "LOGIN_FAILURE_LIMIT": "6",
            "LOGIN_FAILURE_LIMIT_PER_ACCOUNT": "3",
        },
    )
    with server:
        yield server


def slow_socket(port: int, part: str) -> socket.socket:
    """A request that stops half way: headers complete and 12 of 1,100 body bytes, or headers
    without their end. The socket stays open, sending nothing more."""
    sock = socket.socket()
    sock.bind((ATTACKER, 0))
    sock.connect(("127.0.0.1", port))
    if part == "body":
        sock.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1100\r\n"
            b"Cookie: csrftoken=abcdefghijklmnopqrstuvwxyz012345\r\n\r\npassportno=P"
        )
    else:
        sock.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
    sock.setblocking(False)
    return sock


def still_waiting(sock: socket.socket) -> bool:
    """Open, and nothing answered yet (the server is still waiting for the rest)."""
    try:
        sock.recv(1)  # an answer (a 408, a page) or b"": closed
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


@pytest.mark.parametrize("count", [16, 64])
@pytest.mark.parametrize("part", ["body", "headers"])
def test_normal_users_are_served_while_clients_trickle(image, part, count):
    sockets = [slow_socket(image.port, part) for _ in range(count)]
    try:
        with requests.Session() as user:
            for path in ("/login/", "/healthz", "/login/", "/static/css/site.css") * 3:
                # The timeout is only the failure mode: granian alone never answers these.
                assert user.get(image.base + path, timeout=10).status_code == 200, path
        # ...while every slow request is still pending, none refused or answered.
        assert all(still_waiting(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_no_server_banner(image):
    for path in ("/login/", "/healthz", "/static/css/site.css", "/no-such-page/"):
        response = requests.get(image.base + path, timeout=10)
        assert "Server" not in response.headers, (path, response.headers.get("Server"))


def _post_form(
    image: ImageServer, source: str, path: str, data: dict, forwarded_for: str | None = None
) -> requests.Response:
    """A form posted from the source address `source` as a browser would (page, token, post)."""
    session = requests.Session()
    session.mount("http://", _SourceAdapter(source))
    page = session.get(image.base + path, timeout=10)
    (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', page.text)
    headers = {"Referer": image.base + path}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return session.post(
        image.base + path,
        data={**data, "csrfmiddlewaretoken": token},
        headers=headers,
        timeout=10,
        allow_redirects=False,
    )


def _fail_login(image: ImageServer, source: str, forwarded_for: str | None) -> None:
    """One failed passenger login from `source`, with X-Forwarded-For when given."""
    answer = _post_form(image, source, "/login/", {"passportno": "NOSUCH1"}, forwarded_for)
    assert answer.status_code == 403


class _SourceAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def _counted_clients(valkey_server) -> set[str]:
    raw = valkey.Valkey(host="127.0.0.1", port=valkey_server.port, decode_responses=True)
    return {k.split(":client:", 1)[1] for k in raw.scan_iter("{login-fail}:client:*")}


def test_forwarded_for_from_an_untrusted_peer_counts_the_peer(image, valkey_server):
    _fail_login(image, "127.0.0.4", "203.0.113.9")
    counted = _counted_clients(valkey_server)
    assert "127.0.0.4" in counted
    assert "203.0.113.9" not in counted


def test_forwarded_for_from_the_trusted_proxy_counts_the_client(image, valkey_server):
    _fail_login(image, PROXY, "203.0.113.7")
    counted = _counted_clients(valkey_server)
    assert "203.0.113.7" in counted
    assert PROXY not in counted


def test_granian_listens_on_loopback_only(image):
    """Only nginx, in the same container, reaches granian (127.0.0.1): not another address."""
    with pytest.raises(OSError), socket.socket() as other:
        other.settimeout(5)
        other.connect(("127.0.0.5", image.granian_port))


# --- lockouts hit the attacker, not the account (distinct source addresses) ------------------
def _admin_login(image: ImageServer, source: str, password: str) -> int:
    data = {"username": "boss", "password": password, "next": "/admin/"}
    return _post_form(image, source, "/admin/login/?next=/admin/", data).status_code


@pytest.fixture(scope="module")
def admin_user(image) -> str:
    password = "right-password-" + "x" * 8
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "boss",
         "--email", "boss@example.com"],
        cwd=ROOT, env={**image.env, "DJANGO_SUPERUSER_PASSWORD": password},
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return password


def test_admin_guessers_are_blocked_and_the_owner_still_logs_in(image, admin_user):
    # Three addresses, one wrong password each: the account reaches its limit (3).
    for i in (21, 22, 23):
        assert _admin_login(image, f"127.0.0.{i}", f"guess-{i}") == 200  # "wrong password"
    # Every address that failed is blocked from the account, even with the right password...
    assert _admin_login(image, "127.0.0.21", admin_user) == 429
    # ...a new address gets its one try...
    assert _admin_login(image, "127.0.0.24", "guess-24") == 200
    assert _admin_login(image, "127.0.0.24", "guess-25") == 429
    # ...and the owner, from an address that has not failed, logs in.
    assert _admin_login(image, "127.0.0.30", admin_user) == 302


def test_a_passenger_guesser_is_blocked_and_nobody_else(image, passport):
    for i in range(6):  # the per-client limit (6 here): six passports that do not exist
        answer = _post_form(image, "127.0.0.40", "/login/", {"passportno": f"Q{i}000000"})
        assert answer.status_code == 403
    blocked = _post_form(image, "127.0.0.40", "/login/", {"passportno": passport})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert _post_form(image, "127.0.0.41", "/login/", {"passportno": passport}).status_code == 302
