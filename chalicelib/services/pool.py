"""The pool (公海池) and every hand-made ownership move: claim, release, assign, reassign, transfer.
All of them go through the ownership state machine (domain.ownership → store.ownership)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.ownership import Caps, Kind, OwnershipChange, plan
from chalicelib.domain.records import JsonView, Lead, LeadPageView, LeadView, Member, UserChanges
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import BadRequest, DomainError, Forbidden, NotFound, ValidationFailed
from chalicelib.rules.cleaning import REGIONS
from chalicelib.rules.pool import MAX_BULK, PoolPolicy, default_pool_policy
from chalicelib.services import handoff, sop
from chalicelib.services.leads import by_score, check_sort, lead_view
from chalicelib.settings import get_settings
from chalicelib.store import config, directory, leads, ownership

POOL_PARTITIONS = (*REGIONS, "未知")


def policy() -> PoolPolicy:
    return config.document("pool", PoolPolicy, default_pool_policy)[0]


def _caps(user_id: str, claims: bool = False) -> tuple[Caps, Member]:
    user = ownership.user_record(user_id)
    if user is None or not user["active"] or user["role"] != "rep":
        raise ValidationFailed(fields={"to": "目标用户不存在、已停用或不是销售"})
    return Caps(max_open=user["max_open"], daily=user["daily_cap"],
                claims_per_day=policy().max_claims_per_day if claims else None), user


def _lead(lead_id: str) -> Lead:
    lead = leads.get(lead_id)
    if lead is None:
        raise NotFound("线索不存在或无权操作")
    return lead


def list_pool(who: Principal, now: datetime, *, region: str | None = None, loan_type: str | None = None,
              min_amount: float | None = None, max_amount: float | None = None, max_age_days: int | None = None,
              limit: int = 20, cursor: str | None = None, sort: str | None = None) -> LeadPageView:
    check_sort(sort)
    if region is not None and region not in POOL_PARTITIONS:
        raise BadRequest("未知大区", fields={"region": f"可选：{'、'.join(POOL_PARTITIONS)}"})
    state = leads.decode_cursor(cursor) if cursor else {}
    before = str(state.get("before") or iso_utc(now + timedelta(days=1)))
    seen = set(state.get("seen") or [])
    after = iso_utc(now - timedelta(days=max_age_days)) if max_age_days else "0"
    filters = {"loan_type": loan_type} if loan_type else {}
    rows: list[Lead] = []
    for partition in [region] if region else POOL_PARTITIONS:
        rows += leads.query_pool(partition, after, before, filters, min_amount, max_amount, limit + len(seen))
    rows = sorted((r for r in rows if r["lead_id"] not in seen), key=lambda r: (r["created_at"], r["lead_id"]),
                  reverse=True)[:limit]
    next_cursor = None
    if len(rows) == limit:
        last = rows[-1]["created_at"]
        same = [r["lead_id"] for r in rows if r["created_at"] == last]
        next_cursor = leads.encode_cursor({"before": last, "seen": same + (list(seen) if last == before else [])})
    return {"items": [lead_view(r, who) for r in by_score(rows, sort)], "cursor": next_cursor}


def export_pool(who: Principal, now: datetime, *, region: str | None = None, loan_type: str | None = None,
                page: int = 500) -> Iterator[LeadView]:
    """The pool as `list_pool` lists it (newest first, the same filters and masking), every lead read
    once: the regions' leads merged as they are read (a list page reads a page's worth from every
    region, to show the newest of them)."""
    if region is not None and region not in POOL_PARTITIONS:
        raise BadRequest("未知大区", fields={"region": f"可选：{'、'.join(POOL_PARTITIONS)}"})
    before = iso_utc(now + timedelta(days=1))
    filters = {"loan_type": loan_type} if loan_type else {}
    regions = [leads.pool_leads(partition, before, filters, page)
               for partition in ([region] if region else POOL_PARTITIONS)]
    for lead in heapq.merge(*regions, key=lambda lead: (lead["created_at"], lead["lead_id"]), reverse=True):
        yield lead_view(lead, who)


def claim(who: Principal, lead_id: str, at: datetime) -> JsonView:
    require_role(who, "rep")
    caps, user = _caps(who.user_id, claims=True)
    lead = _lead(lead_id)
    change = plan("claim", lead, actor=who.user_id, at=iso_utc(at), to_team=user.get("team"), caps=caps,
                  sla_at=sop.sla_deadline(iso_utc(at)), idle_at=sop.idle_deadline(iso_utc(at)))
    handoff.apply(change, lead)
    return {"lead_id": lead_id, "owner": who.user_id, "status": "assigned"}


def release(who: Principal, lead_id: str, reason: str, at: datetime) -> JsonView:
    require_role(who, "rep")
    if not reason.strip():
        raise ValidationFailed(fields={"reason": "请填写释放原因"})
    lead = _lead(lead_id)
    change = plan("release", lead, actor=who.user_id, at=iso_utc(at), reason=reason.strip(),
                  cooldown_hours=policy().cooldown_hours)
    handoff.apply(change, lead)
    return {"lead_id": lead_id, "status": "pool"}


def _assign_one(who: Principal, lead_id: str, to: str, reason: str, at: str) -> JsonView:
    lead = _lead(lead_id)
    caps, user = _caps(to)
    if who.role == "supervisor":
        in_scope = lead.get("team") in (None, who.team) if lead["status"] == "pool" else lead.get("team") == who.team
        if not in_scope:
            raise NotFound("线索不存在或无权操作")
        if user.get("team") != who.team:
            raise Forbidden("主管只能分配给本团队的销售")
    if lead["status"] in ("new", "pool"):
        change: OwnershipChange = plan("assign", lead, actor=who.user_id, at=at, reason=reason, to_owner=to,
                                       to_team=user.get("team"), caps=caps, sla_at=sop.sla_deadline(at),
                                       idle_at=sop.idle_deadline(at))
    else:
        kind: Kind = "reassign" if user.get("team") == lead.get("team") else "transfer"
        change = plan(kind, lead, actor=who.user_id, at=at, reason=reason, to_owner=to, to_team=user.get("team"),
                      caps=caps, sla_at=sop.sla_deadline(at), idle_at=sop.idle_deadline(at))
    handoff.apply(change, lead)
    return {"lead_id": lead_id, "status": "done", "owner": to, "kind": change.kind}


def assign(who: Principal, lead_ids: list[str], to: str, reason: str, at: datetime) -> JsonView:
    """Assign, reassign or transfer leads to one rep; a result per lead (one bad lead blocks none)."""
    require_role(who, "admin", "supervisor")
    if not lead_ids or len(lead_ids) > MAX_BULK:
        raise ValidationFailed(fields={"lead_ids": f"须包含 1–{MAX_BULK} 条线索"})
    results: list[JsonView] = []
    for lead_id in dict.fromkeys(lead_ids):
        try:
            results.append(_assign_one(who, lead_id, to, reason, iso_utc(at)))
        except DomainError as exc:
            results.append({"lead_id": lead_id, "status": "refused", **exc.to_body()})
    done = sum(1 for r in results if r["status"] == "done")
    return {"done": done, "refused": len(results) - done, "results": results}


def set_duty(who: Principal, user_id: str, changes: Mapping[str, object]) -> JsonView:
    """`changes`: validated at the edge (the `Duty` body: on_duty, active, daily_cap, max_open)."""
    require_role(who, "admin", "supervisor")
    if not changes:
        raise ValidationFailed("没有要修改的字段",
                               fields={"body": "至少填写 on_duty、active、daily_cap、max_open 之一"})
    user = ownership.user_record(user_id)
    if user is None or (who.role == "supervisor" and user.get("team") != who.team):
        raise NotFound("用户不存在或无权操作")
    ownership.update_user(user_id, cast(UserChanges, dict(changes)))
    return {**(ownership.user_record(user_id) or {})}


def set_webhook(who: Principal, team_id: str, url: str | None, kind: str) -> JsonView:
    """A team's robot. https only (a plain-http loopback URL is allowed on the local stage)."""
    require_role(who, "admin", "supervisor")
    if who.role == "supervisor" and who.team != team_id:
        raise NotFound("团队不存在或无权操作")
    if not directory.team_exists(team_id):
        raise NotFound("团队不存在")
    if url:
        parts = urlsplit(url)
        local = get_settings().stage == "local" and parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not (local and parts.scheme == "http"):
            raise ValidationFailed(fields={"url": "机器人地址须为 https 地址"})
    directory.set_team_webhook(team_id, url, kind if url else None)
    return {"team_id": team_id, "webhook_url": url, "webhook_kind": kind if url else None}

