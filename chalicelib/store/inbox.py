"""A user's in-app inbox."""

from __future__ import annotations

from chalicelib.domain.ownership import Assigned, assigned_words
from chalicelib.domain.records import Message, PageKey
from chalicelib.store.aws_errors import aws_errors, conditional
from chalicelib.store.schema import NotificationModel


def assigned_entry(lead: Assigned) -> str:
    """One lead of a 新分配 of several (`placement.notify_together`), as its set holds it."""
    return "\t".join(part.replace("\t", " ") for part in (lead.lead_id, lead.customer, lead.summary))


def assigned_of(entry: str) -> Assigned:
    """`assigned_entry`, read back."""
    lead_id, customer, summary = (entry.split("\t", 2) + ["", ""])[:3]
    return Assigned(lead_id, customer, summary)


def to_message(row: NotificationModel) -> Message:
    """A notifications-table item as an inbox message; a 新分配 of leads placed together
    (`placement.notify_together`) in its words as read now: one lead as any, several as one."""
    if row.lead_ids:
        leads = sorted(map(assigned_of, row.leads or ()), key=lambda lead: lead.lead_id)
        title, body = assigned_words(leads, row.why or "按分配规则", row.sla_at)
        one = leads[0] if len(leads) == 1 else None
        message: Message = {"id": row.sk, "kind": row.kind, "title": title, "body": body,
                            "lead_id": one.lead_id if one else None, "lead_name": one.customer if one else None,
                            "created_at": row.created_at, "read": bool(row.read)}
        if one is None:
            message["leads"] = [{"lead_id": lead.lead_id, "name": lead.customer} for lead in leads]
        return message
    return {"id": row.sk, "kind": row.kind, "title": row.title or "", "body": row.body, "lead_id": row.lead_id,
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
