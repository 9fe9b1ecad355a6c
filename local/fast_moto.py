"""Two costs of moto that say nothing about our code, removed wherever moto stands in for AWS (the
local stack's server, `make run`, and the test suite); answers and items are the same.

1. moto 5.2 writes every DynamoDB and DynamoDB Streams answer through a generic, model-driven
   serializer that walks the botocore shape of each attribute of each item (about 9 ms for one lead
   item). Their JSON protocol is the answer itself, so a plain answer (strings, numbers, lists, maps,
   timestamps) goes out as `json.dumps` of the members its operation's output shape declares;
   anything else (an error, bytes, a null) still takes moto's path. Before that, moto's generic
   conversion of an answer's model objects is done in one pass for the usual ones (a third of a
   100-lead BatchGetItem).
2. An update that only ADDs numbers to plain attributes (the dashboard and report counters: tens of
   them per item, in every stream batch) is applied directly. moto parses it, runs a dozen validation
   passes over its syntax tree and re-measures the whole item for every attribute it sets (quadratic
   in the item's attributes). Anything else (a condition, a key attribute, a non-number, a stream on
   the table, an item near the size limit) takes moto's path. An item built whole (a put) is
   likewise measured once, not once per attribute.

3. A Query sorts every item of the table by its primary key before it picks the partition, compares
   every item's key to the queried one and sorts the matches again, each comparison of DynamoType
   converting both sides to Decimal or str (a 50-lead page of a 2,000-lead table: ~370 ms, nearly
   all in those conversions). Here Query takes the items whose key is the queried one straight from
   the table (a plain comparison first) and sorts them by keys converted once per item. The second
   sort alone fixes the order (its key ends with the table's unique primary key). Scan, whose paging
   follows the first order, still sorts.
   A query of an index then hands moto's page loop only what it can return: the items after
   `ExclusiveStartKey` (found by bisection, not compared one by one), those matching the range
   condition, at most `Limit` + 1 of them, and for a keys-only index only their keys (moto copied
   every whole item of the page before projecting it). A 50-lead page of a 2,000-lead day took
   ~40 ms of moto, an export's later pages more: every earlier item compared to the start key.
   The queried partition's items come from a map of the table by the key attribute, made again
   after any write (moto keeps no index: each query walked every item of the table, and an export
   of 2,000 leads asks ~40, most of them one-key probes of quiet days).

Before these, the dashboard's scenario test spent two thirds of its time in them. `FAST_MOTO_CHECK=1`
runs moto's own path beside them and fails on any difference (`FAST_MOTO_CHECK=1 make test-fast`).
"""

from __future__ import annotations

import bisect
import calendar
import copy
import datetime
import functools
import json
import os
import re
import threading
import weakref
from typing import Any

_PLAIN = (str, int, float, bool, list, dict, datetime.datetime)
_SERVICES = ("dynamodb", "dynamodbstreams")


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


class _NotPlain(Exception):
    """An answer holding something else than plain values (bytes, None, a model object)."""


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
                or not isinstance(result, dict) or not (getattr(self, "known_plain", False) or _plain(result)):
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

    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.responses import DynamoResult

    converted = DynamoResult.__init__

    def plain_of(value: Any) -> Any:
        """moto's `dynamo_to_dict` for an answer of plain values and DynamoTypes without bytes."""
        kind = type(value)
        if kind is DynamoType:
            if value.type == "M":
                return {"M": {k: plain_of(v) for k, v in value.value.items()}}
            if value.type == "L":
                return {"L": [plain_of(v) for v in value.value]}
            if value.type in ("B", "BS"):
                raise _NotPlain
            return {value.type: value.value}
        if isinstance(value, dict):  # moto's items are LimitedSizeDicts
            return {k: plain_of(v) for k, v in value.items()}
        if kind is list:
            return [plain_of(v) for v in value]
        if kind in (str, int, float, bool, datetime.datetime):
            return value
        raise _NotPlain

    def result_of(self: Any, result: object) -> None:
        """moto walks every answer's model objects generically (a third of a 100-lead
        BatchGetItem); the usual ones, in one pass that also tells the answer is plain."""
        try:
            ActionResult.__init__(self, plain_of(result))
            self.known_plain = True
        except _NotPlain:
            converted(self, result)

    DynamoResult.__init__ = result_of


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


_ITEM_LIMIT = 405000  # moto's item size limit (LimitedSizeDict: "between 409 and 410KB")


