"""The audit trail: one item per write or reveal, per entity; read per entity, oldest first."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from chalicelib.domain.records import AuditEntry
from chalicelib.plain import plain
from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.schema import AuditModel


def record(entity: str, actor: str, at: str, action: str, before: Mapping[str, object] | None = None,
           after: Mapping[str, object] | None = None, reason: str | None = None) -> str:
    """One audit item: who did what to an entity, with the values before and after (JSON)."""
    sk = f"{at}#{uuid.uuid4().hex[:12]}"
    with aws_errors():
        AuditModel(entity, sk, at=at, actor=actor, action=action, reason=reason,
                   before=dict(before) if before else None, after=dict(after) if after else None).save()
    return sk


def to_entry(row: AuditModel) -> AuditEntry:
    """An audit item as an audit entry."""
    item: AuditEntry = {"at": row.at, "actor": row.actor, "action": row.action}
    if row.reason:
        item["reason"] = row.reason
    if row.before is not None:
        item["before"] = {k: plain(v) for k, v in row.before.as_dict().items()}
    if row.after is not None:
        item["after"] = {k: plain(v) for k, v in row.after.as_dict().items()}
    return item


def of_entity(entity: str, limit: int = 200) -> list[AuditEntry]:
    with aws_errors():
        rows = list(AuditModel.query(entity, limit=limit))
    return [to_entry(row) for row in rows]


def delete_entity(entity: str) -> int:
    """Remove every audit item of an entity (erasure of a person's lead). Returns the count."""
    count = 0
    for row in AuditModel.query(entity):
        row.delete()
        count += 1
    return count
