"""The general cache's serializer (settings.CACHES["default"]: weather answers)."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django_valkey.serializers.json import JSONSerializer


class CompactJSONSerializer(JSONSerializer):
    """JSON without the default ", "/": " padding: small values, readable in MONITOR, and never
    pickle in a shared store."""

    def dumps(self, value: Any) -> bytes:
        return json.dumps(
            value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
        ).encode()
