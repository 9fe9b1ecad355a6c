"""SOP on the lead stream and on the schedule: tasks from what happened, alerts when they come due,
and the first-contact reclaim. Time is the record's or the schedule event's, never the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.business_time import WorkingCalendar
from chalicelib.domain.lifecycle import CLOSED
from chalicelib.domain.ownership import Notice, plan
from chalicelib.domain.records import EventDetail, Lead, Task
from chalicelib.domain.sop import (
    SHARDS,
    NewTask,
    due_at,
    idle_due_again,
    next_clock,
    pending_alert,
    reclaim_deadline,
    reminders_for,
    tasks_for,
)
from chalicelib.domain.sop import idle_deadline as domain_idle_deadline
from chalicelib.domain.timeutil import beijing, iso_utc, parse_iso
from chalicelib.errors import Conflict
from chalicelib.outbound import post_webhook, publish
from chalicelib.rules.pool import PoolPolicy, default_pool_policy
from chalicelib.rules.sop import SopPolicy, default_sop_policy
from chalicelib.services import handoff, names
from chalicelib.store import config, directory, leads, tasks


def policy() -> SopPolicy:
    return config.document("sop", SopPolicy, default_sop_policy)[0]


def calendar() -> WorkingCalendar:
    """Business hours for tasks counted in working time: the routing rule set's calendar."""
    from chalicelib.rules.routing import RuleSet, default_rule_set

    cal = config.document("routing", RuleSet, default_rule_set)[0].calendar
    return WorkingCalendar.of(cal.hours, cal.holidays, cal.workdays)


def sla_deadline(at: str) -> str | None:
    return reclaim_deadline(at, policy())


def idle_deadline(at: str) -> str | None:
    return domain_idle_deadline(at, policy())


@dataclass(frozen=True)
class Clocks:
    """What an assignment at one moment starts: the first task's due time (下次跟进), the
    first-contact deadline (reclaim) and the idle deadline."""

    first_follow_up: str | None
    sla_at: str | None
    idle_at: str | None


def assignment_clocks(at: str) -> Clocks:
    """The clocks of a lead assigned at `at`, from one read of the policy."""
    current = policy()
    rules = current.rules_for("assigned")
    hours = calendar() if any(rule.business_hours for rule in rules) else None
    dues = [due_at(rule, at, hours) for rule in rules]
    return Clocks(min(dues) if dues else None, reclaim_deadline(at, current), domain_idle_deadline(at, current))


def first_follow_up(assigned_at: str) -> str | None:
    """下次跟进 of a lead assigned at this moment: the earliest task its assignment creates. Written
    with the assignment itself, so the stream's refresh finds it right and writes nothing."""
    return assignment_clocks(assigned_at).first_follow_up


def on_lead_change(old: Lead, new: Lead, at: str) -> int:
    """The tasks one change of a lead calls for, then 下次跟进 (the earliest open task) on the lead.

    Changing hands: the previous owner's open tasks move to the new owner (or, with the policy's
    `on_handoff` = "recreate", are cancelled and the tasks of the lead's current status created for
    the new owner); a task this very change creates again (首次联系 of a new assignment) replaces its
    old copy. Into the pool or closed: every open task is cancelled. Idempotent: task ids come from
    the trigger, moves and closes are conditional on the task as it was."""
    lead_id, owner, before = new["lead_id"], new.get("owner"), old.get("owner")
    current = policy()
    hours = calendar() if any(t.business_hours for t in current.tasks) or \
        any(r.business_hours for r in current.reminders) else None
    created = tasks_for(old, new, current, hours)
    reminded = sum(tasks.create_reminder(lead_id, made, new.get("team"), at)
                   for made in reminders_for(old, new, current, hours))
    gone = CLOSED | {"duplicate"}
    ends = bool(before and not owner) or (new.get("status") in gone and old.get("status") not in gone)
    handed = bool(before and owner and before != owner)
    contacted = bool(new.get("first_contact_at") and not old.get("first_contact_at"))
    if handed and current.on_handoff == "recreate":
        created += status_tasks(new, current)
    if not (ends or handed or contacted or created):
        return reminded
    changed = reminded
    # Only a lead that ends, changes hands or is first contacted has tasks of its own to touch.
    touches = ends or handed or contacted
    open_tasks = [t for t in tasks.of_lead(lead_id) if t["status"] == "open"] if touches else []
    replaced = {task.rule_id for task in created}
    on_assignment = {task.id for task in current.tasks if task.on == "assigned"}
    # Only what the change found: the previous owner's tasks from before this record. A record delivered
    # again after later changes must not touch what those changes made (a new owner's tasks).
    found = [t for t in open_tasks if t["created_at"] <= at and (t["owner"] == before or not before)]
    for task in found:
        if ends:
            changed += tasks.close(lead_id, task["task_id"], "cancelled", at)
        elif handed and task["owner"] == before:
            if current.on_handoff == "recreate" or task["rule_id"] in replaced:
                changed += tasks.close(lead_id, task["task_id"], "cancelled", at)
            else:
                changed += tasks.move(lead_id, task["task_id"], before, str(owner), new.get("team"))
        elif contacted and task["rule_id"] in on_assignment:
            # The first contact is what the assignment's tasks (首次联系) asked for: they are done, and
            # must not come due or escalate afterwards.
            changed += tasks.close(lead_id, task["task_id"], "done", at)
    if not ends:
        for made in created:
            # The assignment's task due when the lead's clock is (its first-contact task): that clock
            # wakes the sweep for it, so it needs no alert entry of its own (`sweep`, `_assignment_due`).
            covered = made.rule_id in on_assignment and new.get("clock_at") == made.due_at
            changed += tasks.create(lead_id, made, new.get("team"), at, alert=not covered)
    if changed > reminded and not _first_tasks_as_written(old, new, created, touches):
        tasks.refresh_next_follow_up(lead_id)
    return changed


