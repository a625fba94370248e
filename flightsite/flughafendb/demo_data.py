"""Deterministic demo data for the flughafendb tables.

Same seed, same rows: passport numbers, names and flights are reproducible, and flights are laid
out relative to a start day so that every day of the window has departures. Rows are written with
bulk `executemany` in batches (mysqlclient turns each batch into one multi-row INSERT), in one
transaction, and on MySQL/MariaDB with per-row unique and foreign key checks off for the load.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connections, transaction

from flightsite.flughafendb.readonly import legacy_writes_allowed
from flightsite.flughafendb.router import LEGACY_ALIAS
from flightsite.flughafendb.signals import data_changed

# (IATA, ICAO, name, city, country, latitude, longitude)
AIRPORTS: list[tuple[str, str, str, str, str, float, float]] = [
    ("FRA", "EDDF", "Frankfurt am Main", "Frankfurt", "Germany", 50.0333, 8.5706),
    ("MUC", "EDDM", "Munich", "Munich", "Germany", 48.3538, 11.7861),
    ("BER", "EDDB", "Berlin Brandenburg", "Berlin", "Germany", 52.3667, 13.5033),
    ("HAM", "EDDH", "Hamburg", "Hamburg", "Germany", 53.6304, 9.9882),
    ("DUS", "EDDL", "Duesseldorf", "Duesseldorf", "Germany", 51.2895, 6.7668),
    ("VIE", "LOWW", "Vienna Schwechat", "Vienna", "Austria", 48.1103, 16.5697),
    ("ZRH", "LSZH", "Zurich", "Zurich", "Switzerland", 47.4647, 8.5492),
    ("LHR", "EGLL", "London Heathrow", "London", "United Kingdom", 51.4700, -0.4543),
    ("LGW", "EGKK", "London Gatwick", "London", "United Kingdom", 51.1537, -0.1821),
    ("MAN", "EGCC", "Manchester", "Manchester", "United Kingdom", 53.3537, -2.2750),
    ("CDG", "LFPG", "Paris Charles de Gaulle", "Paris", "France", 49.0097, 2.5479),
    ("ORY", "LFPO", "Paris Orly", "Paris", "France", 48.7262, 2.3652),
    ("NCE", "LFMN", "Nice Cote d'Azur", "Nice", "France", 43.6584, 7.2159),
    ("AMS", "EHAM", "Amsterdam Schiphol", "Amsterdam", "Netherlands", 52.3105, 4.7683),
    ("BRU", "EBBR", "Brussels", "Brussels", "Belgium", 50.9010, 4.4844),
    ("CPH", "EKCH", "Copenhagen Kastrup", "Copenhagen", "Denmark", 55.6180, 12.6508),
    ("ARN", "ESSA", "Stockholm Arlanda", "Stockholm", "Sweden", 59.6498, 17.9238),
    ("OSL", "ENGM", "Oslo Gardermoen", "Oslo", "Norway", 60.1976, 11.1004),
    ("HEL", "EFHK", "Helsinki Vantaa", "Helsinki", "Finland", 60.3172, 24.9633),
    ("MAD", "LEMD", "Madrid Barajas", "Madrid", "Spain", 40.4983, -3.5676),
    ("BCN", "LEBL", "Barcelona El Prat", "Barcelona", "Spain", 41.2974, 2.0833),
    ("PMI", "LEPA", "Palma de Mallorca", "Palma", "Spain", 39.5517, 2.7388),
    ("LIS", "LPPT", "Lisbon Humberto Delgado", "Lisbon", "Portugal", 38.7742, -9.1342),
    ("FCO", "LIRF", "Rome Fiumicino", "Rome", "Italy", 41.8003, 12.2389),
    ("MXP", "LIMC", "Milan Malpensa", "Milan", "Italy", 45.6306, 8.7281),
    ("ATH", "LGAV", "Athens Eleftherios Venizelos", "Athens", "Greece", 37.9364, 23.9445),
    ("IST", "LTFM", "Istanbul", "Istanbul", "Turkey", 41.2753, 28.7519),
    ("WAW", "EPWA", "Warsaw Chopin", "Warsaw", "Poland", 52.1657, 20.9671),
    ("PRG", "LKPR", "Prague Vaclav Havel", "Prague", "Czechia", 50.1008, 14.2600),
    ("BUD", "LHBP", "Budapest Ferenc Liszt", "Budapest", "Hungary", 47.4298, 19.2611),
    ("DUB", "EIDW", "Dublin", "Dublin", "Ireland", 53.4213, -6.2701),
    ("KEF", "BIKF", "Reykjavik Keflavik", "Reykjavik", "Iceland", 63.9850, -22.6056),
    ("JFK", "KJFK", "New York John F Kennedy", "New York", "United States", 40.6413, -73.7781),
    ("EWR", "KEWR", "Newark Liberty", "Newark", "United States", 40.6895, -74.1745),
    ("ORD", "KORD", "Chicago O'Hare", "Chicago", "United States", 41.9742, -87.9073),
    ("ATL", "KATL", "Atlanta Hartsfield-Jackson", "Atlanta", "United States", 33.6407, -84.4277),
    ("LAX", "KLAX", "Los Angeles", "Los Angeles", "United States", 33.9416, -118.4085),
    ("SFO", "KSFO", "San Francisco", "San Francisco", "United States", 37.6213, -122.3790),
    ("MIA", "KMIA", "Miami", "Miami", "United States", 25.7959, -80.2870),
    ("YYZ", "CYYZ", "Toronto Pearson", "Toronto", "Canada", 43.6777, -79.6248),
    ("YVR", "CYVR", "Vancouver", "Vancouver", "Canada", 49.1967, -123.1815),
    ("MEX", "MMMX", "Mexico City Benito Juarez", "Mexico City", "Mexico", 19.4361, -99.0719),
    ("GRU", "SBGR", "Sao Paulo Guarulhos", "Sao Paulo", "Brazil", -23.4356, -46.4731),
    ("EZE", "SAEZ", "Buenos Aires Ezeiza", "Buenos Aires", "Argentina", -34.8222, -58.5358),
    ("JNB", "FAOR", "Johannesburg O. R. Tambo", "Johannesburg", "South Africa", -26.1392, 28.2460),
    ("CPT", "FACT", "Cape Town", "Cape Town", "South Africa", -33.9715, 18.6021),
    ("CAI", "HECA", "Cairo", "Cairo", "Egypt", 30.1219, 31.4056),
    ("DXB", "OMDB", "Dubai", "Dubai", "United Arab Emirates", 25.2532, 55.3657),
    ("DOH", "OTHH", "Doha Hamad", "Doha", "Qatar", 25.2731, 51.6081),
    ("RUH", "OERK", "Riyadh King Khalid", "Riyadh", "Saudi Arabia", 24.9576, 46.6988),
    ("DEL", "VIDP", "Delhi Indira Gandhi", "New Delhi", "India", 28.5562, 77.1000),
    ("BOM", "VABB", "Mumbai Chhatrapati Shivaji", "Mumbai", "India", 19.0896, 72.8656),
    ("SIN", "WSSS", "Singapore Changi", "Singapore", "Singapore", 1.3644, 103.9915),
    ("BKK", "VTBS", "Bangkok Suvarnabhumi", "Bangkok", "Thailand", 13.6900, 100.7501),
    ("CGK", "WIII", "Jakarta Soekarno-Hatta", "Jakarta", "Indonesia", -6.1256, 106.6559),
    ("HKG", "VHHH", "Hong Kong", "Hong Kong", "China", 22.3080, 113.9185),
    ("PEK", "ZBAA", "Beijing Capital", "Beijing", "China", 40.0799, 116.6031),
    ("PVG", "ZSPD", "Shanghai Pudong", "Shanghai", "China", 31.1443, 121.8083),
    ("ICN", "RKSI", "Seoul Incheon", "Seoul", "South Korea", 37.4602, 126.4407),
    ("HND", "RJTT", "Tokyo Haneda", "Tokyo", "Japan", 35.5494, 139.7798),
    ("NRT", "RJAA", "Tokyo Narita", "Tokyo", "Japan", 35.7720, 140.3929),
    ("KIX", "RJBB", "Osaka Kansai", "Osaka", "Japan", 34.4320, 135.2304),
    ("SYD", "YSSY", "Sydney Kingsford Smith", "Sydney", "Australia", -33.9399, 151.1753),
    ("MEL", "YMML", "Melbourne", "Melbourne", "Australia", -37.6690, 144.8410),
    ("AKL", "NZAA", "Auckland", "Auckland", "New Zealand", -37.0082, 174.7850),
    ("SVO", "UUEE", "Moscow Sheremetyevo", "Moscow", "Russia", 55.9726, 37.4146),
]

# (IATA, name, base airport IATA)
AIRLINES: list[tuple[str, str, str]] = [
    ("LH", "Lufthansa", "FRA"),
    ("BA", "British Airways", "LHR"),
    ("AF", "Air France", "CDG"),
    ("KL", "KLM", "AMS"),
    ("OS", "Austrian Airlines", "VIE"),
    ("LX", "Swiss", "ZRH"),
    ("IB", "Iberia", "MAD"),
    ("AZ", "ITA Airways", "FCO"),
    ("SK", "SAS", "CPH"),
    ("AY", "Finnair", "HEL"),
    ("TK", "Turkish Airlines", "IST"),
    ("LO", "LOT Polish Airlines", "WAW"),
    ("EI", "Aer Lingus", "DUB"),
    ("TP", "TAP Air Portugal", "LIS"),
    ("AA", "American Airlines", "ORD"),
    ("DL", "Delta Air Lines", "ATL"),
    ("UA", "United Airlines", "EWR"),
    ("AC", "Air Canada", "YYZ"),
    ("EK", "Emirates", "DXB"),
    ("QR", "Qatar Airways", "DOH"),
    ("SQ", "Singapore Airlines", "SIN"),
    ("NH", "All Nippon Airways", "HND"),
    ("QF", "Qantas", "SYD"),
    ("CX", "Cathay Pacific", "HKG"),
]

AIRPLANE_TYPES = [
    ("A320", "Airbus A320", 180),
    ("A321", "Airbus A321", 220),
    ("A350", "Airbus A350-900", 325),
    ("A380", "Airbus A380-800", 520),
    ("B738", "Boeing 737-800", 189),
    ("B77W", "Boeing 777-300ER", 396),
    ("B789", "Boeing 787-9", 290),
    ("E190", "Embraer E190", 100),
]

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hannah",
    "Ivan",
    "Julia",
    "Karl",
    "Lena",
    "Max",
    "Nina",
    "Oskar",
    "Paula",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tina",
    "Ulrich",
    "Vera",
    "Walter",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Amir",
    "Bianca",
    "Carlos",
    "Dana",
    "Emil",
    "Fatima",
    "Georg",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Mia",
    "Noah",
    "Olga",
    "Pedro",
    "Rania",
    "Sofia",
    "Tom",
    "Uma",
    "Viktor",
    "Wei",
]
LAST_NAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Smith",
    "Jones",
    "Garcia",
    "Rossi",
    "Dubois",
    "Novak",
    "Kowalski",
    "Jensen",
    "Silva",
    "Costa",
    "Tanaka",
    "Kim",
    "Chen",
    "Singh",
    "Okafor",
    "Haddad",
    "Nilsson",
    "Berg",
    "Lindqvist",
    "Moreau",
    "Romano",
    "Ivanova",
    "Popescu",
    "Horvat",
    "Yilmaz",
    "Papadopoulos",
]
STREETS = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Gartenweg",
    "Schillerstraße",
    "Goethestraße",
    "Lindenallee",
    "Bergstraße",
    "Kirchplatz",
    "Mühlenweg",
    "Rosenstraße",
    "Parkstraße",
    "Schulstraße",
]
HOME_CITIES = [
    ("Berlin", "Germany"),
    ("Hamburg", "Germany"),
    ("Munich", "Germany"),
    ("Cologne", "Germany"),
    ("Frankfurt", "Germany"),
    ("Vienna", "Austria"),
    ("Zurich", "Switzerland"),
    ("London", "United Kingdom"),
    ("Paris", "France"),
    ("Madrid", "Spain"),
    ("Rome", "Italy"),
    ("Amsterdam", "Netherlands"),
    ("New York", "United States"),
    ("Toronto", "Canada"),
    ("Tokyo", "Japan"),
    ("Sydney", "Australia"),
    ("São Paulo", "Brazil"),
    ("Istanbul", "Turkey"),
]


@dataclass(frozen=True)
class Size:
    passengers: int
    flights_per_day: int
    days_before: int  # days of flights before the start day
    days_after: int  # days of flights from the start day on (start day included)
    airplanes: int


SIZES: dict[str, Size] = {
    # tests: a few hundred rows, loads in well under a second
    "tiny": Size(passengers=50, flights_per_day=60, days_before=1, days_after=3, airplanes=40),
    # the default for `make run`: a month and a half of flights
    "small": Size(
        passengers=2_000, flights_per_day=200, days_before=7, days_after=45, airplanes=300
    ),
    # the size of the workshop's flughafendb_large: ~36,000 passengers and ~460,000 flights
    "large": Size(
        passengers=36_000, flights_per_day=1_260, days_before=182, days_after=183, airplanes=5_000
    ),
}

# Flight durations: great-circle distance at a jet's average block speed, plus the time on the
# ground (taxi out and in, and the slower climb and descent). 830 km/h and 30 minutes give
# FRA-MUC (300 km) 55 min, LHR-JFK (5,540 km) 7 h 15 and SIN-JFK (15,340 km) 19 h, within
# minutes of the airlines' schedules. Routes longer than the longest nonstop flights flown
# today (SIN-JFK, ~15,350 km) are not generated, nobody flies Auckland-London nonstop; nor are
# hops between airports of one city (Heathrow-Gatwick, 40 km).
BLOCK_SPEED_KMH = 830
TAXI_MINUTES = 30
MIN_ROUTE_KM = 150
MAX_ROUTE_KM = 15_500
EARTH_RADIUS_KM = 6_371.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance between two points on the earth in km (haversine formula)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def block_minutes(distance_km: float) -> int:
    """Scheduled gate-to-gate time for a distance, rounded up to 5 minutes as timetables are."""
    minutes = TAXI_MINUTES + distance_km / BLOCK_SPEED_KMH * 60
    return math.ceil(minutes / 5) * 5


def routes() -> list[tuple[int, int, int]]:
    """Every (from airport id, to airport id, block minutes) the demo data flies: all pairs of
    AIRPORTS (ids are 1-based positions) from MIN_ROUTE_KM to MAX_ROUTE_KM apart."""
    result = []
    for i, a in enumerate(AIRPORTS, 1):
        for j, b in enumerate(AIRPORTS, 1):
            if i != j:
                km = great_circle_km(a[5], a[6], b[5], b[6])
                if MIN_ROUTE_KM <= km <= MAX_ROUTE_KM:
                    result.append((i, j, block_minutes(km)))
    return result


# Rows per executemany: one multi-row INSERT of ~1 MB on MySQL (max_allowed_packet is 16 MB on
# MariaDB, 64 MB on MySQL 8); bigger batches gain nothing measurable.
BATCH = 10_000
Progress = Callable[[str, int], Callable[[int], None]]
Row = tuple[Any, ...]  # one row of an INSERT


def passport_number(n: int) -> str:
    """Passport of the n-th passenger (1-based): P followed by 6+ digits, unique, ≤ 9 chars."""
    return f"P{100000 + n}"


def _batches(rows: Iterator[Row], size: int = BATCH) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Loader:
    """Writes generated rows into the flughafendb alias."""

    def __init__(
        self, alias: str = LEGACY_ALIAS, seed: int = 42, progress: Progress | None = None
    ) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.seed = seed
        self.progress = progress or (lambda label, total: lambda n: None)

    # -- helpers ---------------------------------------------------------------------------
    def _q(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    def _insert(
        self,
        table: str,
        columns: list[str],
        rows: Iterator[Row],
        total: int,
        label: str,
        values: str | None = None,
    ) -> int:
        cols = ", ".join(self._q(c) for c in columns)
        placeholders = values or "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = f"INSERT INTO {self._q(table)} ({cols}) VALUES {placeholders}"
        advance = self.progress(label, total)
        count = 0
        with self.connection.cursor() as cursor:
            for batch in _batches(rows):
                cursor.executemany(sql, batch)
                count += len(batch)
                advance(len(batch))
        return count

    def count(self, table: str) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._q(table)}")
            return int(cursor.fetchone()[0])

    def sample_passport(self) -> str | None:
        """A passport number to log in with: the first passenger's (runserver's banner)."""
        passport, table, key = map(self._q, ("passportno", "passenger", "passenger_id"))
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {passport} FROM {table} ORDER BY {key} LIMIT 1")
            row = cursor.fetchone()
        return str(row[0]) if row else None

    def days_without_flights(self, days: list[date]) -> list[date]:
        """The days among `days` with no departure (one indexed range probe per day)."""
        table, dep = self._q("flight"), self._q("departure")
        missing = []
        with self.connection.cursor() as cursor:
            for day in days:
                start = datetime.combine(day, datetime.min.time())
                cursor.execute(
                    f"SELECT 1 FROM {table} WHERE {dep} >= %s AND {dep} < %s LIMIT 1",
                    [start, start + timedelta(days=1)],
                )
                if cursor.fetchone() is None:
                    missing.append(day)
        return missing

    @contextlib.contextmanager
    def _bulk_session(self) -> Iterator[None]:
        try:
            with self._bulk_writes():
                yield
        finally:
            # Apps that keep these tables in memory (the flights catalog) see the new rows.
            data_changed.send(sender=type(self), loader=self)

    @contextlib.contextmanager
    def _bulk_writes(self) -> Iterator[None]:
        """Writes allowed, one transaction, and on MySQL no per-row unique/foreign key checks:
        the rows are generated consistent (the same trick as mysqldump's output). The session
        values are restored afterwards because the connection is reused (site, tests).

        Not done: ALTER TABLE ... DISABLE KEYS. It only helps MyISAM (airport_geo, 66 rows) and,
        being DDL, it would commit the transaction implicitly."""
        mysql = self.connection.vendor == "mysql"
        with legacy_writes_allowed(), transaction.atomic(using=self.alias):
            if mysql:
                with self.connection.cursor() as cursor:
                    cursor.execute("SELECT @@SESSION.unique_checks, @@SESSION.foreign_key_checks")
                    saved = cursor.fetchone()
                    cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            try:
                yield
            finally:
                if mysql:
                    with self.connection.cursor() as cursor:
                        cursor.execute(
                            "SET SESSION unique_checks = %s, foreign_key_checks = %s", saved
                        )

    def analyze(self) -> None:
        """MySQL: refresh the index statistics after a bulk load.

        Right after loading `large` into fresh tables MariaDB still plans with the statistics
        of the empty tables: it joins flight through airline_idx and reads all 460,000 rows for
        today's flights (~600 ms) instead of ranging over departure_idx (~4 ms), and waiting
        does not fix it. ANALYZE TABLE commits implicitly, so it is skipped inside an outer
        transaction (a test's atomic block); it only samples pages and takes milliseconds."""
        if self.connection.vendor != "mysql" or self.connection.in_atomic_block:
            return
        tables = ", ".join(self._q(t) for t in ("flight", "airline", "airport", "airplane"))
        people = ", ".join(self._q(t) for t in ("passenger", "passengerdetails"))
        with legacy_writes_allowed(), self.connection.cursor() as cursor:
            cursor.execute(f"ANALYZE TABLE {tables}, {people}")
            cursor.fetchall()

    # -- writing ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Delete all rows, children first (the schema stays)."""
        with self._bulk_session(), self.connection.cursor() as cursor:
            for table in (
                "booking",
                "flight",
                "airplane",
                "airplane_type",
                "airline",
                "airport_geo",
                "airport",
                "passengerdetails",
                "passenger",
            ):
                cursor.execute(f"DELETE FROM {self._q(table)}")

    def load(self, size: Size, start: date) -> dict[str, int]:
        """Load everything into empty tables; returns row counts per table."""
        with self._bulk_session():
            counts = {
                "airport": self._airports(),
                "airline": self._airlines(),
                "airplane": self._airplanes(size.airplanes),
                "passenger": self._passengers(size.passengers),
            }
            first = start - timedelta(days=size.days_before)
            days = [first + timedelta(days=i) for i in range(size.days_before + size.days_after)]
            counts["flight"] = self._flights(days, size.flights_per_day, size.airplanes, first_id=1)
        self.analyze()
        return counts

    def top_up(self, size: Size, start: date) -> int:
        """Add flights for the days from `start` on that have none (stale demo data)."""
        with self._bulk_session():
            days = [start + timedelta(days=i) for i in range(size.days_after)]
            missing = self.days_without_flights(days)
            if not missing:
                return 0
            with self.connection.cursor() as cursor:
                cursor.execute(f"SELECT COALESCE(MAX(flight_id), 0) FROM {self._q('flight')}")
                first_id = cursor.fetchone()[0] + 1
                cursor.execute(f"SELECT COUNT(*) FROM {self._q('airplane')}")
                airplanes = cursor.fetchone()[0]
            added = self._flights(missing, size.flights_per_day, airplanes, first_id=first_id)
        self.analyze()
        return added

    def _airports(self) -> int:
        n = self._insert(
            "airport",
            ["airport_id", "iata", "icao", "name"],
            ((i, a[0], a[1], a[2]) for i, a in enumerate(AIRPORTS, 1)),
            len(AIRPORTS),
            "airports",
        )
        geo_cols = ["airport_id", "name", "city", "country", "latitude", "longitude"]
        values = None
        rows: list[Row] = [(i, a[2], a[3], a[4], a[5], a[6]) for i, a in enumerate(AIRPORTS, 1)]
        if self.connection.vendor == "mysql":
            # POINT(longitude, latitude) for the spatial index, as in flughafendb.
            geo_cols.append("geolocation")
            values = "(%s, %s, %s, %s, %s, %s, POINT(%s, %s))"
            rows = [(*r, r[5], r[4]) for r in rows]
        self._insert("airport_geo", geo_cols, iter(rows), len(rows), "airport locations", values)
        return n

    def _airlines(self) -> int:
        ids = {a[0]: i for i, a in enumerate(AIRPORTS, 1)}
        return self._insert(
            "airline",
            ["airline_id", "iata", "airlinename", "base_airport"],
            ((i, a[0], a[1], ids[a[2]]) for i, a in enumerate(AIRLINES, 1)),
            len(AIRLINES),
            "airlines",
        )

    def _airplanes(self, count: int) -> int:
        self._insert(
            "airplane_type",
            ["type_id", "identifier", "description"],
            ((i, t[0], t[1]) for i, t in enumerate(AIRPLANE_TYPES, 1)),
            len(AIRPLANE_TYPES),
            "airplane types",
        )
        rng = random.Random(self.seed + 1)

        def rows() -> Iterator[Row]:
            for i in range(1, count + 1):
                type_id = rng.randrange(len(AIRPLANE_TYPES)) + 1
                yield (i, AIRPLANE_TYPES[type_id - 1][2], type_id, (i % len(AIRLINES)) + 1)

        return self._insert(
            "airplane",
            ["airplane_id", "capacity", "type_id", "airline_id"],
            rows(),
            count,
            "airplanes",
        )

    def _passengers(self, count: int) -> int:
        rng = random.Random(self.seed + 2)
        people = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(count)]
        self._insert(
            "passenger",
            ["passenger_id", "passportno", "firstname", "lastname"],
            ((i, passport_number(i), f, last) for i, (f, last) in enumerate(people, 1)),
            count,
            "passengers",
        )

        def details() -> Iterator[Row]:
            for i, (first, last) in enumerate(people, 1):
                city, country = rng.choice(HOME_CITIES)
                yield (
                    i,
                    date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365)),
                    rng.choice("mw"),
                    f"{rng.choice(STREETS)} {rng.randrange(1, 200)}",
                    city,
                    rng.randrange(1000, 32000),  # zip is a SMALLINT in flughafendb
                    country,
                    f"{first}.{last}@example.com".lower(),
                    f"+49 {rng.randrange(100, 999)} {rng.randrange(100000, 9999999)}",
                )

        self._insert(
            "passengerdetails",
            [
                "passenger_id",
                "birthdate",
                "sex",
                "street",
                "city",
                "zip",
                "country",
                "emailaddress",
                "telephoneno",
            ],
            details(),
            count,
            "passenger details",
        )
        return count

    def _flights(self, days: list[date], per_day: int, airplanes: int, first_id: int) -> int:
        # Computed once per load: drawing a route is then one rng.choice() per flight, cheaper
        # than drawing two airports and computing their distance for each of 460,000 rows.
        pairs = [(src, dst, timedelta(minutes=m)) for src, dst, m in routes()]
        airline_codes = [a[0] for a in AIRLINES]

        def rows() -> Iterator[Row]:
            flight_id = first_id
            for day in sorted(days):
                # Seeded per day: a day's flights do not depend on which other days are loaded.
                rng = random.Random(f"{self.seed}:{day.isoformat()}")
                midnight = datetime.combine(day, datetime.min.time())
                for _ in range(per_day):
                    src, dst, duration = rng.choice(pairs)
                    airline = rng.randrange(len(AIRLINES)) + 1
                    departure = midnight + timedelta(minutes=rng.randrange(5 * 60, 23 * 60 + 45, 5))
                    flightno = f"{airline_codes[airline - 1]}{rng.randrange(100, 9999)}"
                    # Naive local times as text: what both backends store for a DATETIME, and
                    # about twice as fast as letting mysqlclient quote datetime objects.
                    yield (
                        flight_id,
                        flightno,
                        src,
                        dst,
                        departure.isoformat(" "),
                        (departure + duration).isoformat(" "),
                        airline,
                        rng.randrange(airplanes) + 1,
                    )
                    flight_id += 1

        return self._insert(
            "flight",
            [
                "flight_id",
                "flightno",
                "from",
                "to",
                "departure",
                "arrival",
                "airline_id",
                "airplane_id",
            ],
            rows(),
            len(days) * per_day,
            "flights",
        )
