"""The session keys of the site, in one place, and the helpers that read and change them.

The layout follows the workshop (one JSON value per `flight_session:<id>` key):
passenger_id, passenger {...}, weather {...}, flights [{...}, ...].
Every change assigns a new value, so Django marks the session modified even for nested data.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.base import SessionBase

PASSENGER_ID = "passenger_id"
PASSENGER = "passenger"
WEATHER = "weather"
FLIGHTS = "flights"
UNITS = "units"  # "metric" or "imperial": the units of the last weather fetch


def is_logged_in(session: SessionBase) -> bool:
    return session.get(PASSENGER_ID) is not None


def passenger(session: SessionBase) -> dict[str, Any] | None:
    return session.get(PASSENGER)


def log_in(session: SessionBase, passenger_id: int, info: dict[str, Any]) -> None:
    """Start a fresh session for a passenger (any previous session is deleted first)."""
    if session.session_key is not None:
        session.flush()  # DEL the old key: a new login never reuses a session id (fixation)
    session[PASSENGER_ID] = passenger_id
    session[PASSENGER] = info


def log_out(session: SessionBase) -> None:
    session.flush()  # DEL flight_session:<id> and forget the id


def weather(session: SessionBase) -> dict[str, Any] | None:
    return session.get(WEATHER)


def set_weather(session: SessionBase, value: dict[str, Any]) -> None:
    session[WEATHER] = value


def units(session: SessionBase) -> str | None:
    return session.get(UNITS)


def set_units(session: SessionBase, value: str) -> None:
    session[UNITS] = value


def flights(session: SessionBase) -> list[dict[str, Any]]:
    return list(session.get(FLIGHTS, []))


def has_flight(session: SessionBase, flight_id: int) -> bool:
    return any(f.get("flight_id") == flight_id for f in session.get(FLIGHTS, []))


def add_flight(session: SessionBase, flight: dict[str, Any]) -> bool:
    """Append a flight; False (and no change) if it is already there."""
    if has_flight(session, flight["flight_id"]):
        return False
    session[FLIGHTS] = [*session.get(FLIGHTS, []), flight]
    return True


def remove_flight(session: SessionBase, flight_id: int) -> bool:
    current = session.get(FLIGHTS, [])
    remaining = [f for f in current if f.get("flight_id") != flight_id]
    if len(remaining) == len(current):
        return False
    session[FLIGHTS] = remaining
    return True
