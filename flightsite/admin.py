"""The admin site, and its helpers: the legacy flughafendb tables are browsable but read-only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

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


@dataclass(frozen=True)
class AdminPage:
    """A page of the admin that is no model's, added by the app that owns it (its admin.py)."""

    route: str  # under /admin/, e.g. "passengers/live-sessions/"
    view: Callable[..., HttpResponse]
    name: str  # the URL's name in the admin's namespace ("admin:<name>")
    staff_only: bool = True  # behind AdminSite.admin_view (login, staff, never cached)
    # Listed in its app's box on the index (title), for those `visible(request)` lets see it.
    app_label: str | None = None
    title: str = ""
    object_name: str = ""  # the index's CSS class (model-<object_name>), as a model's would be
    visible: Callable[[HttpRequest], bool] = lambda request: True


class FlightsiteAdminSite(admin.AdminSite):
    """The admin, plus the pages apps add with `add_page` (passengers: live sessions, the
    throttled login). The project names no app: each app plugs its pages in from its admin.py,
    which autodiscovery imports before the admin's URLs are first built."""

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self.pages: list[AdminPage] = []

    def add_page(self, page: AdminPage) -> None:
        self.pages.append(page)

    def get_urls(self) -> list[Any]:
        from django.urls import path

        # Before the admin's own: a page may take over one of its addresses (the login).
        return [
            path(
                page.route,
                self.admin_view(page.view) if page.staff_only else page.view,
                name=page.name,
            )
            for page in self.pages
        ] + super().get_urls()

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        from django.urls import reverse

        app_list = super().get_app_list(request, app_label)
        for page in self.pages:
            if page.app_label is None or not page.visible(request):
                continue
            for app in app_list:
                if app["app_label"] == page.app_label:
                    app["models"].append(
                        {
                            "name": page.title,
                            "object_name": page.object_name,
                            "perms": {"view": True},
                            "admin_url": reverse(f"admin:{page.name}", current_app=self.name),
                            "add_url": None,
                            "view_only": True,
                        }
                    )
        return app_list


def site() -> FlightsiteAdminSite:
    """`admin.site`, as the project's AdminSite (flightsite.apps.FlightsiteAdminConfig)."""
    if not isinstance(admin.site, FlightsiteAdminSite):
        raise ImproperlyConfigured(
            "INSTALLED_APPS needs flightsite.apps.FlightsiteAdminConfig, not django.contrib.admin"
        )
    return admin.site
