"""What a change of a lead means for its tasks: pure, from the before and after images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain.business_time import WorkingCalendar
from chalicelib.domain.timeutil import iso_utc, parse_iso
from chalicelib.rules.sop import ReminderRule, SopPolicy, TaskRule

SHARDS = 4  # the due-task and lead-clock indexes are spread so no single partition takes every write


def shard_of(key: str) -> str:
    return f"s{sum(key.encode()) % SHARDS}"


@dataclass(frozen=True)
class NewTask:
    task_id: str  # deterministic from the trigger, so a replayed stream record creates nothing twice
    title: str
    rule_id: str
    due_at: str
    owner: str


def triggers(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(trigger, the moment it happened) for one MODIFY of a lead."""
    out: list[tuple[str, str]] = []
    owner = new.get("owner")
    if owner and new.get("status") == "assigned" and new.get("assigned_at") and \
            (old.get("status") != "assigned" or old.get("owner") != owner):
        out.append(("assigned", new["assigned_at"]))
    if new.get("first_contact_at") and not old.get("first_contact_at"):
        out.append(("first_contact", new["first_contact_at"]))
    if new.get("last_activity_at") and new.get("last_activity_at") != old.get("last_activity_at") and \
            new.get("last_activity_type"):
        out.append((f"activity:{new['last_activity_type']}", new["last_activity_at"]))
    if new.get("status") != old.get("status") and new.get("status"):
        out.append((f"status:{new['status']}", new.get("updated_at") or ""))
    return out


def due_at(rule: TaskRule | ReminderRule, at: str, calendar: WorkingCalendar | None = None) -> str:
    """When a task of `rule` triggered at `at` is due (a reminder of it is sent): in business hours
    when the rule says so."""
    start = parse_iso(at)
    minutes = rule.due_minutes if isinstance(rule, TaskRule) else rule.delay_minutes
    if rule.business_hours and calendar is not None:
        return iso_utc(calendar.add(start, minutes))
    return iso_utc(start + timedelta(minutes=minutes))


def reminder_id(rule_id: str) -> str:
    """One reminder per lead and rule: its id does not depend on when it was triggered."""
    return f"remind-{rule_id}"


def reminders_for(old: Mapping[str, Any], new: Mapping[str, Any], policy: SopPolicy,
                  calendar: WorkingCalendar | None = None) -> list[NewTask]:
    """The 提醒 one change of a lead calls for, each to its owner `delay_minutes` after the event."""
    owner = new.get("owner")
    if not owner or not policy.reminders:
        return []
    return [NewTask(reminder_id(rule.id), rule.text, rule.id, due_at(rule, at, calendar), owner)
            for trigger, at in triggers(old, new) for rule in policy.reminders_for(trigger)]


def tasks_for(old: Mapping[str, Any], new: Mapping[str, Any], policy: SopPolicy,
              calendar: WorkingCalendar | None = None) -> list[NewTask]:
    owner = new.get("owner")
    if not owner:
        return []
    tasks = []
    for trigger, at in triggers(old, new):
        for rule in policy.rules_for(trigger):
            due = due_at(rule, at, calendar)
            stamp = "".join(ch for ch in at if ch.isalnum())  # URL-safe: the id travels in paths
            tasks.append(NewTask(f"{rule.id}-{stamp}", rule.title, rule.id, due, owner))
    return tasks


def idle_deadline(at: str, policy: SopPolicy) -> str | None:
    if policy.no_activity_minutes is None:
        return None
    return iso_utc(parse_iso(at) + timedelta(minutes=policy.no_activity_minutes))


def reclaim_deadline(at: str, policy: SopPolicy) -> str | None:
    if policy.reclaim_uncontacted_minutes is None:
        return None
    return iso_utc(parse_iso(at) + timedelta(minutes=policy.reclaim_uncontacted_minutes))


def next_clock(sla_at: str | None, idle_at: str | None, alert_at: str | None = None) -> str | None:
    """When the sweep must next look at a lead: the earliest of its running clocks (first contact,
    no activity, and the due time of the tasks its assignment made, `alert_at`), the one key of the
    sweep's index (`by_clock_keys`), or None when none runs."""
    running = [at for at in (sla_at, idle_at, alert_at) if at]
    return min(running) if running else None


def pending_alert(lead: Mapping[str, Any]) -> str | None:
    """The due time the lead's clock waits for on behalf of the tasks its assignment made (首次联系),
    which have no alert of their own (`sop.on_lead_change`): the lead's clock when it is earlier than
    both deadlines. A change that sets the clocks again keeps it, until the sweep has told the owner."""
    clock = lead.get("clock_at")
    deadlines = next_clock(lead.get("sla_at"), lead.get("idle_at"))
    return str(clock) if clock and (deadlines is None or str(clock) < deadlines) else None


def idle_due_again(last_activity_at: str | None, policy: SopPolicy) -> str | None:
    """Where an idle deadline that came due goes when the lead was worked since it was set: the
    idle clock is not moved by each activity (that would rewrite the sweep's index every time), the
    sweep moves it once it comes due, to `no_activity_minutes` after the last activity."""
    return idle_deadline(last_activity_at, policy) if last_activity_at else None
