"""The caller's own work: the inbox and the task list (a lead's activities, status and tasks are in
`leads.py`)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.handlers import http

bp = Blueprint(__name__)


class ReadIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=100)


@bp.route("/inbox", methods=["GET"])
@http.endpoint
def inbox() -> dict[str, Any]:
    from chalicelib.services import followup

    request = bp.current_request
    params = dict(request.query_params or {})
    try:
        limit = int(params.get("limit", "20"))
    except ValueError:
        limit = 0
    return followup.my_inbox(http.principal(request), params.get("unread") in ("1", "true"), limit,
                             params.get("cursor"))


@bp.route("/inbox/read", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def mark_read() -> dict[str, Any]:
    from chalicelib.services import followup

    request = bp.current_request
    body: ReadIds = http.parse_body_as(ReadIds, http.read_body(request))
    return followup.mark_read(http.principal(request), body.ids)


@bp.route("/tasks", methods=["GET"])
@http.endpoint
def my_tasks() -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    return tasks.my_tasks(http.principal(request), http.received_at(request))
