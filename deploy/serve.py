#!/usr/bin/env python
"""The `site` image's server (the Dockerfile's CMD): nginx on FLIGHTSITE_PORT (8000) in front of
granian on 127.0.0.1:GRANIAN_PORT (8001), in one container; /healthz on 127.0.0.1:
FLIGHTSITE_HEALTH_PORT (8002) from a thread of each granian worker.

Why both: granian times out slow request headers but never a slow request body, and in WSGI a
worker thread waits for the body, so a handful of clients trickling bodies stalls every worker.
nginx (deploy/site-nginx.conf) reads each request whole, with timeouts, before granian sees it
(README "Slow clients"). The image alone is then as safe as behind compose's proxy.

Who the proxy is: granian is told to trust only this nginx (DJANGO_TRUSTED_PROXIES=127.0.0.1);
the DJANGO_TRUSTED_PROXIES given to the container (an outer proxy, compose's `proxy`) is what
nginx believes X-Forwarded-For from (`set_real_ip_from`). Unset: nobody's header is believed.

Both processes run until one of them ends (or SIGTERM/SIGINT): then the other is stopped and
the exit status is the first one's, so a container manager restarts the pair.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADERS_MORE = Path("/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so")


def trusted_proxies(value: str) -> list[str]:
    try:
        return [str(ipaddress.ip_network(p.strip(), strict=False)) for p in value.split(",") if p]
    except ValueError as exc:
        raise SystemExit(f"DJANGO_TRUSTED_PROXIES: {exc}") from exc


def nginx_conf(
    listen: str, granian_port: int, run_dir: Path, trusted: list[str], health_port: int = 8002
) -> str:
    conf = (HERE / "site-nginx.conf").read_text()
    head = []
    if os.geteuid() == 0:  # workers as this user, not nginx's default `nobody`
        head.append(f"user {pwd.getpwuid(os.geteuid()).pw_name};")
    if HEADERS_MORE.exists():  # Debian's libnginx-mod-http-headers-more-filter: no Server header
        head.append(f"load_module {HEADERS_MORE};")
    conf = conf.replace("@USER@", "\n".join(head))
    if HEADERS_MORE.exists():
        tokens = "    server_tokens off;"
        conf = conf.replace(tokens, f"{tokens}\n    more_clear_headers Server;")
    real_ip = [f"    set_real_ip_from {network};" for network in trusted]
    conf = conf.replace("@REAL_IP@", "\n".join(real_ip) or "    # (no trusted proxy)")
    return (
        conf.replace("@RUN@", str(run_dir))
        .replace("@LISTEN@", listen)
        .replace("@GRANIAN_PORT@", str(granian_port))
        .replace("@HEALTH_PORT@", str(health_port))
    )


def main() -> int:
    host = os.environ.get("FLIGHTSITE_HOST", "0.0.0.0")
    port = int(os.environ.get("FLIGHTSITE_PORT", "8000"))
    granian_port = int(os.environ.get("GRANIAN_PORT", "8001"))
    health_port = int(os.environ.get("FLIGHTSITE_HEALTH_PORT", "8002"))
    trusted = trusted_proxies(os.environ.get("DJANGO_TRUSTED_PROXIES", ""))
    run_dir = Path(tempfile.mkdtemp(prefix="flightsite-nginx-"))
    conf = run_dir / "nginx.conf"
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    conf.write_text(nginx_conf(listen, granian_port, run_dir, trusted, health_port))

    granian_env = {
        **os.environ,
        "GRANIAN_HOST": "127.0.0.1",
        "GRANIAN_PORT": str(granian_port),
        "DJANGO_TRUSTED_PROXIES": "127.0.0.1/32",  # this nginx, and no one else
        # /healthz from a thread of each worker (flightsite/health_server.py), never queued
        # behind busy WSGI threads; nginx sends /healthz there.
        "FLIGHTSITE_HEALTH_PORT": str(health_port),
    }
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    granian_bin = shutil.which("granian") or str(Path(sys.executable).parent / "granian")
    children = [
        subprocess.Popen([nginx_bin, "-e", "stderr", "-p", str(run_dir), "-c", str(conf),
                          "-g", "daemon off;"]),
        subprocess.Popen([granian_bin, "flightsite.wsgi:application"], env=granian_env),
    ]  # fmt: skip
    stopping = False

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                # nginx: SIGQUIT is its graceful shutdown; granian: SIGTERM (or SIGINT).
                child.send_signal(signal.SIGQUIT if child is children[0] else signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    try:
        pid, raw = os.wait()  # the first child to end
        status = os.waitstatus_to_exitcode(raw)
        if not stopping:
            name = "nginx" if pid == children[0].pid else "granian"
            print(f"serve.py: {name} ended ({status}); stopping the other", file=sys.stderr)
        stop()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return status if status > 0 else 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
