import contextlib
from pathlib import Path

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class FlightsiteAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the site's AdminSite (live sessions); see flightsite/admin.py."""

    default = False  # named in INSTALLED_APPS; FlightsiteConfig is this module's default
    default_site = "flightsite.admin.FlightsiteAdminSite"


class FlightsiteConfig(AppConfig):
    default = True
    name = "flightsite"
    verbose_name = "flightsite"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers them)

        _make_local_dirs()
        _restore_sync_cache_close()
        _find_embedded_valkey()


def _make_local_dirs() -> None:
    """var/ (the default SQLite files, the embedded Valkey servers' data) and STATIC_ROOT
    (WhiteNoise warns about a missing one): made at start-up, not when settings are imported."""
    from django.conf import settings

    for directory in (settings.VAR_DIR, settings.STATIC_ROOT):
        # A read-only image that does not use them: nothing to do.
        with contextlib.suppress(OSError):
            Path(directory).mkdir(parents=True, exist_ok=True)


def _find_embedded_valkey() -> None:
    """With no Valkey configured, use the embedded servers a running `manage.py runserver` of
    this checkout started (var/valkey.json), so `manage.py shell` and friends see the site's
    sessions. Done here, once per process, rather than at settings import; without a running
    server the caches keep pointing at a closed port and fail fast. Never in the tests
    (EMBEDDED_VALKEY_DISCOVERY is off there): they start their own servers."""
    from django.conf import settings

    from . import embedded_valkey

    if settings.VALKEY_TOPOLOGY.embedded and settings.EMBEDDED_VALKEY_DISCOVERY:
        urls = embedded_valkey.running_urls(settings.VAR_DIR)
        if urls is not None:
            embedded_valkey.use(urls)


def _restore_sync_cache_close() -> None:
    """Undo django-valkey's swap of Django's `close_caches` for an async receiver, and connect
    Django's only if a cache has something to close.

    django_valkey.base (0.4) connects `close_async_caches` (a coroutine) to request_finished as a
    workaround for async caches (Django #36047). In a sync WSGI worker, one async receiver makes
    every request_finished run through async_to_sync, which starts a thread per request: about
    1 ms of CPU per request, more than the whole dashboard view. We use only sync caches, whose
    close() is Django's plain receiver's job — and django-valkey's close() does nothing unless
    CLOSE_CONNECTION is set (its pools are kept for the next request), so with only such caches
    no receiver runs at all (~10 us a request: docs/performance.md).
    """
    from django.core import signals
    from django.core.cache import close_caches
    from django_valkey import base

    signals.request_finished.disconnect(base.close_async_caches)
    if any(_cache_needs_close(config) for config in settings_caches().values()):
        signals.request_finished.connect(close_caches)


def settings_caches() -> dict[str, dict[str, object]]:
    from django.conf import settings

    caches: dict[str, dict[str, object]] = settings.CACHES
    return caches


def _cache_needs_close(config: dict[str, object]) -> bool:
    """Whether a cache's close() after each request does anything."""
    from django.conf import settings

    if not str(config.get("BACKEND", "")).startswith("django_valkey."):
        return True  # another backend (memcached's close() ends its connections)
    options = config.get("OPTIONS") or {}
    default = getattr(settings, "DJANGO_VALKEY_CLOSE_CONNECTION", False)
    return bool(options.get("CLOSE_CONNECTION", default) if isinstance(options, dict) else default)
