"""The audit trail: one item per write or reveal, per entity; read per entity, oldest first."""

from __future__ import annotations

import uuid
from typing import Any

from pynamodb.exceptions import PutError, QueryError

from chalicelib.errors import StoreUnavailable
from chalicelib.plain import plain
from chalicelib.store.schema import AuditModel


def record(entity: str, actor: str, at: str, action: str, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None, reason: str | None = None) -> str:
    sk = f"{at}#{uuid.uuid4().hex[:12]}"
    try:
        AuditModel(entity, sk, at=at, actor=actor, action=action, reason=reason,
                   before=before or None, after=after or None).save()
    except PutError as exc:
        raise StoreUnavailable() from exc
    return sk


def of_entity(entity: str, limit: int = 200) -> list[dict[str, Any]]:
    try:
        rows = list(AuditModel.query(entity, limit=limit))
    except QueryError as exc:
        raise StoreUnavailable() from exc
    out = []
    for row in rows:
        item: dict[str, Any] = {"at": row.at, "actor": row.actor, "action": row.action}
        if row.reason:
            item["reason"] = row.reason
        for side in ("before", "after"):
            value = getattr(row, side)
            if value is not None:
                item[side] = {k: plain(v) for k, v in value.as_dict().items()}
        out.append(item)
    return out


def delete_entity(entity: str) -> int:
    """Remove every audit item of an entity (erasure of a person's lead). Returns the count."""
    count = 0
    for row in AuditModel.query(entity):
        row.delete()
        count += 1
    return count
