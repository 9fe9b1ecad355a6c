"""The daily loop across roles, through the API (issue 17): every change of hands keeps the work
(open tasks move, or are cancelled only into the pool or closed), tells the people concerned once,
in names and Beijing time, keeps 下次跟进 on the lead, and lets a supervisor work the pool."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import body_of, call, capture, deliver, later, lead, leads_stream, tick

pytestmark = pytest.mark.moto

ISO = re.compile(r"T\d\d:\d\d:\d\d|\d\dZ\b")


def drain(client: Any) -> None:
    """Deliver what the lead stream holds past this test's last drain (one reader per test client,
    as the function's checkpoint: a record is not delivered again, so counters count it once)."""
    reader = getattr(client, "_leads_reader", None) or leads_stream()
    client._leads_reader = reader
    while reader.read():
        deliver(client, reader)


def messages(client: Any, user: str) -> list[dict[str, Any]]:
    return list(body_of(call(client, "GET", "/inbox?limit=100", user))["items"])


def open_tasks(client: Any, user: str) -> list[dict[str, Any]]:
    mine = body_of(call(client, "GET", "/tasks", user))
    return [t for group in ("overdue", "today", "upcoming") for t in mine[group]]


def routed(client: Any, phone: str, name: str = "周杰") -> dict[str, Any]:
    lead_id = capture(client, phone, name=name, city="上海", loan_type="mortgage", amount=80)
    drain(client)
    item = lead(client, lead_id)
    assert item["status"] == "assigned"
    return item


