"""The peer baseline: the workshop's dashboard as a small Flask + Flask-Session app.

It behaves like the Flask original the workshop ships (see ../../README.md "Performance"):
every request that touches the session reads it with one GET and writes it back in full with
`SET … EX` (Flask-Session's default for a permanent session, SESSION_REFRESH_EACH_REQUEST),
values are msgpack (Flask-Session's default serializer) under `flight_session:<id>`, and the
session holds the workshop layout: passenger_id, passenger {...}, weather {...}, flights [...].
The pages mirror flightsite's (same markup and roughly the same size), so both frameworks
render a comparable page; the passenger, weather and flight values are generated
deterministically instead of read from flughafendb and a weather API, because only the
dashboard is compared and it reads nothing but the session.

    VALKEY_URL=redis://127.0.0.1:PORT/0 gunicorn --chdir bench/flask_baseline app:app

Only for bench/run.py; not part of the site.
"""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import redis
from flask import Flask, abort, redirect, render_template, request, session
from flask_session import Session
from markupsafe import Markup

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from weather.cities import COUNTRY_NAMES, find_city

FIRST = ["Anna", "Lukas", "Mia", "Jonas", "Sofia", "Elias", "Emma", "Noah", "Lea", "Finn"]
LAST = ["Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch"]
AIRPORTS = [
    ("Frankfurt am Main", "FRA"),
    ("London Heathrow", "LHR"),
    ("Paris Charles de Gaulle", "CDG"),
    ("Amsterdam Schiphol", "AMS"),
    ("Madrid Barajas", "MAD"),
    ("Munich Franz Josef Strauss", "MUC"),
]
AIRLINES = ["Lufthansa", "British Airways", "Air France", "KLM Royal Dutch", "Iberia"]
DESCRIPTIONS = ["clear sky", "few clouds", "scattered clouds", "light rain", "overcast clouds"]

app = Flask(__name__)
app.config.update(
    SECRET_KEY="bench-only",
    SESSION_TYPE="redis",
    SESSION_REDIS=redis.Redis.from_url(
        os.environ["VALKEY_URL"].replace("valkey://", "redis://"),
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
    ),
    SESSION_KEY_PREFIX="flight_session:",
    SESSION_PERMANENT=True,
    PERMANENT_SESSION_LIFETIME=timedelta(seconds=1800),
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
)
Session(app)

# The same inline SVG icons and hidden form token as flightsite's pages, so both frameworks
# render and send pages of about the same size.
_SVG = (
    '\n<svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" '
    'focusable="false" fill="none" stroke="currentColor" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round">\n{}</svg>\n'
)
ICONS = {
    "plane": '<path fill="currentColor" stroke="none" d="M21 16v-2l-8-5V3.5a1.5 1.5 0 0 0-3 0V9l'
    '-8 5v2l8-2.5V19l-2 1.5V22l3.5-1 3.5 1v-1.5L13 19v-5.5z"/>\n',
    "user": '<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7"/>\n',
    "sun": '<circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l'
    '1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/>\n',
}
app.jinja_env.globals["icon"] = lambda name: Markup(_SVG.format(ICONS[name]))
app.jinja_env.globals["form_token"] = Markup(
    '<input type="hidden" name="form_token" value="' + "t" * 64 + '">'
)


def _pick(seq: list, seed: str, salt: str = ""):
    digest = hashlib.blake2s(f"{salt}{seed}".encode(), digest_size=4).digest()
    return seq[int.from_bytes(digest, "big") % len(seq)]


def _flight(flight_id: int) -> dict:
    seed = str(flight_id)
    (src, src_iata), (dst, dst_iata) = _pick(AIRPORTS, seed, "a"), _pick(AIRPORTS, seed, "b")
    departure = datetime(2025, 1, 1, 6) + timedelta(minutes=7 * (flight_id % 150))
    return {
        "flight_id": flight_id,
        "flightno": f"LH{flight_id % 10000:04d}",
        "from_airport": src,
        "from_iata": src_iata,
        "to_airport": dst,
        "to_iata": dst_iata,
        "departure": departure.isoformat(),
        "arrival": (departure + timedelta(hours=2, minutes=15)).isoformat(),
        "airline": _pick(AIRLINES, seed),
    }


def _logged_in() -> bool:
    return session.get("passenger_id") is not None


@app.get("/bench/floor")
def floor():
    return "ok"  # the framework floor: flightsite's twin is bench/bench_urls.py


@app.get("/login/")
def login_page():
    return render_template("login.html")


@app.post("/login/")
def login():
    passport = request.form.get("passportno", "").strip().upper()
    if not passport.startswith("P") or not passport[1:].isdigit():
        return render_template("login.html", error="No passenger with this passport."), 403
    session.clear()
    session["passenger_id"] = int(passport[1:]) - 100000
    session["passenger"] = {
        "passportno": passport,
        "firstname": _pick(FIRST, passport),
        "lastname": _pick(LAST, passport),
        "city": "Frankfurt",
        "country": "Germany",
        "zip": 60311,
    }
    return redirect("/")


@app.get("/")
def dashboard():
    if not _logged_in():
        return redirect("/login/")
    return render_template(
        "dashboard.html",
        passenger=session["passenger"],
        weather=session.get("weather"),
        flights=session.get("flights", []),
    )


@app.route("/weather/", methods=["GET", "POST"])
def weather():
    if not _logged_in():
        return redirect("/login/")
    if request.method == "GET":
        return render_template("weather.html", countries=COUNTRY_NAMES)
    city = find_city(request.form.get("country", ""), request.form.get("zip", "")) or abort(400)
    session["weather"] = {
        "city": city.name,
        "country": city.country,
        "zip": city.zip,
        "temp": 40 + len(city.name) * 1.7,
        "description": _pick(DESCRIPTIONS, city.name),
        "humidity": 60 + len(city.zip),
        "wind_speed": 3.6,
    }
    return redirect("/")


@app.get("/flights/")
def flights():
    if not _logged_in():
        return redirect("/login/")
    return render_template("flights.html", flights=[_flight(i) for i in range(1000, 1050)])


@app.post("/flights/add/")
def add_flight():
    if not _logged_in():
        return redirect("/login/")
    flight_id = int(request.form.get("flight_id", "0"))
    current = session.get("flights", [])
    if all(f["flight_id"] != flight_id for f in current):
        session["flights"] = [*current, _flight(flight_id)]
    return redirect("/flights/")


@app.post("/logout/")
def logout():
    session.clear()  # Flask-Session DELetes the key of an emptied session
    return redirect("/login/")
