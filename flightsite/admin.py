"""Admin helpers: the legacy flughafendb tables are browsable but read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

if TYPE_CHECKING:  # django-stubs' ModelAdmin is generic in its model, Django's class is not
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin(_ModelAdmin):
    """No add, change or delete: the site does not own flughafendb."""

    actions = None
    show_full_result_count = False  # avoid a second COUNT(*) over large legacy tables
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FlightsiteAdminSite(admin.AdminSite):
    """The admin, plus "Live sessions" (all sessions in Valkey) listed with the passengers."""

    def get_urls(self) -> list[Any]:
        from django.urls import path

        from passengers import admin_sessions

        return [
            path(
                "passengers/live-sessions/",
                self.admin_view(self._live_sessions),
                name="live_sessions",
            ),
            path(
                "passengers/live-sessions/end/",
                self.admin_view(admin_sessions.end_live_session),
                name="end_live_session",
            ),
            *super().get_urls(),
        ]

    def _live_sessions(self, request: HttpRequest) -> Any:
        from passengers import admin_sessions

        return admin_sessions.live_sessions_view(request, self.each_context(request))

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        from django.urls import reverse

        from passengers.admin_sessions import can_view_sessions

        app_list = super().get_app_list(request, app_label)
        if can_view_sessions(request):
            for app in app_list:
                if app["app_label"] == "passengers":
                    app["models"].append(
                        {
                            "name": "Live sessions",
                            "object_name": "LiveSession",
                            "perms": {"view": True},
                            "admin_url": reverse("admin:live_sessions", current_app=self.name),
                            "add_url": None,
                            "view_only": True,
                        }
                    )
        return app_list
