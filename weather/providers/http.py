"""The one HTTP client every weather provider uses: a shared `requests.Session` with timeouts,
a small retry budget and typed errors.

Why one shared session: it keeps TCP/TLS connections to the provider alive between requests
(a fresh TLS handshake costs more than the API call) and puts timeouts, retries, the User-Agent
and error mapping in one place. The session is only used for GETs with per-call params and
accepts no cookies, so nothing per-user lives in it and threads can share it (urllib3's
connection pool is thread-safe).

Why these retries: only GET, only on connection failures and 500/502/503/504, at most
`WEATHER_HTTP_RETRIES` (2) times with a short backoff, and never honouring Retry-After (an
upstream "come back in an hour" must not hold a page request). A *read* timeout is not retried:
the provider is up but slow, and retrying would multiply the user's wait.

Never leak the API key: request URLs carry it as a query parameter (OpenWeatherMap's `appid`),
and urllib3 logs URLs when it retries. Every message built here is redacted and a logging filter
redacts urllib3's own records.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .base import MalformedResponse, ProviderUnavailable, WeatherError, WeatherTimeout

USER_AGENT = "flightsite/0.1 (+https://github.com/flightsite/flightsite)"
RETRY_STATUSES = frozenset({500, 502, 503, 504})

# Query parameters whose values are secrets, wherever a URL shows up in a message.
_SECRET_PARAM_RE = re.compile(r"(?i)\b(appid|api_?key|apikey|key|token|access_token)=[^&\s'\"]+")

_session: requests.Session | None = None
_session_lock = threading.Lock()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with secret query parameters and the given secret values replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_PARAM_RE.sub(lambda m: f"{m.group(1)}=***", text)


class RedactingFilter(logging.Filter):
    """Redacts secret query parameters in records of loggers that print URLs (urllib3)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_redacting_filter = RedactingFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    # A filter on the logger itself (not a handler) sees every record that logger creates.
    _logger = logging.getLogger(_name)
    if _redacting_filter not in _logger.filters:
        _logger.addFilter(_redacting_filter)


def http_timeout() -> tuple[float, float]:
    """(connect, read) timeout in seconds from settings.WEATHER_HTTP_TIMEOUT (the defaults and
    why: flightsite/settings.py)."""
    value = settings.WEATHER_HTTP_TIMEOUT
    if isinstance(value, int | float):
        return float(value), float(value)
    connect, read = value
    return float(connect), float(read)


def build_session() -> requests.Session:
    """A new session configured from settings (use `get_session()` for the shared one)."""
    retries = int(settings.WEATHER_HTTP_RETRIES)
    retry = Retry(
        total=retries,
        connect=retries,
        read=False,  # re-raise read timeouts at once (see the module docstring)
        status=retries,
        backoff_factor=float(settings.WEATHER_HTTP_BACKOFF),
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,  # hand back the last 5xx response; we map it ourselves
        respect_retry_after_header=False,
    )
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # no cookies at all
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def get_session() -> requests.Session:
    """The process-wide session, created on first use."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                _session = build_session()
    return _session


def reset_session() -> None:
    """Close and forget the shared session (settings changed, tests)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = None


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    # The retry policy is baked into the session's adapter: rebuild it when tests change it.
    if setting in {"WEATHER_HTTP_RETRIES", "WEATHER_HTTP_BACKOFF"}:
        reset_session()


def get(
    url: str,
    params: Mapping[str, str | float],
    *,
    provider: str,
    secrets: Iterable[str] = (),
) -> requests.Response:
    """GET `url` through the shared session; transport failures become typed WeatherErrors.

    Returns the response whatever its status (after retries on 5xx): the caller knows what a
    401 or 404 means for its provider. `secrets` are redacted from every error message.
    """
    secrets = tuple(secrets)
    try:
        response = get_session().get(url, params=params, timeout=http_timeout())
    except requests.Timeout as exc:
        # ConnectTimeout (after the connect retries) and ReadTimeout (never retried).
        raise WeatherTimeout(
            f"{provider}: timed out ({type(exc).__name__}): {redact(str(exc), secrets)}"
        ) from None  # `from None`: the chained exception's text carries the full URL
    except requests.RequestException as exc:
        raise ProviderUnavailable(
            f"{provider}: request failed ({type(exc).__name__}): {redact(str(exc), secrets)}"
        ) from None
    return response


def json_body(response: requests.Response, *, provider: str) -> Any:
    """The parsed JSON of `response` or MalformedResponse."""
    try:
        return response.json()
    except ValueError:  # requests' JSONDecodeError is a ValueError
        raise MalformedResponse(
            f"{provider}: HTTP {response.status_code} answer is not JSON: "
            f"{redact(response.text[:80])!r}"
        ) from None


def raise_for_status(response: requests.Response, *, provider: str) -> None:
    """Map the statuses every provider treats alike; provider-specific ones are checked first."""
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        raise ProviderUnavailable(
            f"{provider}: rate limited (HTTP 429)",
            user_message="The weather service is busy right now. Please try again in a minute.",
        )
    if status >= 500:
        raise ProviderUnavailable(f"{provider}: HTTP {status} after retries")
    # Any other 4xx means the provider rejected a request we built: our bug, not the user's.
    raise WeatherError(f"{provider}: unexpected HTTP {status}: {redact(response.text[:120])!r}")


__all__ = [
    "USER_AGENT",
    "build_session",
    "get",
    "get_session",
    "http_timeout",
    "json_body",
    "raise_for_status",
    "redact",
    "reset_session",
]
