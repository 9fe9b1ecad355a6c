"""moto's transaction backup at item level, for benchmarks that write many transactions.

Before applying a TransactWriteItems, moto backs up every table it names with `copy.deepcopy` (all
the items and the whole stream) so that it can put them back if a condition fails. Each
transaction then costs time in proportion to everything written before it: the lead stream over
1000 leads runs in quadratic time, and a throughput measured that way falls with the table size,
which is moto's behaviour, not DynamoDB's nor the product's.

`item_level_rollback()` makes that backup a copy of the table's item index (references) with deep
copies of only the items the transaction names, and a copy of the stream's record list: after a
rollback the table is in the same state as with moto's own backup, at a cost that does not grow
with the stored data. Any other deep copy of a table (backups, ...) is moto's own, unchanged.
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# table name -> the keys (or whole items, for a Put) the running transaction names
_TOUCHED: ContextVar[dict[str, list[dict[str, Any]]] | None] = ContextVar("bench_moto_touched", default=None)


def _full_copy(table: Any, memo: dict[int, Any]) -> Any:
    clone = object.__new__(type(table))
    memo[id(table)] = clone
    clone.__dict__.update(copy.deepcopy(table.__dict__, memo))
    return clone


def _snapshot(table: Any, memo: dict[int, Any]) -> Any:
    """`Table.__deepcopy__` while installed: item level inside a transaction, moto's otherwise."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    touched = (_TOUCHED.get() or {}).get(table.name)
    if touched is None:
        return _full_copy(table, memo)
    clone = object.__new__(type(table))  # not through BaseModel.__new__: moto tracks every instance
    memo[id(table)] = clone
    clone.__dict__.update(table.__dict__)
    # A shallow copy of the index; below, fresh containers and deep copies where the transaction writes.
    items: defaultdict[Any, Any] = defaultdict(dict, table.items)
    copied: set[Any] = set()
    for key in touched:
        if any(attr not in key for attr in table.table_key_attrs):
            continue  # malformed: moto refuses it further on
        hash_value = DynamoType(key[table.hash_key_attr])
        if hash_value not in table.items:
            continue
        if table.range_key_attr is None:
            items[hash_value] = copy.deepcopy(table.items[hash_value])
            continue
        if hash_value not in copied:  # the items under one hash key: a put or delete changes the dict
            items[hash_value] = dict(table.items[hash_value])
            copied.add(hash_value)
        range_value = DynamoType(key[table.range_key_attr])
        if range_value in items[hash_value]:
            items[hash_value][range_value] = copy.deepcopy(table.items[hash_value][range_value])
    clone.items = items
    if table.stream_shard is not None:  # records are JSON fixed at creation: the list is enough
        shard = object.__new__(type(table.stream_shard))
        shard.__dict__.update(table.stream_shard.__dict__)
        shard.items = list(table.stream_shard.items)
        shard.table = clone
        clone.stream_shard = shard
    return clone


@contextmanager
def item_level_rollback() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    inner = DynamoDBBackend.__dict__["transact_write_items"]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        touched: dict[str, list[dict[str, Any]]] = {}
        for entry in transact_items:
            for op in entry.values():
                if isinstance(op, dict) and "TableName" in op:
                    touched.setdefault(op["TableName"], []).append(op.get("Key") or op.get("Item") or {})
        token = _TOUCHED.set(touched)
        try:
            return inner(self, transact_items)
        finally:
            _TOUCHED.reset(token)

    functools.update_wrapper(transact_write_items, inner)  # keeps local.atomic's `_atomic` mark
    had_deepcopy = "__deepcopy__" in Table.__dict__
    previous_deepcopy = Table.__dict__.get("__deepcopy__")
    DynamoDBBackend.transact_write_items = transact_write_items
    Table.__deepcopy__ = _snapshot
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = inner
        if had_deepcopy:
            Table.__deepcopy__ = previous_deepcopy
        else:
            del Table.__deepcopy__
