"""A user's in-app inbox."""

from __future__ import annotations

from chalicelib.domain.records import Message, PageKey
from chalicelib.store.aws_errors import aws_errors, conditional
from chalicelib.store.schema import NotificationModel


def to_message(row: NotificationModel) -> Message:
    """A notifications-table item as an inbox message."""
    return {"id": row.sk, "kind": row.kind, "title": row.title, "body": row.body, "lead_id": row.lead_id,
            "lead_name": row.lead_name, "created_at": row.created_at, "read": bool(row.read)}


def page(user_id: str, unread_only: bool, limit: int, last_key: PageKey | None) -> tuple[list[Message],
                                                                                       PageKey | None]:
    condition = NotificationModel.read == False if unread_only else None  # noqa: E712 - a DynamoDB condition
    with aws_errors():
        rows = NotificationModel.query(user_id, filter_condition=condition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=last_key)
        items = []
        for row in rows:
            items.append(to_message(row))
            if len(items) >= limit:
                break
        return items, rows.last_evaluated_key


def unread_count(user_id: str) -> int:
    with aws_errors():
        return sum(1 for _ in NotificationModel.query(user_id, filter_condition=NotificationModel.read == False,  # noqa: E712
                                                      attributes_to_get=["sk"]))


def mark_read(user_id: str, ids: list[str]) -> int:
    done = 0
    for sk in ids:
        # an id that is not in this user's inbox is simply not marked
        done += conditional(lambda sk=sk: NotificationModel(user_id, sk).update(  # type: ignore[misc]
            actions=[NotificationModel.read.set(True)], condition=NotificationModel.sk.exists()))
    return done


def notify(user_id: str, sk: str, kind: str, title: str, body: str, at: str) -> None:
    """One inbox message (its sort key chosen by the caller: a retried write replaces itself)."""
    with aws_errors():
        NotificationModel(user_id, sk, kind=kind, title=title, body=body, created_at=at).save()
