"""A user's in-app inbox."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import QueryError, UpdateError

from chalicelib.errors import StoreUnavailable
from chalicelib.store.schema import NotificationModel


def page(user_id: str, unread_only: bool, limit: int, last_key: dict[str, Any] | None) -> tuple[list[dict[str, Any]],
                                                                                             dict[str, Any] | None]:
    condition = NotificationModel.read == False if unread_only else None  # noqa: E712 - a DynamoDB condition
    try:
        rows = NotificationModel.query(user_id, filter_condition=condition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=last_key)
        items = []
        for row in rows:
            items.append({"id": row.sk, "kind": row.kind, "title": row.title, "body": row.body,
                          "lead_id": row.lead_id, "lead_name": row.lead_name, "created_at": row.created_at,
                          "read": bool(row.read)})
            if len(items) >= limit:
                break
        return items, rows.last_evaluated_key
    except QueryError as exc:
        raise StoreUnavailable() from exc


def unread_count(user_id: str) -> int:
    try:
        return sum(1 for _ in NotificationModel.query(user_id, filter_condition=NotificationModel.read == False,  # noqa: E712
                                                      attributes_to_get=["sk"]))
    except QueryError as exc:
        raise StoreUnavailable() from exc


def mark_read(user_id: str, ids: list[str]) -> int:
    done = 0
    for sk in ids:
        try:
            NotificationModel(user_id, sk).update(actions=[NotificationModel.read.set(True)],
                                                  condition=NotificationModel.sk.exists())
            done += 1
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StoreUnavailable() from exc
            # an id that is not in this user's inbox is simply not marked
    return done


def notify(user_id: str, sk: str, kind: str, title: str, body: str, at: str) -> None:
    """One inbox message (its sort key chosen by the caller: a retried write replaces itself)."""
    from pynamodb.exceptions import PutError

    try:
        NotificationModel(user_id, sk, kind=kind, title=title, body=body, created_at=at).save()
    except PutError as exc:
        raise StoreUnavailable() from exc
