"""Leads, one resource: list, enter by hand, read, edit; and every `/leads/{id}/...` action: follow-up
(activities, status, tasks), pool moves (claim, release, bulk assign), merge, PIPL (reveal, audit)."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.followup import ActivityIn, StatusChange
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.errors import BadRequest
from chalicelib.handlers import http
from chalicelib.rules.pool import MAX_BULK

bp = Blueprint(__name__)


def _date(params: dict[str, str], name: str) -> date | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest("日期格式应为 YYYY-MM-DD", fields={name: "格式无效"}) from exc


def _limit(params: dict[str, str]) -> int:
    try:
        limit = int(params.get("limit", "20"))
    except ValueError as exc:
        raise BadRequest("limit 须为 1–100 的整数", fields={"limit": "无效"}) from exc
    if not 1 <= limit <= 100:
        raise BadRequest("limit 须为 1–100 的整数", fields={"limit": "无效"})
    return limit


@bp.route("/leads/{lead_id}", methods=["GET"])
@http.endpoint
def get_lead(lead_id: str) -> dict[str, object]:
    from chalicelib.services import leads as lead_service

    who = http.principal(bp.current_request)
    return dict(lead_service.get_lead(lead_id, who))


def list_filters(params: dict[str, str]) -> dict[str, Any]:
    """The lead-list filters of a query string (shared by the list and the export)."""
    from chalicelib.services import leads as lead_service

    return {"status": params.get("status"), "owner": params.get("owner"), "source": params.get("source"),
            "date_from": _date(params, "from"), "date_to": _date(params, "to"), "team": params.get("team"),
            "extra": {k: params[k] for k in params
                      if params.get(k) and (k in lead_service.EXTRA_FILTERS or lead_service.is_drill_param(k))},
            "sort": params.get("sort")}


@bp.route("/leads", methods=["GET"])
@http.endpoint
def list_leads() -> dict[str, object]:
    from chalicelib.services import leads as lead_service

    request = bp.current_request
    who = http.principal(request)
    params = dict(request.query_params or {})
    return dict(lead_service.list_leads(who, today=shanghai_day(http.received_at(request)), limit=_limit(params),
                                        cursor=params.get("cursor"), **list_filters(params)))


@bp.route("/leads", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def create_lead() -> Response:
    from chalicelib.services.capture import CaptureContext, capture

    request = bp.current_request
    who = http.principal(request)
    data = http.read_body(request)
    key = http.idempotency_key(request)
    ctx = CaptureContext("manual", http.received_at(request), f"manual#{who.user_id}#{key}" if key else None,
                         actor=who, client_ip=http.client_ip(request))
    done = capture(data, ctx)
    return Response(body={"lead_id": done.lead_id, "status": "received"}, status_code=202,
                    headers={"Content-Type": http.JSON})


@bp.route("/leads/{lead_id}/merge", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def merge_lead(lead_id: str) -> dict[str, object]:
    from chalicelib.services import merge

    request = bp.current_request
    who = http.principal(request)
    return merge.merge_leads(who, lead_id, http.read_body(request), iso_utc(http.received_at(request)))


@bp.route("/leads/{lead_id}/unmerge", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def unmerge_lead(lead_id: str) -> dict[str, object]:
    from chalicelib.services import merge

    request = bp.current_request
    who = http.principal(request)
    return merge.unmerge_lead(who, lead_id, http.read_body(request), iso_utc(http.received_at(request)))


@bp.route("/leads/{lead_id}/activities", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def log_activity(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import followup

    request = bp.current_request
    who = http.principal(request)
    activity = http.parse_body_as(ActivityIn, http.read_body(request))
    return followup.log_activity(who, lead_id, activity, http.received_at(request))


@bp.route("/leads/{lead_id}/status", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def change_status(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import followup

    request = bp.current_request
    who = http.principal(request)
    return followup.change_status(who, lead_id, http.parse_body_as(StatusChange, http.read_body(request)),
                                  http.received_at(request))


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=50)
    due_at: str = Field(min_length=10, max_length=40)


class Snooze(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: str = Field(min_length=10, max_length=40)


@bp.route("/leads/{lead_id}/tasks", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def add_task(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    body: TaskIn = http.parse_body_as(TaskIn, http.read_body(request))
    return tasks.add_task(http.principal(request), lead_id, body.title, body.due_at, http.received_at(request))


@bp.route("/leads/{lead_id}/tasks/{task_id}/complete", methods=["POST"])
@http.endpoint
def complete_task(lead_id: str, task_id: str) -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    return tasks.close_task(http.principal(request), lead_id, task_id, http.received_at(request))


@bp.route("/leads/{lead_id}/tasks/{task_id}/snooze", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def snooze_task(lead_id: str, task_id: str) -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    body: Snooze = http.parse_body_as(Snooze, http.read_body(request))
    return tasks.snooze_task(http.principal(request), lead_id, task_id, body.until)


@bp.route("/leads/{lead_id}/claim", methods=["POST"])
@http.endpoint
def claim(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    return pool.claim(http.principal(request), lead_id, http.received_at(request))


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


@bp.route("/leads/{lead_id}/release", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def release(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    body: Release = http.parse_body_as(Release, http.read_body(request))
    return pool.release(who, lead_id, body.reason, http.received_at(request))


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_ids: list[str] = Field(min_length=1, max_length=MAX_BULK)
    to: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=200)


@bp.route("/leads/assign", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def assign() -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    body: Assign = http.parse_body_as(Assign, http.read_body(request))
    return pool.assign(who, body.lead_ids, body.to, body.reason, http.received_at(request))


@bp.route("/leads/{lead_id}", methods=["PATCH"], content_types=[http.JSON])
@http.endpoint
def edit_lead(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import privacy

    request = bp.current_request
    return privacy.update_lead(http.principal(request), lead_id, http.read_body(request), http.received_at(request),
                               http.if_match(request))


@bp.route("/leads/{lead_id}/reveal", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def reveal(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import privacy

    request = bp.current_request
    return privacy.reveal_phone(http.principal(request), lead_id, http.read_body(request), http.received_at(request))


@bp.route("/leads/{lead_id}/audit", methods=["GET"])
@http.endpoint
def lead_audit(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import privacy

    return privacy.lead_audit(http.principal(bp.current_request), lead_id)