def test_the_loop_route_reclaim_pool_assign_work_reassign(client: Any) -> None:
    item = routed(client, "13816204573")
    lead_id, first_rep, t = item["lead_id"], item["owner"], item["assigned_at"]
    [told] = [m for m in messages(client, first_rep) if m["kind"] == "assigned"]
    assert told["lead_id"] == lead_id and told["lead_name"] == "周杰"
    assert "周杰" in told["body"] and "房产抵押贷" in told["body"] and "80 万元" in told["body"]
    assert told["title"] == "新分配：周杰" and "上海" in told["body"]  # why: the rule that matched
    # 分配依据 names the team and the rep, with the strategy's one name (as the rules page says it).
    reason = item["route"]["reason"]
    assert "上海房贷组（轮流分配）" in reason and not re.search(r"sh_mortgage|sh_rep\d", reason), reason

    # 24 h without a first contact: back to the pool; the rep and the supervisor are told, once.
    assert tick(client, later(t, hours=25))["reclaimed"] == 1
    drain(client)
    assert tick(client, later(t, hours=25))["reclaimed"] == 0
    item = lead(client, lead_id)
    assert item["status"] == "pool" and [t["status"] for t in item["tasks"]] == ["cancelled"]
    assert "next_follow_up" not in item
    assert [m["kind"] for m in messages(client, first_rep)].count("reclaimed") == 1
    [notice] = [m for m in messages(client, "sh_lead") if m["kind"] == "reclaimed"]
    assert notice["lead_id"] == lead_id and "周杰" in notice["body"]

    # The supervisor opens it (masked) and assigns it from the pool to a rep of the team.
    seen = body_of(call(client, "GET", f"/leads/{lead_id}", "sh_lead"))
    assert seen["phone_masked"] is True and seen["can"]["assign"] and not seen["can"]["reveal"]
    assert not seen["can"]["claim"]
    rep1 = "sh_rep1" if first_rep != "sh_rep1" else "sh_rep2"
    rep2 = ({"sh_rep1", "sh_rep2", "sh_rep3"} - {first_rep, rep1}).pop()
    done = body_of(call(client, "POST", "/leads/assign", "sh_lead", {"lead_ids": [lead_id], "to": rep1,
                                                                     "reason": "重新跟进"}))
    assert done["done"] == 1
    drain(client)
    assert [m["title"] for m in messages(client, rep1) if m["kind"] == "assigned"] == ["新分配：周杰"]
    assert [t["title"] for t in open_tasks(client, rep1)] == ["首次联系"]
    assert open_tasks(client, rep1)[0]["lead_name"] == "周杰"

    # rep1 calls and sets 待观察; the supervisor hands the lead to rep2: the work goes with it.
    call(client, "POST", f"/leads/{lead_id}/activities", rep1, {"type": "call", "outcome": "已接通"})
    drain(client)
    version = lead(client, lead_id)["version"]
    assert call(client, "POST", f"/leads/{lead_id}/status", rep1,
                {"status": "observing", "version": version}).status_code == 200
    drain(client)
    before = {t["title"] for t in open_tasks(client, rep1)}
    assert before == {"跟进客户", "待观察客户回访"}
    moved = body_of(call(client, "POST", "/leads/assign", "sh_lead", {"lead_ids": [lead_id], "to": rep2,
                                                                      "reason": "客户要求换人"}))
    assert moved["results"][0]["kind"] == "reassign"
    drain(client)
    assert open_tasks(client, rep1) == []
    theirs = open_tasks(client, rep2)
    assert {t["title"] for t in theirs} == before and all(t["owner"] == rep2 for t in theirs)
    [handed] = [m for m in messages(client, rep1) if m["kind"] == "handed_over"]
    assert "客户要求换人" in handed["body"] and "周杰" in handed["body"]
    assert [m["kind"] for m in messages(client, rep2)] == ["assigned"]
    item = lead(client, lead_id)
    assert item["owner"] == rep2 and item["next_follow_up"] == min(t["due_at"] for t in theirs)
    ownership = [e for e in item["history"] if e["kind"] == "ownership"]
    assert sorted(e["detail"]["kind"] for e in ownership) == ["assign", "reassign", "reclaim"]  # the tick was ahead
    [last] = [e for e in ownership if e["detail"]["kind"] == "reassign"]
    assert last["detail"]["from_owner"] == rep1 and last["actor"] == "sh_lead" and "客户要求换人" in last["reason"]
    assert last["actor_name"] not in ("", "sh_lead") and last["detail"]["to_owner_name"] not in ("", rep2)

    # Nobody reads an ISO time or a user id in a message.
    for user in ("sh_lead", "sh_rep1", "sh_rep2", "sh_rep3"):
        for message in messages(client, user):
            assert not ISO.search(message["title"] + message["body"]), message
            assert not re.search(r"sh_rep\d|sh_lead", message["body"]), message

    # Closed: the remaining tasks are cancelled (已取消, not 已完成) and 下次跟进 goes.
    version = lead(client, lead_id)["version"]
    assert call(client, "POST", f"/leads/{lead_id}/status", rep2,
                {"status": "lost", "version": version, "reason": "利率不合适"}).status_code == 200
    drain(client)
    item = lead(client, lead_id)
    assert {t["status"] for t in item["tasks"] if t["title"] in before} == {"cancelled"}
    assert "next_follow_up" not in item and open_tasks(client, rep2) == []


def test_a_supervisor_reads_pool_leads_masked_but_not_other_teams_leads(client: Any) -> None:
    pooled = capture(client, "13916204573", name="吴用", city="成都", loan_type="car")
    other = capture(client, "13716204573", name="林冲", city="广州", loan_type="credit")
    drain(client)
    assert lead(client, pooled)["status"] == "pool" and lead(client, other)["owner"].startswith("gz_")
    seen = call(client, "GET", f"/leads/{pooled}", "sh_lead")
    assert seen.status_code == 200 and body_of(seen)["phone_masked"] is True
    assert call(client, "GET", f"/leads/{other}", "sh_lead").status_code == 404
    assert call(client, "POST", f"/leads/{pooled}/reveal", "sh_lead", {"reason": "核对"}).status_code == 403
    # A rep reads the pool lead masked, may claim it, may not reveal or assign it.
    rep_view = body_of(call(client, "GET", f"/leads/{pooled}", "sh_rep1"))
    assert rep_view["can"] == {"work": False, "reveal": False, "claim": True, "release": False, "assign": False}
    # Assigning to another team's rep, or another team's lead, is refused per lead, in Chinese.
    refused = body_of(call(client, "POST", "/leads/assign", "sh_lead", {"lead_ids": [pooled, other], "to": "gz_rep1"}))
    assert refused["done"] == 0 and all(r["status"] == "refused" for r in refused["results"])
    assert all(re.search(r"[\u4e00-\u9fff]", r["error"]["message"]) for r in refused["results"])
    unknown = call(client, "POST", "/leads/assign", "sh_lead", {"lead_ids": [pooled], "to": "nobody"})
    assert body_of(unknown)["results"][0]["error"]["fields"] == {"to": "目标用户不存在、已停用或不是销售"}
    assert lead(client, pooled)["status"] == "pool"


