"""The built-in city list: five cities in each G20 country, as in the workshop's weather mock.

Keyed by ISO country code and postcode (the workshop's OpenWeatherMap "by zip" lookup); each city
carries coordinates so providers that work by latitude/longitude (Open-Meteo) can use it too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    country: str  # ISO 3166-1 alpha-2, upper case
    zip: str  # postcode as the provider expects it (no spaces stripped)
    name: str
    lat: float
    lon: float


COUNTRY_NAMES: dict[str, str] = {
    "AR": "Argentina",
    "AU": "Australia",
    "BR": "Brazil",
    "CA": "Canada",
    "CN": "China",
    "DE": "Germany",
    "FR": "France",
    "GB": "United Kingdom",
    "ID": "Indonesia",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "KR": "South Korea",
    "MX": "Mexico",
    "RU": "Russia",
    "SA": "Saudi Arabia",
    "TR": "Turkey",
    "US": "United States",
    "ZA": "South Africa",
}

_RAW: list[tuple[str, str, str, float, float]] = [
    ("AR", "C1002", "Buenos Aires", -34.6037, -58.3816),
    ("AR", "X5000", "Córdoba", -31.4201, -64.1888),
    ("AR", "S2000", "Rosario", -32.9442, -60.6505),
    ("AR", "M5500", "Mendoza", -32.8895, -68.8458),
    ("AR", "B7600", "Mar del Plata", -38.0055, -57.5426),
    ("AU", "2000", "Sydney", -33.8688, 151.2093),
    ("AU", "3000", "Melbourne", -37.8136, 144.9631),
    ("AU", "4000", "Brisbane", -27.4698, 153.0251),
    ("AU", "6000", "Perth", -31.9505, 115.8605),
    ("AU", "5000", "Adelaide", -34.9285, 138.6007),
    ("BR", "01000-000", "São Paulo", -23.5505, -46.6333),
    ("BR", "20000-000", "Rio de Janeiro", -22.9068, -43.1729),
    ("BR", "70000-000", "Brasília", -15.7939, -47.8828),
    ("BR", "40000-000", "Salvador", -12.9777, -38.5016),
    ("BR", "60000-000", "Fortaleza", -3.7319, -38.5267),
    ("CA", "M5H", "Toronto", 43.6532, -79.3832),
    ("CA", "H2Y", "Montreal", 45.5017, -73.5673),
    ("CA", "V6B", "Vancouver", 49.2827, -123.1207),
    ("CA", "T2P", "Calgary", 51.0447, -114.0719),
    ("CA", "K1P", "Ottawa", 45.4215, -75.6972),
    ("CN", "100000", "Beijing", 39.9042, 116.4074),
    ("CN", "200000", "Shanghai", 31.2304, 121.4737),
    ("CN", "510000", "Guangzhou", 23.1291, 113.2644),
    ("CN", "518000", "Shenzhen", 22.5431, 114.0579),
    ("CN", "610000", "Chengdu", 30.5728, 104.0668),
    ("DE", "10115", "Berlin", 52.5200, 13.4050),
    ("DE", "20095", "Hamburg", 53.5511, 9.9937),
    ("DE", "80331", "Munich", 48.1351, 11.5820),
    ("DE", "50667", "Cologne", 50.9375, 6.9603),
    ("DE", "60311", "Frankfurt am Main", 50.1109, 8.6821),
    ("FR", "75001", "Paris", 48.8566, 2.3522),
    ("FR", "13001", "Marseille", 43.2965, 5.3698),
    ("FR", "69001", "Lyon", 45.7640, 4.8357),
    ("FR", "31000", "Toulouse", 43.6047, 1.4442),
    ("FR", "06000", "Nice", 43.7102, 7.2620),
    ("GB", "EC1A", "London", 51.5074, -0.1278),
    ("GB", "B1", "Birmingham", 52.4862, -1.8904),
    ("GB", "M1", "Manchester", 53.4808, -2.2426),
    ("GB", "G1", "Glasgow", 55.8642, -4.2518),
    ("GB", "L1", "Liverpool", 53.4084, -2.9916),
    ("ID", "10110", "Jakarta", -6.2088, 106.8456),
    ("ID", "60111", "Surabaya", -7.2575, 112.7521),
    ("ID", "40111", "Bandung", -6.9175, 107.6191),
    ("ID", "20111", "Medan", 3.5952, 98.6722),
    ("ID", "80111", "Denpasar", -8.6705, 115.2126),
    ("IN", "110001", "New Delhi", 28.6139, 77.2090),
    ("IN", "400001", "Mumbai", 19.0760, 72.8777),
    ("IN", "560001", "Bengaluru", 12.9716, 77.5946),
    ("IN", "600001", "Chennai", 13.0827, 80.2707),
    ("IN", "700001", "Kolkata", 22.5726, 88.3639),
    ("IT", "00118", "Rome", 41.9028, 12.4964),
    ("IT", "20121", "Milan", 45.4642, 9.1900),
    ("IT", "80121", "Naples", 40.8518, 14.2681),
    ("IT", "10121", "Turin", 45.0703, 7.6869),
    ("IT", "50121", "Florence", 43.7696, 11.2558),
    ("JP", "1000001", "Tokyo", 35.6762, 139.6503),
    ("JP", "5300001", "Osaka", 34.6937, 135.5023),
    ("JP", "4500002", "Nagoya", 35.1815, 136.9066),
    ("JP", "0600001", "Sapporo", 43.0618, 141.3545),
    ("JP", "8100001", "Fukuoka", 33.5904, 130.4017),
    ("KR", "04524", "Seoul", 37.5665, 126.9780),
    ("KR", "48058", "Busan", 35.1796, 129.0756),
    ("KR", "21554", "Incheon", 37.4563, 126.7052),
    ("KR", "41911", "Daegu", 35.8714, 128.6014),
    ("KR", "61475", "Gwangju", 35.1595, 126.8526),
    ("MX", "06000", "Mexico City", 19.4326, -99.1332),
    ("MX", "44100", "Guadalajara", 20.6597, -103.3496),
    ("MX", "64000", "Monterrey", 25.6866, -100.3161),
    ("MX", "72000", "Puebla", 19.0414, -98.2063),
    ("MX", "77500", "Cancún", 21.1619, -86.8515),
    ("RU", "101000", "Moscow", 55.7558, 37.6173),
    ("RU", "190000", "Saint Petersburg", 59.9311, 30.3609),
    ("RU", "630000", "Novosibirsk", 55.0084, 82.9357),
    ("RU", "620000", "Yekaterinburg", 56.8389, 60.6057),
    ("RU", "420000", "Kazan", 55.7963, 49.1088),
    ("SA", "11564", "Riyadh", 24.7136, 46.6753),
    ("SA", "21577", "Jeddah", 21.4858, 39.1925),
    ("SA", "24231", "Mecca", 21.3891, 39.8579),
    ("SA", "42311", "Medina", 24.5247, 39.5692),
    ("SA", "32241", "Dammam", 26.4207, 50.0888),
    ("TR", "34000", "Istanbul", 41.0082, 28.9784),
    ("TR", "06000", "Ankara", 39.9334, 32.8597),
    ("TR", "35000", "Izmir", 38.4237, 27.1428),
    ("TR", "16000", "Bursa", 40.1826, 29.0665),
    ("TR", "07000", "Antalya", 36.8969, 30.7133),
    ("US", "10001", "New York", 40.7128, -74.0060),
    ("US", "90001", "Los Angeles", 34.0522, -118.2437),
    ("US", "60601", "Chicago", 41.8781, -87.6298),
    ("US", "77001", "Houston", 29.7604, -95.3698),
    ("US", "94102", "San Francisco", 37.7749, -122.4194),
    ("ZA", "8001", "Cape Town", -33.9249, 18.4241),
    ("ZA", "2001", "Johannesburg", -26.2041, 28.0473),
    ("ZA", "4001", "Durban", -29.8587, 31.0218),
    ("ZA", "0002", "Pretoria", -25.7479, 28.2293),
    ("ZA", "6001", "Gqeberha", -33.9608, 25.6022),
]

CITIES: dict[tuple[str, str], City] = {
    (country, zip_): City(country, zip_, name, lat, lon) for country, zip_, name, lat, lon in _RAW
}


def countries() -> list[tuple[str, str]]:
    """(code, name) pairs sorted by name, for the country select."""
    return sorted(COUNTRY_NAMES.items(), key=lambda item: item[1])


def cities_in(country: str) -> list[City]:
    """The cities of one country, sorted by name; empty for an unknown code."""
    code = (country or "").upper()
    return sorted((c for c in CITIES.values() if c.country == code), key=lambda c: c.name)


def find_city(country: str, zip_: str) -> City | None:
    return CITIES.get(((country or "").upper(), (zip_ or "").strip()))
