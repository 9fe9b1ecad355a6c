"""SOP on the lead stream and on the schedule: tasks from what happened, alerts when they come due,
and the first-contact reclaim. Time is the record's or the schedule event's, never the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.ownership import plan
from chalicelib.domain.sop import SHARDS, NewTask, reclaim_deadline, tasks_for
from chalicelib.domain.sop import idle_deadline as domain_idle_deadline
from chalicelib.domain.timeutil import iso_utc, parse_iso
from chalicelib.errors import Conflict
from chalicelib.outbound import post_webhook, publish
from chalicelib.rules.pool import PoolPolicy, default_pool_policy
from chalicelib.rules.sop import SopPolicy, default_sop_policy
from chalicelib.store import config, directory, leads, ownership, tasks
from chalicelib.store.dedup import Notice
from chalicelib.store.schema import NotificationModel


def policy() -> SopPolicy:
    return config.document("sop", SopPolicy, default_sop_policy)[0]


def sla_deadline(at: str) -> str | None:
    return reclaim_deadline(at, policy())


def idle_deadline(at: str) -> str | None:
    return domain_idle_deadline(at, policy())


def on_lead_change(old: dict[str, Any], new: dict[str, Any], at: str) -> int:
    """Create the tasks this change calls for; cancel the previous owner's open tasks when the lead
    changes hands or closes. Idempotent: task ids come from the trigger, closing is conditional."""
    changed = 0
    lost_owner = old.get("owner") and (old.get("owner") != new.get("owner") or new.get("status") in
                                       ("won", "lost", "invalid", "duplicate"))
    if lost_owner:
        for existing in tasks.of_lead(new["lead_id"]):
            if existing["status"] == "open" and existing["owner"] == old.get("owner"):
                changed += tasks.close(new["lead_id"], existing["task_id"], "cancelled", at)
    current = policy()
    if new.get("first_contact_at") and not old.get("first_contact_at") and not lost_owner:
        # The first contact is what the assignment's tasks (首次联系) asked for: they are done, and
        # must not come due or escalate afterwards.
        on_assignment = {task.id for task in current.tasks if task.on == "assigned"}
        for existing in tasks.of_lead(new["lead_id"]):
            if existing["status"] == "open" and existing["rule_id"] in on_assignment:
                changed += tasks.close(new["lead_id"], existing["task_id"], "done", at)
    for task in tasks_for(old, new, current):
        changed += tasks.create(new["lead_id"], task, new.get("team"), at)
    return changed


def _notify(user: str | None, kind: str, key: str, title: str, body: str, lead_id: str, at: str) -> None:
    if not user:
        return
    NotificationModel(user, f"{at}#{kind}#{key}", kind=kind, title=title, body=body, lead_id=lead_id,
                      created_at=at).save(condition=NotificationModel.sk.does_not_exist())


def sweep(now: datetime) -> dict[str, int]:
    """One tick: reclaim leads not contacted in time, alert owners of due tasks and supervisors of
    overdue ones. Reads only what is due (sparse indexes); the same tick twice does nothing more."""
    at = iso_utc(now)
    counts = {"reclaimed": 0, "due_notified": 0, "overdue_escalated": 0}
    events: list[tuple[str, dict[str, Any]]] = []
    robots: list[tuple[str | None, str, str]] = []
    cooldown = config.document("pool", PoolPolicy, default_pool_policy)[0].cooldown_hours
    for shard in range(SHARDS):
        for lead in leads.sla_due(f"s{shard}", at):
            if lead["status"] != "assigned" or lead.get("first_contact_at"):
                continue
            try:
                ownership.apply(plan("reclaim", lead, actor="system", at=at, reason="分配后未在规定时间内首次联系",
                                     cooldown_hours=cooldown))
            except Conflict:
                continue  # it moved meanwhile (contacted, reassigned, or this tick already ran)
            counts["reclaimed"] += 1
            events.append(("lead.reclaimed", {"lead_id": lead["lead_id"], "at": at, "from_owner": lead.get("owner"),
                                              "team": lead.get("team"), "reason": "first_contact_sla"}))
            robots.append((lead.get("team"), f"线索已收回公海：{lead['lead_id']}",
                           f"{lead.get('owner')} 未在规定时间内首次联系，线索已自动收回公海。"))
            supervisor = directory.supervisor_of(lead["team"]) if lead.get("team") else None
            _notify(supervisor, "reclaimed", f"{lead['lead_id']}#{lead.get('sla_at')}",
                    f"线索已收回公海：{lead['lead_id']}",
                    f"{lead.get('owner')} 在分配后未按时首次联系线索 {lead['lead_id']}，已自动收回公海。",
                    lead["lead_id"], at)
    counts["idle_tasks"] = _idle_tasks(at)
    escalate = policy().escalate_overdue_after_minutes
    for task in tasks.needing_alert(at):
        notice: Notice | None
        if task["stage"] == "due":
            notice = Notice(task["owner"], "task_due", f"任务已到期：{task['title']}",
                            f"线索 {task['lead_id']} 的任务「{task['title']}」已到期（{task['due_at']}），请尽快处理。")
            later = iso_utc(parse_iso(task["due_at"]) + timedelta(minutes=escalate)) if escalate else None
            if tasks.advance_alert(task, "overdue" if later else None, later, notice, at):
                counts["due_notified"] += 1
                events.append(("task.due", _task_detail(task, at)))
        elif task["stage"] == "overdue":
            supervisor = directory.supervisor_of(task["team"]) if task.get("team") else None
            notice = Notice(supervisor, "task_overdue", f"任务逾期：{task['title']}",
                            f"{task['owner']} 负责的线索 {task['lead_id']} 的任务「{task['title']}」已逾期。") \
                if supervisor else None
            if tasks.advance_alert(task, None, None, notice, at):
                counts["overdue_escalated"] += 1
                events.append(("task.overdue", _task_detail(task, at)))
                robots.append((task.get("team"), f"任务逾期：{task['title']}",
                               f"{task['owner']} 负责的线索 {task['lead_id']} 的任务已逾期。"))
    # After the work is done: neither the bus nor a robot can hold it up.
    publish(events)
    for team, title, text in robots:
        hook = directory.team_webhook(team) if team else None
        if hook:
            post_webhook(hook[0], hook[1], title, text)
    return counts


def _idle_tasks(at: str) -> int:
    """Owned leads untouched for `no_activity_minutes`: a task for the owner, and the clock restarts
    (conditionally, so the same tick twice creates one task)."""
    rules = policy()
    if rules.no_activity_minutes is None:
        return 0
    made = 0
    for shard in range(SHARDS):
        for lead in leads.idle_due(f"s{shard}", at):
            if not lead.get("owner"):
                continue
            stamp = "".join(ch for ch in lead["idle_at"] if ch.isalnum())
            due = iso_utc(parse_iso(at) + timedelta(minutes=rules.no_activity_due_minutes))
            task = NewTask(f"no_activity-{stamp}", rules.no_activity_task, "no_activity", due, lead["owner"])
            if leads.push_idle(lead["lead_id"], lead["idle_at"], domain_idle_deadline(at, rules)):
                made += tasks.create(lead["lead_id"], task, lead.get("team"), at)
    return made


def _task_detail(task: dict[str, Any], at: str) -> dict[str, Any]:
    return {"lead_id": task["lead_id"], "task_id": task["task_id"], "title": task["title"], "owner": task["owner"],
            "team": task.get("team"), "due_at": task["due_at"], "at": at}
