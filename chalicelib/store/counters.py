"""Burst counters: how many distinct leads one phone or IP sent within a window."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib.errors import StoreUnavailable
from chalicelib.store.schema import CounterModel


def count_in_window(key: str, member: str, cap: int, expires_at: datetime, also: frozenset[str] = frozenset()) -> int:
    """Add `member` (and `also`) to the window's set and return the set's size. Adding the same member
    again (a replayed record) counts it once. Past `cap` members the set stops growing: returns cap + 1."""
    condition = (CounterModel.members.does_not_exist() | (size(CounterModel.members) < cap)
                 | CounterModel.members.contains(member))
    try:
        row = CounterModel(key)
        row.update(actions=[CounterModel.members.add({member, *also}), CounterModel.expires_at.set(expires_at)],
                   condition=condition)
        return len(row.members or ())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return cap + 1
        raise StoreUnavailable() from exc
