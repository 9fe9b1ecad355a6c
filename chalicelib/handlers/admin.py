"""Admin configuration: the lead profile (option lists, custom fields, bounds) as versioned data."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.handlers import http
from chalicelib.services import admin

bp = Blueprint(__name__)


@bp.route("/config/lead-profile", methods=["GET"])
@http.endpoint
def get_lead_profile() -> dict[str, Any]:
    return admin.get_lead_profile(http.principal(bp.current_request))


@bp.route("/config/lead-profile", methods=["PUT"], content_types=[http.JSON])
@http.endpoint
def put_lead_profile() -> dict[str, Any]:
    request = bp.current_request
    who = http.principal(request)
    return admin.publish_lead_profile(who, http.read_body(request), http.received_at(request))
