"""Reading settings from the environment: one small typed helper, used by flightsite/settings.py.

Every variable the site reads is listed, with its default, in `.env.example`. A malformed value
stops start-up with a message naming the variable, what it holds and what was expected — never
a silent default: `DJANGO_DEBUG=ture` is an error, not "off".

Why not django-environ or environs: the site reads some forty variables of five kinds; this is
sixty lines with no dependency, and django-environ quietly reads any unknown word as False for a
boolean, which is exactly the mistake this module exists to catch.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


class Env:
    """Typed reads of one environment (os.environ by default); empty counts as unset.

    The methods are named after the types they return, so below `def str` the annotations say
    `builtins.str` (in the class body, `str` is that method).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def _fail(self, name: str, value: str, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name}={value!r} in the environment: expected {expected}.")

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: builtins.str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise self._fail(name, value, "1/true/yes/on or 0/false/no/off")

    def int(self, name: builtins.str, default: int, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self._fail(name, value, "a whole number") from None
        if minimum is not None and number < minimum:
            raise self._fail(name, value, f"a whole number of at least {minimum}")
        return number

    def float(self, name: builtins.str, default: float, *, minimum: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self._fail(name, value, "a number, e.g. 1.5") from None
        if minimum is not None and number < minimum:
            raise self._fail(name, value, f"a number of at least {minimum}")
        return number

    def list(
        self, name: builtins.str, default: tuple[builtins.str, ...] = ()
    ) -> list[builtins.str]:
        """A comma-separated list; blanks around items are dropped."""
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(
        self, name: builtins.str, choices: tuple[builtins.str, ...], default: builtins.str
    ) -> builtins.str:
        value = self.str(name, default).lower()
        if value not in choices:
            raise self._fail(name, value, "one of " + ", ".join(choices))
        return value


env = Env()
