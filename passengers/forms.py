from __future__ import annotations

import re

from django import forms

from flightsite.jinja2 import FORM_RENDERER

PASSPORT_RE = re.compile(r"^[A-Z0-9]{1,9}$")


class LoginForm(forms.Form):
    default_renderer = FORM_RENDERER  # Jinja2 widget templates (flightsite/jinja2.py)
    passportno = forms.CharField(
        label="Passport number",
        max_length=9,
        strip=True,
        error_messages={
            "required": "Enter your passport number.",
            "max_length": "A passport number has at most 9 characters.",
        },
        widget=forms.TextInput(
            attrs={
                "autocomplete": "username",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
                "inputmode": "text",
                "pattern": "[A-Za-z0-9]{1,9}",
            }
        ),
    )

    def clean_passportno(self) -> str:
        value: str = self.cleaned_data["passportno"].upper()
        if not PASSPORT_RE.match(value):
            raise forms.ValidationError("A passport number has only letters and digits.")
        return value
