"""Admin configuration documents (lead profile, cleaning, routing, pool policy) as versioned data."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.errors import ValidationFailed
from chalicelib.handlers import http

bp = Blueprint(__name__)


@bp.route("/config/{name}", methods=["GET"])
@http.endpoint
def get_config(name: str) -> dict[str, Any]:
    from chalicelib.services import admin

    return admin.get_document(http.principal(bp.current_request), name)


@bp.route("/config/{name}", methods=["PUT"], content_types=[http.JSON])
@http.endpoint
def put_config(name: str) -> dict[str, Any]:
    from chalicelib.services import admin

    request = bp.current_request
    who = http.principal(request)
    note = dict(request.query_params or {}).get("note", "")
    return admin.publish_document(who, name, http.read_body(request), http.received_at(request), note)


@bp.route("/config/{name}/versions", methods=["GET"])
@http.endpoint
def list_versions(name: str) -> dict[str, Any]:
    from chalicelib.services import admin

    return admin.list_versions(http.principal(bp.current_request), name)


@bp.route("/config/{name}/versions/{version}", methods=["GET"])
@http.endpoint
def get_version(name: str, version: str) -> dict[str, Any]:
    from chalicelib.services import admin

    if not version.isdigit():
        raise ValidationFailed(fields={"version": "须为整数版本号"})
    return admin.get_version(http.principal(bp.current_request), name, int(version))


@bp.route("/config/{name}/validate", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def validate_config(name: str) -> dict[str, Any]:
    from chalicelib.services import admin

    request = bp.current_request
    return admin.validate_document(http.principal(request), name, http.read_body(request))


@bp.route("/config/{name}/rollback", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def rollback_config(name: str) -> dict[str, Any]:
    from chalicelib.services import admin

    request = bp.current_request
    who = http.principal(request)
    version = http.read_body(request).get("version")
    if not isinstance(version, int):
        raise ValidationFailed(fields={"version": "须为整数版本号"})
    return admin.rollback_document(who, name, version, http.received_at(request))


@bp.route("/config/routing/dry-run", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def dry_run_routing() -> dict[str, Any]:
    from chalicelib.services import admin

    request = bp.current_request
    who = http.principal(request)
    return admin.dry_run_routing(who, http.read_body(request), http.received_at(request))


@bp.route("/scoring", methods=["GET"])
@http.endpoint
def scoring_status() -> dict[str, Any]:
    from chalicelib.services import admin

    return admin.scoring_status(http.principal(bp.current_request))


@bp.route("/scoring/train", methods=["POST"])
@http.endpoint
def train_scoring() -> dict[str, Any]:
    from chalicelib.services import admin

    request = bp.current_request
    return admin.train_scoring(http.principal(request), http.received_at(request))
