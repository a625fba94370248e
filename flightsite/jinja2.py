"""The Jinja2 environment of the site's own templates (templates/; the admin stays on Django
templates, see TEMPLATES in settings).

Templates get, besides their view's context:

- from Django's Jinja2 backend: ``request``, ``csrf_input`` (replaced below by one that masks the
  token once per page), ``csrf_token``;
- from the context processors in settings: ``messages``, ``current_passenger``;
- globals: ``url(name, *args, **kwargs)`` (reverse), ``static(path)``, ``icon(name)``,
  ``timestamp(moment, "j M Y, H:i")`` (a time with its zone: "3 Dec 2026, 19:05 UTC"),
  ``flight_cells(flight, with_date=False)``, ``list_row(flight, chosen, now_iso)``, ``list_rows(…)``
  (flights/rows.py);
- filters: ``date(value, "l j F Y")``, ``isodatetime(value, "H:i")``,
  ``days_after(arrival, departure)``, ``capfirst``.
"""

from __future__ import annotations

import functools
import os
from datetime import date, datetime
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.forms.renderers import Jinja2 as Jinja2FormRenderer
from django.http import HttpRequest
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CSRF_SECRET_LENGTH,
    get_token,
)
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import formats, timezone
from django.utils.dateformat import format as date_format
from django.utils.text import capfirst
from django.utils.translation import get_language
from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache
from markupsafe import Markup, escape

# Inline SVG icons (no icon font, no CDN), decorative only: {{ icon("plane") }}. The markup,
# newlines included, is what the former {% include "icon.html" %} rendered.
_SVG_OPEN = (
    '\n<svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" '
    'focusable="false" fill="none" stroke="currentColor" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round">\n'
)
_SVG_CLOSE = "</svg>\n"
_ICON_PATHS = {
    "plane": (
        '<path fill="currentColor" stroke="none" d="M21 16v-2l-8-5V3.5a1.5 1.5 0 0 0-3 0V9l-8 '
        '5v2l8-2.5V19l-2 1.5V22l3.5-1 3.5 1v-1.5L13 19v-5.5z"/>\n'
    ),
    "user": '<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7"/>\n',
    "sun": (
        '<circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 '
        '1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/>\n'
    ),
    "cloud": '<path d="M7 18a4 4 0 0 1-.6-8A6 6 0 0 1 18 9a4.5 4.5 0 0 1-.5 9z"/>\n',
    "alert": '<circle cx="12" cy="12" r="9"/><path d="M12 7v6M12 16.5v.5"/>\n',
}
ICONS = {name: Markup(_SVG_OPEN + paths + _SVG_CLOSE) for name, paths in _ICON_PATHS.items()}
_NO_ICON = Markup(_SVG_OPEN + _SVG_CLOSE)


def icon(name: str) -> Markup:
    """An inline SVG icon by name (an unknown name gives an empty, still harmless, <svg>)."""
    return ICONS.get(name, _NO_ICON)


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


def zone_label(moment: datetime) -> str:
    """The zone of an aware time as people read it: "CET", "EST", "UTC"; zones without a
    common abbreviation (tzdata writes "-03") as "UTC-3", "UTC+5:30"."""
    name = moment.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = moment.utcoffset()
    if offset is None:
        return name
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes > 0 else "\u2212"  # a minus sign, not a hyphen
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def moment_text(value: datetime, fmt: str = "j M Y, H:i") -> str:
    """An aware time in the site's zone as text with the zone: "3 Dec 2026, 19:05 UTC"."""
    local = timezone.localtime(value)
    return f"{date_format(local, fmt)} {zone_label(local)}"


