"""Activities, status changes and the inbox."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.followup import ActivityIn, StatusChange
from chalicelib.handlers import http

bp = Blueprint(__name__)


class ReadIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=100)


@bp.route("/leads/{lead_id}/activities", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def log_activity(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import followup

    request = bp.current_request
    who = http.principal(request)
    activity = http.parse_body_as(ActivityIn, http.read_body(request))
    return followup.log_activity(who, lead_id, activity, http.received_at(request))


@bp.route("/leads/{lead_id}/status", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def change_status(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import followup

    request = bp.current_request
    who = http.principal(request)
    return followup.change_status(who, lead_id, http.parse_body_as(StatusChange, http.read_body(request)),
                                  http.received_at(request))


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


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=50)
    due_at: str = Field(min_length=10, max_length=40)


class Snooze(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: str = Field(min_length=10, max_length=40)


@bp.route("/tasks", methods=["GET"])
@http.endpoint
def my_tasks() -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    return tasks.my_tasks(http.principal(request), http.received_at(request))


@bp.route("/leads/{lead_id}/tasks", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def add_task(lead_id: str) -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    body: TaskIn = http.parse_body_as(TaskIn, http.read_body(request))
    return tasks.add_task(http.principal(request), lead_id, body.title, body.due_at, http.received_at(request))


@bp.route("/leads/{lead_id}/tasks/{task_id}/complete", methods=["POST"])
@http.endpoint
def complete_task(lead_id: str, task_id: str) -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    return tasks.close_task(http.principal(request), lead_id, task_id, http.received_at(request))


@bp.route("/leads/{lead_id}/tasks/{task_id}/snooze", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def snooze_task(lead_id: str, task_id: str) -> dict[str, Any]:
    from chalicelib.services import tasks

    request = bp.current_request
    body: Snooze = http.parse_body_as(Snooze, http.read_body(request))
    return tasks.snooze_task(http.principal(request), lead_id, task_id, body.until)
