from django.contrib import admin
from django.urls import include, path

from flightsite.health import healthz
from passengers.admin_login import admin_login

admin.site.site_header = "flightsite administration"
admin.site.site_title = "flightsite admin"
admin.site.index_title = "Passengers, airports and flights"
admin.site.site_url = "/"  # the header's "View site" link

urlpatterns = [
    path("", include("passengers.urls")),
    path("weather/", include("weather.urls")),
    path("flights/", include("flights.urls")),
    path("healthz", healthz, name="healthz"),
    # Before admin.site.urls: the same address, with the login throttle in front.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
]

handler400 = "flightsite.errors.bad_request"
handler403 = "flightsite.errors.permission_denied"
handler404 = "flightsite.errors.page_not_found"
handler500 = "flightsite.errors.server_error"