def measured_items() -> None:
    """Point 2's last sentence, for an item built whole (a put, a restored item): moto measures the
    whole item again for each attribute it adds, quadratic in the attributes (a report counter item
    holds hundreds). Here it is measured once; an item over the limit takes moto's path, which
    refuses it as it did."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import bytesize

    if getattr(Item.__init__, "_measured", False):
        return
    build = Item.__init__
    check = os.environ.get("FAST_MOTO_CHECK") == "1"

    def measured(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > _ITEM_LIMIT:
            build(self, hash_key, range_key, attrs)
            return
        self.hash_key, self.range_key, self.attrs = hash_key, range_key, _unmeasured(values)
        if check:
            slow = Item.__new__(Item)
            build(slow, hash_key, range_key, attrs)
            assert slow.attrs == self.attrs, attrs

    measured._measured = True  # type: ignore[attr-defined]
    Item.__init__ = measured


def counter_adds() -> None:
    """Point 2 of the module's text."""
    measured_items()
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
            _written()
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
# Bumped by every DynamoDB write (`quick_query` wraps the backend's writes; `counter_adds` bumps on its
# own path): a table's map of items by an attribute is good while the count is the one it was made at.
_WRITES = [0]
_BY_ATTRIBUTE: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, dict[Any, list[Any]]]]] = \
    weakref.WeakKeyDictionary()


def _written() -> None:
    _WRITES[0] += 1


def _items_where(table: Any, name: str, value: Any) -> list[Any]:
    """The table's items whose attribute `name` equals `value` (DynamoType's own equality: type and
    value as a number for numbers), from a map of the table by that attribute made once per write
    anywhere: an export's many queries of one quiet store no longer each walk every item."""
    maps = _BY_ATTRIBUTE.setdefault(table, {})
    made = maps.get(name)
    writes = _WRITES[0]  # read before the walk: a write landing during it makes the next query walk again
    if made is None or made[0] != writes:
        groups: dict[Any, list[Any]] = {}
        for item in _every_item(table):
            found = item.attrs.get(name)
            if found is not None:
                groups.setdefault(found, []).append(item)
        made = maps[name] = (writes, groups)
    return made[1].get(value, [])


def _every_item(table: Any) -> list[Any]:
    """The table's items now. Queries are served beside writes (which hold the journal's mutation
    lock, reads do not): a walk that meets the table changing starts again."""
    while True:
        try:
            if table.range_key_attr:
                return [item for part in list(table.items.values()) for item in list(part.values())]
            return list(table.items.values())
        except RuntimeError:  # dictionary changed size during iteration
            continue


def _may_match(item: Any, wanted: list[tuple[str, Any]]) -> bool:
    """A plain look at the key attributes first; moto's own checks follow on what is left."""
    for name, value in wanted:
        found = item.attrs.get(name)
        if found is None or found.type != value.type:
            return False
        if found.value != value.value and not (value.type == "N" and found.cast_value == value.cast_value):
            return False
    return True


def _plain_key(value: Any) -> Any:
    """A key attribute as moto orders it (`cast_value`), without its type checks for text."""
    return value.value if value.type in ("S", "B") else value.cast_value


def _key_of(names: list[str]) -> Any:
    """`_plain_key` of each name, written out for the usual two (an index's range key and the
    table's key): a page sorts the whole partition by it."""
    if len(names) != 2:
        return lambda item: tuple(_plain_key(item.attrs[name]) for name in names)
    first, second = names

    def key(item: Any) -> tuple[Any, Any]:
        attrs = item.attrs
        x, y = attrs[first], attrs[second]
        return x.value if x.type == "S" else x.cast_value, y.value if y.type == "S" else y.cast_value
    return key


def _page_of(by: list[str], items: list[Any], plan: tuple[Any, ...]) -> list[Any]:
    """What moto's page loop of an index query can return (see the text), sorted by `by`."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys = list(map(_key_of(by), items))
    order = sorted(range(len(items)), key=keys.__getitem__)
    items, keys = [items[n] for n in order], [keys[n] for n in order]
    start, forward, limit, ranged, keys_only = plan
    if start and all(name in start for name in by):
        at = tuple(_plain_key(DynamoType(start[name])) for name in by)
        items = items[bisect.bisect_right(keys, at):] if forward else items[:bisect.bisect_left(keys, at)]
    if ranged is not None or limit:
        # moto's loop in its order: items in the range count towards `Limit`; once it is reached the
        # next item, in the range or not, only tells that there are more (`LastEvaluatedKey`).
        kept: list[Any] = []
        for item in items if forward else reversed(items):
            if len(kept) == limit:
                kept.append(item)
                break
            if ranged is None or (ranged[0] in item.attrs and item.attrs[ranged[0]].compare(*ranged[1:])):
                kept.append(item)
        items = kept if forward else kept[::-1]
    if keys_only is not None:
        items = [_keys_of(item, keys_only) for item in items]
    return items


def _keys_of(item: Any, names: list[str]) -> Any:
    """The item with only `names`, sharing their values (moto copies the page before projecting it)."""
    from moto.dynamodb.models.dynamo_type import Item

    light = Item.__new__(Item)
    light.hash_key, light.range_key = item.hash_key, item.range_key
    light.attrs = _unmeasured({name: item.attrs[name] for name in names if name in item.attrs})
    return light


def _unmeasured(values: dict[str, Any]) -> Any:
    """An item's attributes as moto keeps them (a LimitedSizeDict), built as moto's `Item.__deepcopy__`
    builds them: without re-measuring the whole item at every attribute."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, values)
    return attrs


