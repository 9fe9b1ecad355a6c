"""Dashboard counters: the only code that reads or writes the aggregates table.

Key: `pk = <scope>#<yyyy-mm>#<kind>`, `sk = <period>` (a day, pentad or month: `domain/analytics.py`);
the counters are attributes `<dimension>|<value>|<metric>`. A dashboard reads the few items that
cover its range, and the report builder the day and month items its card needs, by BatchGetItem
(`read_items`), whatever the number of leads. The stream applies a whole batch of records at once:
their changes summed per item, in transactions of up to 99 items (in key order) with the batch's
marker `batch#<first eventID>` holding how far they are applied (services/aggregates.py), so a
delivery of the same batch again changes nothing, and a counter item takes one write per batch,
however many leads the batch carries.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.domain.analytics import Contribution, Key
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws_errors import ConditionFailed, aws_errors
from chalicelib.store.connection import batch_get, transaction_connection
from chalicelib.store.schema import AggregateModel

_ATTEMPTS = 5  # transaction conflicts on a shared counter item are retried here, then by the stream


def _table() -> str:
    return AggregateModel.Meta.table_name


def _client() -> Any:
    return transaction_connection().client


# A counter item as the low-level client reads it: string keys, number counters ({"S": ...}, {"N": ...}).
Item = dict[str, dict[str, str]]


def item_key(key: Key) -> dict[str, dict[str, str]]:
    scope, period, kind = key
    return {"pk": {"S": f"{scope}#{period[:7]}#{kind}"}, "sk": {"S": period}}


def key_of(item: Item) -> Key:
    scope, _, kind = item["pk"]["S"].rsplit("#", 2)
    return scope, item["sk"]["S"], kind


def _number(value: Decimal) -> dict[str, str]:
    return {"N": format(value.normalize(), "f")}


def _update(key: Key, changes: dict[str, Decimal]) -> dict[str, object]:
    names = {f"#a{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": _number(amount) for i, amount in enumerate(changes.values())}
    return {"Update": {"TableName": _table(), "Key": item_key(key),
                       "UpdateExpression": "ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(changes))),
                       "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}


@dataclass(frozen=True)
class Applied:
    """How far a batch is applied: every record through sequence number `through`; after it, runs of
    records (`steps`: the run's last sequence number, and the item key below which its records'
    changes are applied), records after the last run not at all. `raw`: the marker as read, which
    the next move is conditional on; `legacy_items`: a marker of the code that applied one record
    in parts of 99 items says how many items (in key order) of the record after `through` it applied."""

    through: int
    steps: tuple[tuple[int, Key], ...] = ()
    raw: tuple[tuple[str, str], ...] = ()
    legacy_items: int = 0

    def bound_of(self, sequence: int) -> Key | None:
        """The item key below which this record's changes are applied (None: none of them)."""
        for last, bound in self.steps:
            if sequence <= last:
                return bound
        return None

    def steps_after(self, sequence: int) -> tuple[tuple[int, Key], ...]:
        return tuple(step for step in self.steps if step[0] > sequence)


_CONDITIONED = ("seq", "part", "v")  # the marker's attributes a move is conditional on
_LEGACY_PART_ITEMS = 99


def applied_state(marker: str) -> Applied | None:
    """Where a batch starting with eventID `marker` was applied through (None: not at all)."""
    with aws_errors():
        item = _client().get_item(TableName=_table(), Key={"pk": {"S": f"batch#{marker}"}, "sk": {"S": "-"}},
                                  ConsistentRead=True).get("Item")
    if not item:
        return None
    raw = tuple((name, item[name]["N"]) for name in _CONDITIONED if name in item)
    steps = tuple((int(last), (str(bound[0]), str(bound[1]), str(bound[2])))
                  for last, bound in json.loads(item.get("steps", {}).get("S", "[]")))
    return Applied(int(item["seq"]["N"]), steps, raw, _LEGACY_PART_ITEMS * int(item.get("part", {}).get("N", 0)))