def timestamp(value: datetime | str | None, fmt: str = "j M Y, H:i") -> Markup:
    """A moment for people, saying whose clock it is: <time datetime="…">3 Dec 2026, 19:05
    UTC</time> (the site's time zone, TIME_ZONE, with its abbreviation)."""
    if not value:
        return Markup("—")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return Markup("{}").format(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    local = timezone.localtime(value)
    # escape() and an f-string: Markup.format() goes through string.Formatter (~10x the time).
    return Markup(
        f'<time datetime="{escape(local.isoformat(timespec="seconds"))}">'
        f"{escape(date_format(local, fmt))} {escape(zone_label(local))}</time>"
    )


# A flash message shown where its change happened rather than at the top of the page: the view
# adds it with extra_tags="at:<place>" (e.g. "at:flight-1534"), the page that shows that place
# lists it in `message_places` and renders messages_at(messages, place) there.
MESSAGE_PLACE_PREFIX = "at:"


def message_place(message: Any) -> str:
    for tag in (getattr(message, "extra_tags", "") or "").split():
        if tag.startswith(MESSAGE_PLACE_PREFIX):
            return tag[len(MESSAGE_PLACE_PREFIX) :]
    return ""


def messages_by_place(messages: Any) -> dict[str, list[Any]]:
    """The messages that have a place, by place (read once per page, not once per row)."""
    placed: dict[str, list[Any]] = {}
    for message in messages or ():
        place = message_place(message)
        if place:
            placed.setdefault(place, []).append(message)
    return placed


def messages_elsewhere(messages: Any, places: Any) -> list[Any]:
    """The messages for the top of the page: those of no place this page shows."""
    return [m for m in messages or () if message_place(m) not in (places or ())]


def days_after(value: str | None, reference: str | None) -> int:
    """Whole days between the dates of two ISO strings: an arrival's "+1"."""
    if not value or not reference:
        return 0
    try:
        return (date.fromisoformat(str(value)[:10]) - date.fromisoformat(str(reference)[:10])).days
    except ValueError:
        return 0


def date_filter(value: date | datetime | None, fmt: str | None = None) -> str:
    """Django's |date filter: ``today|date("l j F Y")``; an aware datetime in local time."""
    if value is None or value == "":
        return ""
    if type(value) is date:
        return _date_text(value, fmt, get_language())
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, fmt)


@functools.lru_cache(maxsize=256)
def _date_text(value: date, fmt: str | None, language: str | None) -> str:
    # A calendar day's text depends on the day, the format and the language only: the flights
    # page writes the same day four times a page (~15 us each through Django's formats).
    return formats.date_format(value, fmt)


# url(name) of a view without arguments, by (name, script prefix, urlconf): reverse() costs
# ~25 us, and a page links to the same few views several times on every request.
_urls: dict[tuple[str, str, str | None], str] = {}
_URLS_MAX = 1000  # the script prefix may come from the request (SCRIPT_NAME): stay bounded


def url(viewname: str, *args: Any, **kwargs: Any) -> str:
    """reverse(): ``url("flights:list")``, ``url("name", arg)``, ``url("name", key=value)``."""
    if args or kwargs:
        return reverse(viewname, args=args or None, kwargs=kwargs or None)
    key = (viewname, get_script_prefix(), get_urlconf())
    try:
        return _urls[key]
    except KeyError:
        if len(_urls) >= _URLS_MAX:
            _urls.clear()
        result = _urls[key] = reverse(viewname)
        return result


@functools.lru_cache(maxsize=256)
def static_url(path: str) -> str:
    """static(): the URL of a static file (fixed for the life of the process, ~15 us to build)."""
    return static(path)


@receiver(setting_changed)
def _forget_urls(*, setting: str, **kwargs: Any) -> None:
    if setting in {"ROOT_URLCONF", "FORCE_SCRIPT_NAME"}:
        _urls.clear()
    if setting in {"STATIC_URL", "STATIC_ROOT", "STORAGES", "DEBUG", "FORCE_SCRIPT_NAME"}:
        static_url.cache_clear()
    if "FORMAT" in setting or setting in {"USE_L10N", "FORMAT_MODULE_PATH", "LANGUAGE_CODE"}:
        _date_text.cache_clear()


# The HTML of a widget whose context is plain values, by (template, context): a widget's HTML
# depends on nothing else (Widget.render passes no request), and the flights page renders the
# same three inputs with the same values on nearly every request (~45 us a page).
_WidgetKey = tuple[str, Any]
_widgets: dict[_WidgetKey, str] = {}
_WIDGETS_MAX = 512  # bounded: values come from query strings anyone can write


def _frozen(value: Any) -> Any:
    """`value` as a hashable key if it is made of plain values only (else a TypeError)."""
    if value is None or type(value) in (str, int, bool):
        return (type(value), value)  # True and 1 are equal keys: the type tells them apart
    if type(value) is dict:
        return tuple((k, _frozen(v)) for k, v in value.items())
    if type(value) in (list, tuple):
        return (type(value).__name__, *(_frozen(v) for v in value))
    raise TypeError(type(value).__name__)


