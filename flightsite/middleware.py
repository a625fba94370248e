"""Turn an outage (Valkey or the database) into a clear 503 page, never a 500 or a silent
logout; find the real client address behind a trusted proxy. What counts as an outage is
decided in flightsite/outages.py, the responses are flightsite/errors.py's."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as PolicyPerResponseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from flightsite.errors import (
    conflict,
    database_unavailable,
    error_page,
    session_ended,
    store_unavailable,
)
from flightsite.outages import STORE_ERRORS, is_db_outage, is_store_outage
from flightsite.proxies import proxy_watch, resolve_client
from valkey_sessions import SessionConflict

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached (MySQL down or hung, too many connections) is a 503.

    Only connection-level errors: a programming error in a query must stay a 500 and be fixed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_db_outage(exception):
            return database_unavailable(exception)
        return None


class ValkeySessionMiddleware(SessionMiddleware):
    """SessionMiddleware that answers 503 when Valkey cannot serve the session.

    Reads happen lazily inside the view (process_exception catches them), writes after it
    (process_response). The session key is kept, so the user is still logged in once Valkey
    is back.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_store_outage(exception):
            return store_unavailable(exception)
        if isinstance(exception, SessionConflict):
            return conflict(request, exception)
        if isinstance(exception, UpdateError):  # a view's own save() found the session gone
            return session_ended()
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except STORE_ERRORS as exc:
            if not is_store_outage(exc):
                raise
            return store_unavailable(exc)
        except SessionConflict as exc:
            return conflict(request, exc)
        except SessionInterrupted as exc:
            # Django's middleware turns every UpdateError of the save into SessionInterrupted;
            # a conflict (an UpdateError too) is a 409, not "ended".
            if isinstance(exc.__context__, SessionConflict):
                return conflict(request, exc.__context__)
            return session_ended()


class TrustedProxyMiddleware:
    """Behind a reverse proxy every request comes from the proxy's address. When
    DJANGO_TRUSTED_PROXIES lists it, REMOTE_ADDR becomes the client's address from
    X-Forwarded-For (so the login throttle counts clients, not the proxy). Otherwise the header
    is ignored (a client can send anything in it) and the peer is the client; a proxy that is
    not trusted is noticed (ProxyWatch)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.trusted = settings.TRUSTED_PROXIES
        # Always in the chain, also when no proxy is trusted: the watch must see a proxy the
        # site does not trust (costs a dict lookup per request without X-Forwarded-For).

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        forwarded_for = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded_for:
            peer = meta.get("REMOTE_ADDR", "")
            client, unbelieved = resolve_client(peer, forwarded_for, self.trusted)
            if client != peer:
                meta["flightsite.proxy_addr"] = peer
                meta["REMOTE_ADDR"] = client
            proxy_watch.observe(client, unbelieved)
        elif proxy_watch.streak:
            proxy_watch.observe(meta.get("REMOTE_ADDR", ""), 0)
        return self.get_response(request)


class MethodNotAllowedPageMiddleware:
    """Django answers a wrong method with an empty 405; give it a page that says so."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.content:
            allowed = response.get("Allow", "")
            page = error_page(
                request, 405, f"This address does not accept {request.method} requests."
            )
            page["Allow"] = allowed
            return page
        return response


class HealthCheckMiddleware:
    """GET/HEAD /healthz answered before anything that reads the session, checks CSRF or sets
    up messages (flightsite/health.py): a load balancer polls it every few seconds and it needs
    none of that. Other methods go on to the URL conf (and its 405 page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from flightsite.health import healthz  # the view, with its never_cache headers

        self.get_response = get_response
        self.healthz = healthz

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz" and request.method in ("GET", "HEAD"):
            response = self.healthz(request)
            response.headers["Content-Length"] = str(len(response.content))
            return response
        return self.get_response(request)


class AdminAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware (request.user) for the admin only: the site's own pages
    know passengers by their session, never a django.contrib.auth user, so they skip it. The
    admin's system check (admin.E408) accepts the subclass."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith("/admin/"):
            super().process_request(request)


class LazyMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware with the storage made on first use: a response that neither
    shows nor adds a message (a redirect, JSON, an error page without messages) builds no
    storage and writes no cookie. Pages that render the messages still read the cookie."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:  # type: ignore[attr-defined]
            return response  # never used in this request: nothing to store
        return super().process_response(request, response)


# What a response carries when a view asked for a policy of its own (django-csp's decorators).
_CSP_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)


@functools.cache
def _site_csp() -> tuple[tuple[str, str, tuple[str, ...], str], ...]:
    """The settings' policies as django-csp writes them: (header, value, excluded path
    prefixes, the response attribute that exempts it), for each policy that is set."""
    found = []
    for header, setting, exempt, report_only in (
        (HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt", False),
        (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro", True),
    ):
        value = build_policy(report_only=report_only)
        if value:
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            found.append((header, value, tuple(prefixes), exempt))
    return tuple(found)


@receiver(setting_changed)
def _forget_site_csp(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _site_csp.cache_clear()


class CSPMiddleware(PolicyPerResponseCSPMiddleware):
    """django-csp's CSPMiddleware with the site-wide header built once per process: django-csp
    serialises the settings' policy again on every response (~40 us, a quarter of a one-line
    view: docs/performance.md). A response with a policy of its own (csp_update, csp_replace,
    csp_exempt's siblings) or a page that used a nonce goes through django-csp unchanged; the
    header, the exemptions and the excluded prefixes are django-csp's (tests/test_security_
    headers.py compares the two)."""

    def process_response(self, request: HttpRequest, response: Any) -> Any:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _CSP_PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        for header, value, prefixes, exempt in _site_csp():
            if (
                header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = value
        # As django-csp: a nonce asked for after the header is written is an error, not a
        # nonce the browser was never told about.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
