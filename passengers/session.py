"""What a passenger's session holds, defined once: the keys, the layout of each entry, the layout
version, how two concurrent changes to it merge, and the helpers views use to read and change it.

The layout follows the workshop (one value per `flight_session:` key): passenger_id, passenger
{...}, weather {...}, flights [{...}, ...]. The site's codec (passengers/session_codec.py)
stores these entries positionally, in the field order of the TypedDicts below, so the order is
part of the stored format: a field may only be appended (never removed, renamed or reordered),
which keeps values readable both ways during a rolling deploy.

Every change assigns a new value, so Django marks the session modified even for nested data.
"""

from __future__ import annotations

import functools
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from valkey_sessions.merge import MergeRejected
from valkey_sessions.merge import merge as generic_merge

PASSENGER_ID = "passenger_id"
PASSENGER = "passenger"
WEATHER = "weather"
FLIGHTS = "flights"
UNITS = "units"  # "metric" or "imperial": the units of the last weather fetch


class PassengerEntry(TypedDict):
    passportno: str
    firstname: str
    lastname: str
    city: str | None
    country: str | None
    zip: int | None


class WeatherEntry(TypedDict):
    city: str
    country: str
    zip: str
    temp: float
    description: str
    humidity: int
    wind_speed: float
    units: str  # "metric" (°C, m/s) or "imperial" (°F, mph)
    provider: str
    fetched_at: str  # ISO 8601, when the provider answered
    cached: bool  # served from the shared cache rather than by the provider


class FlightEntry(TypedDict):
    flight_id: int
    flightno: str
    from_airport: str
    from_iata: str | None
    to_airport: str
    to_iata: str | None
    departure: str  # local time, "YYYY-MM-DDTHH:MM"
    arrival: str
    airline: str | None


# Field order of each entry, as stored (TypedDicts keep their declaration order).
PASSENGER_FIELDS: tuple[str, ...] = tuple(PassengerEntry.__annotations__)
WEATHER_FIELDS: tuple[str, ...] = tuple(WeatherEntry.__annotations__)
FLIGHT_FIELDS: tuple[str, ...] = tuple(FlightEntry.__annotations__)


def max_flights() -> int:
    return settings.MAX_FLIGHTS_PER_SESSION


# --- reading and changing a session ----------------------------------------------------------


ENGINE = "valkey_sessions"
NEEDS_ENGINE = (
    "This page needs the site's own session engine (SESSION_ENGINE=valkey_sessions): it lists "
    "sessions by passenger, which Django's stock cache engine ({engine}) does not keep."
)


def engine_has_extras() -> bool:
    """Whether sessions are ours (the list of devices, live sessions), or Django's stock
    engine's (the flow works, those pages say they need ours)."""
    return bool(settings.SESSION_ENGINE == ENGINE)


def needs_engine_message() -> str:
    return NEEDS_ENGINE.format(engine=settings.SESSION_ENGINE)


def is_logged_in(session: SessionBase) -> bool:
    return session.get(PASSENGER_ID) is not None


def passenger(session: SessionBase) -> PassengerEntry | None:
    return session.get(PASSENGER)


def log_in(
    session: SessionBase,
    passenger_id: int,
    info: PassengerEntry,
    *,
    client_ip: str = "",
    user_agent: str = "",
) -> None:
    """Start a fresh session for a passenger: any previous session is deleted first, and the new
    one gets a new key (no session fixation). The client's address and browser are what the
    passenger's list of devices shows."""
    if session.session_key is not None:
        session.flush()  # DEL the old key: a new login never reuses a session id
    session[PASSENGER_ID] = passenger_id
    session[PASSENGER] = info
    set_device = getattr(session, "set_device", None)  # our store only (not Django's engines)
    if set_device is not None:
        set_device(client_ip=client_ip, user_agent=describe_user_agent(user_agent))


def log_out(session: SessionBase) -> None:
    session.flush()  # DEL flight_session:<id> and forget the id


@functools.lru_cache(maxsize=512)
def describe_user_agent(user_agent: str) -> str:
    """'Firefox 132 on Linux' from a User-Agent header (ua-parser's regexes): what the list of
    devices shows, and all of the header a session keeps."""
    if not user_agent:
        return "Unknown device"
    import ua_parser  # imported here: compiling its regexes takes a moment, pages rarely need it

    result = ua_parser.parse(user_agent).with_defaults()
    browser = result.user_agent.family
    if result.user_agent.major and result.user_agent.major != "Other":
        browser += f" {result.user_agent.major}"
    system = result.os.family
    return browser if system in ("", "Other") else f"{browser} on {system}"


def weather(session: SessionBase) -> WeatherEntry | None:
    return session.get(WEATHER)


def set_weather(session: SessionBase, value: WeatherEntry) -> None:
    session[WEATHER] = value


def units(session: SessionBase) -> str | None:
    return session.get(UNITS)


def set_units(session: SessionBase, value: str) -> None:
    session[UNITS] = value


def flights(session: SessionBase) -> list[FlightEntry]:
    return list(session.get(FLIGHTS, []))


def has_flight(session: SessionBase, flight_id: int) -> bool:
    return any(f.get("flight_id") == flight_id for f in session.get(FLIGHTS, []))


def add_flight(session: SessionBase, flight: FlightEntry) -> bool:
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


# --- plugged into the session engine (settings.VALKEY_SESSIONS) -------------------------------


def owner(data: dict[str, Any]) -> int | None:
    """Whose session this is (VALKEY_SESSIONS["OWNER"]): the passenger's."""
    pid = data.get(PASSENGER_ID)
    return pid if type(pid) is int else None


def passport_of(data: dict[str, Any] | None) -> str:
    """The passport number in a session's data ("" if none): what staff pages show."""
    entry = (data or {}).get(PASSENGER)
    return str(entry.get("passportno") or "") if isinstance(entry, dict) else ""


def _identity(item: Any) -> Any:
    """What makes two list elements "the same entry": a flight is its flight_id."""
    if isinstance(item, dict) and "flight_id" in item:
        return ("flight", item["flight_id"])
    return repr(item)  # any other JSON value: its exact content


def merge(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """VALKEY_SESSIONS["MERGE"]: the engine's per-key three-way merge (valkey_sessions.merge),
    with flights identified by flight_id (an edited flight is edited in place, kept once) and
    the flight limit: MergeRejected when the other tab's additions and ours together exceed
    it."""
    merged = generic_merge(base, mine, theirs, identity=_identity)
    flights_now, flights_before = merged.get(FLIGHTS), theirs.get(FLIGHTS)
    if (
        isinstance(flights_now, list)
        and len(flights_now) > max_flights()
        and len(flights_now) > len(flights_before if isinstance(flights_before, list) else [])
    ):
        raise MergeRejected(
            f"You can keep at most {max_flights()} flights: another tab added flights "
            "at the same moment. Remove one from your dashboard first."
        )
    return merged
