import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")
# This process serves the site (see flightsite/wsgi.py).
os.environ.setdefault("FLIGHTSITE_SERVING", "1")

application = get_asgi_application()
