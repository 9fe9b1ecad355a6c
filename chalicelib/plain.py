"""DynamoDB hands numbers back as Decimal (and floats for whole numbers, sets as sets); the domain
speaks plain JSON. One conversion for the store, the stream handler and the tools."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (Decimal, float)) and value == int(value):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
