"""Partners (admin): their API keys (list, issue, rotate, revoke) and request rate. A partner's own
lead pushes (`POST /partner/leads`) are a capture channel, in `capture.py`."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.handlers import http

bp = Blueprint(__name__)


@bp.route("/partners", methods=["GET"])
@http.endpoint
def list_partners() -> dict[str, Any]:
    from chalicelib.services import partners

    return partners.list_partners(http.principal(bp.current_request))


@bp.route("/partners/{partner_id}/keys", methods=["GET"])
@http.endpoint
def list_keys(partner_id: str) -> dict[str, Any]:
    from chalicelib.services import partners

    return partners.list_keys(http.principal(bp.current_request), partner_id)


@bp.route("/partners/{partner_id}/keys", methods=["POST"])
@http.endpoint
def create_key(partner_id: str) -> dict[str, Any]:
    from chalicelib.services import partners

    request = bp.current_request
    return partners.create_key(http.principal(request), partner_id, http.received_at(request))


@bp.route("/partners/{partner_id}/keys/{key_id}/rotate", methods=["POST"])
@http.endpoint
def rotate_key(partner_id: str, key_id: str) -> dict[str, Any]:
    from chalicelib.services import partners

    request = bp.current_request
    return partners.rotate_key(http.principal(request), partner_id, key_id, http.received_at(request))


@bp.route("/partners/{partner_id}/keys/{key_id}/revoke", methods=["POST"])
@http.endpoint
def revoke_key(partner_id: str, key_id: str) -> dict[str, Any]:
    from chalicelib.services import partners

    request = bp.current_request
    return partners.revoke_key(http.principal(request), partner_id, key_id, http.received_at(request))


class Rate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_per_minute: int | None = Field(default=None, ge=1, le=100000)


@bp.route("/partners/{partner_id}/rate", methods=["PUT"], content_types=[http.JSON])
@http.endpoint
def set_rate(partner_id: str) -> dict[str, Any]:
    from chalicelib.services import partners

    request = bp.current_request
    body: Rate = http.parse_body_as(Rate, http.read_body(request))
    return partners.set_rate(http.principal(request), partner_id, body.rate_per_minute, http.received_at(request))
