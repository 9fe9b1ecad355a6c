"""DynamoDB requests and capacity units counted at the client, outside product code.

`DynamoMeter.install()` wraps `botocore.session.Session.create_client`, so every DynamoDB client
created afterwards (pynamodb's and boto3's alike) gets three hooks: one asks for
`ReturnConsumedCapacity: TOTAL`, one notes the request, one reads the response. Besides what the
server reports, the meter computes the units DynamoDB would charge from the items themselves
(looked up before and after each write with its own, unmetered client), by the published rules:

- item size: attribute names + values (strings UTF-8, numbers 1 byte per 2 significant digits + 1,
  lists/maps 3 bytes + 1 per element, booleans/nulls 1 byte);
- writes: 1 unit per started KB of the larger of the old and new item, ×2 in a transaction;
  every global secondary index the write touches adds its own write of the projected item
  (2 when the index key changes). Index writes are not doubled for transactions (assumption);
- reads: 1 unit per started 4 KB strongly consistent, 0.5 eventually consistent, ×2 in a
  transaction; a query or scan pays for the total size of the items it returns (min. one unit).

A failed (conditional) write is charged one unit per item (×2 in a transaction).
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import pynamodb.connection.base as pynamodb_base

READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


# -- item sizes and units ----------------------------------------------------------------------
def _number_size(text: str) -> int:
    mantissa = text.lower().lstrip("+-").split("e")[0].replace(".", "")
    digits = mantissa.strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data if isinstance(data, bytes) else base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def _reported_units(parsed: dict[str, Any]) -> float:
    consumed = parsed.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    return float(sum(entry.get("CapacityUnits", 0.0) for entry in entries))


# -- tables ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str
    extra: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.keys}

    def projected(self, index: Index, item: dict[str, Any]) -> dict[str, Any]:
        if index.projection == "ALL":
            return item
        names = set(self.keys) | set(index.keys) | set(index.extra)
        return {k: v for k, v in item.items() if k in names}

    def index_write_units(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
        return sum(self.index_writes(old, new).values())

    def index_writes(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, int]:
        """Write units per index this write touches (a moved index key: delete + put)."""
        units: dict[str, int] = {}
        for index in self.indexes:
            was = old is not None and all(k in old for k in index.keys)
            now = new is not None and all(k in new for k in index.keys)
            cost = 0
            if was and now:
                assert old is not None and new is not None
                if any(old[k] != new[k] for k in index.keys):
                    cost += write_units(item_size(self.projected(index, old)))
                    cost += write_units(item_size(self.projected(index, new)))
                elif self.projected(index, old) != self.projected(index, new):
                    cost += write_units(item_size(self.projected(index, new)))
            elif now:
                assert new is not None
                cost += write_units(item_size(self.projected(index, new)))
            elif was:
                assert old is not None
                cost += write_units(item_size(self.projected(index, old)))
            if cost:
                units[index.name] = cost
        return units


def _table(description: dict[str, Any]) -> Table:
    def keys(schema: list[dict[str, str]]) -> tuple[str, ...]:
        return tuple(k["AttributeName"] for k in schema)

    indexes = tuple(
        Index(g["IndexName"], keys(g["KeySchema"]), g["Projection"]["ProjectionType"],
              tuple(g["Projection"].get("NonKeyAttributes", ())))
        for g in description.get("GlobalSecondaryIndexes", []))
    return Table(keys(description["KeySchema"]), indexes)


# -- the meter ---------------------------------------------------------------------------------
@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)  # "Operation table[,table]" -> count
    write_units: float = 0.0
    read_units: float = 0.0
    reported_write_units: float = 0.0
    reported_read_units: float = 0.0
    failures: int = 0
    clients_created: int = 0
    write_units_by: Counter[str] = field(default_factory=Counter)  # "Operation table" -> computed units
    # "Operation table" -> the item's own units; "Operation table/index" -> that index's units
    write_units_item: Counter[str] = field(default_factory=Counter)
    read_units_by: dict[str, float] = field(default_factory=dict)  # "Operation table[/index]" -> units

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def count(self, operation: str) -> int:
        return sum(n for key, n in self.requests.items() if key.split(" ")[0] == operation)


@dataclass
class _Write:
    table: str
    key: dict[str, Any]
    factor: int
    old: dict[str, Any] | None = None


class DynamoMeter:
    """Counts every DynamoDB call of clients created while installed, per phase.

    Also counts botocore clients created per phase (`clients_created`): creating one costs far
    more CPU than a request. While installed, pynamodb connections share one botocore session,
    so the benchmark does not pay that cost again for every `Connection()` the product makes
    (the count still shows how many it makes).
    """

    def __init__(self, endpoint: str | None, region: str, table_prefix: str = "") -> None:
        # The meter's own lookups go through a client created before the hooks exist.
        self.raw: Any = botocore.session.get_session().create_client(
            "dynamodb", region_name=region, endpoint_url=endpoint)
        self.prefix = table_prefix
        self.phase = "setup"
        self.tallies: dict[str, Tally] = {}
        # Who wrote each item: "table key" -> the owners (leads) set in `owner` while it was written.
        self.owner: str | None = None
        self.writers: dict[str, set[str]] = {}
        self.item_writes: Counter[str] = Counter()  # "table key" -> successful writes
        self.partition_writes: Counter[str] = Counter()  # "table/index hash-key-value" -> index writes
        self._tables: dict[str, Table] = {}
        self._original: Any = None
        self._original_get_session: Any = None

    # -- installation ------------------------------------------------------------------------
    def install(self) -> None:
        original = self._original = botocore.session.Session.create_client
        meter = self

        def create_client(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            meter.tally().clients_created += 1
            if client.meta.service_model.service_name == "dynamodb":
                meter.attach(client.meta.events)
            return client

        botocore.session.Session.create_client = create_client
        shared = botocore.session.get_session()
        self._original_get_session = pynamodb_base.get_session  # type: ignore[attr-defined]
        pynamodb_base.get_session = lambda: shared  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.session.Session.create_client = self._original
            pynamodb_base.get_session = self._original_get_session  # type: ignore[attr-defined]
            self._original = None

    def attach(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
        events.register("before-call.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def tally(self, phase: str | None = None) -> Tally:
        return self.tallies.setdefault(phase or self.phase, Tally())

    # -- hooks -------------------------------------------------------------------------------
    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        request = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        writes = self._writes(model.name, request)
        for write in writes:
            write.old = self._lookup(write.table, write.key)
        context["bench_meter"] = (request, writes)

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        operation = model.name
        request, writes = context.pop("bench_meter", ({}, []))
        tables = sorted({self._short(w.table) for w in writes} or self._request_tables(request))
        tally = self.tally()
        tally.requests[f"{operation} {','.join(tables)}".strip()] += 1
        ok = http_response.status_code < 300
        if operation in WRITE_OPS:
            tally.reported_write_units += _reported_units(parsed)
            if not ok:
                tally.failures += 1
                tally.write_units += sum(w.factor for w in writes)
            for write in writes if ok else []:
                new = self._lookup(write.table, write.key)
                table = self._table(write.table)
                base = write_units(max(item_size(write.old), item_size(new))) * write.factor
                by_index = table.index_writes(write.old, new)
                units = base + sum(by_index.values())
                tally.write_units += units
                tally.write_units_by[f"{operation} {self._short(write.table)}"] += units
                tally.write_units_item[f"{operation} {self._short(write.table)}"] += base
                for index_name, index_units in by_index.items():
                    tally.write_units_item[f"{operation} {self._short(write.table)}/{index_name}"] += index_units
                label = f"{self._short(write.table)} {json.dumps(write.key, sort_keys=True, ensure_ascii=False)}"
                self.writers.setdefault(label, set()).add(self.owner or "-")
                if self.phase in ("setup", "warmup"):
                    continue  # seeding and a mix's unmeasured first round are not traffic
                self.item_writes[label] += 1
                for index in table.indexes:
                    if index.name in by_index:
                        image = new if new is not None and index.keys[0] in new else write.old or {}
                        (kind, value), = image[index.keys[0]].items()
                        self.partition_writes[f"{self._short(write.table)}/{index.name} {value}"] += 1
        elif operation in READ_OPS:
            tally.reported_read_units += _reported_units(parsed)
            if ok:
                cost = self._read_cost(operation, request, parsed)
                tally.read_units += cost
                where = f"{operation} " + ",".join(sorted(self._request_tables(request)))
                if request.get("IndexName"):
                    where += f"/{request['IndexName']}"
                tally.read_units_by[where] = tally.read_units_by.get(where, 0.0) + cost
            else:
                tally.failures += 1

    # -- helpers -----------------------------------------------------------------------------
    def _short(self, table: str) -> str:
        return table[len(self.prefix):] if self.prefix and table.startswith(self.prefix) else table

    def _request_tables(self, request: dict[str, Any]) -> set[str]:
        names = set(request.get("RequestItems", {}))
        if "TableName" in request:
            names.add(request["TableName"])
        for entry in request.get("TransactItems", []):
            names.update(op["TableName"] for op in entry.values())
        return {self._short(name) for name in names}

    def _table(self, name: str) -> Table:
        if name not in self._tables:
            self._tables[name] = _table(self.raw.describe_table(TableName=name)["Table"])
        return self._tables[name]

    def _lookup(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        key = {k: {"B": base64.b64decode(v["B"])} if "B" in v else v for k, v in key.items()}
        item: dict[str, Any] | None = self.raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _writes(self, operation: str, request: dict[str, Any]) -> list[_Write]:
        def target(spec: dict[str, Any], factor: int) -> _Write:
            table = spec["TableName"]
            key = spec["Key"] if "Key" in spec else self._table(table).key_of(spec["Item"])
            return _Write(table, key, factor)

        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return [target(request, 1)]
        if operation == "TransactWriteItems":
            return [target(spec, 2) for entry in request["TransactItems"] for spec in entry.values()]
        if operation == "BatchWriteItem":
            out = []
            for table, entries in request["RequestItems"].items():
                for entry in entries:
                    spec = entry.get("PutRequest") or entry["DeleteRequest"]
                    out.append(target({"TableName": table, **spec}, 1))
            return out
        return []

    @staticmethod
    def _read_cost(operation: str, request: dict[str, Any], parsed: dict[str, Any]) -> float:
        consistent = bool(request.get("ConsistentRead"))
        if operation == "GetItem":
            return read_units(item_size(parsed.get("Item")), consistent)
        if operation in ("Query", "Scan"):
            return read_units(sum(item_size(item) for item in parsed.get("Items", [])), consistent)
        if operation == "TransactGetItems":
            return sum(2 * read_units(item_size(r.get("Item")), True) for r in parsed.get("Responses", []))
        if operation == "BatchGetItem":
            units = 0.0
            for table, spec in request.get("RequestItems", {}).items():
                found = parsed.get("Responses", {}).get(table, [])
                strong = bool(spec.get("ConsistentRead"))
                units += sum(read_units(item_size(item), strong) for item in found)
                units += read_units(0, strong) * max(0, len(spec.get("Keys", [])) - len(found))
            return units
        return 0.0


def probe_reported_capacity(raw: Any, table_name: str = "bench-capacity-probe") -> tuple[float, int]:
    """Put one ~3 KB item and return (units the server reported, units DynamoDB charges)."""
    raw.create_table(TableName=table_name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    try:
        item = {"pk": {"S": "probe"}, "blob": {"S": "x" * 3000}}
        response = raw.put_item(TableName=table_name, Item=item, ReturnConsumedCapacity="TOTAL")
        return _reported_units(response), write_units(item_size(item))
    finally:
        raw.delete_table(TableName=table_name)
