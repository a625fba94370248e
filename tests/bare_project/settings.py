"""A bare Django project: Django's contrib apps and the session engine, nothing of flightsite.
tests/test_bare_project.py runs the engine's own tests here (tests/bare_project/test_engine.py),
in a pytest of their own, to prove the engine lifts out as it is."""

import os

SECRET_KEY = "bare-project-secret-key-for-tests-only-0123456789-abcdefghij"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "valkey_sessions",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
ROOT_URLCONF = "tests.bare_project.urls"
MIDDLEWARE = ["valkey_sessions.middleware.SessionMiddleware"]

# What another project writes: the engine, and a django-valkey cache for it.
SESSION_ENGINE = "valkey_sessions"
SESSION_CACHE_ALIAS = "sessions"
CACHES = {
    "sessions": {
        "BACKEND": "django_valkey.cache.ValkeyCache",
        "LOCATION": os.environ.get("BARE_VALKEY_URL", "valkey://127.0.0.1:1/0"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
