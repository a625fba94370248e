"""The units a city's weather is shown in unless the passenger chose otherwise: the imperial
system (°F, mph) where people use it day to day — the United States and its territories,
Liberia and Myanmar — and metric (°C, m/s) everywhere else."""

from __future__ import annotations

# ISO 3166-1 alpha-2: United States, American Samoa, Guam, Northern Mariana Islands, Puerto
# Rico, US Minor Outlying Islands, US Virgin Islands; Liberia; Myanmar.
IMPERIAL_COUNTRIES = frozenset({"US", "AS", "GU", "MP", "PR", "UM", "VI", "LR", "MM"})
UNITS = ("metric", "imperial")


def default_units(country: str | None) -> str:
    """ "imperial" for a country of IMPERIAL_COUNTRIES, else "metric" (also when unknown)."""
    return "imperial" if (country or "").strip().upper() in IMPERIAL_COUNTRIES else "metric"
