"""/healthz tells the truth: the session store failing when it refuses writes (OOM, NOPERM,
READONLY, an evicting maxmemory-policy), only degraded when the cache fails, an answer within
its own budget when a check hangs, and from the image's own health port while every WSGI thread
is busy. Real valkey-servers; the site's pages are never touched by the probe (nothing written).
"""

from __future__ import annotations

import os
import re
import signal
import threading

import pytest
import requests

from . import test_faults
from .conftest import BOTH_DBS
from .image_server import ImageServer, nginx_available
from .test_faults import raw, site_uses, url_of

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)
start_valkey = test_faults.start_valkey  # the fixture: dedicated servers, stopped after


def sessions_check(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.json()["checks"]["valkey_sessions"]


def test_a_writable_store_is_ok_and_nothing_is_written(client, settings, start_valkey):
    server = start_valkey({"maxmemory-policy": "noeviction"})
    with site_uses(settings, url_of(server), aliases=("sessions",)):
        code, check = sessions_check(client)
    assert code == 200 and check["status"] == "ok", check
    assert raw(server).dbsize() == 0


def test_out_of_memory_fails_the_sessions_check(client, settings, start_valkey):
    server = start_valkey({"maxmemory-policy": "noeviction"})
    raw(server).set("filler", "x" * 10_000)
    raw(server).config_set("maxmemory", "1")
    with site_uses(settings, url_of(server), aliases=("sessions",)):
        code, check = sessions_check(client)
    assert code == 503, check
    assert "OOM" in check["error"] or "OutOfMemory" in check["error"], check


def test_a_user_without_set_fails_the_sessions_check(client, settings, start_valkey):
    server = start_valkey({"maxmemory-policy": "noeviction"})
    raw(server).execute_command("ACL", "SETUSER", "noset", "on", ">pw", "~*", "+@all", "-set")
    with site_uses(settings, url_of(server, "noset", "pw"), aliases=("sessions",)):
        code, check = sessions_check(client)
    assert code == 503 and "NOPERM" in check["error"], check


def test_a_read_only_replica_fails_the_sessions_check(client, settings, start_valkey):
    primary = start_valkey({"maxmemory-policy": "noeviction"})
    replica = start_valkey({"maxmemory-policy": "noeviction"})
    raw(replica).replicaof("127.0.0.1", primary.port)
    with site_uses(settings, url_of(replica), aliases=("sessions",)):
        code, check = sessions_check(client)
    assert code == 503, check
    assert "READONLY" in check["error"] or "ReadOnly" in check["error"], check


def test_an_evicting_policy_fails_the_sessions_check(client, settings, start_valkey):
    server = start_valkey({"maxmemory-policy": "allkeys-lru", "maxmemory": "100mb"})
    with site_uses(settings, url_of(server), aliases=("sessions",)):
        code, check = sessions_check(client)
    assert code == 503 and "allkeys-lru" in check["error"], check


def test_a_failing_cache_is_degraded_not_failed(client, settings, start_valkey):
    server = start_valkey()
    url = url_of(server)
    server.stop()
    with site_uses(settings, url, aliases=("default",)):
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["valkey_cache"]["status"] == "failed"
    assert body["checks"]["valkey_sessions"]["status"] == "ok"


def test_a_hung_check_is_cut_at_the_budget(client, settings, start_valkey):
    settings.HEALTH_BUDGET = 0.3
    server = start_valkey({"maxmemory-policy": "noeviction"})
    with site_uses(settings, url_of(server), aliases=("sessions",)):
        changed = settings.CACHES
        changed["sessions"]["OPTIONS"]["SOCKET_TIMEOUT"] = 30  # the check alone would hang
        settings.CACHES = changed
        assert client.get("/healthz").status_code == 200  # connected before the freeze
        os.kill(server._process.pid, signal.SIGSTOP)
        try:
            code, check = sessions_check(client)
        finally:
            os.kill(server._process.pid, signal.SIGCONT)
    assert code == 503
    assert check["error"] == "no answer within 0.3 s", check


def test_proxy_not_trusted_is_reported(client, settings):
    from flightsite.proxies import ProxyWatch, proxy_watch

    for _ in range(ProxyWatch.THRESHOLD):
        client.get("/login/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.4")
    body = client.get("/healthz", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert "10.1.2.3" in body.json()["warnings"][0]
    assert "DJANGO_TRUSTED_PROXIES" in body.json()["warnings"][0]
    client.get("/login/", REMOTE_ADDR="198.51.100.9")  # a direct client: not one proxy after all
    assert proxy_watch.problem() is None
    assert "warnings" not in client.get("/healthz").json()


@pytest.mark.skipif(not nginx_available(), reason="needs nginx (apt-get install nginx)")
def test_healthz_answers_while_every_worker_thread_is_busy(
    start_valkey, site_demo_db, tmp_path, passport
):
    """The image's server with its sessions Valkey frozen and no breaker: 16 requests hold all
    8 WSGI threads (2 workers x 4) for the socket timeout, and /healthz still answers (from
    its own thread, within its budget) while they are all pending."""
    server = start_valkey({"maxmemory-policy": "noeviction"})
    image = ImageServer(
        tmp_path,
        url_of(server),
        site_demo_db,
        env={"VALKEY_TIMEOUT": "20", "BREAKER_FAILURES": "0", "HEALTH_BUDGET": "1"},
    )
    with image, requests.Session() as browser:
        page = browser.get(image.base + "/login/", timeout=10)
        (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', page.text)
        browser.post(
            image.base + "/login/",
            data={"passportno": passport, "csrfmiddlewaretoken": token},
            headers={"Referer": image.base + "/login/"},
            timeout=10,
        )
        cookies = browser.cookies.get_dict()
        assert "flightsite_session" in cookies
        os.kill(server._process.pid, signal.SIGSTOP)
        busy = [
            threading.Thread(
                target=lambda: requests.get(image.base + "/", cookies=cookies, timeout=60)
            )
            for _ in range(16)
        ]
        try:
            for thread in busy:
                thread.start()
            health = requests.get(image.base + "/healthz", timeout=15)
            assert all(thread.is_alive() for thread in busy)  # still all pending
            assert health.status_code == 503
            check = health.json()["checks"]["valkey_sessions"]
            assert check["error"] == "no answer within 1 s", check
            assert health.json()["checks"]["flughafendb"]["status"] == "ok"
        finally:
            os.kill(server._process.pid, signal.SIGCONT)
            for thread in busy:
                thread.join(60)
