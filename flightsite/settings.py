"""Django settings for flightsite.

Everything that differs between a laptop, CI and production comes from environment variables
(see README "Configuration"); the defaults give a working local site with nothing installed:
SQLite files under var/ and an embedded Valkey server started by `manage.py runserver`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from flightsite import embedded_valkey

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FLIGHTSITE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # local SQLite files, embedded Valkey state


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("DJANGO_REQUIRE_SECRET_KEY", default=False):
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY in production.")
    # Local default only: `make run` and the tests. Production sets DJANGO_SECRET_KEY.
    SECRET_KEY = "insecure-local-only-key-set-DJANGO_SECRET_KEY-in-production"

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    # First: its runserver (which starts embedded Valkey) wins over staticfiles', and its
    # admin/base_site.html (the admin in flightsite's colours) over the admin's own.
    "flightsite",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "passengers",
    "flights",
    "weather",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "flightsite.middleware.ValkeySessionMiddleware",
    "flightsite.middleware.MethodNotAllowedPageMiddleware",
    "flightsite.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "flightsite.urls"
WSGI_APPLICATION = "flightsite.wsgi.application"
ASGI_APPLICATION = "flightsite.asgi.application"

TEMPLATES = [
    # The site's pages (templates/): Jinja2, which renders them 2.5-4x faster than Django
    # templates did (same HTML). Globals and filters: flightsite/jinja2.py.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "flightsite.jinja2.environment",
            # The backend itself adds `request` (and `csrf_input`, which `csrf` replaces).
            "context_processors": [
                "django.contrib.messages.context_processors.messages",
                "passengers.context_processors.passenger",
                "flightsite.jinja2.csrf",
            ],
        },
    },
    # The admin's templates (from its app directory): Django templates.
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- databases ---------------------------------------------------------------------------------
# `default` holds Django's own tables (auth, admin, contenttypes); `flughafendb` is the legacy
# airport database the site only reads. Each is a database URL; both default to SQLite files.
DJANGO_DB_URL = os.environ.get("DJANGO_DB_URL") or f"sqlite:///{VAR_DIR / 'django.sqlite3'}"
FLUGHAFENDB_URL = (
    os.environ.get("FLUGHAFENDB_URL") or f"sqlite:///{VAR_DIR / 'flughafendb.sqlite3'}"
)
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60)


def _database(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.mysql":
        config.setdefault("OPTIONS", {}).update(
            {
                "charset": "utf8mb4",
                "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
                "connect_timeout": 5,
            }
        )
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {}).update({"timeout": 20})
    return config


DATABASES = {
    "default": _database(DJANGO_DB_URL),
    "flughafendb": _database(FLUGHAFENDB_URL),
}
# The legacy DATETIME columns carry no time zone: read them as local time of TIME_ZONE.
DATABASES["flughafendb"]["TIME_ZONE"] = os.environ.get("TIME_ZONE", "UTC")
# No migrations ever run on flughafendb, not even on its test copy (tests create it from schema/).
DATABASES["flughafendb"]["TEST"] = {"MIGRATE": False}
DATABASE_ROUTERS = ["flightsite.routers.FlughafendbRouter"]
# The apps whose (unmanaged) models live in flughafendb.
FLUGHAFENDB_APPS = {"passengers", "flights"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Valkey: sessions and the shared cache ----------------------------------------------------
# VALKEY_URL is set by the environment, or by `manage.py runserver` when it starts the embedded
# server (it exports the URL to the autoreloader's child and writes it to var/valkey.url so that
# other manage.py commands in another terminal find it too).
VALKEY_URL = os.environ.get("VALKEY_URL") or embedded_valkey.running_url(VAR_DIR) or ""
VALKEY_SOCKET_CONNECT_TIMEOUT = float(os.environ.get("VALKEY_CONNECT_TIMEOUT", "1.0"))
VALKEY_SOCKET_TIMEOUT = float(os.environ.get("VALKEY_TIMEOUT", "1.0"))

_valkey_options = {
    "SOCKET_CONNECT_TIMEOUT": VALKEY_SOCKET_CONNECT_TIMEOUT,
    "SOCKET_TIMEOUT": VALKEY_SOCKET_TIMEOUT,
    "CONNECTION_POOL_KWARGS": {"health_check_interval": 30, "retry_on_timeout": False},
}

CACHES = {
    # General-purpose cache (weather results, ...). Plain JSON: no pickle in a shared store.
    "default": {
        "BACKEND": "django_valkey.cache.ValkeyCache",
        "LOCATION": VALKEY_URL or embedded_valkey.NOT_RUNNING_URL,
        "KEY_PREFIX": "flightsite",
        "OPTIONS": {
            **_valkey_options,
            "SERIALIZER": "passengers.session_store.CompactJSONSerializer",
        },
    },
    # Sessions only: keys are exactly `flight_session:<session key>`, values compact JSON.
    # Never IGNORE_EXCEPTIONS here: a lost session write must be an error, not a silent logout.
    "sessions": {
        "BACKEND": "django_valkey.cache.ValkeyCache",
        "LOCATION": VALKEY_URL or embedded_valkey.NOT_RUNNING_URL,
        "KEY_PREFIX": "flight_session:",
        "KEY_FUNCTION": "passengers.session_store.make_session_cache_key",
        "OPTIONS": {
            **_valkey_options,
            "SERIALIZER": "passengers.session_store.CompactJSONSerializer",
        },
    },
}

SESSION_ENGINE = "passengers.session_store"
SESSION_CACHE_ALIAS = "sessions"
# Idle timeout. The store refreshes the key's TTL on every read (one GETEX), so an active user
# stays logged in and an idle key disappears from Valkey after this many seconds.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)
# The cookie lives as long as the browser; Valkey's TTL is what enforces the idle timeout.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_NAME = "flightsite_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Behind HTTPS (a TLS-terminating proxy that sets X-Forwarded-Proto): DJANGO_HTTPS=1.
HTTPS = env_bool("DJANGO_HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS or env_bool("DJANGO_SECURE_COOKIES", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # HSTS is hard to undo: opt in with a duration once HTTPS works everywhere.
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"

# Flash messages in a signed cookie: showing "Welcome" must not cost a session write.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

# --- weather ----------------------------------------------------------------------------------
# offline (built-in, no network) | openweathermap (needs OPENWEATHER_API_KEY) | openmeteo (no key).
# An unknown name fails the `weather.E001` system check at startup.
WEATHER_PROVIDER = os.environ.get("WEATHER_PROVIDER", "offline").strip().lower() or "offline"
OPENWEATHER_API_KEY = os.environ.get("OPENWEATHER_API_KEY", "").strip()
# Base URLs without the endpoint (/weather, /forecast is appended): tests point them at a stub.
OPENWEATHER_BASE_URL = os.environ.get(
    "OPENWEATHER_BASE_URL", "https://api.openweathermap.org/data/2.5"
)
OPENMETEO_BASE_URL = os.environ.get("OPENMETEO_BASE_URL", "https://api.open-meteo.com/v1")
# (connect, read) seconds. The user waits on this: a connect timeout just over the 3 s TCP
# retransmission window, and 5 s for an answer that normally takes well under one second.
WEATHER_HTTP_TIMEOUT = (
    float(os.environ.get("WEATHER_HTTP_CONNECT_TIMEOUT", "3.05")),
    float(os.environ.get("WEATHER_HTTP_READ_TIMEOUT", "5")),
)
# Retries of one GET on connection errors and 500/502/503/504 (never on a read timeout).
WEATHER_HTTP_RETRIES = env_int("WEATHER_HTTP_RETRIES", 2)
WEATHER_HTTP_BACKOFF = 0.25  # seconds; urllib3 retries at once, then waits 0.5 s
WEATHER_CACHE_ALIAS = "default"
# Seconds a provider answer is shared (0 disables the cache). Providers refresh "current"
# values every 10-15 minutes, so 10 minutes costs no freshness and bounds upstream calls.
WEATHER_CACHE_TTL = env_int("WEATHER_CACHE_TTL", 10 * 60)
# --- end weather ------------------------------------------------------------------------------

# --- site behaviour ---------------------------------------------------------------------------
FLIGHTS_PAGE_LIMIT = 50
# Seconds each process keeps the airports and the span of days of flughafendb in memory
# (flights/catalog.py), so a page of the flights list is one query.
FLIGHTS_CATALOG_TTL = env_int("FLIGHTS_CATALOG_TTL", 5 * 60)
MAX_FLIGHTS_PER_SESSION = env_int("MAX_FLIGHTS_PER_SESSION", 20)
LOGIN_URL = "passengers:login"
# Failed logins per client IP before 429, and the window they are counted in (seconds).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 20)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 5 * 60)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from the app/static dirs when collectstatic has not run (local runs, tests).
WHITENOISE_USE_FINDERS = True
# Files browsers ask for at the root (/favicon.ico, /apple-touch-icon.png), served by WhiteNoise
# before any middleware: no 404s in the logs, no session read.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("DJANGO_MANIFEST_STATIC", default=False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CSRF_FAILURE_VIEW = "flightsite.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
