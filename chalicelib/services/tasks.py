"""My tasks, manual tasks, complete and snooze."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from chalicelib.domain.access import Principal
from chalicelib.domain.records import JsonView
from chalicelib.domain.sop import NewTask
from chalicelib.domain.timeutil import SHANGHAI, iso_utc, parse_iso
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.services.followup import _followed_up, _workable
from chalicelib.store import leads, tasks


def my_tasks(who: Principal, now: datetime) -> JsonView:
    """Overdue, due today (Asia/Shanghai) and upcoming (next 7 days) open tasks."""
    today = now.astimezone(SHANGHAI).date()
    end_of_today = iso_utc(datetime.combine(today, time.max, SHANGHAI))
    rows = tasks.of_owner(who.user_id, iso_utc(now - timedelta(days=90)), iso_utc(now + timedelta(days=7)))
    customers = leads.names({t["lead_id"] for t in rows})
    for row in rows:
        row["lead_name"] = customers.get(row["lead_id"])
    at = iso_utc(now)
    return {"overdue": [t for t in rows if t["due_at"] < at],
            "today": [t for t in rows if at <= t["due_at"] <= end_of_today],
            "upcoming": [t for t in rows if t["due_at"] > end_of_today]}


def add_task(who: Principal, lead_id: str, title: str, due_at: str, now: datetime) -> JsonView:
    lead = _followed_up(lead_id, who)
    owner = lead.get("owner") or who.user_id
    try:
        due = iso_utc(parse_iso(due_at))
    except ValueError as exc:
        raise ValidationFailed(fields={"due_at": "须为带时区的 ISO 8601 时间"}) from exc
    task = NewTask(f"manual-{uuid.uuid4().hex[:12]}", title, "manual", due, owner)
    tasks.create(lead_id, task, lead.get("team"), iso_utc(now))
    tasks.refresh_next_follow_up(lead_id)
    return dict(tasks.get(lead_id, task.task_id))


def close_task(who: Principal, lead_id: str, task_id: str, now: datetime) -> JsonView:
    _workable(lead_id, who)
    if not tasks.close(lead_id, task_id, "done", iso_utc(now)) and tasks.get(lead_id, task_id)["status"] != "done":
        raise NotFound("任务不存在或已取消")
    tasks.refresh_next_follow_up(lead_id)
    return dict(tasks.get(lead_id, task_id))


def snooze_task(who: Principal, lead_id: str, task_id: str, until: str) -> JsonView:
    _workable(lead_id, who)
    try:
        moment = iso_utc(parse_iso(until))
    except ValueError as exc:
        raise ValidationFailed(fields={"until": "须为带时区的 ISO 8601 时间"}) from exc
    tasks.get(lead_id, task_id)
    tasks.snooze(lead_id, task_id, moment)
    tasks.refresh_next_follow_up(lead_id)
    return dict(tasks.get(lead_id, task_id))