class CachingJinja2FormRenderer(Jinja2FormRenderer):
    """Django's Jinja2 form renderer that renders a widget with a given plain-value context
    once; a form, an error list or anything with objects in its context is rendered as
    always."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if request is not None or set(context) != {"widget"}:
            return super().render(template_name, context, request)
        try:
            key = (template_name, _frozen(context["widget"]))
        except TypeError:
            return super().render(template_name, context, request)
        html = _widgets.get(key)
        if html is None:
            if len(_widgets) >= _WIDGETS_MAX:
                _widgets.clear()
            html = _widgets[key] = super().render(template_name, context, request)
        return html


# The site's forms render their widgets with Django's Jinja2 widget templates
# (django/forms/jinja2/): the same HTML as the default Django-template ones in a third of the
# time, ~0.3 ms a page with three fields. Per form class (default_renderer), not FORM_RENDERER:
# the admin's widgets only exist as Django templates.
FORM_RENDERER = CachingJinja2FormRenderer()


_CSRF_INDEX = {char: i for i, char in enumerate(CSRF_ALLOWED_CHARS)}
_CSRF_BASE = len(CSRF_ALLOWED_CHARS)  # 62
_CSRF_UNBIASED = 256 - 256 % _CSRF_BASE  # bytes below this map evenly onto the 62 characters


def masked_csrf_token(request: HttpRequest) -> str:
    """The page's CSRF token: Django's get_token() with two differences where the browser
    already has the CSRF cookie.

    - The mask is 32 characters from one os.urandom() call (rejection sampling: unbiased),
      not 32 calls of secrets.choice(): ~6 us instead of ~90 us a page.
    - The cookie is not sent again on every page with a form. Django re-sends it "to renew
      the expiry timer"; the cookie lives CSRF_COOKIE_AGE (a year) from when it was set, a
      new one is set whenever there is none (and at login, rotate_token()), and a page
      without it gets one here through get_token(). Re-sending cost a Set-Cookie header
      (~120 bytes) and its formatting on every page. The flip side: a change of the cookie's
      flags (CSRF_COOKIE_SECURE, _SAMESITE, _AGE) reaches a browser at its next login.
    The token is what _unmask_cipher_token() reads back (tests/test_templates.py)."""
    secret = request.META.get("CSRF_COOKIE")
    if not secret or len(secret) != CSRF_SECRET_LENGTH:
        return str(get_token(request))  # a new cookie: Django sets it on the response
    mask: list[int] = []
    while len(mask) < CSRF_SECRET_LENGTH:
        mask += [b % _CSRF_BASE for b in os.urandom(48) if b < _CSRF_UNBIASED]
    del mask[CSRF_SECRET_LENGTH:]
    chars, index = CSRF_ALLOWED_CHARS, _CSRF_INDEX
    cipher = "".join(chars[(index[c] + m) % _CSRF_BASE] for c, m in zip(secret, mask, strict=True))
    return "".join(chars[m] for m in mask) + cipher


class _CsrfInput:
    """The hidden CSRF input, masked once per page however many forms it has (what Django
    templates do), and only if the page has a form (a token sets the CSRF cookie)."""

    __slots__ = ("_html", "_request")

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self._html: str | None = None

    def __html__(self) -> str:
        if self._html is None:
            token = masked_csrf_token(self._request)
            self._html = f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        return self._html

    __str__ = __html__


def csrf(request: HttpRequest) -> dict[str, Any]:
    """Context processor: ``csrf_input`` (overrides the backend's, which masks on every use)."""
    return {"csrf_input": _CsrfInput(request)}


class SiteEnvironment(Environment):
    """``row.name`` on a dict looks up the key first, as Django templates do. Most values here
    are dicts (session data, query rows), and Jinja's default tries getattr() first, which
    raises (and catches) an AttributeError for each of them: a quarter of the flights page."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _bytecode_cache() -> BytecodeCache | None:
    """Compiled templates kept on disk (a directory of this user's in the temp dir), so a new
    worker process does not compile every template again; None if there is nowhere to write."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def environment(**options: Any) -> Environment:
    # Keep the final newline of a template (Django templates do): same HTML as before the move.
    options.setdefault("keep_trailing_newline", True)
    # Django's backend sets auto_reload = DEBUG: in production a template is compiled once per
    # process and never checked for changes; the bytecode cache spares new workers compiling.
    if not options.get("auto_reload"):
        options.setdefault("bytecode_cache", _bytecode_cache())
    # Apps add their own globals and filters as Jinja extensions named in TEMPLATES' OPTIONS
    # ("extensions"), which this environment instantiates: the project names no app.
    env = SiteEnvironment(**options)
    env.globals.update(
        {
            "url": url,
            "static": static_url,
            "icon": icon,
            "timestamp": timestamp,
            "moment_text": moment_text,
            "messages_by_place": messages_by_place,
            "messages_elsewhere": messages_elsewhere,
        }
    )
    env.filters.update(
        {
            "date": date_filter,
            "isodatetime": isodatetime,
            "days_after": days_after,
            "capfirst": capfirst,
        }
    )
    return env
