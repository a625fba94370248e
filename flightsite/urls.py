from django.contrib import admin
from django.urls import include, path

from flightsite.health import healthz

admin.site.site_header = "flightsite administration"
admin.site.site_title = "flightsite admin"
admin.site.index_title = "Passengers, airports and flights"
admin.site.site_url = "/"  # the header's "View site" link

urlpatterns = [
    path("", include("passengers.urls")),
    path("weather/", include("weather.urls")),
    path("flights/", include("flights.urls")),
    path("healthz", healthz, name="healthz"),
    # Apps add their own admin pages (passengers: live sessions, the throttled login):
    # flightsite/admin.py, FlightsiteAdminSite.add_page.
    path("admin/", admin.site.urls),
]

handler400 = "flightsite.errors.bad_request"
handler403 = "flightsite.errors.permission_denied"
handler404 = "flightsite.errors.page_not_found"
handler500 = "flightsite.errors.server_error"
