"""Route the legacy flughafendb models to their own alias; Django's tables stay in default."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Model

LEGACY_ALIAS = "flughafendb"


def is_legacy(app_label: str) -> bool:
    return app_label in settings.FLUGHAFENDB_APPS


class FlughafendbRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return LEGACY_ALIAS if is_legacy(model._meta.app_label) else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return LEGACY_ALIAS if is_legacy(model._meta.app_label) else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        legacy1, legacy2 = is_legacy(obj1._meta.app_label), is_legacy(obj2._meta.app_label)
        return legacy1 == legacy2

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The schema of flughafendb is not ours: no migration ever runs there, and the
        # legacy apps' (unmanaged) models never go to default.
        if db == LEGACY_ALIAS:
            return False
        if is_legacy(app_label):
            return False
        return None