def _page_plan(table: Any, index_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """(sort attributes, range key names, (start key, forward, limit, range condition, key names if
    keys only)) of a query of an index, or None when moto's loop must see every item (a legacy
    filter, a key of several attributes). The sort attributes are moto's own (`Table.query`,
    `_generate_attr_to_sort_by`) without the index's hash key, the same for the whole partition."""
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    named = dict(zip(("range_comparison", "range_objs", "limit", "exclusive_start_key",
                      "scan_index_forward"), args, strict=False)) | kwargs
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None or set(kwargs) - _QUERY_KWARGS:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1:
        return None
    if ranges:
        range_attrs: list[str | None] = [ranges[0], table.range_key_attr]
    else:
        implied = table.range_key_attr if isinstance(index, GlobalSecondaryIndex) and table.range_key_attr \
            else table.hash_key_attr
        range_attrs = [implied, table.range_key_attr]
    # moto's order; the index's hash key is the queried one for every item of the partition
    by = [name for name in table._generate_attr_to_sort_by(hashes + [table.hash_key_attr], range_attrs)
          if name not in hashes]
    comparison = named.get("range_comparison")
    if comparison and not ranges:
        return None
    ranged = (ranges[0], comparison, named.get("range_objs") or []) if comparison else None
    keys_only = None
    if (index.projection or {}).get("ProjectionType") == "KEYS_ONLY":
        keys_only = list(dict.fromkeys(index.table_key_attrs + index.schema_key_attrs))
    return (by, ranges, (named.get("exclusive_start_key"), named.get("scan_index_forward", True) is not False,
                         named.get("limit"), ranged, keys_only))


def quick_query() -> None:
    """Point 3 of the module's text."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import SecondaryIndex, Table

    if getattr(Table.query, "_quick", False):
        return
    all_items, query = Table.all_items, Table.query
    check = os.environ.get("FAST_MOTO_CHECK") == "1"

    def candidates(self: Any) -> Any:
        wanted = getattr(_QUERYING, "wanted", None)
        if wanted is None:
            return all_items(self)
        name, value = wanted[0]
        if name == self.hash_key_attr:  # the table's own partition (an index keyed alike holds the same items)
            found = self.items.get(value)
            items = [] if found is None else list(found.values()) if self.range_key_attr else [found]
        else:
            items = _items_where(self, name, value)
        items = [item for item in items if _may_match(item, wanted)]
        planned = getattr(_QUERYING, "page", None)
        if planned is None:
            return items
        by, ranges, plan = planned
        if ranges:  # an index holds only the items with its range key
            items = [item for item in items if ranges[0] in item.attrs]
        return _page_of(by, items, plan)

    def sorted_items(self: Any, hash_attrs: list[str], range_attrs: list[str | None], items: list[Any]) -> list[Any]:
        by = self._generate_attr_to_sort_by(hash_attrs, range_attrs)
        items.sort(key=lambda item: tuple(_plain_key(item.attrs[name]) for name in by))
        return items

    def quick(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        conditions = kwargs.get("hash_key_conditions")
        wanted = list(conditions) if index_name and conditions else \
            [(self.hash_key_attr, hash_key)] if not index_name and hash_key is not None else None
        _QUERYING.wanted = wanted
        _QUERYING.page = _page_plan(self, index_name, args, kwargs) if index_name and wanted else None
        try:
            answer = query(self, hash_key, *args, **kwargs)
        finally:
            _QUERYING.wanted = _QUERYING.page = None
        if check and wanted is not None:
            Table.sorted_items = moto_sorted
            try:
                slow = query(self, hash_key, *args, **kwargs)
            finally:
                Table.sorted_items = sorted_items
            assert [i.to_json() for i in answer[0]] == [i.to_json() for i in slow[0]] and answer[1:] == slow[1:], \
                (index_name, wanted)
        return answer

    def project(self: Any, item: Any) -> Any:
        """An item already cut to an index's keys (`_keys_of`) is its own keys-only projection."""
        if (self.projection or {}).get("ProjectionType") == "KEYS_ONLY" and \
                set(item.attrs) <= set(self.table_key_attrs) | set(self.schema_key_attrs):
            return item
        return moto_project(self, item)

    for name in _WRITE_OPERATIONS:
        setattr(DynamoDBBackend, name, _counting(getattr(DynamoDBBackend, name)))
    moto_sorted = Table.sorted_items
    moto_project = SecondaryIndex.project
    SecondaryIndex.project = project
    quick._quick = True  # type: ignore[attr-defined]
    Table.all_items = candidates
    Table.sorted_items = sorted_items
    Table.query = quick


_WRITE_OPERATIONS = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items",
                     "restore_table_from_backup", "restore_table_to_point_in_time", "import_table")


def _counting(operation: Any) -> Any:
    """The backend's write, counted in `_WRITES` (the other patches' marks kept: `_atomic`, `_adds`)."""
    @functools.wraps(operation)
    def write(*args: Any, **kwargs: Any) -> Any:
        try:
            return operation(*args, **kwargs)
        finally:
            _written()

    return write


_QUERY_KWARGS = {"index_name", "consistent_read", "filter_expression", "hash_key_conditions", "range_key_conditions"}
