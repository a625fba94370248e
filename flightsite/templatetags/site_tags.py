"""Template filters for values kept in the session as ISO 8601 strings."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def isodatetime(value: str | None, fmt: str = "D j M, H:i") -> str:
    """Format an ISO 8601 string (as stored in the session) with a Django date format."""
    if not value:
        return ""
    if fmt == "H:i" and len(str(value)) >= 16 and str(value)[10] == "T":
        return str(value)[11:16]  # the common case on the flights page, without date parsing
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_aware(parsed):
        parsed = timezone.localtime(parsed)
    return date_format(parsed, fmt)
