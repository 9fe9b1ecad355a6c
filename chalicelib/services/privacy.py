"""PIPL use cases: reveal a full number (audited), edit a lead (mass assignment refused, audited),
read a lead's audit trail, erase a person with a receipt, and purge what an expired lead leaves."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.access import Principal, can_read_lead, require_role, sees_full_phone
from chalicelib.domain.lead import validate_submission
from chalicelib.domain.phone import display_phone, normalise_cn_phone
from chalicelib.domain.records import JsonObject, JsonView, Lead, lead_fields
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import Conflict, Forbidden, NotFound, StaleVersion, ValidationFailed
from chalicelib.observability import logger
from chalicelib.services import history
from chalicelib.settings import get_settings
from chalicelib.store import audit, config, directory, leads, privacy

# What a generic edit may change. Everything else on a lead is the system's: who owns it, its
# status and version, consent, partner, phone (the de-duplication key), numbers and timestamps.
EDITABLE = ("name", "loan_type", "amount", "purpose", "credit_status", "city", "customer_type", "campaign",
            "remark", "custom")


def _reason(body: JsonObject) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 200:
        raise ValidationFailed("请填写原因", fields={"reason": "请填写 1–200 字的原因"})
    return reason.strip()


def _works_on(who: Principal, lead: Lead) -> bool:
    return who.role == "admin" or sees_full_phone(who, lead.get("owner"), lead.get("team"))


def reveal_phone(who: Principal, lead_id: str, body: JsonObject, at: datetime) -> JsonView:
    """The full number, for the owner, the owning team's supervisor and admins; each reveal is audited."""
    lead = leads.get(lead_id)
    if lead is None or not can_read_lead(who, lead.get("owner"), lead.get("team"), lead["status"]):
        raise NotFound("线索不存在或无权查看")
    if not _works_on(who, lead):
        raise Forbidden("只有负责人、所属团队主管和管理员可以查看完整号码；请先领取线索", code="REVEAL_FORBIDDEN")
    reason = _reason(body)
    audit.record(f"lead#{lead_id}", who.user_id, iso_utc(at), "phone.reveal", reason=reason)
    return {"lead_id": lead_id, "phone": lead["phone"], "phone_display": display_phone(lead["phone"]),
            "revealed_at": iso_utc(at)}


def update_lead(who: Principal, lead_id: str, body: JsonObject, at: datetime,
                if_match: int | None = None) -> JsonView:
    """Edit a lead's fields. The version the editor read (`version` in the body or the `If-Match`
    header) must still be current, or nothing changes and 409 names the current version."""
    lead = leads.get(lead_id)
    if lead is None or not _works_on(who, lead):
        raise NotFound("线索不存在或无权操作")
    body = dict(body)
    expected = _expected_version(body.pop("version", None), if_match)
    current_version = int(lead["version"])
    if expected is not None and expected != current_version:
        raise StaleVersion(current_version)
    refused = {key: "系统字段，不能通过编辑修改" for key in body if key not in EDITABLE}
    if refused:
        raise ValidationFailed("包含不允许修改的字段，未做任何修改", fields=refused, code="FIELD_NOT_EDITABLE")
    if not body:
        raise ValidationFailed(fields={"body": "没有要修改的字段"})
    current = {k: v for k, v in lead.items() if k in EDITABLE and k != "custom" and v is not None}
    candidate = {**current, **{k: v for k, v in body.items() if k != "custom"}, "phone": lead["phone"]}
    candidate["custom"] = {**(lead.get("custom") or {}), **(body.get("custom") or {})} \
        if isinstance(body.get("custom", {}), dict) else body["custom"]
    profile = config.lead_profile().keeping(lead, lead.get("custom") or {})
    clean = validate_submission(candidate, profile, "manual")
    edited: dict[str, object] = {}
    for key in body:
        value = getattr(clean, key)
        if key == "custom":
            value = value or None
        if value != lead.get(key):
            edited[key] = value
    changes = lead_fields(edited)
    if changes:
        before = lead_fields({k: v for k, v in lead.items() if k in changes and v is not None})
        after = lead_fields({k: v for k, v in changes.items() if v is not None})
        try:
            privacy.update_lead(lead_id, current_version, changes, iso_utc(at), who.user_id, before, after,
                                fields=_changed_fields(lead, changes))
        except Conflict as exc:  # another edit landed between the read and the write
            now = leads.get(lead_id)
            raise StaleVersion(int(now["version"]) if now else current_version) from exc
    return {"lead_id": lead_id, "changed": sorted(changes), "version": current_version + (1 if changes else 0)}


def _changed_fields(lead: Lead, changes: Lead) -> list[str]:
    """The edited fields as the history names them: a custom field by its own key, not `custom`."""
    fields = sorted(k for k in changes if k != "custom")
    if "custom" in changes:
        old, new = lead.get("custom") or {}, changes.get("custom") or {}
        fields += sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return fields