def test_the_policy_can_recreate_the_status_tasks_for_the_new_owner(client: Any) -> None:
    policy = body_of(call(client, "GET", "/config/sop", "admin"))["document"]
    assert policy["on_handoff"] == "move"
    assert call(client, "PUT", "/config/sop", "admin", {**policy, "on_handoff": "recreate"}).status_code == 200
    bad = call(client, "PUT", "/config/sop", "admin", {**policy, "on_handoff": "later"})
    assert bad.status_code == 422
    item = routed(client, "13816204573", "鲁智深")
    lead_id, owner = item["lead_id"], item["owner"]
    call(client, "POST", f"/leads/{lead_id}/activities", owner, {"type": "call", "outcome": "已接通"})
    drain(client)
    assert call(client, "POST", f"/leads/{lead_id}/status", owner,
                {"status": "observing", "version": lead(client, lead_id)["version"]}).status_code == 200
    drain(client)
    to = "sh_rep1" if owner != "sh_rep1" else "sh_rep2"
    assert body_of(call(client, "POST", "/leads/assign", "admin", {"lead_ids": [lead_id], "to": to}))["done"] == 1
    drain(client)
    item = lead(client, lead_id)
    states = {(t["title"], t["owner"], t["status"]) for t in item["tasks"]}
    assert ("待观察客户回访", owner, "cancelled") in states and ("跟进客户", owner, "cancelled") in states
    assert ("待观察客户回访", to, "open") in states and not any(t[1] == to and t[0] == "跟进客户" for t in states)
    assert item["next_follow_up"] == next(t["due_at"] for t in item["tasks"] if t["owner"] == to)


def test_next_follow_up_follows_hand_made_tasks(client: Any) -> None:
    item = routed(client, "13816204573")
    lead_id, owner = item["lead_id"], item["owner"]
    first = item["next_follow_up"]
    assert first == next(t["due_at"] for t in item["tasks"] if t["status"] == "open")
    made = body_of(call(client, "POST", f"/leads/{lead_id}/tasks", owner,
                        {"title": "约面签", "due_at": later(item["assigned_at"], minutes=30)}))
    assert lead(client, lead_id)["next_follow_up"] == made["due_at"]
    call(client, "POST", f"/leads/{lead_id}/tasks/{made['task_id']}/complete", owner)
    assert lead(client, lead_id)["next_follow_up"] == first
    listed = body_of(call(client, "GET", "/leads", owner))["items"]
    assert [x["next_follow_up"] for x in listed if x["lead_id"] == lead_id] == [first]

    # The export's 下次跟进 and 负责人 are what a person reads: Beijing time and a name.
    from chalicelib.domain.timeutil import SHANGHAI, parse_iso
    from tests.test_imports import export

    _, sheet = export(client, owner, "")
    rows = list(sheet.iter_rows(values_only=True))
    header, row = rows[0], next(r for r in rows[1:] if r[0] == lead_id)
    assert row[header.index("下次跟进")] == parse_iso(first).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert row[header.index("负责人")] not in (None, owner)


