"""Admin configuration documents (lead profile, cleaning rules) as versioned data."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.handlers import http
from chalicelib.services import admin

bp = Blueprint(__name__)


@bp.route("/config/{name}", methods=["GET"])
@http.endpoint
def get_config(name: str) -> dict[str, Any]:
    return admin.get_document(http.principal(bp.current_request), name)


@bp.route("/config/{name}", methods=["PUT"], content_types=[http.JSON])
@http.endpoint
def put_config(name: str) -> dict[str, Any]:
    request = bp.current_request
    who = http.principal(request)
    return admin.publish_document(who, name, http.read_body(request), http.received_at(request))
