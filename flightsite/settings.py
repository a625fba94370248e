"""Django settings for flightsite.

Everything that differs between a laptop, CI and production comes from environment variables
(see README "Configuration"); the defaults give a working local site with nothing installed:
SQLite files under var/ and embedded Valkey servers (sessions, cache) started by
`manage.py runserver`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from flightsite import valkey_config

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
# Set by flightsite/wsgi.py and asgi.py: this process serves the site (gunicorn, uvicorn...),
# as opposed to manage.py commands, runserver and the tests.
SERVING = env_bool("FLIGHTSITE_SERVING", default=False)

# --- secret key: fail closed ---------------------------------------------------------------------
# Keys that are public (in this repository's history or a tutorial) sign nothing in production.
LOCAL_SECRET_KEY = "django-insecure-local-only-key-set-DJANGO_SECRET_KEY-in-production-0000"
PUBLIC_SECRET_KEYS = {
    LOCAL_SECRET_KEY,
    "insecure-local-only-key-set-DJANGO_SECRET_KEY-in-production",
    "insecure-compose-key-set-DJANGO_SECRET_KEY",
    "change-me",
    "changeme",
    "secret",
}


def weak_secret_key(key: str) -> bool:
    """Missing, public, or what Django's check --deploy calls weak (security.W009)."""
    return (
        not key
        or key in PUBLIC_SECRET_KEYS
        or key.startswith("django-insecure")
        or len(key) < 50
        or len(set(key)) < 5
    )


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip()
# Required when serving with DEBUG off; DJANGO_REQUIRE_SECRET_KEY=1 requires it for every
# command too (the Docker image sets it, so even `migrate` stops on a missing key).
REQUIRE_SECRET_KEY = not DEBUG and env_bool("DJANGO_REQUIRE_SECRET_KEY", default=SERVING)
if weak_secret_key(SECRET_KEY):
    if REQUIRE_SECRET_KEY:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is missing, public or too weak, and DEBUG is off: refusing to "
            "start, since anyone could forge signed cookies. Set DJANGO_SECRET_KEY to 50+ "
            "random characters, e.g. the output of: python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'"
        )
    # manage.py, runserver (`make run`) and the tests: a key that only ever signs local data.
    SECRET_KEY = SECRET_KEY or LOCAL_SECRET_KEY
# Keys the tag of a passenger's session keys (passengers/session_store/keys.py). Set it to keep
# the tags, and so the lists of devices, across a SECRET_KEY rotation.
SESSION_TAG_SECRET = os.environ.get("SESSION_TAG_SECRET", "").strip() or SECRET_KEY

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]
# Reverse proxies (IPs or networks, comma-separated) whose X-Forwarded-For is believed: the
# client address is then the first untrusted hop from the right. Empty: REMOTE_ADDR as is.
_trusted = [p.strip() for p in os.environ.get("DJANGO_TRUSTED_PROXIES", "").split(",")]
try:
    TRUSTED_PROXIES = [ipaddress.ip_network(p, strict=False) for p in _trusted if p]
except ValueError as exc:
    raise ImproperlyConfigured(f"DJANGO_TRUSTED_PROXIES: {exc}") from exc
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    # First: its runserver (which starts embedded Valkey) wins over staticfiles', and its
    # admin/base_site.html (the admin in flightsite's colours) over the admin's own.
    "flightsite",
    "flightsite.apps.FlightsiteAdminConfig",  # django.contrib.admin with the site's AdminSite
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
    "flightsite.middleware.TrustedProxyMiddleware",
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
# Time budgets of a MySQL connection, whole seconds (0 = none). While serving, a hung server
# costs a request about one second and frees the worker (then the breaker answers at once);
# manage.py commands (migrate, load_demo_data's big INSERTs) and the tests wait longer.
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 1 if SERVING else 5)
DB_READ_TIMEOUT = env_int("DB_READ_TIMEOUT", 1 if SERVING else 0)
DB_WRITE_TIMEOUT = env_int("DB_WRITE_TIMEOUT", 1 if SERVING else 0)