def test_a_lost_or_invalid_lead_goes_back_to_the_pool_by_a_supervisor_or_an_admin(client: Any) -> None:
    """A real customer a cleaning rule flagged, or a lost one worth another try, is put back in the
    pool (变更状态 → 公海, with a reason) by an admin or its team's supervisor: an ownership move with
    its history entry; its retention ends; it takes its phone back, which another active lead of the
    phone refuses (409 naming it, nothing changed); the rep who lost it keeps the held count the loss
    gave back; the counters agree with the leads after it."""
    from chalicelib.services import aggregates
    from chalicelib.store import leads, ownership
    from chalicelib.store.schema import PhoneKeyModel

    stream = leads_stream()  # one reader: each record delivered once, as the stream's trigger does

    def settle() -> None:
        while stream.read():
            deliver(client, stream)

    flagged = capture(client, "13816204591", name="测试", city="上海", loan_type="mortgage")  # a test name
    settle()
    assert lead(client, flagged)["status"] == "invalid" and lead(client, flagged)["expires_at"]
    assert "pool" in lead(client, flagged)["statuses"]  # the admin's form offers it
    version = lead(client, flagged)["version"]
    bare = call(client, "POST", f"/leads/{flagged}/status", "admin", {"status": "pool", "version": version})
    assert bare.status_code == 422 and "reason" in body_of(bare)["error"]["fields"]
    assert call(client, "POST", f"/leads/{flagged}/status", "sh_rep1",
                {"status": "pool", "version": version, "reason": "真实客户"}).status_code == 404
    back = call(client, "POST", f"/leads/{flagged}/status", "admin",
                {"status": "pool", "version": version, "reason": "客户本人姓测，真实客户"})
    assert back.status_code == 200, back.body
    item = lead(client, flagged)
    assert item["status"] == "pool" and "expires_at" not in item and item["can"]["claim"] is False
    [entry] = [e for e in item["history"] if e["kind"] == "ownership"]
    assert entry["detail"]["kind"] == "reopen" and "重新放回公海" in entry["reason"] and "真实客户" in entry["reason"]
    stored = leads.get(flagged)
    assert stored is not None and PhoneKeyModel.get(stored["phone"]).active_lead == flagged
    settle()
    claimed = call(client, "POST", f"/leads/{flagged}/claim", "sh_rep1")
    assert claimed.status_code == 200, claimed.body

    lost = lead(client, capture(client, "13816204592", name="钱多", city="上海", loan_type="mortgage", amount=80))
    settle()
    lost = lead(client, lost["lead_id"])
    rep = lost["owner"]
    held = ownership.counter(rep, "open").n
    assert call(client, "POST", f"/leads/{lost['lead_id']}/status", rep,
                {"status": "lost", "version": lost["version"], "reason": "暂无需求"}).status_code == 200
    assert ownership.counter(rep, "open").n == held - 1
    settle()
    assert "pool" not in body_of(call(client, "GET", f"/leads/{lost['lead_id']}", rep))["statuses"]  # a rep's is not
    again = capture(client, "13816204592", name="钱多", city="上海", loan_type="mortgage")  # the customer is back
    settle()
    gone = lead(client, lost["lead_id"])
    refused = call(client, "POST", f"/leads/{gone['lead_id']}/status", "sh_lead",
                   {"status": "pool", "version": gone["version"], "reason": "再跟一次"})
    assert refused.status_code == 409 and body_of(refused)["error"]["code"] == "PHONE_IN_USE"
    assert again in body_of(refused)["error"]["message"]
    unchanged = lead(client, gone["lead_id"])
    assert unchanged["status"] == "lost" and unchanged["version"] == gone["version"]
    newer = lead(client, again)
    assert call(client, "POST", f"/leads/{again}/status", newer["owner"],
                {"status": "invalid", "version": newer["version"], "reason": "重复登记"}).status_code == 200
    settle()
    held = ownership.counter(rep, "open").n
    reopened = call(client, "POST", f"/leads/{gone['lead_id']}/status", "sh_lead",
                    {"status": "pool", "version": gone["version"], "reason": "再跟一次"})
    assert reopened.status_code == 200, reopened.body
    assert ownership.counter(rep, "open").n == held  # the loss already gave it back
    assert lead(client, gone["lead_id"])["status"] == "pool" and "close_reason" not in lead(client, gone["lead_id"])
    settle()
    assert aggregates.verify()["differences"] == []
