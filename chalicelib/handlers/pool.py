"""The pool: the list of unowned leads (claiming, releasing and assigning a lead are in `leads.py`)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.errors import BadRequest
from chalicelib.handlers import http

bp = Blueprint(__name__)


def _number(params: dict[str, str], name: str, kind: type = float) -> Any:
    if not params.get(name):
        return None
    try:
        return kind(params[name])
    except ValueError as exc:
        raise BadRequest(f"{name} 须为数字", fields={name: "格式无效"}) from exc


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
