"""Window counters: how many distinct leads one phone or IP sent within a fixed window.

Each window's item holds the leads themselves (a string set), so counting a lead again (a record
the stream delivers twice) changes nothing, and a condition stops a set growing past its cap: a
flood costs one small item, not one that grows with it. Items expire by TTL after two windows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from chalicelib.domain.timeutil import parse_iso
from chalicelib.store.aws_errors import ConditionFailed, aws_errors
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import CounterModel

MEMBERS = "members"


def window_start(at: str, window_s: int) -> int:
    return int(parse_iso(at).timestamp()) // window_s * window_s


def window_key(kind: str, value: str, at: str, window_s: int) -> tuple[str, datetime]:
    """The counter item of `value`'s fixed window holding the ISO time `at`, and when it expires."""
    moment = parse_iso(at)
    return f"{kind}#{value}#{window_start(at, window_s)}", moment + timedelta(seconds=2 * window_s)


def _add(key: str, sets: dict[str, int], member: str, expires_at: datetime,
         also: Mapping[str, frozenset[str]] | None = None) -> dict[str, int] | None:
    """Add `member` (and the set's `also`) to each named set, each under its cap unless it already
    holds `member`; the sets' sizes after, or None when one of them was full."""
    names = {f"#s{i}": name for i, name in enumerate(sets)}
    values: dict[str, object] = {":one": {"S": member}, ":expires": {"N": str(int(expires_at.timestamp()))}}
    conditions, adds = [], []
    for i, (placeholder, name) in enumerate(names.items()):
        values[f":m{i}"] = {"SS": sorted({member, *(also or {}).get(name, ())})}
        values[f":cap{i}"] = {"N": str(sets[name])}
        adds.append(f"{placeholder} :m{i}")
        conditions.append(f"(attribute_not_exists({placeholder}) OR size({placeholder}) < :cap{i} "
                          f"OR contains({placeholder}, :one))")
    try:
        with aws_errors():
            response = transaction_connection().client.update_item(
                TableName=CounterModel.Meta.table_name, Key={"key": {"S": key}},
                UpdateExpression="ADD " + ", ".join(adds) + " SET expires_at = :expires",
                ConditionExpression=" AND ".join(conditions), ExpressionAttributeNames=names,
                ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
    except ConditionFailed:
        return None
    return {name: len(response["Attributes"][name]["SS"]) for name in sets}


def count_in_window(key: str, member: str, cap: int, expires_at: datetime, also: frozenset[str] = frozenset()) -> int:
    """Add `member` (and `also`) to the window's set and return the set's size. Adding the same member
    again (a replayed record) counts it once. Past `cap` members the set stops growing: returns cap + 1."""
    sizes = _add(key, {MEMBERS: cap}, member, expires_at, {MEMBERS: also})
    return cap + 1 if sizes is None else sizes[MEMBERS]


def count_nested(key: str, member: str, outer_cap: int, inner: str, inner_cap: int, expires_at: datetime,
                 also_outer: frozenset[str] = frozenset(), also_inner: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Count `member` in two windows of one item, a long one (`members`) and one of the short windows
    that divide it (the set named `inner`): one write for both (`also_*`: other members each window
    counts with it). Returns both sizes, each cap + 1 once full (then the other set is counted alone)."""
    also = {MEMBERS: also_outer, inner: also_inner}
    sizes = _add(key, {MEMBERS: outer_cap, inner: inner_cap}, member, expires_at, also)
    if sizes is not None:
        return sizes[MEMBERS], sizes[inner]
    outer = _add(key, {MEMBERS: outer_cap}, member, expires_at, also)
    inner_size = _add(key, {inner: inner_cap}, member, expires_at, also)
    return (outer_cap + 1 if outer is None else outer[MEMBERS],
            inner_cap + 1 if inner_size is None else inner_size[inner])


def forget(key: str, member: str) -> bool:
    """Take `member` out of every set of the item (an erased lead); False if it was in none."""
    with aws_errors():
        item = transaction_connection().client.get_item(
            TableName=CounterModel.Meta.table_name, Key={"key": {"S": key}}, ConsistentRead=True).get("Item", {})
        names = {f"#s{i}": name for i, name in enumerate(n for n, v in item.items() if member in v.get("SS", ()))}
        if not names:
            return False
        transaction_connection().client.update_item(
            TableName=CounterModel.Meta.table_name, Key={"key": {"S": key}},
            UpdateExpression="DELETE " + ", ".join(f"{p} :m" for p in names),
            ExpressionAttributeNames=names, ExpressionAttributeValues={":m": {"SS": [member]}})
    return True


def drop(key: str) -> bool:
    """Delete a window's item (one person's window, erased); False if there was none."""
    with aws_errors():
        response = transaction_connection().client.delete_item(
            TableName=CounterModel.Meta.table_name, Key={"key": {"S": key}}, ReturnValues="ALL_OLD")
    return bool(response.get("Attributes"))