def _database(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.mysql":
        # Django's backend plus a circuit breaker (flightsite/backends/mysql/base.py).
        config["ENGINE"] = "flightsite.backends.mysql"
        options = {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            "connect_timeout": DB_CONNECT_TIMEOUT,
        }
        # mysqlclient: per socket read/write (MariaDB Connector/C does not retry them).
        if DB_READ_TIMEOUT:
            options["read_timeout"] = DB_READ_TIMEOUT
        if DB_WRITE_TIMEOUT:
            options["write_timeout"] = DB_WRITE_TIMEOUT
        config.setdefault("OPTIONS", {}).update(options)
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

# --- Valkey: the session store and the general cache -------------------------------------------
# Two stores, so that cache pressure can never evict a session (README "Valkey: where sessions
# live"): VALKEY_URL | VALKEY_SENTINELS | VALKEY_CLUSTER_URL for sessions, VALKEY_CACHE_URL |
# VALKEY_CACHE_SENTINEL_SERVICE | VALKEY_CACHE_CLUSTER_URL for the cache (default: next to the
# sessions). With none of them set, `manage.py runserver` starts two embedded servers
# (flightsite/embedded_valkey.py) and other commands find them at start-up (apps.py): no I/O here.
VALKEY_TOPOLOGY = valkey_config.topology_from_env(os.environ)
VALKEY_TIMEOUTS = valkey_config.Timeouts(
    connect=float(os.environ.get("VALKEY_CONNECT_TIMEOUT", "1.0")),
    read=float(os.environ.get("VALKEY_TIMEOUT", "1.0")),
)
# Plain JSON, no pickle in a shared store (the session store encodes its values itself; the
# `sessions` alias's serializer only matters for Django's stock engines in `make bench`).
_VALKEY_SERIALIZER = "flightsite.cache.CompactJSONSerializer"


CACHES = {
    # General-purpose cache (weather results, login throttling); may evict under memory pressure.
    "default": VALKEY_TOPOLOGY.cache.cache_setting(
        VALKEY_TIMEOUTS,
        KEY_PREFIX="flightsite",
        OPTIONS={"SERIALIZER": _VALKEY_SERIALIZER},
    ),
    # The session store's connection (passengers/session_store builds its own keys and values:
    # `flight_session:{<tag>}<secret>`, msgpack). Never IGNORE_EXCEPTIONS here: a lost session
    # write must be an error, not a silent logout.
    "sessions": VALKEY_TOPOLOGY.sessions.cache_setting(
        VALKEY_TIMEOUTS,
        KEY_PREFIX="flight_session:",
        OPTIONS={"SERIALIZER": _VALKEY_SERIALIZER},
    ),
}

# --- circuit breaker (flightsite/outages.py) ---------------------------------------------------
# After this many connection failures or timeouts in a row, a dependency (each Valkey alias,
# each MySQL database) is skipped for BREAKER_RESET_SECONDS: requests that need it get a 503
# at once, then one request probes. Per worker process. 0 failures turns it off.
BREAKER_FAILURES = env_int("BREAKER_FAILURES", 3)
BREAKER_RESET_SECONDS = float(os.environ.get("BREAKER_RESET_SECONDS", "5"))

# FLIGHTSITE_SESSION_ENGINE is for the benchmark only (bench/run.py compares Django's engines
# against ours); the site is built and tested for passengers.session_store.
SESSION_ENGINE = os.environ.get("FLIGHTSITE_SESSION_ENGINE") or "passengers.session_store"
SESSION_CACHE_ALIAS = "sessions"
# Idle timeout. A read writes nothing; the store moves the key's TTL forward once a tenth of
# this has passed since the last move, so an active user stays logged in and an idle key
# disappears from Valkey 0.9-1x this many seconds after the last request.
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
    # Health checks come over plain HTTP from inside (compose, a load balancer).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # HSTS is hard to undo: opt in with a duration once HTTPS works everywhere.
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
    # Only when every subdomain is HTTPS too (preload: and the domain goes on browsers' list).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
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
# Logging in needs only a passport number: past this many live sessions of one passenger, a
# login ends their oldest ones (so nobody can fill the session store with one passport).
MAX_SESSIONS_PER_PASSENGER = env_int("MAX_SESSIONS_PER_PASSENGER", 20)
LOGIN_URL = "passengers:login"
# Failed logins (the passenger login and the admin's) before 429: per client address and per
# account (passport number, admin user name), counted in Valkey over a window of seconds that
# starts at the first failure; blocked until that window ends (passengers/throttle.py).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 20)
LOGIN_FAILURE_LIMIT_PER_ACCOUNT = env_int("LOGIN_FAILURE_LIMIT_PER_ACCOUNT", 10)
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
