"""Following a lead up: log an activity, change its status, read one's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.followup import (
    ACTIVITY_LABELS,
    ActivityIn,
    StatusChange,
    check_status_change,
    check_version,
)
from chalicelib.domain.ownership import plan
from chalicelib.domain.phone import normalise_cn_phone
from chalicelib.domain.records import Activity, JsonView, Lead
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import BadRequest, Conflict, NotFound, ValidationFailed
from chalicelib.services import handoff, sop
from chalicelib.services.privacy import retention_expiry
from chalicelib.store import inbox, lead_updates, leads


def _workable(lead_id: str, who: Principal) -> Lead:
    """The owner, the owning team's supervisor and admins work a lead; to anyone else it is absent."""
    lead = leads.get(lead_id)
    allowed = lead is not None and (
        who.role == "admin" or lead.get("owner") == who.user_id
        or (who.role == "supervisor" and lead.get("team") == who.team and who.team is not None))
    if lead is None or not allowed:
        raise NotFound("线索不存在或无权操作")
    return lead


def _followed_up(lead_id: str, who: Principal) -> Lead:
    """A lead one may log follow-ups on (activities, tasks): workable, and not a duplicate, which was
    merged into its original and is worked there (the lead page offers it no forms: `can.work`)."""
    lead = _workable(lead_id, who)
    if lead["status"] == "duplicate":
        raise Conflict(f"这是一条重复提交，已并入线索 {lead.get('duplicate_of') or ''}，请在原线索上跟进",
                       code="DUPLICATE_LEAD")
    return lead


def log_activity(who: Principal, lead_id: str, activity: ActivityIn, at: datetime) -> JsonView:
    lead = _followed_up(lead_id, who)
    contact = lead.get("owner") == who.user_id  # only the owner's own contact stops the clock
    logged = cast(Activity, {"activity_type": activity.type,
                             **activity.model_dump(exclude={"type"}, exclude_none=True)})
    event_id = lead_updates.log_activity(lead, logged, who.user_id, iso_utc(at), contact,
                                         sop.idle_deadline(iso_utc(at)))
    return {"lead_id": lead_id, "activity_id": event_id, "label": ACTIVITY_LABELS[activity.type],
            "counts_as_contact": contact}


def change_status(who: Principal, lead_id: str, change: StatusChange, at: datetime) -> JsonView:
    lead = _workable(lead_id, who)
    if change.status == "pool":
        return _reopen(who, lead, change, at)
    check_status_change(lead, change)
    fields: Lead = {}
    if change.status == "won":
        fields = {"won_amount": change.won_amount, "won_date": change.won_date.isoformat() if change.won_date else None}
    elif change.status in ("lost", "invalid"):
        fields = {"close_reason": change.reason, "expires_at": retention_expiry(change.status, iso_utc(at))}
    lead_updates.set_status(lead, change.status, change.version, who.user_id, iso_utc(at), change.reason, fields)
    return {"lead_id": lead_id, "status": change.status, "version": change.version + 1}


def my_inbox(who: Principal, unread_only: bool, limit: int, cursor: str | None) -> JsonView:
    if not 1 <= limit <= 100:
        raise BadRequest("limit 须为 1–100", fields={"limit": "无效"})
    last_key = leads.decode_cursor(cursor) if cursor else None
    items, next_key = inbox.page(who.user_id, unread_only, limit, last_key)
    return {"items": items, "unread": inbox.unread_count(who.user_id),
            "cursor": leads.encode_cursor(next_key) if next_key else None}


def mark_read(who: Principal, ids: list[str]) -> JsonView:
    return {"marked": inbox.mark_read(who.user_id, ids), "unread": inbox.unread_count(who.user_id)}


def _reopen(who: Principal, lead: Lead, change: StatusChange, at: datetime) -> JsonView:
    """A lost or invalid lead back to the pool, by a supervisor of its team or an admin, with a reason:
    the ownership move `reopen` (its history entry, its phone taken back, its retention ended)."""
    require_role(who, "admin", "supervisor")
    if not change.reason:
        raise ValidationFailed(fields={"reason": "重新放回公海须填写原因"})
    check_version(lead, change.version)
    try:
        normalise_cn_phone(str(lead.get("phone") or ""))
    except ValueError as exc:
        raise Conflict("该线索的手机号无效，不能放回公海", code="PHONE_INVALID") from exc
    handoff.apply(plan("reopen", lead, actor=who.user_id, at=iso_utc(at), reason=change.reason), lead)
    return {"lead_id": lead["lead_id"], "status": "pool", "version": change.version + 1}
