"""The site's URLs plus an async view that uses the session's async API (tests only)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from passengers import session as sess


async def async_visits(request: HttpRequest) -> JsonResponse:
    passenger = await request.session.aget(sess.PASSENGER)
    if passenger is None:
        return JsonResponse({"logged_in": False}, status=403)
    visits = await request.session.aget("async_visits", 0) + 1
    await request.session.aset("async_visits", visits)
    return JsonResponse({"passportno": passenger["passportno"], "visits": visits})


urlpatterns = [
    path("async-visits/", async_visits),
    path("", include("flightsite.urls")),
]
