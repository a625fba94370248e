from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from flightsite.admin import AdminPage, ReadOnlyAdmin, site

from . import admin_sessions
from .admin_login import admin_login
from .admin_sessions import PassengerSessionsMixin
from .models import Passenger, PassengerDetails

if TYPE_CHECKING:  # django-stubs' inlines are generic in their models, Django's are not
    _DetailsInline = admin.StackedInline[PassengerDetails, Passenger]
else:
    _DetailsInline = admin.StackedInline


class PassengerDetailsInline(_DetailsInline):
    """The passenger's details (passengerdetails, one row per passenger) on their page."""

    model = PassengerDetails
    verbose_name = "details"
    verbose_name_plural = "details"
    can_delete = False
    extra = 0
    max_num = 0
    fields = ("birthdate", "sex", "street", "zip", "city", "country", "emailaddress", "telephoneno")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Passenger)
class PassengerAdmin(PassengerSessionsMixin, ReadOnlyAdmin):
    list_display = ("passportno", "firstname", "lastname", "city", "country")
    search_fields = ("=passportno", "firstname", "lastname", "details__city")
    search_help_text = "Search by passport number (exact), first or last name, or city."
    ordering = ("passenger_id",)
    inlines = [PassengerDetailsInline]
    list_select_related = ("details",)

    @admin.display(ordering="details__city")
    def city(self, obj: Passenger) -> str:
        details = getattr(obj, "details", None)
        return details.city if details else "—"

    @admin.display(ordering="details__country")
    def country(self, obj: Passenger) -> str:
        details = getattr(obj, "details", None)
        return details.country if details else "—"


@admin.register(PassengerDetails)
class PassengerDetailsAdmin(ReadOnlyAdmin):
    list_display = ("passenger", "city", "zip", "country", "emailaddress")
    search_fields = ("=passenger__passportno", "passenger__lastname", "city")
    list_select_related = ("passenger",)
    ordering = ("passenger_id",)


def _live_sessions(request: HttpRequest) -> HttpResponse:
    return admin_sessions.live_sessions_view(request, site().each_context(request))


# "Live sessions" (all sessions in Valkey), listed with the passengers, and the admin's login
# behind the passenger login's throttle (the same address as the admin's own, which it calls).
for _page in (
    AdminPage(
        "passengers/live-sessions/",
        _live_sessions,
        "live_sessions",
        app_label="passengers",
        title="Live sessions",
        object_name="LiveSession",
        visible=admin_sessions.can_view_sessions,
    ),
    AdminPage(
        "passengers/live-sessions/end/",
        admin_sessions.end_live_session,
        "end_live_session",
    ),
    AdminPage("login/", admin_login, "throttled_login", staff_only=False),
):
    site().add_page(_page)
