"""Django settings for flightsite.

Everything that differs between a laptop, CI and production comes from environment variables,
read through flightsite/env.py (every one is listed with its default in `.env.example`; README
"Configuration"). The defaults give a working local site with nothing installed: SQLite files
under var/ and embedded Valkey servers (sessions, cache) started by `manage.py runserver`.
Importing this module does no I/O: directories are made when something first needs them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from flightsite import valkey_config
from flightsite.env import env

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state: the SQLite files and the embedded Valkey servers' data (created at start-up by
# FlightsiteConfig.ready and the embedded server, not here).
VAR_DIR = Path(env.str("FLIGHTSITE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Set by flightsite/wsgi.py and asgi.py: this process serves the site (gunicorn, granian...),
# as opposed to manage.py commands, runserver and the tests.
SERVING = env.bool("FLIGHTSITE_SERVING", default=False)

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


SECRET_KEY = env.str("DJANGO_SECRET_KEY")
# Required when serving with DEBUG off; DJANGO_REQUIRE_SECRET_KEY=1 requires it for every
# command too (the Docker image sets it, so even `migrate` stops on a missing key).
REQUIRE_SECRET_KEY = not DEBUG and env.bool("DJANGO_REQUIRE_SECRET_KEY", default=SERVING)
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
# Keys the tag of a passenger's session keys (VALKEY_SESSIONS["TAG_SECRET"]). Set it to keep
# the tags, and so the lists of devices, across a SECRET_KEY rotation.
SESSION_TAG_SECRET = env.str("SESSION_TAG_SECRET") or SECRET_KEY

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ("localhost", "127.0.0.1", "[::1]"))
# Reverse proxies (IPs or networks, comma-separated) whose X-Forwarded-For is believed: the
# client address is then the first untrusted hop from the right. Empty: REMOTE_ADDR as is.
try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(p, strict=False) for p in env.list("DJANGO_TRUSTED_PROXIES")
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"DJANGO_TRUSTED_PROXIES: {exc}") from exc
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # First: its runserver (which starts embedded Valkey) wins over staticfiles', and its
    # admin/base_site.html (the admin in flightsite's colours) over the admin's own.
    "flightsite",
    "flightsite.apps.FlightsiteAdminConfig",  # django.contrib.admin with the site's AdminSite
    "flightsite.flughafendb",  # the legacy airport database: router, read-only guard, demo data
    "django.contrib.auth",
    "django.contrib.contenttypes",
    # No django.contrib.sessions: its django_session table is for Django's db engines.
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "valkey_sessions",  # the session engine (a reusable app: checks, no models)
    "passengers",
    "flights",
    "weather",
]

# Only what each request needs, cheapest first (docs/performance.md): static files and the
# health check are answered before anything reads the session, checks CSRF or sets up
# messages; the admin alone gets django.contrib.auth's request.user; the message storage is
# made only when a page uses it. TrustedProxyMiddleware stays: it notices an untrusted proxy.
MIDDLEWARE = [
    "flightsite.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy (django-csp's, its header built once) and Permissions-Policy on
    # every response (settings below).
    "flightsite.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "flightsite.middleware.HealthCheckMiddleware",
    "flightsite.middleware.ValkeySessionMiddleware",
    "flightsite.middleware.MethodNotAllowedPageMiddleware",
    "flightsite.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "flightsite.middleware.AdminAuthenticationMiddleware",
    "flightsite.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "flightsite.urls"
WSGI_APPLICATION = "flightsite.wsgi.application"
ASGI_APPLICATION = "flightsite.asgi.application"

TEMPLATES = [
    # The site's pages (templates/): Jinja2, several times faster than Django templates for the
    # same HTML (docs/NOTES.md). Globals and filters: flightsite/jinja2.py.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "flightsite.jinja2.environment",
            # Apps' globals and filters (Jinja extensions): the flight rows' cells, the names
            # of the weather's sources.
            "extensions": ["flights.rows.FlightRows", "weather.providers.ProviderLabels"],
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
DJANGO_DB_URL = env.str("DJANGO_DB_URL", f"sqlite:///{VAR_DIR / 'django.sqlite3'}")
FLUGHAFENDB_URL = env.str("FLUGHAFENDB_URL", f"sqlite:///{VAR_DIR / 'flughafendb.sqlite3'}")
DB_CONN_MAX_AGE = env.int("DB_CONN_MAX_AGE", 60, minimum=0)
# Time budgets of a MySQL connection, whole seconds (0 = none). While serving, a hung server
# costs a request about one second and frees the worker (then the breaker answers at once);
# manage.py commands (migrate, load_demo_data's big INSERTs) and the tests wait longer.
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", 1 if SERVING else 5, minimum=0)
DB_READ_TIMEOUT = env.int("DB_READ_TIMEOUT", 1 if SERVING else 0, minimum=0)
DB_WRITE_TIMEOUT = env.int("DB_WRITE_TIMEOUT", 1 if SERVING else 0, minimum=0)


def database(url: str) -> dj_database_url.DBConfig:
    """A DATABASES entry from a URL, with this site's options (also used by test_settings)."""
    try:
        config = dj_database_url.parse(url, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)
    except (ValueError, dj_database_url.UnknownSchemeError) as exc:
        raise ImproperlyConfigured(f"Not a database URL: {url!r} ({exc})") from exc
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
    "default": database(DJANGO_DB_URL),
    "flughafendb": database(FLUGHAFENDB_URL),
}
# The legacy DATETIME columns carry no time zone: read them as local time of TIME_ZONE.
TIME_ZONE = env.str("TIME_ZONE", "UTC")
DATABASES["flughafendb"]["TIME_ZONE"] = TIME_ZONE
# No migrations ever run on flughafendb, not even on its test copy (tests create it from schema/).
DATABASES["flughafendb"]["TEST"] = {"MIGRATE": False}
DATABASE_ROUTERS = ["flightsite.flughafendb.router.FlughafendbRouter"]
# The apps whose (unmanaged) models live in flughafendb.
FLUGHAFENDB_APPS = {"flughafendb", "passengers", "flights"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Valkey: the session store and the general cache -------------------------------------------
# Two stores, so that cache pressure can never evict a session (README "Valkey: where sessions
# live"): VALKEY_URL | VALKEY_SENTINELS | VALKEY_CLUSTER_URL for sessions, VALKEY_CACHE_URL |
# VALKEY_CACHE_SENTINEL_SERVICE | VALKEY_CACHE_CLUSTER_URL for the cache (default: next to the
# sessions). With none of them set, `manage.py runserver` starts two embedded servers
# (flightsite/embedded_valkey.py) and other commands find them at start-up (apps.py): no I/O here.
VALKEY_TOPOLOGY = valkey_config.topology_from_env(os.environ)
# manage.py commands (shell, sessions, valkey_acl...) started while `make run` serves use its
# embedded servers, found through VAR_DIR/valkey.json (flightsite/apps.py). The test settings turn
# this off: a test run starts its own servers and never touches a running site.
EMBEDDED_VALKEY_DISCOVERY = True
VALKEY_TIMEOUTS = valkey_config.Timeouts(
    connect=env.float("VALKEY_CONNECT_TIMEOUT", 1.0, minimum=0.01),
    read=env.float("VALKEY_TIMEOUT", 1.0, minimum=0.01),
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
    # The session store's connection (valkey_sessions builds its own keys and values:
    # `flight_session:{<tag>}<secret>`, msgpack). Never IGNORE_EXCEPTIONS here: a lost session
    # write must be an error, not a silent logout.
    "sessions": VALKEY_TOPOLOGY.sessions.cache_setting(
        VALKEY_TIMEOUTS,
        KEY_PREFIX="flight_session:",
        OPTIONS={"SERIALIZER": _VALKEY_SERIALIZER},
    ),
}

# --- circuit breaker (flightsite/outages.py) ---------------------------------------------------
# After this many connection failures or timeouts in a row, a dependency (each Valkey server,
# each MySQL database) is "open": requests that need it get a 503 at once, while a background
# thread probes it every BREAKER_PROBE_SECONDS and closes it on the first answer (so the site is
# back at most about that long after the dependency). Per worker process. 0 failures: off.
BREAKER_FAILURES = env.int("BREAKER_FAILURES", 3, minimum=0)
BREAKER_PROBE_SECONDS = env.float("BREAKER_PROBE_SECONDS", 0.2, minimum=0.01)
# /healthz answers within this many seconds whatever its checks do (flightsite/health.py).
HEALTH_BUDGET = env.float("HEALTH_BUDGET", 2.0, minimum=0.1)

# valkey_sessions (ours), or Django's stock "django.contrib.sessions.backends.cache" on the
# same django-valkey alias: the whole passenger flow runs on either (the list of devices and
# the admin's live sessions need ours, and say so). FLIGHTSITE_SESSION_ENGINE is the older
# name bench/run.py sets (it also compares Django's db engines).
SESSION_ENGINE = env.str("SESSION_ENGINE") or env.str(
    "FLIGHTSITE_SESSION_ENGINE", "valkey_sessions"
)
if SESSION_ENGINE.endswith((".db", ".cached_db")):  # bench only: their table, and only then
    INSTALLED_APPS.append("django.contrib.sessions")
SESSION_CACHE_ALIAS = "sessions"
# Idle timeout. A read writes nothing; the store moves the key's TTL forward once a tenth of
# this has passed since the last move, so an active user stays logged in and an idle key
# disappears from Valkey 0.9-1x this many seconds after the last request.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 30 * 60, minimum=1)
# The cookie lives as long as the browser; Valkey's TTL is what enforces the idle timeout.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_NAME = "flightsite_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Behind HTTPS (a TLS-terminating proxy that sets X-Forwarded-Proto): DJANGO_HTTPS=1.
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS or env.bool("DJANGO_SECURE_COOKIES", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Health checks come over plain HTTP from inside (compose, a load balancer).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # HSTS is hard to undo: opt in with a duration once HTTPS works everywhere.
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", 0, minimum=0)
    # Only when every subdomain is HTTPS too (preload: and the domain goes on browsers' list).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"

# Flash messages in a signed cookie: showing "Welcome" must not cost a session write.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

# --- weather ----------------------------------------------------------------------------------
# offline (built-in, no network) | openweathermap (needs OPENWEATHER_API_KEY) | openmeteo (no key).
# An unknown name fails the `weather.E001` system check at startup.
WEATHER_PROVIDER = env.str("WEATHER_PROVIDER", "offline").lower()
OPENWEATHER_API_KEY = env.str("OPENWEATHER_API_KEY")
# Base URLs without the endpoint (/weather, /forecast is appended): tests point them at a stub.
OPENWEATHER_BASE_URL = env.str("OPENWEATHER_BASE_URL", "https://api.openweathermap.org/data/2.5")
OPENMETEO_BASE_URL = env.str("OPENMETEO_BASE_URL", "https://api.open-meteo.com/v1")
# (connect, read) seconds. The user waits on this: a connect timeout just over the 3 s TCP
# retransmission window, and 5 s for an answer that normally takes well under one second.
WEATHER_HTTP_TIMEOUT = (
    env.float("WEATHER_HTTP_CONNECT_TIMEOUT", 3.05, minimum=0.01),
    env.float("WEATHER_HTTP_READ_TIMEOUT", 5.0, minimum=0.01),
)
# Retries of one GET on connection errors and 500/502/503/504 (never on a read timeout).
WEATHER_HTTP_RETRIES = env.int("WEATHER_HTTP_RETRIES", 2, minimum=0)
WEATHER_HTTP_BACKOFF = 0.25  # seconds; urllib3 retries at once, then waits 0.5 s
WEATHER_CACHE_ALIAS = "default"
# Seconds a provider answer is shared (0 disables the cache). Providers refresh "current"
# values every 10-15 minutes, so 10 minutes costs no freshness and bounds upstream calls.
WEATHER_CACHE_TTL = env.int("WEATHER_CACHE_TTL", 10 * 60, minimum=0)
# --- end weather ------------------------------------------------------------------------------

# --- site behaviour ---------------------------------------------------------------------------
FLIGHTS_PAGE_LIMIT = 50
# Seconds each process keeps the airports and the span of days of flughafendb in memory
# (flights/catalog.py), so a page of the flights list is one query.
FLIGHTS_CATALOG_TTL = env.int("FLIGHTS_CATALOG_TTL", 5 * 60, minimum=0)
MAX_FLIGHTS_PER_SESSION = env.int("MAX_FLIGHTS_PER_SESSION", 20, minimum=1)
# Logging in needs only a passport number: past this many live sessions of one passenger, a
# login ends their oldest ones (so nobody can fill the session store with one passport).
MAX_SESSIONS_PER_PASSENGER = env.int("MAX_SESSIONS_PER_PASSENGER", 20, minimum=1)
# The session engine (valkey_sessions/conf.py), with the site's plug-ins: sessions belong to
# passengers, stored in the workshop's compact layout, merged with the flight rules.
VALKEY_SESSIONS = {
    "CACHE_ALIAS": SESSION_CACHE_ALIAS,
    "KEY_PREFIX": "flight_session:",
    "OWNER": "passengers.session.owner",
    "MAX_SESSIONS_PER_OWNER": MAX_SESSIONS_PER_PASSENGER,
    "TAG_SECRET": SESSION_TAG_SECRET,
    "CODEC": "passengers.session_codec.CompactCodec",
    "MERGE": "passengers.session.merge",
}
LOGIN_URL = "passengers:login"
# Failed logins (the passenger login and the admin's) before 429, counted in Valkey over a window
# of seconds that starts at the first failure (passengers/throttle.py): per client address, per
# (account, client), and per account, where the account limit blocks only the addresses that
# failed on it: the right password from an address that has not failed always gets through.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 20, minimum=1)
LOGIN_FAILURE_LIMIT_PER_ACCOUNT = env.int("LOGIN_FAILURE_LIMIT_PER_ACCOUNT", 10, minimum=1)
LOGIN_FAILURE_LIMIT_PER_CLIENT_AND_ACCOUNT = env.int(
    "LOGIN_FAILURE_LIMIT_PER_CLIENT_AND_ACCOUNT", 5, minimum=1
)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", 5 * 60, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
# 24-hour dates and times everywhere, the admin included ("16 Jan 2027, 23:40", not "Jan. 16,
# 2027, 11:40 p.m."): flightsite/formats/en/formats.py.
FORMAT_MODULE_PATH = ["flightsite.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", str(VAR_DIR / "staticfiles")))
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
            if env.bool("DJANGO_MANIFEST_STATIC", default=False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Content-Security-Policy (django-csp 4): scripts, styles, images and fonts from this site's own
# files only, no inline script or style (templates/ has none: tests/test_security_headers.py),
# no plugins, no framing, forms post here only. Pages that break it show in the browser test.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.NONE],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF, "data:"],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "manifest-src": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "object-src": [csp_constants.NONE],
    }
}
# Permissions-Policy (django-permissions-policy): no page of the site uses these.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "usb",
    )
}

CSRF_FAILURE_VIEW = "flightsite.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"suspicious": {"()": "flightsite.log_filters.SuspiciousRequestsAsWarnings"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["suspicious"]}},
    "root": {
        "handlers": ["console"],
        "level": env.choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper(),
    },
    "loggers": {"django.request": {"level": "ERROR"}},
}
