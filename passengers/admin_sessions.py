"""Live sessions in the Django admin: all of them (a SCAN, page by page) and each passenger's own
on their admin page, with an "end" button. Staff who may view passengers see them; ending one
takes the `passengers.end_session` permission, and every end is logged (the passenger's admin
history and the `passengers.audit` logger)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from flightsite.errors import error_page
from passengers.models import Passenger
from valkey_sessions import live as live_sessions
from valkey_sessions.keys import mask

from .session import engine_has_extras, needs_engine_message, passport_of

audit = logging.getLogger("passengers.audit")

PAGE_SIZE = 50
COUNT_BUDGET = 1.0  # seconds the list page may spend counting (SCAN) before it estimates
# Up to this many sessions the list is read whole and sorted (newest activity first, passengers
# before the others); beyond, it goes page by page in SCAN order, each page sorted.
SORTED_LIMIT = 1000
KINDS = {
    "": "All",
    "passengers": "Passengers",
    "others": "Staff and anonymous",
}


def kind_of(session: live_sessions.LiveSession) -> str:
    """What a session is, for staff: a passenger's, a staff member's (Django's auth in the
    same store), or anonymous (a visitor who never logged in: a CSRF or weather choice)."""
    if session.owner is not None:
        return "passenger"
    if session.data is None:
        return "unreadable"
    return "staff" if "_auth_user_id" in session.data else "anonymous"


def _activity(session: live_sessions.LiveSession) -> float:
    moment = session.last_seen or (session.device.created if session.device else None)
    return moment.timestamp() if moment else 0.0


def sort_and_filter(
    sessions: list[live_sessions.LiveSession], kind: str
) -> list[live_sessions.LiveSession]:
    """Passengers first, then the others; newest activity first within each."""
    if kind == "passengers":
        sessions = [s for s in sessions if s.owner is not None]
    elif kind == "others":
        sessions = [s for s in sessions if s.owner is None]
    return sorted(sessions, key=lambda s: (s.owner is None, -_activity(s)))


def can_view_sessions(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perm("passengers.view_passenger"))


def can_end_sessions(request: HttpRequest) -> bool:
    return can_view_sessions(request) and request.user.has_perm("passengers.end_session")


def _log_end(request: HttpRequest, session: live_sessions.LiveSession | None, how: str) -> None:
    where = session.masked_key if session else "?"
    passport = passport_of(session.data) if session else ""
    audit.info("%s ended session %s (passport %s) %s", request.user, where, passport or "-", how)
    user = request.user
    if session is not None and session.owner is not None and user.is_authenticated:
        LogEntry.objects.create(
            user_id=user.pk,
            content_type=ContentType.objects.get_for_model(Passenger),
            object_id=str(session.owner),
            object_repr=passport or str(session.owner),
            action_flag=CHANGE,
            change_message=f"Ended session {where} {how}.",
        )


def live_sessions_view(request: HttpRequest, admin_context: dict[str, Any]) -> HttpResponse:
    if not can_view_sessions(request):
        raise PermissionDenied
    if not engine_has_extras():
        return error_page(request, 501, needs_engine_message())
    cursor = request.GET.get("cursor", "0")
    kind = request.GET.get("kind", "")
    kind = kind if kind in KINDS else ""
    raw_page = request.GET.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and 0 < len(raw_page) < 7 else 1
    total, complete = live_sessions.count(deadline=time.monotonic() + COUNT_BUDGET)
    whole = None
    if cursor in ("", "0") and complete and total <= SORTED_LIMIT:
        found = live_sessions.scan_page("0", SORTED_LIMIT + 1)
        if found.next_cursor is None:
            whole = sort_and_filter(found.sessions, kind)
    if whole is not None:  # all of them, sorted, a page at a time
        start = (number - 1) * PAGE_SIZE
        sessions, next_cursor = whole[start : start + PAGE_SIZE], None
        next_page = number + 1 if start + PAGE_SIZE < len(whole) else None
    else:
        try:
            page = live_sessions.scan_page(cursor, PAGE_SIZE)
        except ValueError:
            return HttpResponseRedirect(reverse("admin:live_sessions"))
        sessions, next_cursor, next_page = (
            sort_and_filter(page.sessions, kind),
            page.next_cursor,
            None,
        )
    context = {
        **admin_context,
        "title": "Live sessions",
        "sessions": sessions,
        "rows": [(s, kind_of(s)) for s in sessions],
        "next_cursor": next_cursor,
        "next_page": next_page,
        "page_number": number,
        "sorted_whole": whole is not None,
        "first_page": cursor in ("", "0") and number == 1,
        "total": total,
        "total_complete": complete,
        "cursor": cursor,
        "kind": kind,
        "kinds": list(KINDS.items()),
        "can_end_sessions": can_end_sessions(request),
    }
    return render(request, "admin/passengers/live_sessions.html", context)


@require_POST
def end_live_session(request: HttpRequest) -> HttpResponse:
    if not can_end_sessions(request):
        raise PermissionDenied
    tag, handle = request.POST.get("tag", ""), request.POST.get("session", "")
    key = live_sessions.find_by_handle(tag, handle)
    session = live_sessions.peek(key) if key else None
    if key and live_sessions.end(key, by="staff"):
        _log_end(request, session, "from the live sessions list")
        messages.success(request, f"Session {mask(key)} ended.")
    else:
        messages.info(request, "That session had already ended.")
    back = reverse("admin:live_sessions")
    cursor = request.POST.get("cursor", "")
    return HttpResponseRedirect(f"{back}?cursor={cursor}" if cursor else back)


if TYPE_CHECKING:  # what the mixin is mixed into (django-stubs' ModelAdmin is generic)
    _PassengerAdmin = ModelAdmin[Passenger]
else:
    _PassengerAdmin = object


class PassengerSessionsMixin(_PassengerAdmin):
    """For PassengerAdmin: the passenger's live sessions on their page, each with "end"."""

    change_form_template = "admin/passengers/passenger/change_form_sessions.html"

    def get_urls(self) -> list[URLPattern]:
        urls = super().get_urls()
        view = self.admin_site.admin_view(self.end_session_view)
        return [path("<int:passenger_id>/sessions/end/", view, name="passenger_end_session"), *urls]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if can_view_sessions(request) and object_id.isdigit():
            extra_context["live_sessions"] = live_sessions.sessions_of(int(object_id))
            extra_context["can_view_sessions"] = True
            extra_context["can_end_sessions"] = can_end_sessions(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def end_session_view(self, request: HttpRequest, passenger_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        if not can_end_sessions(request):
            raise PermissionDenied
        handle = request.POST.get("session", "")
        target = next(
            (s for s in live_sessions.sessions_of(passenger_id) if s.handle == handle), None
        )
        if target is not None and live_sessions.end(target.session_key, by="staff"):
            _log_end(request, target, "from the passenger's page")
            messages.success(request, f"Session {target.masked_key} ended.")
        else:
            messages.info(request, "That session had already ended.")
        return HttpResponseRedirect(
            reverse("admin:passengers_passenger_change", args=[passenger_id]) + "#live-sessions"
        )
