"""Capture from every channel: validate, number, write a `new` lead. Nothing else synchronously."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from chalicelib import metrics
from chalicelib.domain.access import Principal
from chalicelib.domain.lead import build_lead, validate_submission
from chalicelib.domain.lead_number import BlockAllocator, format_lead_id
from chalicelib.domain.records import JsonObject, JsonView
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.errors import DomainError
from chalicelib.rules.profile import Channel
from chalicelib.settings import get_settings
from chalicelib.store import config, leads, sequences
from chalicelib.store.leads import IdempotencyClaim


@dataclass(frozen=True)
class CaptureContext:
    channel: Channel
    received_at: datetime
    idempotency_key: str | None = None  # already scoped to the channel / partner
    partner_id: str | None = None
    actor: Principal | None = None
    client_ip: str | None = None
    form_id: str | None = None  # a hosted form's submission (services/forms.py)
    referrer: str | None = None


@dataclass(frozen=True)
class Captured:
    lead_id: str
    created: bool


@lru_cache(maxsize=1)
def _allocator() -> BlockAllocator:
    return BlockAllocator(sequences.reserve_block, get_settings().lead_sequence_block)


def request_hash(raw: JsonObject) -> str:
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def capture(raw: JsonObject, ctx: CaptureContext) -> Captured:
    if ctx.channel == "public":
        from chalicelib.services.capture_guard import admit

        raw = admit(raw, ctx.client_ip, ctx.received_at)
    profile = config.lead_profile()
    submission = validate_submission(raw, profile, ctx.channel)
    day = shanghai_day(ctx.received_at)
    lead_id = format_lead_id(day, _allocator().next(day))
    created_at = iso_utc(ctx.received_at)
    owner = team = None
    if ctx.actor is not None and ctx.actor.role == "rep":
        owner, team = ctx.actor.user_id, ctx.actor.team
    lead = build_lead(
        submission, lead_id=lead_id, channel=ctx.channel, created_at=created_at, day=day.isoformat(),
        profile=profile, partner_id=ctx.partner_id, owner=owner, team=team,
        created_by=ctx.actor.user_id if ctx.actor else None, client_ip=ctx.client_ip,
    )
    if ctx.form_id:
        lead["form_id"] = ctx.form_id
    if ctx.referrer:
        lead["referrer"] = ctx.referrer
    claim = None
    if ctx.idempotency_key:
        ttl = get_settings().idempotency_ttl_s
        claim = IdempotencyClaim(ctx.idempotency_key, request_hash(raw), created_at,
                                 int(ctx.received_at.timestamp()) + ttl)
    lead_id, created = leads.insert(lead, claim)
    if created:  # an idempotent retry captured nothing new
        metrics.count(metrics.LEADS_CAPTURED, source=str(lead.get("source") or "unknown"))
    return Captured(lead_id, created)


def capture_batch(items: list[Any], ctx: CaptureContext) -> list[JsonView]:
    """One result per item; a bad item never blocks the good ones beside it."""
    results: list[JsonView] = []
    for index, raw in enumerate(items):
        item_ctx = ctx
        if ctx.idempotency_key:
            item_ctx = CaptureContext(**{**ctx.__dict__, "idempotency_key": f"{ctx.idempotency_key}#{index}"})
        try:
            if not isinstance(raw, dict):
                raise DomainError("每条线索必须是 JSON 对象", code="VALIDATION_FAILED")
            done = capture(raw, item_ctx)
            results.append({"index": index, "status": "accepted", "lead_id": done.lead_id})
        except DomainError as exc:
            results.append({"index": index, "status": "rejected", **exc.to_body()})
    return results
