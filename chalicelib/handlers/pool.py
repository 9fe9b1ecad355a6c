"""The pool and ownership moves: list, claim, release, (bulk) assign, rep duty and caps."""

from __future__ import annotations

from typing import Any, Literal

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.errors import BadRequest
from chalicelib.handlers import http
from chalicelib.rules.pool import MAX_BULK

bp = Blueprint(__name__)


def _number(params: dict[str, str], name: str, kind: type = float) -> Any:
    if not params.get(name):
        return None
    try:
        return kind(params[name])
    except ValueError as exc:
        raise BadRequest(f"{name} 须为数字", fields={name: "格式无效"}) from exc


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_ids: list[str] = Field(min_length=1, max_length=MAX_BULK)
    to: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=200)


class Duty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool | None = None
    active: bool | None = None
    daily_cap: int | None = Field(default=None, ge=0, le=10000)
    max_open: int | None = Field(default=None, ge=0, le=100000)


@bp.route("/pool", methods=["GET"])
@http.endpoint
def list_pool() -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    params = dict(request.query_params or {})
    limit = _number(params, "limit", int) or pool.policy().page_size
    if not 1 <= limit <= 100:
        raise BadRequest("limit 须为 1–100", fields={"limit": "无效"})
    return dict(pool.list_pool(who, http.received_at(request), region=params.get("region"),
                               loan_type=params.get("loan_type"), min_amount=_number(params, "min_amount"),
                               max_amount=_number(params, "max_amount"),
                               max_age_days=_number(params, "max_age_days", int),
                               limit=limit, cursor=params.get("cursor"), sort=params.get("sort")))


@bp.route("/leads/{lead_id}/claim", methods=["POST"])
@http.endpoint
def claim(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    return pool.claim(http.principal(request), lead_id, http.received_at(request))


@bp.route("/leads/{lead_id}/release", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def release(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    body: Release = http.parse_body_as(Release, http.read_body(request))
    return pool.release(who, lead_id, body.reason, http.received_at(request))


@bp.route("/leads/assign", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def assign() -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    body: Assign = http.parse_body_as(Assign, http.read_body(request))
    return pool.assign(who, body.lead_ids, body.to, body.reason, http.received_at(request))


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=500)
    kind: Literal["wecom", "dingtalk"] = "wecom"


@bp.route("/teams/{team_id}/webhook", methods=["PUT"], content_types=[http.JSON])
@http.endpoint
def set_webhook(team_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    body: Webhook = http.parse_body_as(Webhook, http.read_body(request))
    return pool.set_webhook(http.principal(request), team_id, body.url, body.kind)


@bp.route("/users/{user_id}", methods=["PATCH"], content_types=[http.JSON])
@http.endpoint
def update_user(user_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    body: Duty = http.parse_body_as(Duty, http.read_body(request))
    return pool.set_duty(who, user_id, body.model_dump(exclude_none=True))
