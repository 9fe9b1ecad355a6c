"""PIPL: erase a person (a lead's reveal and audit are in `leads.py`)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.handlers import http

bp = Blueprint(__name__)


@bp.route("/privacy/erase", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def erase() -> dict[str, Any]:
    from chalicelib.services import privacy

    request = bp.current_request
    return privacy.erase_person(http.principal(request), http.read_body(request), http.received_at(request))
