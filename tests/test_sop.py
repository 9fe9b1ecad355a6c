"""SOP tasks from what happens to a lead, and the scheduled sweep: due, overdue, first-contact reclaim."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.timeutil import iso_utc, parse_iso
from tests.helpers import assigned_lead, body_of, call, deliver, later, lead, leads_stream, tick

pytestmark = pytest.mark.moto


def inbox_kinds(client: Any, user: str) -> list[str]:
    return [i["kind"] for i in body_of(call(client, "GET", "/inbox", user))["items"]]


def test_first_contact_due_then_reclaimed_once(client: Any) -> None:
    lead_id, t = assigned_lead(client)
    [task] = lead(client, lead_id)["tasks"]
    assert task["title"] == "首次联系" and task["due_at"] == iso_utc(parse_iso(t) + timedelta(hours=2))
    assert tick(client, later(t, hours=1))["due_notified"] == 0
    assert inbox_kinds(client, "sh_rep1") == []
    assert tick(client, later(t, hours=2, minutes=5))["due_notified"] == 1
    assert inbox_kinds(client, "sh_rep1") == ["task_due"]
    result = tick(client, later(t, hours=24, minutes=5))
    assert result["reclaimed"] == 1
    item = lead(client, lead_id)
    assert item["status"] == "pool" and "owner" not in item
    reclaim = next(e for e in item["history"] if e["kind"] == "ownership")
    assert "超时收回公海" in reclaim["reason"] and "未在规定时间内首次联系" in reclaim["reason"]
    assert "reclaimed" in inbox_kinds(client, "sh_lead")
    before = (inbox_kinds(client, "sh_lead"), inbox_kinds(client, "sh_rep1"))
    assert tick(client, later(t, hours=24, minutes=5)) == {"time": later(t, hours=24, minutes=5), "reclaimed": 0,
                                                           "due_notified": 0, "overdue_escalated": 0, "idle_tasks": 0,
                                                           "board_summaries": 0, "reminded": 0}
    assert (inbox_kinds(client, "sh_lead"), inbox_kinds(client, "sh_rep1")) == before
    deliver(client, leads_stream())  # the reclaim's MODIFY cancels the old owner's open task
    assert {t["status"] for t in lead(client, lead_id)["tasks"]} == {"cancelled"}


def test_a_call_stops_the_clock_and_schedules_the_follow_up(client: Any) -> None:
    lead_id, t = assigned_lead(client)
    call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1", {"type": "call", "outcome": "接通"})
    deliver(client, leads_stream())
    assert tick(client, later(t, hours=25))["reclaimed"] == 0
    item = lead(client, lead_id)
    assert item["owner"] == "sh_rep1" and item["status"] == "contacted"
    follow = [x for x in item["tasks"] if x["title"] == "跟进客户"]
    assert len(follow) == 1
    assert follow[0]["due_at"] == iso_utc(parse_iso(item["first_contact_at"]) + timedelta(hours=24))
    first = [x for x in item["tasks"] if x["title"] == "首次联系"]
    assert [x["status"] for x in first] == ["done"]  # the contact did what the task asked for


def test_materials_intent_and_observing_tasks(client: Any) -> None:
    lead_id, _ = assigned_lead(client)
    call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1", {"type": "materials_sent"})
    deliver(client, leads_stream())
    version = lead(client, lead_id)["version"]
    call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1", {"status": "intent", "version": version})
    deliver(client, leads_stream())
    call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1", {"status": "observing", "version": version + 1})
    deliver(client, leads_stream())
    item = lead(client, lead_id)
    due = {x["title"]: parse_iso(x["due_at"]) for x in item["tasks"]}
    last = parse_iso(item["last_activity_at"])
    assert due["跟进资料反馈"] - last == timedelta(days=3)
    assert "收集资质材料" in due and "待观察客户回访" in due
    assert due["待观察客户回访"] - parse_iso(item["updated_at"]) == timedelta(days=7)


def test_policy_change_takes_effect_on_the_next_lead(client: Any) -> None:
    policy = body_of(call(client, "GET", "/config/sop", "admin"))["document"]
    policy["tasks"][0]["due_minutes"] = 30
    assert call(client, "PUT", "/config/sop", "admin", policy).status_code == 200
    lead_id, t = assigned_lead(client)
    [task] = lead(client, lead_id)["tasks"]
    assert task["due_at"] == iso_utc(parse_iso(t) + timedelta(minutes=30))
    bad = dict(policy, tasks=[{**policy["tasks"][0], "on": "sunrise"}])
    refused = call(client, "PUT", "/config/sop", "admin", bad)
    assert refused.status_code == 422 and "未知触发条件" in json.dumps(body_of(refused), ensure_ascii=False)


def test_manual_task_complete_snooze_and_my_tasks(client: Any) -> None:
    lead_id, t = assigned_lead(client)
    made = call(client, "POST", f"/leads/{lead_id}/tasks", "sh_rep1", {"title": "约面签", "due_at": later(t, days=2)})
    assert made.status_code == 200
    task_id = body_of(made)["task_id"]
    mine = body_of(call(client, "GET", "/tasks", "sh_rep1"))
    assert {x["title"] for x in mine["today"] + mine["upcoming"]} >= {"首次联系", "约面签"}
    snoozed = call(client, "POST", f"/leads/{lead_id}/tasks/{task_id}/snooze", "sh_rep1", {"until": later(t, days=3)})
    assert body_of(snoozed)["due_at"].startswith(later(t, days=3)[:16])
    done = call(client, "POST", f"/leads/{lead_id}/tasks/{task_id}/complete", "sh_rep1")
    assert body_of(done)["status"] == "done"
    assert call(client, "POST", f"/leads/{lead_id}/tasks/{task_id}/snooze", "sh_rep1",
                {"until": later(t, days=4)}).status_code == 409
    assert call(client, "POST", f"/leads/{lead_id}/tasks", "sh_rep2", {"title": "x", "due_at": t}).status_code == 404
    bad_time = call(client, "POST", f"/leads/{lead_id}/tasks", "sh_rep1", {"title": "x", "due_at": "明天是个好日子"})
    assert bad_time.status_code == 422


def test_sweep_reads_only_due_tasks(client: Any) -> None:
    import botocore.client

    from chalicelib.domain.sop import NewTask, shard_of
    from chalicelib.store import tasks
    from chalicelib.store.schema import TaskModel

    base = "2026-12-01T00:00:00.000Z"
    with TaskModel.batch_write() as batch:  # 10,000 open tasks, due a month later
        for n in range(10_000):
            lead_id, due = f"L20261201{n:05d}", later(base, days=30)
            batch.save(TaskModel(lead_id, f"t{n}", title="跟进", rule_id="manual", owner="sh_rep1", team="sh_mortgage",
                                 due_at=due, stage="due", alert_shard=shard_of(lead_id + f"t{n}"), alert_at=due,
                                 created_at=base))
    for n in range(20):
        tasks.create(f"L20261201{n:04d}", NewTask(f"due{n}", "跟进", "manual", later(base, hours=1), "sh_rep1"),
                     "sh_mortgage", base)
    scanned: list[int] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        response = original(self, operation, params)
        if operation == "Query" and params.get("TableName", "").endswith("tasks"):
            scanned.append(int(response.get("ScannedCount", 0)))
        return response

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        result = tick(client, later(base, hours=2))
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
    assert result["due_notified"] == 20
    assert sum(scanned) == 20, scanned  # task items read by the sweep, of 10,020 open


def test_no_activity_for_days_makes_a_task_once(client: Any) -> None:
    lead_id, t = assigned_lead(client)
    call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1", {"type": "call"})  # contacted: no reclaim
    deliver(client, leads_stream())
    contacted = lead(client, lead_id)["last_activity_at"]
    assert tick(client, later(contacted, days=6))["idle_tasks"] == 0
    assert tick(client, later(contacted, days=7, minutes=5))["idle_tasks"] == 1
    assert tick(client, later(contacted, days=7, minutes=5))["idle_tasks"] == 0  # the same tick twice
    idle = [x for x in lead(client, lead_id)["tasks"] if x["rule_id"] == "no_activity"]
    assert len(idle) == 1 and idle[0]["title"] == "长时间未跟进，请联系客户"


def test_working_time_skips_nights_weekends_and_holidays() -> None:
    from datetime import datetime

    from chalicelib.domain.business_time import WorkingCalendar
    from chalicelib.domain.timeutil import SHANGHAI
    from chalicelib.rules.routing import default_rule_set

    cal = default_rule_set().calendar
    hours = WorkingCalendar.of(cal.hours, cal.holidays, cal.workdays)

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)

    assert hours.add(at("2026-11-24T10:00"), 60) == at("2026-11-24T11:00")  # within the day
    assert hours.add(at("2026-11-30T07:00"), 30) == at("2026-11-30T09:30")  # before opening
    assert hours.add(at("2026-11-27T17:30"), 120) == at("2026-11-30T10:30")  # Friday evening → Monday
    assert hours.add(at("2026-09-30T17:00"), 120) == at("2026-10-08T10:00")  # 国庆 skipped
    assert hours.add(at("2026-10-10T08:00"), 60) == at("2026-10-10T10:00")  # 调休 Saturday works
    assert WorkingCalendar.of({}).add(at("2026-11-24T10:00"), 60) == at("2026-11-24T11:00"), "no hours: clock time"


def test_a_task_counted_in_business_hours_is_due_within_them(client: Any) -> None:
    from chalicelib.domain.business_time import WorkingCalendar
    from chalicelib.domain.timeutil import SHANGHAI
    from chalicelib.rules.routing import default_rule_set

    policy = body_of(call(client, "GET", "/config/sop", "admin"))["document"]
    policy["tasks"][0].update(due_minutes=120, business_hours=True)
    assert call(client, "PUT", "/config/sop", "admin", policy).status_code == 200
    lead_id, t = assigned_lead(client)
    [task] = lead(client, lead_id)["tasks"]
    cal = default_rule_set().calendar
    assert task["due_at"] == iso_utc(WorkingCalendar.of(cal.hours, cal.holidays, cal.workdays).add(parse_iso(t), 120))
    local = parse_iso(task["due_at"]).astimezone(SHANGHAI)
    assert local.date() not in cal.holidays and "09:00" <= local.strftime("%H:%M") <= "18:00"
    assert local.weekday() < 5 or local.date() in cal.workdays
    assert lead(client, lead_id)["next_follow_up"] == task["due_at"]


def test_a_reminder_reaches_the_owner_once_without_a_task(client: Any) -> None:
    policy = body_of(call(client, "GET", "/config/sop", "admin"))["document"]
    assert policy.get("reminders", []) == []  # an old document without reminders stays valid
    policy["reminders"] = [{"id": "call_back", "on": "assigned", "text": "记得回电并发送资料清单", "delay_minutes": 90}]
    assert call(client, "PUT", "/config/sop", "admin", policy).status_code == 200
    lead_id, t = assigned_lead(client)
    deliver(client, leads_stream())  # a replayed record creates the reminder once
    tasks_before = lead(client, lead_id)["tasks"]
    assert [x["title"] for x in tasks_before] == ["首次联系"]  # no task for the reminder
    assert tick(client, later(t, minutes=60))["reminded"] == 0
    assert tick(client, later(t, minutes=95))["reminded"] == 1
    assert tick(client, later(t, minutes=96))["reminded"] == 0  # once per lead and rule
    items = body_of(call(client, "GET", "/inbox", "sh_rep1"))["items"]
    [reminder] = [i for i in items if i["kind"] == "sop_reminder"]
    assert reminder["title"] == "提醒：记得回电并发送资料清单"
    assert reminder["created_at"] == later(t, minutes=95)  # the tick's time, not the clock
    assert lead(client, lead_id)["tasks"] == tasks_before
    bad = dict(policy, reminders=[{"id": "x1", "on": "assigned", "text": "", "delay_minutes": 0}])
    refused = call(client, "PUT", "/config/sop", "admin", bad)
    assert refused.status_code == 422


def test_a_reminder_for_a_lead_gone_to_the_pool_is_dropped(client: Any) -> None:
    policy = body_of(call(client, "GET", "/config/sop", "admin"))["document"]
    policy["reminders"] = [{"id": "late", "on": "assigned", "text": "两天后回访", "delay_minutes": 2 * 1440}]
    assert call(client, "PUT", "/config/sop", "admin", policy).status_code == 200
    lead_id, t = assigned_lead(client)
    assert tick(client, later(t, hours=24, minutes=5))["reclaimed"] == 1  # not contacted: back to the pool
    deliver(client, leads_stream())
    assert tick(client, later(t, days=2, minutes=5))["reminded"] == 0
    assert "sop_reminder" not in inbox_kinds(client, "sh_rep1")


def test_one_sweep_index_entry_per_lead_and_the_idle_clock_follows_the_last_activity(client: Any) -> None:
    """A lead's two clocks share one entry of the sweep's index, keyed on the earlier; an activity does
    not move it (nor rewrite the index): the sweep does when the idle deadline comes, from the last
    activity, and only a lead untouched for `no_activity_minutes` gets a task."""
    from chalicelib.domain.access import Principal
    from chalicelib.domain.followup import ActivityIn
    from chalicelib.services import followup
    from chalicelib.store import leads

    lead_id, t = assigned_lead(client)
    placed = leads.get(lead_id)
    # keyed on the earliest: its first task's due time (the task has no alert entry of its own)
    assert placed is not None and placed["clock_at"] == placed["next_follow_up"]
    assert placed["next_follow_up"] < placed["sla_at"] < str(placed["idle_at"])
    assert placed["idle_at"] == iso_utc(parse_iso(t) + timedelta(days=7))
    call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1", {"type": "call"})  # first contact
    deliver(client, leads_stream())
    contacted = leads.get(lead_id)
    assert contacted is not None and "sla_at" not in contacted
    assert contacted["clock_at"] == contacted["idle_at"] == placed["idle_at"]
    worked_at = parse_iso(later(t, days=5))
    followup.log_activity(Principal("sh_rep1", "rep", "sh_mortgage"), lead_id, ActivityIn(type="wechat"), worked_at)
    worked = leads.get(lead_id)
    assert worked is not None and worked["last_activity_at"] == iso_utc(worked_at)
    assert worked["clock_at"] == placed["idle_at"]  # the activity left the index alone
    version = lead(client, lead_id)["version"]
    assert call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
                {"status": "intent", "version": version}).status_code == 200
    moving = leads.get(lead_id)  # a status change by hand keeps the idle clock
    assert moving is not None and moving["clock_at"] == moving["idle_at"] == placed["idle_at"]
    assert tick(client, later(t, days=7, minutes=5))["idle_tasks"] == 0  # worked two days ago: no task
    moved = leads.get(lead_id)
    assert moved is not None and moved["clock_at"] == moved["idle_at"] == iso_utc(worked_at + timedelta(days=7))
    assert tick(client, later(t, days=12, minutes=5))["idle_tasks"] == 1
    assert tick(client, later(t, days=12, minutes=5))["idle_tasks"] == 0  # the same tick twice
    assert [x["rule_id"] for x in lead(client, lead_id)["tasks"]].count("no_activity") == 1


def test_a_closed_lead_leaves_the_sweeps_index(client: Any) -> None:
    from chalicelib.store import leads

    lead_id, t = assigned_lead(client)
    version = lead(client, lead_id)["version"]
    response = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
                    {"status": "invalid", "version": version, "reason": "空号"})
    assert response.status_code == 200, response.body
    closed = leads.get(lead_id)
    assert closed is not None and not {"sla_at", "idle_at", "clock_at", "clock_shard"} & set(closed)
    deliver(client, leads_stream())
    assert tick(client, later(t, days=30)) == {"time": later(t, days=30), "reclaimed": 0, "due_notified": 0,
                                               "overdue_escalated": 0, "idle_tasks": 0, "board_summaries": 0,
                                               "reminded": 0}


def test_leads_of_a_state_from_before_the_one_sweep_index_are_keyed_in_it_on_start(client: Any, tmp_path: Any) -> None:
    """A local state made before `by_clock_keys` (the clocks keyed in `by_sla_keys` / `by_idle_keys`):
    the start adds the index, keys the owned leads in it, then drops the old two; a lead not
    contacted in time is then reclaimed as before. The next start does nothing."""
    import boto3

    from chalicelib.store import leads
    from chalicelib.store.schema import LeadModel, table_definition
    from local.__main__ import _upgrade_clocks
    from local.aws import LocalAws

    ddb, table = boto3.client("dynamodb"), LeadModel.Meta.table_name
    definition = table_definition(LeadModel)
    old = {k: v for k, v in definition.items() if k not in ("TimeToLiveAttribute",)}
    old["GlobalSecondaryIndexes"] = [index for index in definition["GlobalSecondaryIndexes"]
                                     if index["IndexName"] != "by_clock_keys"]
    old["GlobalSecondaryIndexes"] += [
        {"IndexName": f"by_{kind}_keys", "Projection": {"ProjectionType": "KEYS_ONLY"},
         "KeySchema": [{"AttributeName": f"{kind}_shard", "KeyType": "HASH"},
                       {"AttributeName": f"{kind}_at", "KeyType": "RANGE"}]} for kind in ("sla", "idle")]
    old["AttributeDefinitions"] = [a for a in definition["AttributeDefinitions"] if not a["AttributeName"].startswith(
        "clock_")] + [{"AttributeName": f"{kind}_{part}", "AttributeType": "S"}
                      for kind in ("sla", "idle") for part in ("shard", "at")]
    ddb.delete_table(TableName=table)
    ddb.create_table(**old)
    lead_id, t = assigned_lead(client)
    ddb.update_item(TableName=table, Key={"lead_id": {"S": lead_id}},  # as the code before wrote it
                    UpdateExpression="SET sla_shard = :s, idle_shard = :s REMOVE clock_shard, clock_at",
                    ExpressionAttributeValues={":s": {"S": "s1"}})
    aws = LocalAws(tmp_path)
    aws.create_resources()
    assert {"by_clock_keys", "by_sla_keys", "by_idle_keys"} <= aws.indexes(table)  # the old two go after the move
    _upgrade_clocks(aws)
    assert aws.indexes(table) == {i["IndexName"] for i in definition["GlobalSecondaryIndexes"]}
    keyed = ddb.get_item(TableName=table, Key={"lead_id": {"S": lead_id}})["Item"]
    assert not {"sla_shard", "idle_shard"} & set(keyed) and keyed["clock_at"] == keyed["sla_at"]
    assert tick(client, later(t, hours=24, minutes=5))["reclaimed"] == 1
    _upgrade_clocks(aws)  # the next start: nothing left to move
    assert leads.migrate_clocks() == 0


def test_the_first_contact_task_comes_due_by_the_leads_own_clock(client: Any) -> None:
    """The assignment's 首次联系 task has no entry in the tasks' alert index: the lead's one clock is
    keyed on its due time (a write unit less at assignment and at first contact). At that time the
    sweep tells the task's owner, once; the task then waits in the alert index for its escalation and
    the clock goes back to the reclaim deadline. Handed to another rep before it is due, the task
    and its clock go with the lead: the new owner is told. Contacted in time: nobody is."""
    from chalicelib.store import leads, tasks

    lead_id, t = assigned_lead(client)
    [first] = tasks.of_lead(lead_id)
    placed = leads.get(lead_id)
    assert placed is not None and first["alert_at"] is None and placed["clock_at"] == first["due_at"]
    assert tick(client, later(t, hours=2, minutes=5))["due_notified"] == 1
    assert tick(client, later(t, hours=2, minutes=6))["due_notified"] == 0  # told once
    assert inbox_kinds(client, "sh_rep1") == ["task_due"]
    [due] = tasks.of_lead(lead_id)
    after = leads.get(lead_id)
    assert due["stage"] == "overdue" and due["alert_at"] == iso_utc(parse_iso(t) + timedelta(hours=3))
    assert after is not None and after["clock_at"] == after["sla_at"]
    assert tick(client, later(t, hours=3, minutes=5))["overdue_escalated"] == 1
    assert "task_overdue" in inbox_kinds(client, "sh_lead")

    handed, _ = assigned_lead(client, phone="13816204574")
    moved = body_of(call(client, "POST", "/leads/assign", "sh_lead", {"lead_ids": [handed], "to": "sh_rep2",
                                                                      "reason": "客户要求换人"}))
    assert moved["results"][0]["kind"] == "reassign"
    deliver(client, leads_stream())  # the first task moves to the new owner
    kept = leads.get(handed)
    assert kept is not None and kept["clock_at"] == tasks.of_lead(handed)[0]["due_at"] < kept["sla_at"]
    marked, _ = assigned_lead(client, phone="13816204576")  # a status set by hand keeps the task's clock
    version = lead(client, marked)["version"]
    assert call(client, "POST", f"/leads/{marked}/status", "sh_rep1",
                {"status": "observing", "version": version}).status_code == 200
    still = leads.get(marked)
    assert still is not None and still["clock_at"] == tasks.of_lead(marked)[0]["due_at"]
    contacted, t3 = assigned_lead(client, phone="13816204575")
    call(client, "POST", f"/leads/{contacted}/activities", "sh_rep1", {"type": "call", "outcome": "接通"})
    deliver(client, leads_stream())
    assert tick(client, later(t3, hours=2, minutes=5))["due_notified"] == 2  # the handed and the marked lead's
    assert inbox_kinds(client, "sh_rep2").count("task_due") == 1
    # the first lead's and the one marked by hand; not the contacted one's
    assert inbox_kinds(client, "sh_rep1").count("task_due") == 2
