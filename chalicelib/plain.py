"""DynamoDB hands numbers back as Decimal (and floats for whole numbers, sets as sets); the domain
speaks plain JSON. One conversion for the store, the stream handler and the tools."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
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


def from_dynamodb(value: Mapping[str, Any]) -> Any:
    """One attribute in DynamoDB JSON (`{"S": ...}`, `{"M": {...}}`: stream images, the low-level
    client's items) as plain values."""
    return plain(_deserializer().deserialize(value))


@lru_cache(maxsize=1)
def _deserializer() -> Any:
    from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

    return TypeDeserializer()
