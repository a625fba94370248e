"""/healthz, methods (HEAD wherever GET), the login throttle (per client, per account, behind a
trusted proxy, admin too), CSRF rotation at login, and the fail-closed secret key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from flightsite.proxies import client_address

from .conftest import BOTH_DBS
from .helpers import login, session_key_of, session_keys
from .topologies import without_valkey_env

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)
ROOT = Path(__file__).resolve().parent.parent


# --- /healthz ------------------------------------------------------------------------------------
def test_healthz_reports_every_dependency(client, valkey_client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"valkey_sessions", "valkey_cache", "flughafendb", "default_db"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert check["latency_ms"] >= 0
    assert body["checks"]["valkey_cache"]["required"] is False
    # No session, no cookie, nothing written.
    assert not response.cookies
    assert valkey_client.keys("*") == []


def test_healthz_head_and_methods(client):
    head = client.head("/healthz")
    assert head.status_code == 200
    assert head.content == b""
    assert client.post("/healthz").status_code == 405


def test_healthz_is_503_when_sessions_valkey_is_down(client, settings):
    import copy

    broken = copy.deepcopy(settings.CACHES)
    broken["sessions"]["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Retry-After"]
    checks = response.json()["checks"]
    assert checks["valkey_sessions"]["status"] == "failed"
    assert "Connection" in checks["valkey_sessions"]["error"]
    assert checks["flughafendb"]["status"] == "ok"


def test_healthz_only_degraded_when_the_cache_is_down(client, settings):
    import copy

    broken = copy.deepcopy(settings.CACHES)
    broken["default"]["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


def test_healthz_wrong_valkey_password_is_a_failure(client, settings, valkey_server):
    import copy

    broken = copy.deepcopy(settings.CACHES)
    broken["sessions"]["LOCATION"] = f"valkey://nobody:wrong@127.0.0.1:{valkey_server.port}/0"
    settings.CACHES = broken
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["valkey_sessions"]["status"] == "failed"


# --- methods -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login/", "/healthz", "/weather/cities/?country=GB"])
def test_head_works_without_login(client, path):
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize("path", ["/", "/flights/", "/weather/", "/logout/"])
def test_head_works_wherever_get_does(client, passport, path):
    login(client, passport)
    get, head = client.get(path), client.head(path)
    assert get.status_code == 200
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize("method", ["post", "options", "trace", "put", "delete"])
def test_dashboard_accepts_only_get_and_head(client, passport, method):
    login(client, passport)
    response = getattr(client, method)("/")
    assert response.status_code == 405
    assert "does not accept" in response.text
    assert set(response["Allow"].split(", ")) == {"GET", "HEAD"}


# --- login throttle ------------------------------------------------------------------------------
def test_client_limit_and_real_retry_after(client, settings, valkey_client):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_WINDOW = 300
    for i in range(3):
        assert client.post("/login/", {"passportno": f"Z0000000{i}"}).status_code == 403
    blocked = client.post("/login/", {"passportno": "Z00000009"})
    assert blocked.status_code == 429
    assert "Too many" in blocked.text
    assert 'value="Z00000009"' in blocked.text  # what was typed is kept
    assert 290 <= int(blocked["Retry-After"]) <= 300  # the real remaining block, not 60
    valkey_client.pexpire("{login-fail}:client:127.0.0.1", 42_000)
    blocked = client.post("/login/", {"passportno": "Z00000009"})
    assert int(blocked["Retry-After"]) == 42


def test_account_limit_blocks_the_guessers_not_the_account(settings):
    """Past the account's limit, every address that failed on it is blocked from it, each
    other address still gets its try, and the other accounts are untouched."""
    settings.LOGIN_FAILURE_LIMIT = 100
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 5
    target = "Z12345678"
    guessers = [Client(REMOTE_ADDR=f"10.0.0.{i}") for i in range(8)]
    # Each address guesses once (case does not matter: one account).
    firsts = [g.post("/login/", {"passportno": target.lower()}) for g in guessers]
    assert [a.status_code for a in firsts] == [403] * 8
    # Second guesses: blocked, the account is over its limit and these addresses failed on it.
    seconds = [g.post("/login/", {"passportno": target}) for g in guessers]
    assert [a.status_code for a in seconds] == [429] * 8
    # A fresh address still gets its try at the account.
    assert Client(REMOTE_ADDR="10.0.1.1").post("/login/", {"passportno": target}).status_code == 403


def test_the_right_password_is_never_locked_out_of_a_clean_client(client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 3
    User.objects.create_superuser("boss", password="right-password-123")
    for i in range(6):  # six addresses, one wrong password each: the account is under attack
        attacker = Client(REMOTE_ADDR=f"192.0.2.{i}")
        attacker.post("/admin/login/", {"username": "boss", "password": f"guess{i}"})
    owner = Client(REMOTE_ADDR="198.51.100.77")
    response = owner.post(
        "/admin/login/", {"username": "boss", "password": "right-password-123", "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    # The guessers are blocked from it, even with the right password.
    again = Client(REMOTE_ADDR="192.0.2.0").post(
        "/admin/login/", {"username": "boss", "password": "right-password-123"}
    )
    assert again.status_code == 429


def test_one_client_guessing_at_one_account_is_blocked_from_it(settings, passport):
    settings.LOGIN_FAILURE_LIMIT_PER_CLIENT_AND_ACCOUNT = 3
    User.objects.create_superuser("boss", password="right-password-123")
    guesser = Client(REMOTE_ADDR="203.0.113.5")
    for i in range(3):
        guesser.post("/admin/login/", {"username": "boss", "password": f"guess{i}"})
    assert guesser.post("/admin/login/", {"username": "boss", "password": "x"}).status_code == 429
    # Only that account: the same address logs in as a passenger.
    assert login(guesser, passport).status_code == 302


def test_ipv6_clients_are_counted_per_64(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for host in ("::1", "::2"):
        Client(REMOTE_ADDR=f"2001:db8:1:2{host}").post("/login/", {"passportno": f"Z7{host[-1]}"})
    rotated = Client(REMOTE_ADDR="2001:db8:1:2:ffff::9").post("/login/", {"passportno": "Z79"})
    assert rotated.status_code == 429


def test_failures_are_counted_atomically_with_one_window(client, settings, valkey_client):
    from django.test import RequestFactory

    from passengers.throttle import keys_for

    settings.LOGIN_FAILURE_WINDOW = 300
    client.post("/login/", {"passportno": "Z00000001"})
    client.post("/login/", {"passportno": "z00000001"})
    request = RequestFactory().post("/login/", REMOTE_ADDR="127.0.0.1")
    per_client, per_account, pair = keys_for(request, "passport", "Z00000001")
    assert per_client == "{login-fail}:client:127.0.0.1"
    assert [valkey_client.get(k) for k in (per_client, per_account, pair)] == ["2", "2", "2"]
    ttl = valkey_client.pttl(per_client)
    assert 290_000 < ttl <= 300_000  # the window started at the first failure
    # One hash tag for every throttle key: the scripts also run on a Valkey Cluster.
    assert all(k.startswith("{login-fail}:") for k in valkey_client.keys("*login-fail*"))
    assert "Z00000001" not in " ".join(valkey_client.keys("*"))  # account names hashed


def test_client_address_behind_trusted_proxy(settings):
    # Off by default: X-Forwarded-For is ignored, the proxy's address is the client.
    assert client_address("10.0.0.2", "203.0.113.7", []) == "10.0.0.2"
    from ipaddress import ip_network

    proxies = [ip_network("10.0.0.0/24")]
    assert client_address("10.0.0.2", "203.0.113.7", proxies) == "203.0.113.7"
    # A client-supplied entry further left is never believed; trusted hops are skipped.
    assert client_address("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.3", proxies) == "203.0.113.7"
    # Not from a trusted proxy: the header is ignored.
    assert client_address("198.51.100.1", "1.2.3.4", proxies) == "198.51.100.1"


@pytest.fixture
def behind_proxy(settings):
    from ipaddress import ip_network

    settings.TRUSTED_PROXIES = [ip_network("10.9.0.0/16")]


def test_throttle_counts_clients_behind_the_proxy_not_the_proxy(behind_proxy, settings, passport):
    settings.LOGIN_FAILURE_LIMIT = 2
    attacker = Client(REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66")
    for i in range(2):
        assert attacker.post("/login/", {"passportno": f"Z1111111{i}"}).status_code == 403
    assert attacker.post("/login/", {"passportno": "Z11111119"}).status_code == 429
    # Everyone else behind the same proxy logs in as usual.
    other = Client(REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert login(other, passport).status_code == 302
    # Spoofing X-Forwarded-For does not help: the proxy appends the real address last.
    spoof = Client(REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.66")
    assert spoof.post("/login/", {"passportno": "Z11111118"}).status_code == 429


def test_admin_login_is_throttled(client, settings, valkey_client):
    from django.test import RequestFactory

    from passengers.throttle import keys_for

    settings.LOGIN_FAILURE_LIMIT_PER_CLIENT_AND_ACCOUNT = 3
    User.objects.create_superuser("boss", password="right-password-123")
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
        assert response.status_code == 200  # the admin's own "wrong password" form
    blocked = client.post("/admin/login/", {"username": "boss", "password": "right-password-123"})
    assert blocked.status_code == 429
    assert 0 < int(blocked["Retry-After"]) <= django_settings.LOGIN_FAILURE_WINDOW
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="127.0.0.1")
    assert valkey_client.get(keys_for(request, "admin", "boss")[2]) == "3"
    assert "_auth_user_id" not in client.session


def test_throttle_store_down_is_a_503_with_the_form(client, settings, passport):
    import copy

    broken = copy.deepcopy(settings.CACHES)
    broken["sessions"]["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    response = client.post("/admin/login/", {"username": "boss", "password": "x"})
    assert response.status_code == 503
    assert response["Retry-After"]


# --- CSRF and sessions at login ------------------------------------------------------------------
def test_csrf_token_is_rotated_at_login(passport):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/")
    before = browser.cookies[django_settings.CSRF_COOKIE_NAME].value
    token = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = browser.post("/login/", {"passportno": passport, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    after = browser.cookies[django_settings.CSRF_COOKIE_NAME].value
    assert after and after != before


def test_login_page_with_cookie_while_store_down_is_a_503_form(client, settings, passport):
    import copy

    login(client, passport)
    key = session_key_of(client)
    broken = copy.deepcopy(settings.CACHES)
    broken["sessions"]["LOCATION"] = "valkey://127.0.0.1:1/0"
    settings.CACHES = broken
    response = client.get("/login/")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert 'name="passportno"' in response.text
    assert session_key_of(client) == key


# --- secret key: fail closed ---------------------------------------------------------------------
PRODUCTION_ENV = {
    # The production environment the README documents (docs/operations.md, "Production settings").
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "Xk3f9-vQ2m_Lr7pZt1wYb8nHc4sJd6gAe0uRiOoTyPlKjMxNqWe5zU",
    "DJANGO_ALLOWED_HOSTS": "flights.example.com",
    "DJANGO_HTTPS": "1",
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
    "DJANGO_MANIFEST_STATIC": "0",
}


def clean_env() -> dict[str, str]:
    """The environment without any DJANGO_*, FLIGHTSITE_* or VALKEY_* variable."""
    prefixes = ("DJANGO_", "FLIGHTSITE_", "VALKEY_")
    return {k: v for k, v in without_valkey_env().items() if not k.startswith(prefixes)}


def run_django(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = clean_env()
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "flightsite.settings", "FLIGHTSITE_VAR_DIR": str(tmp_path)}
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "insecure-compose-key-set-DJANGO_SECRET_KEY",
        "django-insecure-" + "x" * 60,
        "short-key",
    ],
)
def test_serving_with_debug_off_refuses_a_missing_or_public_key(tmp_path, key):
    env = {"DJANGO_DEBUG": "0"}
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    result = run_django("import flightsite.wsgi", env, tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "refusing to start" in result.stderr


def test_local_tools_need_no_key(tmp_path):
    # manage.py commands and the tests (not serving): the local key, nothing to configure.
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.SECRET_KEY)"
    result = run_django(code, {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("django-insecure-local")
    # DEBUG on (a developer's gunicorn) is fine too.
    assert run_django("import flightsite.wsgi", {"DJANGO_DEBUG": "1"}, tmp_path).returncode == 0


def test_check_deploy_with_production_environment_is_clean(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **clean_env(),
            "FLIGHTSITE_VAR_DIR": str(tmp_path),
            "DJANGO_REQUIRE_SECRET_KEY": "1",
            **PRODUCTION_ENV,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_flags_the_local_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={
            **clean_env(),
            "FLIGHTSITE_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "security.W009" in result.stdout + result.stderr


def test_session_key_not_written_by_healthz_or_static(client, valkey_client):
    client.get("/healthz")
    client.get("/static/css/site.css")
    assert session_keys(valkey_client) == []


def test_runserver_must_stay_flightsites(settings):
    """Moving `flightsite` after staticfiles would silently lose the embedded Valkey start:
    the check says so instead."""
    from django.core.management import get_commands

    from flightsite.checks import runserver_is_ours

    assert runserver_is_ours() == []
    apps = [a for a in settings.INSTALLED_APPS if a != "flightsite"] + ["flightsite"]
    settings.INSTALLED_APPS = apps
    # get_commands() is functools.cache'd; django-stubs types it as a plain function.
    forget_commands = get_commands.cache_clear  # type: ignore[attr-defined]
    forget_commands()
    try:
        assert [e.id for e in runserver_is_ours()] == ["flightsite.E001"]
    finally:
        forget_commands()
