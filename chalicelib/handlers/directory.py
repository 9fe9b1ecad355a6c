"""The signed-in user, and the directory: users (list, duty and caps) and teams (list, robot webhook)."""

from __future__ import annotations

from typing import Any, Literal

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.handlers import http

bp = Blueprint(__name__)


@bp.route("/me", methods=["GET"])
@http.endpoint
def me() -> dict[str, Any]:
    from chalicelib.services import directory

    return directory.me(http.principal(bp.current_request))


@bp.route("/users", methods=["GET"])
@http.endpoint
def list_users() -> dict[str, Any]:
    from chalicelib.services import directory

    request = bp.current_request
    return directory.list_users(http.principal(request), http.received_at(request))


@bp.route("/teams", methods=["GET"])
@http.endpoint
def list_teams() -> dict[str, Any]:
    from chalicelib.services import directory

    return directory.list_teams(http.principal(bp.current_request))


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


class Duty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool | None = None
    active: bool | None = None
    daily_cap: int | None = Field(default=None, ge=0, le=10000)
    max_open: int | None = Field(default=None, ge=0, le=100000)


@bp.route("/users/{user_id}", methods=["PATCH"], content_types=[http.JSON])
@http.endpoint
def update_user(user_id: str) -> dict[str, Any]:
    from chalicelib.services import pool

    request = bp.current_request
    who = http.principal(request)
    body: Duty = http.parse_body_as(Duty, http.read_body(request))
    return pool.set_duty(who, user_id, body.model_dump(exclude_none=True))
