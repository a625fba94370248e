import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightsite.settings")
# This process serves the site: production time budgets, and a real secret key is required
# unless DEBUG is on (see settings).
os.environ.setdefault("FLIGHTSITE_SERVING", "1")

application = get_wsgi_application()
