"""Two costs of moto that say nothing about our code, removed wherever moto stands in for AWS (the
local stack's server, `make run`, and the test suite); answers and items are the same.

1. moto 5.2 writes every DynamoDB and DynamoDB Streams answer through a generic, model-driven
   serializer that walks the botocore shape of each attribute of each item (about 9 ms for one lead
   item). Their JSON protocol is the answer itself, so a plain answer (strings, numbers, lists, maps,
   timestamps) goes out as `json.dumps` of the members its operation's output shape declares;
   anything else (an error, bytes, a null) still takes moto's path.
2. An update that only ADDs numbers to plain attributes (the dashboard and report counters: tens of
   them per item, in every stream batch) is applied directly. moto parses it, runs a dozen validation
   passes over its syntax tree and re-measures the whole item for every attribute it sets (quadratic
   in the item's attributes). Anything else (a condition, a key attribute, a non-number, a stream on
   the table, an item near the size limit) takes moto's path.

3. A Query sorts every item of the table by its primary key before it picks the partition, compares
   every item's key to the queried one and sorts the matches again, each comparison of DynamoType
   converting both sides to Decimal or str (a 50-lead page of a 2,000-lead table: ~370 ms, nearly
   all in those conversions). Here Query takes the items whose key is the queried one straight from
   the table (a plain comparison first) and sorts them by keys converted once per item. The second
   sort alone fixes the order (its key ends with the table's unique primary key). Scan, whose paging
   follows the first order, still sorts.

Before these, the dashboard's scenario test spent two thirds of its time in them. `FAST_MOTO_CHECK=1`
runs moto's own path beside them and fails on any difference (`FAST_MOTO_CHECK=1 make test-fast`).
"""

from __future__ import annotations

import calendar
import copy
import datetime
import json
import os
import re
import threading
from typing import Any

