"""/healthz on a port of its own, served by a thread of each worker process: it answers even
when every WSGI thread is busy (a hung dependency, a burst of slow requests), which is exactly
when a load balancer asks. Started by flightsite/wsgi.py when FLIGHTSITE_HEALTH_PORT is set (the
image: deploy/serve.py sets it, and nginx sends /healthz there). Every worker binds the port
with SO_REUSEPORT; the kernel spreads the probes over them."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = False
_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server_version = ""
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        from flightsite.errors import retry_after
        from flightsite.health import report

        if self.path.split("?", 1)[0] != "/healthz":
            self.send_error(404)
            return
        try:
            code, content = report()
        finally:
            close_old_connections()
        data = json.dumps(content).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate, private")
        if code != 200:
            self.send_header("Retry-After", str(retry_after()))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())  # and no Server header

    def log_message(self, format: str, *args: object) -> None:
        pass  # health probes every few seconds: not worth a log line each


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    allow_reuse_port = True  # one port, every worker process
    daemon_threads = True


def start(host: str, port: int) -> None:
    """Serve /healthz on host:port from a daemon thread of this process (once)."""
    global _started
    with _lock:
        if _started:
            return
        server = _Server((host, port), _Handler)
        threading.Thread(target=server.serve_forever, name="healthz server", daemon=True).start()
        _started = True
    logger.info("/healthz also on %s:%d", host, port)
