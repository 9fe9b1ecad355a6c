"""Signed-in users: read leads in scope, list them, enter one by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.errors import BadRequest
from chalicelib.handlers import http

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
            "extra": {k: params[k] for k in lead_service.EXTRA_FILTERS if params.get(k)}, "sort": params.get("sort")}


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