def _first_tasks_as_written(old: Lead, new: Lead, created: list[NewTask], touches: bool) -> bool:
    """A `new` lead placed with an owner has no tasks but those this change creates, and its
    placement wrote 下次跟进 as their earliest (`first_follow_up`): nothing to read back or write."""
    return (not touches and old.get("status") == "new" and not old.get("owner") and bool(created)
            and new.get("next_follow_up") == min(task.due_at for task in created))


def status_tasks(lead: Lead, rules: SopPolicy) -> list[NewTask]:
    """The tasks of the lead's current status, for its owner now (a 待观察 lead's reminder)."""
    owner, at = lead.get("owner"), lead.get("updated_at") or lead.get("assigned_at")
    if not owner or not at:
        return []
    stamp = "".join(ch for ch in at if ch.isalnum())
    matching = rules.rules_for(f"status:{lead.get('status')}")
    hours = calendar() if any(rule.business_hours for rule in matching) else None
    return [NewTask(f"{rule.id}-{stamp}", rule.title, rule.id, due_at(rule, at, hours), owner) for rule in matching]


def _who(task: Task) -> str:
    name = task.get("lead_name")
    return f"{name}（线索 {task['lead_id']}）" if name else f"线索 {task['lead_id']}"


def sweep(now: datetime) -> dict[str, int]:
    """One tick: reclaim leads not contacted in time, alert owners of due tasks and supervisors of
    overdue ones. Reads only what is due (sparse indexes); the same tick twice does nothing more."""
    at = iso_utc(now)
    counts = {"reclaimed": 0, "due_notified": 0, "overdue_escalated": 0, "reminded": 0}
    events: list[tuple[str, EventDetail]] = []
    robots: list[tuple[str | None, str, str]] = []
    cooldown = config.document("pool", PoolPolicy, default_pool_policy)[0].cooldown_hours
    rules = policy()
    counts["idle_tasks"] = 0
    escalate = rules.escalate_overdue_after_minutes
    for shard in range(SHARDS):
        for lead in leads.clock_due(f"s{shard}", at):
            if pending_alert(lead):  # the clock waited for its assignment's tasks, not a deadline
                counts["due_notified"] += _assignment_due(lead, at, escalate, events)
                lead = {**lead, "clock_at": next_clock(lead.get("sla_at"), lead.get("idle_at"))}
                if not (lead["clock_at"] and lead["clock_at"] <= at):
                    continue  # else a deadline came due too (a late tick): on to it
            sla_at = lead.get("sla_at")
            if not (sla_at and sla_at <= at):
                counts["idle_tasks"] += _idle(lead, at, rules)
                continue
            if lead["status"] != "assigned" or lead.get("first_contact_at"):
                leads.set_clocks(lead, None, lead.get("idle_at"))  # a clock that should have stopped
                continue
            try:
                handoff.apply(plan("reclaim", lead, actor="system", at=at, reason="分配后未在规定时间内首次联系",
                                   cooldown_hours=cooldown), lead)
            except Conflict:
                continue  # it moved meanwhile (contacted, reassigned, or this tick already ran)
            counts["reclaimed"] += 1
            events.append(("lead.reclaimed", {"lead_id": lead["lead_id"], "at": at, "from_owner": lead.get("owner"),
                                              "team": lead.get("team"), "reason": "first_contact_sla"}))
            # A robot posts to a group chat outside the product: lead numbers and staff names only.
            robots.append((lead.get("team"), f"线索已收回公海：{lead['lead_id']}",
                           f"{names.user(lead.get('owner'))} 未在规定时间内首次联系线索 {lead['lead_id']}，"
                           "线索已自动收回公海。"))
    due = tasks.needing_alert(at)
    customers = leads.names({task["lead_id"] for task in due})
    for task in due:
        task["lead_name"] = customers.get(task["lead_id"])
        notice: Notice | None
        if task["stage"] == "remind":
            counts["reminded"] += _remind(task, at)
        elif task["stage"] == "due":
            counts["due_notified"] += _tell_due(task, at, escalate, events)
        elif task["stage"] == "overdue":
            supervisor = directory.supervisor_of(team) if (team := task.get("team")) else None
            notice = Notice(supervisor, "task_overdue", f"任务逾期：{task['title']}",
                            f"{names.user(task['owner'])} 负责的客户 {_who(task)} 的任务「{task['title']}」"
                            f"（{beijing(task['due_at'])} 到期）已逾期。", task.get("lead_name")) \
                if supervisor else None
            if tasks.advance_alert(task, None, None, notice, at):
                counts["overdue_escalated"] += 1
                events.append(("task.overdue", _task_detail(task, at)))
                robots.append((task.get("team"), f"任务逾期：{task['title']}",
                               f"{names.user(task['owner'])} 负责的线索 {task['lead_id']} 的任务已逾期。"))
    # After the work is done: neither the bus nor a robot can hold it up.
    publish(events)
    for team, title, text in robots:
        hook = directory.team_webhook(team) if team else None
        if hook:
            post_webhook(hook[0], hook[1], title, text)
    return counts


