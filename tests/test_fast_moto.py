"""local/fast_moto.py's index queries answer what DynamoDB (and moto's own path) answers: the
partition in key order, pages of `Limit` cut at `ExclusiveStartKey`, range conditions, both
directions, keys-only projections."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

pytestmark = pytest.mark.moto

TABLE = "fast-moto-check"


def _table() -> Any:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    keys = [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "day", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"}, {"AttributeName": "rank", "AttributeType": "N"}]
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=keys,
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     GlobalSecondaryIndexes=[
                         {"IndexName": "by_day_keys", "Projection": {"ProjectionType": "KEYS_ONLY"},
                          "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"},
                                        {"AttributeName": "at", "KeyType": "RANGE"}]},
                         {"IndexName": "by_rank", "Projection": {"ProjectionType": "ALL"},
                          "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"},
                                        {"AttributeName": "rank", "KeyType": "RANGE"}]}])
    for n in range(150):
        item = {"id": {"S": f"L{(n * 37) % 150:04d}"}, "day": {"S": "d1" if n % 3 else "d2"},
                "at": {"S": f"T{n // 2:03d}"},  # pairs share a sort key: the table key orders them
                "rank": {"N": str((n * 7) % 40 - 9)}, "note": {"S": "x" * (n % 5)}}
        if n % 10 == 0:
            del item["rank"]  # not in by_rank
        ddb.put_item(TableName=TABLE, Item=item)
    return ddb


def _pages(ddb: Any, index: str, limit: int, forward: bool, **extra: Any) -> list[dict[str, Any]]:
    names = {"#d": "day", **extra.pop("names", {})}
    values = {":d": {"S": "d1"}, **extra.pop("values", {})}
    condition = "#d = :d" + extra.pop("condition", "")
    items: list[dict[str, Any]] = []
    start = None
    while True:
        page = ddb.query(TableName=TABLE, IndexName=index, KeyConditionExpression=condition,
                         ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                         ScanIndexForward=forward, Limit=limit, **({"ExclusiveStartKey": start} if start else {}))
        assert len(page["Items"]) <= limit
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items
        assert start == {name: items[-1][name] for name in start}


def _ids(ddb: Any, day: str) -> list[str]:
    """The ids of one day's partition of `by_day_keys`, sorted."""
    return sorted(item["id"]["S"] for item in ddb.query(
        TableName=TABLE, IndexName="by_day_keys", KeyConditionExpression="#d = :d",
        ExpressionAttributeNames={"#d": "day"}, ExpressionAttributeValues={":d": {"S": day}})["Items"])


def _expected(ddb: Any, key: str, number: bool, keep: Any = lambda item: True) -> list[dict[str, Any]]:
    every = ddb.scan(TableName=TABLE)["Items"]
    wanted = [item for item in every if item["day"]["S"] == "d1" and key in item and keep(item)]
    return sorted(wanted, key=lambda item: (float(item[key]["N"]) if number else item[key]["S"], item["id"]["S"]))


@pytest.mark.parametrize("limit", [1, 7, 50, 500])
@pytest.mark.parametrize("forward", [True, False])
def test_index_pages_walk_the_partition_in_key_order(limit: int, forward: bool) -> None:
    with mock_aws():
        ddb = _table()
        expected = _expected(ddb, "at", number=False)
        got = _pages(ddb, "by_day_keys", limit, forward)
        assert [i["id"]["S"] for i in got] == [i["id"]["S"] for i in (expected if forward else expected[::-1])]
        assert all(set(item) == {"id", "day", "at"} for item in got)  # keys only

        ranked = _expected(ddb, "rank", number=True)
        got = _pages(ddb, "by_rank", limit, forward)
        assert [i["id"]["S"] for i in got] == [i["id"]["S"] for i in (ranked if forward else ranked[::-1])]
        assert all("note" in item for item in got)  # every attribute


@pytest.mark.parametrize("forward", [True, False])
def test_range_conditions_with_pages(forward: bool) -> None:
    with mock_aws():
        ddb = _table()
        between = _pages(ddb, "by_day_keys", 4, forward, condition=" AND #a BETWEEN :lo AND :hi",
                         names={"#a": "at"}, values={":lo": {"S": "T010"}, ":hi": {"S": "T030"}})
        expected = _expected(ddb, "at", number=False, keep=lambda i: "T010" <= i["at"]["S"] <= "T030")
        assert [i["id"]["S"] for i in between] == [i["id"]["S"] for i in (expected if forward else expected[::-1])]

        below = _pages(ddb, "by_rank", 3, forward, condition=" AND #r < :r", names={"#r": "rank"},
                       values={":r": {"N": "5"}})
        expected = _expected(ddb, "rank", number=True, keep=lambda i: float(i["rank"]["N"]) < 5)
        assert expected and [i["id"]["S"] for i in below] == \
            [i["id"]["S"] for i in (expected if forward else expected[::-1])]


