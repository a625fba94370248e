# syntax=docker/dockerfile:1
# flightsite: Django under granian (WSGI) on port 8000, as a non-root user (target `site`), and nginx in
# front of it with the static files (target `proxy`). Used by docker-compose.yml (with two
# Valkey servers and MySQL 8.4); works with any VALKEY_URL / FLUGHAFENDB_URL / DJANGO_DB_URL.
#
# Bookworm on purpose: mysqlclient links Debian's MariaDB Connector/C. Bookworm's 3.3 (OpenSSL)
# logs in to MySQL 8.4 with caching_sha2_password over a plain connection (it fetches the
# server's RSA key). Trixie's 3.4 always verifies the server certificate, and MySQL's
# auto-generated one is self-signed, so the connection fails unless you give it a CA.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: compile mysqlclient against the client headers, install the locked dependencies --
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config default-libmysqlclient-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /venv
ENV PATH=/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY flightsite ./flightsite
COPY passengers ./passengers
COPY flights ./flights
COPY weather ./weather
# The code runs from /app, next to templates/, static/ and schema/ (BASE_DIR): keep only the
# dependencies in the venv, so that there is exactly one copy of it.
RUN pip install -c constraints.txt ".[mysql,server]" && pip uninstall --yes flightsite

# --- runtime: the site ----------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS site
# libmariadb3: the client library mysqlclient was built against. nginx (+ headers-more, to send
# no Server header): in front of granian inside the image, deploy/serve.py says why.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
        nginx libnginx-mod-http-headers-more-filter \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home app \
    && mkdir -p /data && chown app:app /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=flightsite.settings \
    DJANGO_DEBUG=0 \
    DJANGO_REQUIRE_SECRET_KEY=1 \
    DJANGO_MANIFEST_STATIC=1 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    FLIGHTSITE_VAR_DIR=/data \
    DJANGO_DB_URL=sqlite:////data/django.sqlite3
WORKDIR /app
COPY manage.py ./
COPY schema ./schema
COPY templates ./templates
COPY static ./static
COPY flightsite ./flightsite
COPY passengers ./passengers
COPY flights ./flights
COPY weather ./weather
COPY deploy/serve.py deploy/site-nginx.conf ./deploy/
# Hashed, compressed static files served by WhiteNoise; built once, owned by root (read-only).
RUN FLIGHTSITE_VAR_DIR=/tmp/collectstatic DJANGO_REQUIRE_SECRET_KEY=0 \
    python manage.py collectstatic --noinput -v 0 \
    && rm -rf /tmp/collectstatic

# Prepare the databases before the server starts: Django's tables (migrate, unless MIGRATE=0:
# a second replica) and, unless LOAD_DEMO_DATA=0 (a real flughafendb), the demo data: created and
# loaded on the first start, afterwards only flights for coming days that have none. Other
# commands run as given. A missing DJANGO_SECRET_KEY stops it here (DJANGO_REQUIRE_SECRET_KEY).
COPY --chmod=755 <<"EOF" /usr/local/bin/flightsite-entrypoint
#!/bin/sh
set -eu
if [ "${1:-}" = "python" ] && [ "${2:-}" = "deploy/serve.py" ]; then
    if [ "${MIGRATE:-1}" = "1" ]; then
        python manage.py migrate --noinput
    fi
    if [ "${LOAD_DEMO_DATA:-1}" = "1" ]; then
        python manage.py load_demo_data --if-needed --size "${DEMO_DATA_SIZE:-small}" --no-progress
    fi
fi
exec "$@"
EOF

USER app
EXPOSE 8000
VOLUME ["/data"]
ENTRYPOINT ["flightsite-entrypoint"]
# nginx on 8000 in front of granian on 127.0.0.1:8001 (deploy/serve.py): nginx reads every
# request whole before granian sees it (slow clients), granian runs the site. granian: 2 worker
# processes of 4 threads each, chosen on `make bench`'s server choice (README, "Performance"):
# the least CPU per request and the most requests per second at 8 and 32 connections. Every
# GRANIAN_* variable can be overridden at run time (e.g. GRANIAN_WORKERS=4), except its address.
# A hung request cannot pile up: every call the site makes has its own time budget (Valkey,
# MySQL, the weather provider), and nginx gives up after 35 s.
# DJANGO_TRUSTED_PROXIES: addresses of a proxy in front of the image whose X-Forwarded-For is
# believed (compose's `proxy`); none by default.
ENV FLIGHTSITE_HOST=0.0.0.0 \
    FLIGHTSITE_PORT=8000 \
    FLIGHTSITE_HEALTH_PORT=8002 \
    DJANGO_TRUSTED_PROXIES= \
    GRANIAN_INTERFACE=wsgi \
    GRANIAN_PORT=8001 \
    GRANIAN_WORKERS=2 \
    GRANIAN_BLOCKING_THREADS=4 \
    GRANIAN_WEBSOCKETS=false \
    GRANIAN_LOG_ACCESS_ENABLED=false \
    GRANIAN_RESPAWN_FAILED_WORKERS=true
CMD ["python", "deploy/serve.py"]

# --- nginx in front: buffers slow clients, serves the static files ---------------------------
# Debian's nginx: the same build as inside the site image, with the headers-more module (no
# Server header), which the nginx.org image lacks.
FROM debian:bookworm-slim AS proxy
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx libnginx-mod-http-headers-more-filter \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/nginx.conf /etc/nginx/nginx.conf
COPY --from=site /app/staticfiles /srv/static
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
