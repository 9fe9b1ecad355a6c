"""Exports: the lead list (or the pool) as a spreadsheet, with the same filters as the list."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.handlers import http
from chalicelib.handlers.leads import list_filters

bp = Blueprint(__name__)


@bp.route("/exports/leads", methods=["GET"])
@http.endpoint
def export_leads() -> dict[str, Any]:
    from chalicelib.services.exports import export_leads as export

    request = bp.current_request
    params = dict(request.query_params or {})
    scope = params.get("scope", "leads")
    filters = {"region": params.get("region"), "loan_type": params.get("loan_type")} if scope == "pool" \
        else list_filters(params)
    return export(http.principal(request), http.received_at(request), filters, scope)