def test_an_item_is_measured_once_and_refused_over_the_limit_as_before() -> None:
    """local/fast_moto.measured_items: a put of hundreds of attributes is kept whole; one over
    DynamoDB's item size is refused with moto's (and DynamoDB's) error, and changes nothing."""
    from botocore.exceptions import ClientError

    with mock_aws():
        ddb = _table()
        wide = {"id": {"S": "W1"}, **{f"a{n:03d}": {"N": str(n)} for n in range(600)},
                "m": {"M": {"x": {"L": [{"S": "嵌套"}, {"N": "1.5"}]}}}}
        ddb.put_item(TableName=TABLE, Item=wide)
        assert ddb.get_item(TableName=TABLE, Key={"id": {"S": "W1"}}, ConsistentRead=True)["Item"] == wide
        with pytest.raises(ClientError) as refused:
            ddb.put_item(TableName=TABLE, Item={"id": {"S": "W1"}, "big": {"S": "x" * 410_000}})
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert "size" in refused.value.response["Error"]["Message"]
        assert ddb.get_item(TableName=TABLE, Key={"id": {"S": "W1"}}, ConsistentRead=True)["Item"] == wide


def test_a_query_reads_its_partition_from_a_map_made_again_after_any_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queries of a quiet table look only at the queried partition's items (from a map of the table
    by the key, made once), and every kind of write makes the next query see it: an item moved into
    the partition by an update, one put, one deleted, one written in a transaction or a batch."""
    from local import fast_moto

    looked: list[Any] = []
    real = fast_moto._may_match
    monkeypatch.setattr(fast_moto, "_may_match", lambda item, wanted: looked.append(item) or real(item, wanted))

    with mock_aws():
        ddb = _table()
        d2 = _ids(ddb, "d2")
        looked.clear()
        assert _ids(ddb, "d2") == d2 and len(looked) == len(d2) == 50  # not the table's 150
        ddb.update_item(TableName=TABLE, Key={"id": {"S": "L0001"}}, UpdateExpression="SET #d = :d",
                        ExpressionAttributeNames={"#d": "day"}, ExpressionAttributeValues={":d": {"S": "d3"}})
        assert _ids(ddb, "d3") == ["L0001"]
        ddb.put_item(TableName=TABLE, Item={"id": {"S": "N1"}, "day": {"S": "d3"}, "at": {"S": "T999"}})
        assert _ids(ddb, "d3") == ["L0001", "N1"]
        ddb.delete_item(TableName=TABLE, Key={"id": {"S": "L0001"}})
        assert _ids(ddb, "d3") == ["N1"]
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": {
            "id": {"S": "N2"}, "day": {"S": "d3"}, "at": {"S": "T998"}}}}])
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": {
            "id": {"S": "N3"}, "day": {"S": "d3"}, "at": {"S": "T997"}}}}]})
        assert _ids(ddb, "d3") == ["N1", "N2", "N3"]
        assert _ids(ddb, "d2") == sorted(set(d2) - {"L0001"})
        # A query of the table's own key takes its partition straight from the table: no map to make
        # again after each write (the stream reads a lead's tasks between its writes).
        maps: list[str] = []
        where = fast_moto._items_where
        monkeypatch.setattr(fast_moto, "_items_where", lambda *args: maps.append(args[1]) or where(*args))
        looked.clear()
        assert ddb.query(TableName=TABLE, KeyConditionExpression="id = :i",
                         ExpressionAttributeValues={":i": {"S": "N2"}})["Items"][0]["day"] == {"S": "d3"}
        assert len(looked) == 1 and maps == []
        assert _ids(ddb, "d3") == ["N1", "N2", "N3"] and maps == ["day"]


def test_a_write_landing_while_the_map_is_made_is_seen_by_the_next_query() -> None:
    """moto's server answers queries beside writes: a put whose item joins the table after a query
    began walking it, and which is counted before that walk ends, must not leave the map marked as
    current (it was: the task the stream had just created stayed out of a rep's task list until the
    next write anywhere, up to a minute in the browser tests)."""
    from moto.dynamodb.models import dynamodb_backends

    from local import fast_moto

    with mock_aws():
        ddb = _table()
        for name in ("X", "Y"):
            ddb.put_item(TableName=TABLE, Item={"id": {"S": name}, "day": {"S": "d4"}, "at": {"S": f"T-{name}"}})
        table = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE)
        key = next(k for k, item in table.items.items() if item.attrs["id"].value == "Y")
        late = table.items.pop(key)

        class Racing(dict):  # type: ignore[type-arg]
            """The table as a query's walk meets it: another request's put lands once the walk began."""

            def values(self) -> Any:
                walked = list(super().values())
                if key not in self:
                    self[key] = late
                    fast_moto._written()
                return iter(walked)

        table.items = Racing(table.items)
        fast_moto._written()  # the map is stale: the next query walks the table
        assert _ids(ddb, "d4") == ["X"]  # raced with the put: either answer is right for that moment
        assert _ids(ddb, "d4") == ["X", "Y"]  # but the put happened: the next query sees it