def _expected_version(in_body: Any, if_match: int | None) -> int | None:
    if in_body is None:
        return if_match
    if isinstance(in_body, bool) or not isinstance(in_body, int) or in_body < 0:
        raise ValidationFailed(fields={"version": "应为非负整数（编辑前读到的线索版本）"})
    if if_match is not None and if_match != in_body:
        raise ValidationFailed(fields={"version": "与 If-Match 请求头的版本不一致"})
    return in_body


def lead_audit(who: Principal, lead_id: str) -> JsonView:
    """Every recorded write and reveal of one lead, for its team's supervisor and admins."""
    require_role(who, "admin", "supervisor")
    lead = leads.get(lead_id)
    if lead is None or not can_read_lead(who, lead.get("owner"), lead.get("team"), lead["status"]):
        raise NotFound("线索不存在或无权查看")
    entries = sorted(history.of_lead(lead, limit=500), key=lambda e: e.get("at") or "")
    return {"lead_id": lead_id, "history": entries, "audit": audit.of_entity(f"lead#{lead_id}")}


def _window_keys(lead: Lead) -> list[tuple[str, bool]]:
    """The counter items that may name the lead (cleaning's bursts, the capture guard's rates), each
    with whether it is the person's own (a phone's window) or shared (an IP's)."""
    from chalicelib.services.capture_guard import window_items

    return window_items(lead, config.cleaning_rules().burst)


def _involved(lead: Lead) -> set[str]:
    users, teams = privacy.people_involved(lead["lead_id"])
    teams |= {team for team in (lead.get("team"), lead.get("first_team")) if team}
    users |= {owner for owner in (lead.get("owner"), lead.get("first_owner")) if owner}
    users |= {s for team in teams if (s := directory.supervisor_of(team))}
    return users


def erase_person(who: Principal, body: JsonObject, at: datetime) -> JsonView:
    """Erase every lead of one person (by phone, or by one of their leads) and everything naming
    them, from every table; return a receipt (kept, without personal data). Aggregates keep counts."""
    require_role(who, "admin")
    reason = _reason(body)
    phone: str | None = None
    if isinstance(body.get("lead_id"), str) and body["lead_id"]:
        found = leads.get(body["lead_id"])
        if found is None:
            raise NotFound("线索不存在")
        phone = found["phone"]
    elif isinstance(body.get("phone"), (str, int)):
        try:
            phone = normalise_cn_phone(str(body["phone"]))
        except ValueError as exc:
            raise ValidationFailed(fields={"phone": str(exc)}) from exc
    if phone is None:
        raise ValidationFailed("请指定要删除的个人：phone 或 lead_id", fields={"phone": "须填写号码或线索编号"})
    removed: Counter[str] = Counter()
    ids = privacy.lead_ids_of_phone(phone)
    for lead_id in ids:
        lead = leads.get(lead_id)
        if lead is not None:
            removed += privacy.purge_lead(lead, _involved(lead), _window_keys(lead))
    removed["phone_keys"] += privacy.delete_phone_key(phone)
    receipt_id = f"E{uuid.uuid4().hex[:16]}"
    counts = {_logical(table): n for table, n in sorted(removed.items())}
    audit.record(f"erasure#{receipt_id}", who.user_id, iso_utc(at), "person.erase", reason=reason,
                 after={"leads": len(ids), "items": counts})
    return {"receipt_id": receipt_id, "erased_at": iso_utc(at), "leads": len(ids), "items": counts,
            "note": "已删除该个人的全部线索、跟进记录、任务、消息与幂等记录；统计数据仅保留计数"}


def _logical(table: str) -> str:
    prefix = get_settings().table_prefix
    return table[len(prefix):] if table.startswith(prefix) else table


def purge_expired(lead: Lead) -> None:
    """A lead deleted by its retention TTL (or by an erasure): remove what still names it. Idempotent.
    With only its keys (a stream record without images) what is keyed on the lead id goes (history,
    tasks, audit, idempotency, notifications, cooldowns); the phone's windows and its phone key
    need the phone, and wait for an erasure by phone."""
    if "phone" not in lead or "created_at" not in lead:
        logger.warning("removed lead without its image: phone-keyed items kept", extra={"lead_id": lead["lead_id"]})
        privacy.purge_lead(lead, _involved(lead), [])
        return
    privacy.purge_lead(lead, _involved(lead), _window_keys(lead))
    privacy.forget_in_phone_key(lead["phone"], lead["lead_id"])


def retention_expiry(status: str, at: str) -> datetime | None:
    """When an `invalid` or `lost` lead expires (DynamoDB TTL), or None for other statuses."""
    from chalicelib.domain.timeutil import parse_iso

    settings = get_settings()
    days = {"invalid": settings.retention_invalid_days, "lost": settings.retention_lost_days}.get(status)
    return parse_iso(at) + timedelta(days=days) if days else None
