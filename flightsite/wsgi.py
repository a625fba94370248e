import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")
# This process serves the site: production time budgets, and a real secret key is required
# unless DEBUG is on (see settings).
os.environ.setdefault("FLIGHTSITE_SERVING", "1")

application = get_wsgi_application()

if os.environ.get("FLIGHTSITE_HEALTH_PORT"):
    # /healthz from a thread of its own, answering while every WSGI thread is busy.
    from flightsite import health_server

    health_server.start("127.0.0.1", int(os.environ["FLIGHTSITE_HEALTH_PORT"]))