_PLAIN = (str, int, float, bool, list, dict, datetime.datetime)
_SERVICES = ("dynamodb", "dynamodbstreams")


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def _epoch(value: object) -> int | float:
    """A timestamp as the JSON protocol writes it (moto's rule: whole seconds, or to the millisecond)."""
    assert isinstance(value, datetime.datetime)
    whole = calendar.timegm(value.timetuple())
    return whole + (value.microsecond // 1000) / 1000.0 if value.microsecond else whole


def plain_json_answers() -> None:
    """Point 1 of the module's text."""
    from moto.core.responses import ActionResult

    if getattr(ActionResult.execute_result, "_plain", False):
        return
    generic = ActionResult.execute_result
    check = os.environ.get("FAST_MOTO_CHECK") == "1"

    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        service = context.service_model.service_name
        if service not in _SERVICES or type(self) is not ActionResult and type(self).__name__ != "DynamoResult" \
                or not isinstance(result, dict) or not _plain(result):
            return generic(self, context)
        shape = context.operation_model.output_shape
        members = shape.members if shape is not None else {}
        version = context.service_model.metadata.get("jsonVersion", "1.0")
        answer = (200, {"Content-Type": f"application/x-amz-json-{version}"},
                  json.dumps({k: v for k, v in result.items() if k in members}, default=_epoch))
        if check:
            slow = generic(self, context)
            assert (slow[0], slow[1], json.loads(slow[2] or "{}")) == (answer[0], answer[1], json.loads(answer[2])), \
                (context.operation_model.name, slow, answer)
        return answer

    execute_result._plain = True  # type: ignore[attr-defined]
    ActionResult.execute_result = execute_result


_ADDS = re.compile(r"ADD (#\w+ :\w+)(, #\w+ :\w+)*")


def names_type(item: Any, attr: str) -> str | None:
    """The DynamoDB type of an item's attribute (None: absent)."""
    value = item.attrs.get(attr)
    return None if value is None else value.type


def _sum_into(item: Any, names: dict[str, str], values: dict[str, Any], adds: list[tuple[str, str]]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    for name, value in adds:
        attr = names[name]
        old = item.attrs.get(attr)
        new = DynamoType(values[value])
        dict.__setitem__(item.attrs, attr, new if old is None else old + new)


def counter_adds() -> None:
    """Point 2 of the module's text."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from local.atomic import DYNAMODB_LOCK

    original = DynamoDBBackend.update_item
    if getattr(original, "_adds", False):
        return
    check = os.environ.get("FAST_MOTO_CHECK") == "1"

    def plan(self: Any, table_name: str, key: dict[str, Any], expression: str, names: dict[str, str] | None,
             values: dict[str, Any] | None, rest: tuple[Any, ...], extra: dict[str, Any]) -> Any:
        if rest or any(extra.values()) or not expression or not names or not values \
                or not _ADDS.fullmatch(expression.strip()):
            return None
        table = self.tables.get(table_name)
        if table is None or table.stream_shard is not None or set(key) != set(table.table_key_attrs):
            return None
        adds = [tuple(pair.split()) for pair in expression.strip()[4:].split(", ")]
        if len(adds) != len(names) or len(adds) != len(values):
            return None
        keys = set(table.attribute_keys)
        for name, value in adds:
            attr, number = names.get(name), values.get(value)
            if attr is None or attr in keys or not isinstance(number, dict) or list(number) != ["N"]:
                return None
        return table, adds

    def update_item(self: Any, table_name: str, key: dict[str, Any], update_expression: str,
                    expression_attribute_names: dict[str, str], expression_attribute_values: dict[str, Any],
                    *rest: Any, **extra: Any) -> Any:
        with DYNAMODB_LOCK:
            planned = plan(self, table_name, key, update_expression, expression_attribute_names,
                           expression_attribute_values, rest, extra)
            if planned is None:
                return original(self, table_name, key, update_expression, expression_attribute_names,
                                expression_attribute_values, *rest, **extra)
            table, adds = planned
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_value, range_value)
            if any(item is not None and names_type(item, expression_attribute_names[n]) not in (None, "N")
                   for n, _ in adds):
                return original(self, table_name, key, update_expression, expression_attribute_names,
                                expression_attribute_values, *rest, **extra)
            if check:
                fresh = Item(hash_value, range_value, attrs=dict(key)) if item is None else copy.deepcopy(item)
                _sum_into(fresh, expression_attribute_names, expression_attribute_values, adds)
                done = original(self, table_name, key, update_expression, expression_attribute_names,
                                expression_attribute_values, *rest, **extra)
                assert {k: v.to_json() for k, v in done.attrs.items()} == \
                    {k: v.to_json() for k, v in fresh.attrs.items()}, (update_expression, key, done.attrs, fresh.attrs)
                return done
            if item is None:
                table.put_item({table.hash_key_attr: key[table.hash_key_attr],
                                **({table.range_key_attr: key[table.range_key_attr]} if range_value else {})})
                item = table.get_item(hash_value, range_value)
            before = {n: item.attrs.get(expression_attribute_names[n]) for n, _ in adds}
            _sum_into(item, expression_attribute_names, expression_attribute_values, adds)
            if item.size() > 400_000:  # let moto refuse it the way DynamoDB does
                for n, old in before.items():
                    if old is None:
                        item.attrs.pop(expression_attribute_names[n], None)
                    else:
                        dict.__setitem__(item.attrs, expression_attribute_names[n], old)
                return original(self, table_name, key, update_expression, expression_attribute_names,
                                expression_attribute_values, *rest, **extra)
            return item

    update_item._adds = True  # type: ignore[attr-defined]
    DynamoDBBackend.update_item = update_item


_QUERYING = threading.local()


def _may_match(item: Any, wanted: list[tuple[str, Any]]) -> bool:
    """A plain look at the key attributes first; moto's own checks follow on what is left."""
    for name, value in wanted:
        found = item.attrs.get(name)
        if found is None or found.type != value.type:
            return False
        if found.value != value.value and not (value.type == "N" and found.cast_value == value.cast_value):
            return False
    return True


def quick_query() -> None:
    """Point 3 of the module's text."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_quick", False):
        return
    all_items, query = Table.all_items, Table.query
    check = os.environ.get("FAST_MOTO_CHECK") == "1"

    def candidates(self: Any) -> Any:
        wanted = getattr(_QUERYING, "wanted", None)
        if wanted is None:
            return all_items(self)
        items = [item for part in self.items.values() for item in part.values()] if self.range_key_attr \
            else list(self.items.values())
        return [item for item in items if _may_match(item, wanted)]

    def sorted_items(self: Any, hash_attrs: list[str], range_attrs: list[str | None], items: list[Any]) -> list[Any]:
        by = self._generate_attr_to_sort_by(hash_attrs, range_attrs)
        items.sort(key=lambda item: tuple(item.attrs[name].cast_value for name in by))
        return items

    def quick(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        conditions = kwargs.get("hash_key_conditions")
        wanted = list(conditions) if index_name and conditions else \
            [(self.hash_key_attr, hash_key)] if not index_name and hash_key is not None else None
        _QUERYING.wanted = wanted
        try:
            answer = query(self, hash_key, *args, **kwargs)
        finally:
            _QUERYING.wanted = None
        if check and wanted is not None:
            Table.sorted_items = moto_sorted
            try:
                slow = query(self, hash_key, *args, **kwargs)
            finally:
                Table.sorted_items = sorted_items
            assert [i.to_json() for i in answer[0]] == [i.to_json() for i in slow[0]] and answer[1:] == slow[1:], \
                (index_name, wanted)
        return answer

    moto_sorted = Table.sorted_items
    quick._quick = True  # type: ignore[attr-defined]
    Table.all_items = candidates
    Table.sorted_items = sorted_items
    Table.query = quick