def apply_batch(marker: str, state: Applied | None, to: Applied, changes: Contribution,
                expires_epoch: int) -> Applied:
    """Add `changes` and move the batch's marker from `state` (None: no marker yet) to `to`, in one
    transaction, conditional on the marker being exactly as read: a delivery of the same batch
    again finds the marker and skips what it covers. Returns the marker as now written."""
    read = dict(state.raw) if state is not None else {}
    if state is None:
        condition: dict[str, object] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        tests = [f"#{name} = :{name}" if name in read else f"attribute_not_exists(#{name})" for name in _CONDITIONED]
        condition = {"ConditionExpression": " AND ".join(tests),
                     "ExpressionAttributeNames": {f"#{name}": name for name in _CONDITIONED},
                     "ExpressionAttributeValues": {f":{name}": {"N": value} for name, value in read.items()}}
    version = str(int(read.get("v", "0")) + 1)
    item = {"pk": {"S": f"batch#{marker}"}, "sk": {"S": "-"}, "seq": {"N": str(to.through)}, "v": {"N": version},
            "expires_at": {"N": str(expires_epoch)}}
    if to.steps:
        item["steps"] = {"S": json.dumps([[last, list(bound)] for last, bound in to.steps], ensure_ascii=False)}
    items: list[dict[str, object]] = [{"Put": {"TableName": _table(), **condition, "Item": item}}]
    items += [_update(key, attrs) for key, attrs in sorted(changes.items())]
    for attempt in range(_ATTEMPTS):
        try:
            with aws_errors():
                _client().transact_write_items(TransactItems=items)
            return Applied(to.through, to.steps, (("seq", str(to.through)), ("v", version)))
        except ConditionFailed as exc:  # only the marker carries a condition
            if "ConditionalCheckFailed" in exc.reasons:
                raise MarkerMoved(marker) from exc
            if "TransactionConflict" not in exc.reasons or attempt == _ATTEMPTS - 1:
                raise StoreUnavailable() from exc
            time.sleep(random.uniform(0, 0.05 * 2 ** attempt))  # noqa: S311 - jitter, not security
    raise StoreUnavailable()


class MarkerMoved(RuntimeError):
    """Another delivery of the same batch applied records meanwhile: let the stream deliver again."""


def _decode(item: Item) -> dict[str, Decimal]:
    numbers = {name: Decimal(value["N"]) for name, value in item.items() if "N" in value and name != "expires_at"}
    return {name: amount for name, amount in numbers.items() if amount}  # a counter back at 0 is absent


# -- offline only (ops: rebuild and verify) ----------------------------------------------------

def scan_counters() -> Iterator[tuple[Key, dict[str, Decimal]]]:
    """Every counter item (markers, spend and boards skipped: store/reports.py). A Scan: for the
    offline rebuild/verify command only."""
    with aws_errors():
        for page in _client().get_paginator("scan").paginate(TableName=_table()):
            for item in page.get("Items", []):
                if not item["pk"]["S"].startswith(("batch#", "cost#", "board#", "layout#")):
                    yield key_of(item), _decode(item)


_LAYOUT = {"pk": {"S": "layout#counters"}, "sk": {"S": "-"}}


def layout() -> str | None:
    """The counters' layout the last rebuild left (None: never rebuilt or written before markers)."""
    with aws_errors():
        item = _client().get_item(TableName=_table(), Key=_LAYOUT, ConsistentRead=True).get("Item")
    return str(item["layout"]["S"]) if item else None


def set_layout(name: str) -> None:
    with aws_errors():
        _client().put_item(TableName=_table(), Item={**_LAYOUT, "layout": {"S": name}})


def replace(key: Key, attrs: dict[str, Decimal]) -> None:
    """Overwrite one counter item with exactly `attrs` (deleted when empty). Offline rebuild only."""
    with aws_errors():
        if attrs:
            item = {**item_key(key), **{name: _number(amount) for name, amount in attrs.items()}}
            _client().put_item(TableName=_table(), Item=item)
        else:
            _client().delete_item(TableName=_table(), Key=item_key(key))


def read_items(keys: list[Key]) -> dict[Key, dict[str, Decimal]]:
    """The counters of the given items (absent ones: empty), by BatchGetItem, 100 keys a call: the
    report builder knows exactly which day and month items a card needs."""
    wanted = {(item_key(key)["pk"]["S"], item_key(key)["sk"]["S"]): key for key in keys}
    out: dict[Key, dict[str, Decimal]] = {key: {} for key in keys}
    for item in batch_get(_table(), [item_key(key) for key in dict.fromkeys(keys)]):
        out[wanted[(item["pk"]["S"], item["sk"]["S"])]] = _decode(item)
    return out
