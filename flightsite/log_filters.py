"""Logging filters of the site (settings.LOGGING)."""

from __future__ import annotations

import logging


class SuspiciousRequestsAsWarnings(logging.Filter):
    """Django logs every 5xx response at ERROR (`django.request`): the site's 503s are dropped
    here (an outage under load is thousands of them; outages are logged once, elsewhere). And
    Django logs every SuspiciousOperation (a request body over DATA_UPLOAD_MAX_MEMORY_SIZE,
    too many fields, a Host not allowed...) at ERROR with its whole traceback, from the
    `django.security.<Error>` loggers. They are the client's fault and already answered 400:
    one line at WARNING, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", None) == 503:
            # The site's 503s are outages, already logged by the breaker (one line per
            # transition) and flightsite.errors.log_outage (one per kind per 10 s).
            return False
        if record.name.startswith("django.security.") and record.levelno > logging.WARNING:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
            if record.exc_info and record.exc_info[1] is not None:
                record.msg = f"{record.getMessage()} ({type(record.exc_info[1]).__name__})"
                record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
