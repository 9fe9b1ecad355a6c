"""Manual merge and unmerge: one person the phone key missed (e.g. two numbers)."""

from __future__ import annotations

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.lifecycle import ACTIVE
from chalicelib.domain.records import JsonObject, JsonView, Lead
from chalicelib.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.store import leads, merges, phone_keys

MERGEABLE = ACTIVE - {"new"}


def _lead_in_scope(lead_id: str, who: Principal) -> Lead:
    lead = leads.get(lead_id)
    if lead is None or (who.role == "supervisor" and lead.get("team") != who.team):
        raise NotFound("线索不存在或无权操作")
    return lead


def _reason(body: JsonObject) -> str:
    reason = str(body.get("reason") or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationFailed(fields={"reason": "请填写 1–200 字的原因"})
    return reason


def merge_leads(who: Principal, target_id: str, body: JsonObject, at: str) -> JsonView:
    require_role(who, "admin", "supervisor")
    source_id = str(body.get("source") or "")
    reason = _reason(body)
    if not source_id or source_id == target_id:
        raise ValidationFailed(fields={"source": "请指定另一条要合并进来的线索"})
    target, source = _lead_in_scope(target_id, who), _lead_in_scope(source_id, who)
    for lead in (target, source):
        if lead["status"] not in MERGEABLE:
            raise Conflict(f"线索 {lead['lead_id']} 当前状态不能合并", code="NOT_MERGEABLE")
    key = phone_keys.get_phone_key(source["phone"])
    if not merges.merge(source, target, at, who.user_id, reason, key is not None and key.active_lead == source_id):
        raise Conflict("线索已被他人修改，请刷新后重试")
    return {"lead_id": target_id, "merged": source_id}


def unmerge_lead(who: Principal, source_id: str, body: JsonObject, at: str) -> JsonView:
    require_role(who, "admin", "supervisor")
    reason = _reason(body)
    source = _lead_in_scope(source_id, who)
    if source["status"] != "duplicate" or not source.get("merge_snapshot"):
        raise Conflict("该线索不是手工合并的线索，无法撤销", code="NOT_MERGED")
    target = leads.get(str(source.get("duplicate_of")))
    if target is None:
        raise NotFound("合并目标不存在")
    if who.role == "supervisor" and target.get("team") != who.team:
        raise Forbidden()
    if not merges.unmerge(source, target, at, who.user_id, reason):
        raise Conflict("线索已被他人修改，请刷新后重试")
    return {"lead_id": source_id, "restored_status": (source.get("merge_snapshot") or {}).get("status")}
