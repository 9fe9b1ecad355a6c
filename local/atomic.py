"""Make moto's DynamoDB behave like DynamoDB under concurrency.

moto applies a transaction item by item on live tables and, on a failed condition, rolls back to
a snapshot taken at its start; two threads in there at once can undo each other's committed
writes. DynamoDB never shows a half-applied request. One lock around each request restores that
(requests still interleave freely between each other, which is where real races live).

moto also deep-copies every table a transaction names, to roll back: a cost that grows with the
table (quadratic over a test that writes one marker item per stream record). Transactions here
back up only the items they name (and the stream's length) and restore those on failure, which
is the same outcome."""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

_LOCK = threading.RLock()
DYNAMODB_LOCK = _LOCK  # held by every DynamoDB request while it runs (journal snapshots take it too)
_OPERATIONS = ("put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item",
               "batch_get_item", "transact_write_items", "transact_get_items")


_SNAPSHOT = threading.local()


def _table_deepcopy(table: Any, memo: dict[int, Any]) -> Any:
    """While a transaction runs, moto's whole-table backup is the table itself (see below)."""
    if getattr(_SNAPSHOT, "shallow", False):
        return table
    cls = type(table)
    method = cls.__deepcopy__
    del cls.__deepcopy__  # the default deep copy, outside transactions
    try:
        return copy.deepcopy(table, memo)
    finally:
        cls.__deepcopy__ = method


def _item_backups(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    backups = []
    for entry in transact_items:
        op = next(iter(entry.values()))
        table = backend.tables.get(op.get("TableName", ""))
        key = op.get("Key") or op.get("Item") or {}
        if table is None or table.hash_key_attr not in key:
            continue
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
        try:
            current = table.get_item(hash_key, range_key)
        except Exception:  # noqa: BLE001 - a malformed key: moto refuses it before writing anything
            continue
        backups.append((table, hash_key, range_key, copy.deepcopy(current)))
    return backups


def _restore(backups: list[tuple[Any, Any, Any, Any]], streams: list[tuple[Any, int]]) -> None:
    for table, hash_key, range_key, item in reversed(backups):
        if range_key is not None:
            if item is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    for shard, length in streams:
        del shard.items[length:]


def _cheap_transactions(original: Any) -> Any:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        backups = _item_backups(self, transact_items)
        shards = {id(t.stream_shard): t.stream_shard for t, *_ in backups if t.stream_shard is not None}
        streams = [(shard, len(shard.items)) for shard in shards.values()]
        _SNAPSHOT.shallow = True
        try:
            return original(self, transact_items)
        except Exception:
            _restore(backups, streams)
            raise
        finally:
            _SNAPSHOT.shallow = False

    return transact_write_items


def make_dynamodb_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if "__deepcopy__" not in Table.__dict__:
        Table.__deepcopy__ = _table_deepcopy
        DynamoDBBackend.transact_write_items = _cheap_transactions(DynamoDBBackend.transact_write_items)

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
