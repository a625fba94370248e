"""The site's URLs plus `/bench/floor` (bench_settings.py): first, so that resolving it costs
what resolving the dashboard does."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from flightsite.urls import handler400, handler403, handler404, handler500  # noqa: F401
from flightsite.urls import urlpatterns as site_patterns


def floor(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")  # Flask's twin: bench/flask_baseline/app.py, /bench/floor


urlpatterns = [path("bench/floor", floor), *site_patterns]