def _tell_due(task: Task, at: str, escalate: int | None, events: list[tuple[str, EventDetail]]) -> int:
    """A task come due: its owner told once, and the task keyed for its escalation (if any)."""
    notice = Notice(task["owner"], "task_due", f"任务已到期：{task['title']}",
                    f"客户 {_who(task)} 的任务「{task['title']}」已于 {beijing(task['due_at'])} 到期，请尽快处理。",
                    task.get("lead_name"))
    later = iso_utc(parse_iso(task["due_at"]) + timedelta(minutes=escalate)) if escalate else None
    if not tasks.advance_alert(task, "overdue" if later else None, later, notice, at):
        return 0
    events.append(("task.due", _task_detail(task, at)))
    return 1


def _assignment_due(lead: Lead, at: str, escalate: int | None, events: list[tuple[str, EventDetail]]) -> int:
    """The lead's clock came due for the tasks its assignment made without an alert of their own
    (首次联系, `on_lead_change`): each still open and due is told to its owner as any due task is, and
    keyed in `by_alert` for its escalation; the clock goes back to the deadlines. One contacted in
    time was closed, and is not told. The same tick twice tells once (`advance_alert` is conditional)."""
    told = 0
    for task in tasks.of_lead(lead["lead_id"]):
        if task["status"] == "open" and not task.get("alert_at") and task["stage"] == "due" and task["due_at"] <= at:
            told += _tell_due({**task, "lead_name": lead.get("name")}, at, escalate, events)
    leads.set_clocks(lead, lead.get("sla_at"), lead.get("idle_at"))
    return told


def _remind(reminder: Task, at: str) -> int:
    """A due 提醒 to the lead's owner now (the one it was meant for may have handed the lead on);
    dropped without a word when the lead is gone, closed or back in the pool."""
    lead = leads.get(reminder["lead_id"])
    owner = lead.get("owner") if lead else None
    notice = None
    if lead is not None and owner and lead.get("status") not in CLOSED | {"duplicate"}:
        notice = Notice(str(owner), "sop_reminder", f"提醒：{reminder['title']}",
                        f"客户 {_who(reminder)}：{reminder['title']}", reminder.get("lead_name"))
    return 1 if tasks.deliver_reminder(reminder, notice, at) and notice else 0


def _idle(lead: Lead, at: str, rules: SopPolicy) -> int:
    """An owned lead whose idle deadline came due: worked since that deadline was set (activities do
    not move it), the clock moves to `no_activity_minutes` after the last activity; untouched, a
    task for the owner and the clock restarts. Conditional on the deadline found, so the same tick
    twice creates one task."""
    sla_at, idle_at = lead.get("sla_at"), str(lead.get("idle_at") or "")
    if rules.no_activity_minutes is None or not lead.get("owner") or not idle_at:
        leads.set_clocks(lead, sla_at, None)  # the policy no longer asks, or no one owns it
        return 0
    if idle_at > at:  # neither clock is due: the index key was left behind; key it again
        leads.set_clocks(lead, sla_at, idle_at)
        return 0
    again = idle_due_again(lead.get("last_activity_at"), rules)
    if again and again > at:
        leads.set_clocks(lead, sla_at, again)
        return 0
    stamp = "".join(ch for ch in idle_at if ch.isalnum())
    due = iso_utc(parse_iso(at) + timedelta(minutes=rules.no_activity_due_minutes))
    task = NewTask(f"no_activity-{stamp}", rules.no_activity_task, "no_activity", due, str(lead.get("owner")))
    if leads.set_clocks(lead, sla_at, domain_idle_deadline(at, rules)):
        return tasks.create(lead["lead_id"], task, lead.get("team"), at)
    return 0


def _task_detail(task: Task, at: str) -> EventDetail:
    return {"lead_id": task["lead_id"], "task_id": task["task_id"], "title": task["title"], "owner": task["owner"],
            "team": task.get("team"), "due_at": task["due_at"], "at": at}
