from __future__ import annotations

from django.conf import settings
from django.test import Client

SESSION_PREFIX = "flight_session:"


def session_key_of(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie and cookie.value else None


def login(client: Client, passport: str):
    return client.post("/login/", {"passportno": passport})
