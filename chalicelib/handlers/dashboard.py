"""The dashboard (supervisors: their team; admins: any team or all). Services are imported inside
the view, so other functions' cold starts do not pay for them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from chalice.app import Blueprint

from chalicelib.domain.timeutil import shanghai_day
from chalicelib.errors import BadRequest
from chalicelib.handlers import http

bp = Blueprint(__name__)


def _day(params: dict[str, str], name: str, default: date) -> date:
    try:
        return date.fromisoformat(params[name]) if params.get(name) else default
    except ValueError as exc:
        raise BadRequest("日期格式应为 YYYY-MM-DD", fields={name: "格式无效"}) from exc


@bp.route("/dashboard", methods=["GET"])
@http.endpoint
def dashboard() -> dict[str, Any]:
    from chalicelib.services.dashboard import dashboard as figures

    request = bp.current_request
    who = http.principal(request)
    params = dict(request.query_params or {})
    today = shanghai_day(http.received_at(request))
    last = _day(params, "to", today)
    return figures(who, _day(params, "from", last - timedelta(days=29)), last, params.get("team") or None, today)
