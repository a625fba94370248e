from __future__ import annotations

from typing import Any

from django import forms

from flightsite.jinja2 import FORM_RENDERER

from .cities import cities_in, countries, find_city
from .units import default_units

UNIT_CHOICES = [("metric", "°C, m/s"), ("imperial", "°F, mph")]


class WeatherForm(forms.Form):
    default_renderer = FORM_RENDERER  # Jinja2 widget templates (flightsite/jinja2.py)
    country = forms.ChoiceField(
        label="Country",
        choices=[("", "Choose a country…"), *countries()],
        error_messages={
            "required": "Choose a country.",
            "invalid_choice": "Choose a country from the list.",
        },
    )
    zip = forms.CharField(
        label="City",
        max_length=12,
        error_messages={"required": "Choose a city."},
        widget=forms.Select(),
    )
    units = forms.ChoiceField(
        label="Units",
        choices=UNIT_CHOICES,
        initial="metric",
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        country = (self.data.get("country") or self.initial.get("country") or "").upper()
        self.fields["zip"].widget.choices = [
            ("", "Choose a city…" if country else "Choose a country first"),
            *[(c.zip, f"{c.name} ({c.zip})") for c in cities_in(country)],
        ]

    def clean_units(self) -> str:
        # No choice sent (a hand-made POST): the default of the city's country.
        units: str = self.cleaned_data.get("units") or default_units(self.data.get("country"))
        return units

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        country, zip_ = cleaned.get("country"), cleaned.get("zip")
        if country and zip_:
            city = find_city(country, zip_)
            if city is None:
                self.add_error("zip", "Choose a city of the selected country.")
            else:
                cleaned["city"] = city
        return cleaned
