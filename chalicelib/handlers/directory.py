"""The signed-in user, and the directory: users and teams."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

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
