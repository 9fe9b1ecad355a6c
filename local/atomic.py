"""Make moto's DynamoDB behave like DynamoDB under concurrency.

moto applies a transaction item by item on live tables and, on a failed condition, rolls back to
a snapshot taken at its start; two threads in there at once can undo each other's committed
writes. DynamoDB never shows a half-applied request. One lock around each request restores that
(requests still interleave freely between each other, which is where real races live)."""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = ("put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item",
               "batch_get_item", "transact_write_items", "transact_get_items")


def make_dynamodb_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_atomic", False):
            continue

        def wrapper(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        functools.update_wrapper(wrapper, original)
        wrapper._atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, wrapper)
