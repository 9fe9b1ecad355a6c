"""Routing on the stream, strategies, duty and caps, the pool, and rule-set publishing (in-process)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.helpers import body_of, call, capture, deliver, lead, leads_stream, phone

pytestmark = pytest.mark.moto

SH_PHONES = ["13816204573", "13917326685", "13725814690", "13612876540", "13512345098", "13798762310"]


def test_demo_rules_route_by_region_product_and_load(client: Any) -> None:
    sh = [capture(client, p, city="上海", loan_type="mortgage") for p in SH_PHONES]
    reader = leads_stream()
    deliver(client, reader)  # the captures: routed and placed
    deliver(client, reader)  # the placements: their history entries (the reasons) and notices
    owners = Counter(lead(client, i)["owner"] for i in sh)
    assert owners == {"sh_rep1": 2, "sh_rep2": 2, "sh_rep3": 2}
    first = lead(client, sh[0])
    assert first["team"] == "sh_mortgage" and first["route"]["rule_id"] == "r1"
    assert "上海房贷" in first["route"]["reason"] and first["route"]["version"] == 1
    assert first["priority"] == "normal"

    # gz_rep1 already holds two leads, so the least-loaded rule sends the next one to gz_rep2
    for p in (phone(1), phone(2)):
        call(client, "POST", "/leads", "gz_rep1", {"phone": p})
    gz = capture(client, phone(3), city="广州", loan_type="credit")
    chengdu = capture(client, phone(4), city="成都", loan_type="car")
    deliver(client, leads_stream())
    assert (lead(client, gz)["owner"], lead(client, gz)["team"]) == ("gz_rep2", "south_credit")
    pooled = lead(client, chengdu)
    assert pooled["status"] == "pool" and "owner" not in pooled and pooled["route"]["rule_id"] == "r3"


def test_round_robin_is_fair_under_a_burst(client: Any) -> None:
    from chalicelib.services.pipeline import process_new_lead
    from chalicelib.store import leads

    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(100)]
    images = [leads.get(i) for i in ids]
    barrier = threading.Barrier(6)

    def work(chunk: list[dict[str, Any]]) -> None:
        barrier.wait()
        for image in chunk:
            process_new_lead(image, f"evt-{image['lead_id']}", "2026-11-28T03:00:00.000Z")

    threads = [threading.Thread(target=work, args=(images[k::6],)) for k in range(6)]  # 6 concurrent consumers
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owners = Counter(leads.get(i)["owner"] for i in ids)  # type: ignore[index]
    assert sorted(owners.values()) == [33, 33, 34]


def test_round_robin_takes_turns_whatever_other_teams_receive(client: Any) -> None:
    """Every third lead of the day goes to 上海房贷组, the others to the pool: its three reps still take
    turns (a turn derived from the lead's number of the day would give them all to one rep)."""
    ids = []
    for n in range(6):
        ids.append(capture(client, phone(3 * n), city="上海", loan_type="mortgage"))
        capture(client, phone(3 * n + 1), city="北京", loan_type="credit")
        capture(client, phone(3 * n + 2), city="北京", loan_type="credit")
    deliver(client, leads_stream())
    owners = Counter(lead(client, i)["owner"] for i in ids)
    assert sorted(owners.values()) == [2, 2, 2], owners


def test_round_robin_writes_the_team_counter_once_per_block_of_turns(client: Any) -> None:
    """At 1,000 leads/s for one team its round-robin counter must not take 1,000 writes/s: the turns
    come in blocks (routing.TURN_BLOCK), the reps still take them in order."""
    from chalicelib.services import routing
    from chalicelib.store.schema import SequenceModel

    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(20)]
    deliver(client, leads_stream())
    owners = Counter(lead(client, i)["owner"] for i in ids)
    assert sorted(owners.values()) == [6, 7, 7], owners
    assert SequenceModel.get("rr#sh_mortgage").last == 2 * routing.TURN_BLOCK  # two writes for 20 leads


def test_a_reps_load_is_one_item_counting_the_day_and_forgetting_the_days_before(client: Any) -> None:
    """Receiving a lead is one write of the rep's load item, bounded by both caps: leads held, and
    leads received today (an attribute per day; those of the days before are removed)."""
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.store import ownership
    from chalicelib.store.schema import RepLoadModel

    today = shanghai_day(datetime.now(UTC))
    before = {f"assigned#{today - timedelta(days=n)}": {"N": "7"} for n in (1, 6)}
    boto3.client("dynamodb").put_item(TableName=RepLoadModel.Meta.table_name, Item={
        "user_id": {"S": "sh_rep1"}, "key": {"S": "open"}, "n": {"N": "4"}, **before})
    for rep in ("sh_rep2", "sh_rep3"):
        call(client, "PATCH", f"/users/{rep}", "admin", {"on_duty": False})
    call(client, "PATCH", "/users/sh_rep1", "admin", {"daily_cap": 2})
    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(3)]
    deliver(client, leads_stream())
    assert Counter(lead(client, i)["status"] for i in ids) == {"assigned": 2, "pool": 1}
    [item] = boto3.client("dynamodb").query(
        TableName=RepLoadModel.Meta.table_name, KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": "sh_rep1"}}, ConsistentRead=True)["Items"]
    assert item["key"]["S"] == "open" and item["n"]["N"] == "6"
    assert {k for k in item if k.startswith("assigned#")} == {f"assigned#{today}"}
    assert ownership.loads(["sh_rep1"], today.isoformat()) == {"sh_rep1": (6, 2)}


def test_a_placed_lead_keeps_its_reason_and_consent_once_and_shows_them_as_before(client: Any) -> None:
    """Placed with an owner, a lead keeps no routing reason (its history entry rebuilds it from the rule
    set's version that decided), its consent's time and page as its own created_at and page_url: under
    1 KB (one write unit, not two). The lead as read shows them all; a lead stored whole before reads
    as it was."""
    from bench.meter import item_size
    from chalicelib.services import routing
    from chalicelib.store import leads
    from chalicelib.store.schema import LeadModel

    page = "https://www.example-lender.cn/loan/apply?from=bench&utm_source=baidu"
    lead_id = capture(client, phone(1), city="上海", loan_type="mortgage", name="王伟", amount=80,
                      utm_source="baidu", utm_medium="cpc", utm_campaign="spring_mortgage", page_url=page)
    reader = leads_stream()
    deliver(client, reader)
    deliver(client, reader)  # the placement's record: its owner's notice
    ddb = boto3.client("dynamodb")
    stored = ddb.get_item(TableName=LeadModel.Meta.table_name, Key={"lead_id": {"S": lead_id}})["Item"]
    assert "reason" not in stored["route"]["M"] and set(stored["consent"]["M"]) == {
        "granted", "channel", "text_version", "on_page"}
    assert item_size(stored) < 1024
    shown = lead(client, lead_id)
    [routed] = [e for e in shown["history"] if e.get("from_status") == "new"]
    assert shown["route"]["reason"] == routed["reason"] and "上海房贷" in routed["reason"]
    assert shown["consent"]["at"] == shown["created_at"] and shown["consent"]["page_url"] == page
    assert "on_page" not in shown["consent"]
    # A lead whose history is too long to hold its routing entry among the newest: rebuilt all the same.
    assert leads.routing_entry(leads.get(lead_id) or {}, []) is None  # no item of its own
    assert (routing.routing_entry(leads.get(lead_id) or {}) or {}).get("reason") == routed["reason"]
    # Stored whole by the code before: read as it was.
    old = dict(stored)
    old["lead_id"] = {"S": "L20261101999"}
    old["route"] = {"M": {**stored["route"]["M"], "reason": {"S": "命中规则「上海房贷」：旧的理由"}}}
    old["consent"] = {"M": {"granted": {"BOOL": True}, "at": {"S": "2026-11-01T00:00:00.000Z"},
                            "channel": {"S": "wechat"}, "text_version": {"S": "v0"},
                            "page_url": {"S": "https://old.example.cn/"}}}
    ddb.put_item(TableName=LeadModel.Meta.table_name, Item=old)
    before = lead(client, "L20261101999")
    assert before["route"]["reason"] == "命中规则「上海房贷」：旧的理由"
    assert before["consent"] == {"granted": True, "at": "2026-11-01T00:00:00.000Z", "channel": "wechat",
                                 "text_version": "v0", "page_url": "https://old.example.cn/"}


def test_a_rep_off_duty_receives_nothing_until_back(client: Any) -> None:
    assert call(client, "PATCH", "/users/sh_rep2", "sh_lead", {"on_duty": False}).status_code == 200
    first = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(6)]
    deliver(client, leads_stream())
    assert "sh_rep2" not in {lead(client, i)["owner"] for i in first}
    assert call(client, "PATCH", "/users/sh_rep2", "sh_rep1", {"on_duty": True}).status_code == 403
    assert call(client, "PATCH", "/users/gz_rep1", "sh_lead", {"on_duty": False}).status_code == 404
    assert call(client, "PATCH", "/users/sh_rep2", "sh_lead", {"on_duty": True}).status_code == 200
    later = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(6, 12)]
    deliver(client, leads_stream())
    assert "sh_rep2" in {lead(client, i)["owner"] for i in later}


def test_a_team_with_nobody_available_pools_and_tells_the_supervisor(client: Any) -> None:
    from chalicelib.store.schema import NotificationModel

    for rep in ("sh_rep1", "sh_rep2", "sh_rep3"):
        call(client, "PATCH", f"/users/{rep}", "admin", {"on_duty": False})
    lead_id = capture(client, phone(1), city="上海", loan_type="mortgage")
    deliver(client, leads_stream())
    item = lead(client, lead_id)
    assert item["status"] == "pool" and "无在岗" in item["route"]["reason"]
    [notice] = list(NotificationModel.query("sh_lead"))
    assert notice.kind == "unstaffed" and notice.lead_id == lead_id


def test_daily_cap_is_honoured_by_routing(client: Any) -> None:
    for rep in ("sh_rep1", "sh_rep2", "sh_rep3"):
        call(client, "PATCH", f"/users/{rep}", "admin", {"daily_cap": 1})
    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(4)]
    deliver(client, leads_stream())
    statuses = Counter(lead(client, i)["status"] for i in ids)
    assert statuses == {"assigned": 3, "pool": 1}


def pooled_lead(client: Any, n: int = 0) -> str:
    lead_id = capture(client, phone(100 + n), city="成都", loan_type="car")
    deliver(client, leads_stream())
    return lead_id


def test_two_reps_claiming_at_once_have_exactly_one_winner(client: Any) -> None:
    """Through the service, in threads: Chalice's test client shares one current_request, so the
    race is run where it lives, between reading the lead and the conditional write."""
    from datetime import UTC, datetime

    from chalicelib.domain.access import Principal
    from chalicelib.errors import Conflict
    from chalicelib.services import pool

    reps = {"sh_rep1": Principal("sh_rep1", "rep", "sh_mortgage"), "gz_rep1": Principal("gz_rep1", "rep",
                                                                                         "south_credit")}
    for n in range(20):
        lead_id = pooled_lead(client, n)
        results: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def claim(rep: str, lead_id: str, barrier: threading.Barrier, results: dict[str, int]) -> None:
            barrier.wait()
            try:
                pool.claim(reps[rep], lead_id, datetime.now(UTC))
                results[rep] = 200
            except Conflict:
                results[rep] = 409

        threads = [threading.Thread(target=claim, args=(rep, lead_id, barrier, results))
                   for rep in ("sh_rep1", "gz_rep1")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == [200, 409], results
        winner = next(rep for rep, status in results.items() if status == 200)
        assert lead(client, lead_id)["owner"] == winner


def test_claim_caps_cooldown_and_release(client: Any) -> None:
    policy = body_of(call(client, "GET", "/config/pool", "admin"))["document"]
    policy["max_claims_per_day"] = 2
    assert call(client, "PUT", "/config/pool", "admin", policy).status_code == 200
    a, b, c = (pooled_lead(client, n) for n in range(3))
    assert call(client, "POST", f"/leads/{a}/claim", "sh_rep1").status_code == 200
    mine = lead(client, a)
    assert mine["owner"] == "sh_rep1" and mine["team"] == "sh_mortgage" and mine["status"] == "assigned"
    assert any(e["kind"] == "ownership" for e in mine["history"])
    assert call(client, "POST", f"/leads/{b}/claim", "sh_rep1").status_code == 200
    refused = call(client, "POST", f"/leads/{c}/claim", "sh_rep1")
    assert refused.status_code == 409 and body_of(refused)["error"]["code"] == "CLAIM_CAP_REACHED"
    assert "上限" in body_of(refused)["error"]["message"]

    assert call(client, "POST", f"/leads/{a}/release", "sh_rep2", {"reason": "x"}).status_code == 403
    assert call(client, "POST", f"/leads/{a}/release", "sh_rep1", {}).status_code == 422
    assert call(client, "POST", f"/leads/{a}/release", "sh_rep1", {"reason": "客户暂无需求"}).status_code == 200
    assert lead(client, a)["status"] == "pool"
    again = call(client, "POST", f"/leads/{a}/claim", "sh_rep2")  # another rep may take it at once
    assert again.status_code == 200
    call(client, "POST", f"/leads/{a}/release", "sh_rep2", {"reason": "转介"})
    policy["max_claims_per_day"] = 20
    call(client, "PUT", "/config/pool", "admin", policy)
    cooldown = call(client, "POST", f"/leads/{a}/claim", "sh_rep1")  # but not the rep who let it go
    assert cooldown.status_code == 409 and body_of(cooldown)["error"]["code"] == "CLAIM_COOLDOWN"
    assert call(client, "POST", f"/leads/{a}/claim", "sh_lead").status_code == 403  # supervisors assign


def test_max_open_caps_claims(client: Any) -> None:
    call(client, "PATCH", "/users/sh_rep1", "admin", {"max_open": 1})
    a, b = pooled_lead(client, 0), pooled_lead(client, 1)
    assert call(client, "POST", f"/leads/{a}/claim", "sh_rep1").status_code == 200
    refused = call(client, "POST", f"/leads/{b}/claim", "sh_rep1")
    assert refused.status_code == 409 and body_of(refused)["error"]["code"] == "MAX_OPEN_REACHED"


def test_a_closed_lead_leaves_the_reps_held_count(client: Any) -> None:
    """`max_open` bounds the leads a rep holds in a working status: one they win, lose or mark invalid
    (or that is merged by hand into another) leaves the count in the same transaction, so the rep
    may claim again (before, closed leads stayed counted: a rep who had closed 200 leads received
    none). An unmerge counts it again. A store counted the old way is recounted once."""
    from chalicelib.store import ownership
    from chalicelib.store.schema import RepLoadModel

    def held() -> int:
        return ownership.counter("sh_rep1", "open").n

    call(client, "PATCH", "/users/sh_rep1", "admin", {"max_open": 1})
    a, b, c = pooled_lead(client, 0), pooled_lead(client, 1), pooled_lead(client, 2)
    assert call(client, "POST", f"/leads/{a}/claim", "sh_rep1").status_code == 200
    assert call(client, "POST", f"/leads/{b}/claim", "sh_rep1").status_code == 409  # holds one of one
    version = lead(client, a)["version"]
    assert call(client, "POST", f"/leads/{a}/status", "sh_rep1",
                {"status": "lost", "version": version, "reason": "已在他行办理"}).status_code == 200
    assert held() == 0
    assert call(client, "POST", f"/leads/{b}/claim", "sh_rep1").status_code == 200  # may hold one again
    version = lead(client, b)["version"]
    assert call(client, "POST", f"/leads/{b}/status", "sh_rep1",
                {"status": "contacted", "version": version}).status_code == 200
    assert held() == 1  # still working it
    call(client, "PATCH", "/users/sh_rep1", "admin", {"max_open": 10})
    assert call(client, "POST", f"/leads/{c}/claim", "sh_rep1").status_code == 200
    assert held() == 2
    merged = call(client, "POST", f"/leads/{b}/merge", "admin", {"source": c, "reason": "同一客户"})
    assert merged.status_code == 200, merged.body
    assert held() == 1  # the merged one is worked on the kept lead
    assert call(client, "POST", f"/leads/{c}/unmerge", "admin", {"reason": "误合并"}).status_code == 200
    assert held() == 2
    # A store from before: the count as the old code left it (a lead lost in the rep's hands still in).
    RepLoadModel.delete(RepLoadModel(*ownership.HELD_LAYOUT))
    RepLoadModel("sh_rep1", "open").update(actions=[RepLoadModel.n.set(7)])
    assert ownership.recount_held(["sh_rep1", "sh_rep2"]) == 1
    assert held() == 2  # b and c, worked by sh_rep1; a (lost) no longer
    RepLoadModel.delete(RepLoadModel(*ownership.HELD_LAYOUT))
    RepLoadModel("sh_rep1", "open").update(actions=[RepLoadModel.n.set(0)])  # too low, the item there
    assert ownership.recount_held(iter(["sh_rep1"])) == 1 and held() == 2
    RepLoadModel("sh_rep1", "open").update(actions=[RepLoadModel.n.set(7)])
    assert ownership.recount_held(["sh_rep1"]) == 0 and held() == 7  # once per store


def test_pool_list_filters_and_masks(client: Any) -> None:
    chengdu = [pooled_lead(client, n) for n in range(3)]
    sh_credit = capture(client, phone(50), city="上海", loan_type="credit", amount=80)
    deliver(client, leads_stream())
    page = body_of(call(client, "GET", "/pool", "sh_rep1"))
    ids = [i["lead_id"] for i in page["items"]]
    assert set(ids) == {*chengdu, sh_credit} and ids == sorted(ids, reverse=True)
    assert all(i["phone_masked"] for i in page["items"])
    west = body_of(call(client, "GET", "/pool?region=西南", "sh_rep1"))["items"]
    assert {i["lead_id"] for i in west} == set(chengdu)
    assert [i["lead_id"] for i in body_of(call(client, "GET", "/pool?loan_type=credit&min_amount=50", "gz_rep1"))
            ["items"]] == [sh_credit]
    first = body_of(call(client, "GET", "/pool?limit=2", "sh_rep1"))
    second = body_of(call(client, "GET", f"/pool?limit=2&cursor={first['cursor']}", "sh_rep1"))
    assert [i["lead_id"] for i in first["items"] + second["items"]] == ids
    assert call(client, "GET", "/pool?region=火星", "sh_rep1").status_code == 400
    assert body_of(call(client, "GET", "/pool?max_age_days=1", "sh_rep1"))["items"]  # all captured just now


def test_supervisor_bulk_assign_reassign_and_transfer(client: Any) -> None:
    a, b = pooled_lead(client, 0), pooled_lead(client, 1)
    result = body_of(call(client, "POST", "/leads/assign", "sh_lead",
                          {"lead_ids": [a, b, "L20990101001"], "to": "sh_rep3", "reason": "主管分配"}))
    assert (result["done"], result["refused"]) == (2, 1)
    assert lead(client, a)["owner"] == "sh_rep3"
    assert body_of(call(client, "POST", "/leads/assign", "sh_lead",
                        {"lead_ids": [a], "to": "gz_rep1"}))["refused"] == 1  # not their team's rep
    moved = body_of(call(client, "POST", "/leads/assign", "sh_lead", {"lead_ids": [a], "to": "sh_rep1"}))
    assert moved["results"][0]["kind"] == "reassign" and lead(client, a)["owner"] == "sh_rep1"
    moved = body_of(call(client, "POST", "/leads/assign", "admin", {"lead_ids": [b], "to": "gz_rep1"}))
    assert moved["results"][0]["kind"] == "transfer"
    assert (lead(client, b)["owner"], lead(client, b)["team"]) == ("gz_rep1", "south_credit")
    assert call(client, "POST", "/leads/assign", "sh_rep1", {"lead_ids": [a], "to": "sh_rep2"}).status_code == 403
    assert call(client, "POST", "/leads/assign", "admin", {"lead_ids": [], "to": "sh_rep2"}).status_code == 422


def test_dry_run_publish_and_roll_back(client: Any) -> None:
    sh = [capture(client, p, city="上海", loan_type="mortgage") for p in SH_PHONES[:2]]
    other = capture(client, phone(9), city="成都", loan_type="car")
    deliver(client, leads_stream())
    live = body_of(call(client, "GET", "/config/routing", "admin"))
    draft = json.loads(json.dumps(live["document"]))
    draft["rules"][0]["action"] = {"type": "assign_team", "team": "south_credit", "strategy": "round_robin"}
    dry = body_of(call(client, "POST", "/config/routing/dry-run", "sh_lead", {"draft": draft, "days": 1}))
    changed = {r["lead_id"]: r for r in dry["results"] if r["changed"]}
    assert set(changed) == set(sh) and other in {r["lead_id"] for r in dry["results"]}
    assert changed[sh[0]]["draft"]["team"] == "south_credit" and changed[sh[0]]["live"]["team"] == "sh_mortgage"
    assert changed[sh[0]]["draft"]["reason"]
    published = call(client, "PUT", "/config/routing", "admin", draft)
    assert published.status_code == 200 and body_of(published)["version"] == live["version"] + 1
    moved = capture(client, phone(10), city="上海", loan_type="mortgage")
    deliver(client, leads_stream())
    assert lead(client, moved)["team"] == "south_credit"
    back = call(client, "POST", "/config/routing/rollback", "admin", {"version": live["version"]})
    assert back.status_code == 200
    restored = capture(client, phone(11), city="上海", loan_type="mortgage")
    deliver(client, leads_stream())
    assert lead(client, restored)["team"] == "sh_mortgage"


def test_invalid_rule_sets_are_refused_naming_the_rule(client: Any) -> None:
    live = body_of(call(client, "GET", "/config/routing", "admin"))["document"]

    def refused(mutate: Any) -> dict[str, str]:
        draft = json.loads(json.dumps(live))
        mutate(draft)
        response = call(client, "PUT", "/config/routing", "admin", draft)
        assert response.status_code == 422, response.body
        return dict(body_of(response)["error"]["fields"])

    def unknown_field(d: Any) -> None:
        d["rules"][0]["when"] = {"field": "favourite_colour", "op": "eq", "value": "red"}

    def bad_operator(d: Any) -> None:
        d["rules"][0]["when"] = {"field": "city", "op": "looks_like", "value": "上海"}

    def after_catch_all(d: Any) -> None:
        d["rules"].append({"id": "r9", "name": "永远不会命中", "when": {"field": "city", "op": "eq", "value": "北京"},
                           "action": {"type": "pool"}})

    def missing_team(d: Any) -> None:
        d["rules"][0]["action"]["team"] = "mars_team"

    def no_members(d: Any) -> None:
        for rep in ("sh_rep1", "sh_rep2", "sh_rep3"):
            call(client, "PATCH", f"/users/{rep}", "admin", {"active": False})

    for mutate, rule in ((unknown_field, "r1"), (bad_operator, "r1"), (after_catch_all, "r9"),
                         (missing_team, "r1"), (no_members, "r1")):
        errors = refused(mutate)
        assert any(rule in key for key in errors), (mutate.__name__, errors)
    draft = json.loads(json.dumps(live))
    unknown_field(draft)
    checked = call(client, "POST", "/config/routing/validate", "sh_lead", draft)
    assert checked.status_code == 422 and any("r1" in k for k in body_of(checked)["error"]["fields"])
    assert body_of(call(client, "GET", "/config/routing", "admin"))["version"] == 1


@contextmanager
def _load_writes() -> Iterator[Counter[str]]:
    """The writes of reps' load items and of leads while in the block: `load` / `lead` (single
    updates), `tx_load` / `tx_lead` (items of TransactWriteItems calls), `tx` (those calls)."""
    from chalicelib.store.connection import transaction_connection
    from chalicelib.store.schema import LeadModel, RepLoadModel

    seen: Counter[str] = Counter()
    tables = {RepLoadModel.Meta.table_name: "load", LeadModel.Meta.table_name: "lead"}

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            seen["tx"] += 1
            for item in params["TransactItems"]:
                kind = tables.get(item.get("Update", {}).get("TableName"))
                if kind:
                    seen[f"tx_{kind}"] += 1
        elif model.name == "UpdateItem" and params["TableName"] in tables:
            seen[tables[params["TableName"]]] += 1

    events = transaction_connection().client.meta.events
    events.register("provide-client-params.dynamodb.*", count)
    try:
        yield seen
    finally:
        events.unregister("provide-client-params.dynamodb.*", count)


def test_a_batchs_routed_leads_share_one_load_write_per_rep(client: Any) -> None:
    """A rep's load item takes two writes per group of the batch's routed leads, not one per lead
    (at 1,000 leads/s for three reps it took 333 writes/s each): 40 leads to one team are placed
    together, each rep's load reserving theirs in one update and letting the reservation go in one
    more, each lead one update of its own, no transaction (which wrote each lead twice); the turns
    and the counts as if placed one by one; the placements' records then give every lead its history
    entry and its rep's 新分配 notice, once however often they come."""
    from chalicelib.store import inbox, ownership

    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(40)]
    reader = leads_stream()
    with _load_writes() as writes:
        assert deliver(client, reader) == {"batchItemFailures": []}
    assert (writes["load"], writes["lead"], writes["tx_lead"], writes["tx_load"]) == (6, 40, 0, 0), writes
    assert deliver(client, reader) == {"batchItemFailures": []}  # the placements' records
    assert deliver(client, leads_stream()) == {"batchItemFailures": []}  # every record again: nothing twice
    owners = Counter(lead(client, i)["owner"] for i in ids)
    assert sorted(owners.values()) == [13, 13, 14], owners
    for rep, held in owners.items():
        assert ownership.counter(rep, "open").n == held
        # its 新分配: one message naming each of the rep's leads once (not one message per lead)
        told = [n for n in inbox.page(rep, False, 200, None)[0] if n["kind"] == "assigned"]
        assert len(told) == 1 and not told[0]["read"], told
        mine = sorted(i for i in ids if lead(client, i)["owner"] == rep)
        assert sorted(x["lead_id"] for x in told[0]["leads"]) == mine
        assert told[0]["title"] == f"新分配 {held} 位客户" and f"等 {held} 位客户已分配给您" in told[0]["body"]
    placed = lead(client, ids[17])
    assert placed["status"] == "assigned" and [e["to_status"] for e in placed["history"]].count("assigned") == 1


def test_the_caps_hold_for_a_batchs_held_back_leads(client: Any) -> None:
    """Routing counts the leads its batch holds back for a rep: with a daily cap of 2, three reps take
    two leads each of one batch of ten, the other four go to the pool, in the batch's one transaction."""
    from chalicelib.store import ownership

    for rep in ("sh_rep1", "sh_rep2", "sh_rep3"):
        ownership.update_user(rep, {"daily_cap": 2})
    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(10)]
    with _load_writes() as writes:
        assert deliver(client, leads_stream()) == {"batchItemFailures": []}
    placed = [lead(client, i) for i in ids]
    assert Counter(item.get("owner") for item in placed) == {"sh_rep1": 2, "sh_rep2": 2, "sh_rep3": 2, None: 4}
    assert all(item["status"] == "pool" for item in placed if not item.get("owner"))
    # per rep: reserve, settle; the six leads one update each (the pooled four: with the supervisor's notice)
    assert (writes["load"], writes["lead"], writes["tx_load"]) == (6, 6, 0), writes
    assert all(ownership.counter(rep, "open").n == 2 for rep in ("sh_rep1", "sh_rep2", "sh_rep3"))


def test_a_lead_moved_meanwhile_leaves_its_group_and_its_reps_count(client: Any) -> None:
    """A lead of the group moved by hand before the stream came (here: marked invalid) refuses its
    own write: the others are placed, its rep's reservation gives it back, and its record handled
    alone leaves it as it is (its phone given back), the loads counted once, no reservation left."""
    from chalicelib.store import leads, ownership, phone_keys
    from chalicelib.store.schema import RepLoadModel

    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(6)]
    assert leads.move_status(ids[2], "new", "invalid", "2026-11-28T03:00:00.000Z", "admin", "空号", "by-hand", {})
    with _load_writes() as writes:
        assert deliver(client, leads_stream())["batchItemFailures"] == []
    assert writes["lead"] == 6 and writes["tx_lead"] <= 1, writes  # the group's six; the moved one's own try
    for rep in ("sh_rep1", "sh_rep2", "sh_rep3"):
        item = boto3.client("dynamodb").get_item(TableName=RepLoadModel.Meta.table_name,
                                                 Key={"user_id": {"S": rep}, "key": {"S": "open"}})["Item"]
        assert not [name for name in item if name.startswith("r#")]
    assert lead(client, ids[2])["status"] == "invalid"
    owners = Counter(lead(client, i).get("owner") for i in ids)
    assert owners[None] == 1 and sorted(v for k, v in owners.items() if k) == [1, 2, 2], owners
    assert sum(ownership.counter(rep, "open").n for rep in ("sh_rep1", "sh_rep2", "sh_rep3")) == 5
    assert phone_keys.get_phone_key(lead(client, ids[2])["phone"]) is None or \
        phone_keys.get_phone_key(lead(client, ids[2])["phone"]).active_lead != ids[2]  # type: ignore[union-attr]


@pytest.mark.parametrize("retry", ["alike", "otherwise"])
def test_a_group_cut_short_by_a_dead_container_is_counted_once(client: Any, monkeypatch: pytest.MonkeyPatch,
                                                               retry: str) -> None:
    """The container dies after a rep's reservation and two of their leads, before it settles: the
    records fail and the stream delivers them again. A retry that decides alike finds its own
    reservation and settles it. One that decides otherwise (here the rep went off duty meanwhile)
    leaves it: the rep looks busier than they are (never less busy: the caps hold) until the
    reservation is older than any function runs; then the next read of the loads gives back what
    its group did not place. Either way every count ends exact, no reservation left."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.errors import StoreUnavailable
    from chalicelib.store import ownership, placement
    from chalicelib.store.schema import RepLoadModel
    from tests.helpers import lambda_event

    reps = ["sh_rep1", "sh_rep2", "sh_rep3"]
    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(9)]
    reader = leads_stream()
    records = reader.read()
    reader.advance(records[-1])
    event = lambda_event(records, reader.stream_arn)
    real_write, written = placement._write_placed, []

    def dies_after_two(placed: Any, group: str) -> bool:
        if len(written) == 2:
            raise StoreUnavailable()  # the container stops here: nothing more of this attempt runs
        written.append(placed.change.lead_id)
        return real_write(placed, group)

    monkeypatch.setattr(placement, "_write_placed", dies_after_two)
    monkeypatch.setattr(placement, "_settle_if_known", lambda *a: None)  # killed: no clean-up either
    with pytest.raises(BatchProcessingError):
        client.lambda_.invoke("lead_stream", event)
    monkeypatch.setattr(placement, "_write_placed", real_write)
    first = lead(client, written[0])["owner"]
    if retry == "otherwise":
        ownership.update_user(first, {"on_duty": False})
    assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}  # the retry
    assert deliver(client, reader) == {"batchItemFailures": []}  # the placements' records
    owners = Counter(lead(client, i)["owner"] for i in ids)
    assert sum(owners.values()) == 9 and all(lead(client, i)["status"] == "assigned" for i in ids)
    assert owners[first] == (2 if retry == "otherwise" else 3)

    def counted() -> dict[str, int]:
        return {rep: int(RepLoadModel.get(rep, "open").n) for rep in reps}

    def reserved() -> list[str]:
        return [name for rep in reps for name in boto3.client("dynamodb").get_item(
            TableName=RepLoadModel.Meta.table_name, Key={"user_id": {"S": rep}, "key": {"S": "open"}})["Item"]
            if name.startswith("r#")]

    exact = {rep: owners[rep] for rep in reps}
    day = shanghai_day(datetime.now(UTC)).isoformat()
    if retry == "otherwise":
        assert counted() == {**exact, first: 3} and len(reserved()) == 1  # busier by the lead not placed
        ownership.loads(reps, day)
        assert counted() == {**exact, first: 3}  # not old enough yet: a function may still be running
        later = ownership.time.time() + ownership.STALE_RESERVATION_S + 1
        monkeypatch.setattr(ownership.time, "time", lambda: later)
        assert ownership.loads(reps, day)[first] == (2, 2)
    assert counted() == exact and not reserved()
    ownership.loads(reps, day)
    assert counted() == exact


def test_a_group_whose_write_fails_settles_by_what_the_leads_say(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails a lead's write (the function lives on): the reservation is settled at once by
    the leads written, no reservation left, the counts exact before and after the stream's retry."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from chalicelib.errors import StoreUnavailable
    from chalicelib.store import placement
    from chalicelib.store.schema import RepLoadModel

    reps = ["sh_rep1", "sh_rep2", "sh_rep3"]
    ids = [capture(client, phone(n), city="上海", loan_type="mortgage") for n in range(6)]
    reader = leads_stream()
    real_write, calls = placement._write_placed, []

    def fails_third(placed: Any, group: str) -> bool:
        calls.append(placed.change.lead_id)
        if len(calls) == 3:
            raise StoreUnavailable()
        return real_write(placed, group)

    monkeypatch.setattr(placement, "_write_placed", fails_third)
    with pytest.raises(BatchProcessingError):  # the group's records fail: the stream delivers them again
        deliver(client, reader)

    def counted() -> dict[str, int]:
        items = [boto3.client("dynamodb").get_item(TableName=RepLoadModel.Meta.table_name,
                                                   Key={"user_id": {"S": r}, "key": {"S": "open"}}).get("Item", {})
                 for r in reps]
        assert not [name for item in items for name in item if name.startswith("r#")]
        return {r: int(item.get("n", {}).get("N", 0)) for r, item in zip(reps, items, strict=True)}

    owned = Counter(lead(client, i).get("owner") for i in ids if lead(client, i)["status"] == "assigned")
    assert counted() == {r: owned[r] for r in reps}
    monkeypatch.setattr(placement, "_write_placed", real_write)
    assert deliver(client, leads_stream())["batchItemFailures"] == []  # the stream delivers them again
    owned = Counter(lead(client, i)["owner"] for i in ids)
    assert sum(owned.values()) == 6 and counted() == {r: owned[r] for r in reps}


def test_a_re_inquiry_in_the_same_batch_reaches_the_first_leads_rep(client: Any) -> None:
    """The second submission of a phone, in the batch that routes the first: the first is placed
    before the second merges into it, so its rep is told of the re-inquiry."""
    from chalicelib.store import inbox

    first = capture(client, phone(1), city="上海", loan_type="mortgage")
    second = capture(client, phone(1), city="上海", loan_type="mortgage", source="wechat")
    reader = leads_stream()
    assert deliver(client, reader)["batchItemFailures"] == []
    assert deliver(client, reader)["batchItemFailures"] == []  # the placement's record: the 新分配 notice
    owner = lead(client, first)["owner"]
    assert lead(client, second)["status"] == "duplicate"
    kinds = [n["kind"] for n in inbox.page(owner, False, 200, None)[0]]
    assert "re_inquiry" in kinds and "assigned" in kinds, kinds


def test_a_routed_leads_entry_and_notice_come_from_its_placement_in_the_words_that_placed_it(client: Any) -> None:
    """A lead routed to a rep is placed with its load alone (under 1 KB, without its reason); its
    history shows the routing at once, rebuilt from the lead (no item of its own: one write unit less),
    and the placement's own stream record writes the rep's 新分配 notice (one write unit). Their words
    are the rule set's version that decided, even when the rule was renamed in between, and a record
    that comes again writes nothing twice."""
    from chalicelib.services import names
    from chalicelib.store import inbox
    from chalicelib.store.schema import LeadEventModel

    lead_id = capture(client, phone(1), city="上海", loan_type="mortgage", name="王伟", amount=80)
    reader = leads_stream()
    assert deliver(client, reader) == {"batchItemFailures": []}
    placed = lead(client, lead_id)
    owner = placed["owner"]

    def assigned_notices() -> list[dict[str, Any]]:
        return [n for n in inbox.page(owner, False, 200, None)[0] if n["kind"] == "assigned"]

    assert placed["status"] == "assigned" and placed["route"]["version"] == 1
    assert [e["to_status"] for e in placed["history"] if e.get("from_status") == "new"] == ["assigned"]
    assert assigned_notices() == []
    rules = body_of(call(client, "GET", "/config/routing", "admin"))["document"]
    rules["rules"][0]["name"] = "沪上按揭"  # r1, renamed: version 2
    assert call(client, "PUT", "/config/routing", "admin", rules).status_code == 200

    assert deliver(client, reader) == {"batchItemFailures": []}  # the placement's record
    assert deliver(client, leads_stream()) == {"batchItemFailures": []}  # every record again
    shown = lead(client, lead_id)
    [routed] = [e for e in shown["history"] if e.get("from_status") == "new"]
    assert routed["reason"] == shown["route"]["reason"]
    assert routed["reason"].startswith("命中规则「上海房贷」：")
    assert routed["reason"].endswith(f" → {names.user(owner)}")
    assert routed["at"] == placed["assigned_at"]
    assert {k: routed["detail"][k] for k in ("kind", "to_owner", "to_team")} == {
        "kind": "route", "to_owner": owner, "to_team": "sh_mortgage"}
    [notice] = assigned_notices()
    assert notice["lead_id"] == lead_id and notice["title"] == "新分配：王伟"
    assert "命中分配规则「上海房贷」" in notice["body"] and "请在" in notice["body"]
    assert "沪上按揭" not in notice["body"]
    stored = boto3.client("dynamodb").query(TableName=LeadEventModel.Meta.table_name,
                                            KeyConditionExpression="lead_id = :id",
                                            ExpressionAttributeValues={":id": {"S": lead_id}})["Items"]
    assert stored == []  # the routing entry is the lead's own record, shown as an entry


def test_a_placement_whose_entry_an_earlier_version_wrote_is_not_doubled(client: Any) -> None:
    """Placed by the version before this one, a lead got its history entry in its placement's
    transaction, keyed on the capture's record: its placement's record, handled after an upgrade,
    finds it and writes no second one."""
    from chalicelib.store import leads
    from chalicelib.store.placement import _history

    lead_id = capture(client, phone(1), city="上海", loan_type="mortgage")
    reader = leads_stream()
    assert deliver(client, reader) == {"batchItemFailures": []}
    at = str((leads.get(lead_id) or {})["assigned_at"])
    _history(lead_id, at, "evt-before-upgrade", "new", "assigned", "命中规则「上海房贷」").save()
    assert deliver(client, reader) == {"batchItemFailures": []}
    routed = [e for e in lead(client, lead_id)["history"] if e.get("from_status") == "new"]
    assert [e["reason"] for e in routed] == ["命中规则「上海房贷」"]


def test_a_crash_before_a_routed_leads_notice_is_finished_by_the_retry(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The placement's record writes the owner's notice: a crash before it fails the record, and the
    stream's retry writes the notice, once; the history shows the routing once all along."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from chalicelib.errors import StoreUnavailable
    from chalicelib.store import inbox, placement
    from local.streams import lambda_event

    lead_id = capture(client, phone(1), city="上海", loan_type="mortgage", name="王伟")
    reader = leads_stream()
    assert deliver(client, reader) == {"batchItemFailures": []}
    event = lambda_event(reader.read(), reader.stream_arn)  # the placement's record
    owner = lead(client, lead_id)["owner"]
    real = placement.notify_together

    def crash(*args: Any, **kwargs: Any) -> Any:  # the container dies before the notice
        raise StoreUnavailable()

    monkeypatch.setattr(placement, "notify_together", crash)
    with pytest.raises(BatchProcessingError):
        client.lambda_.invoke("lead_stream", event)
    assert len([e for e in lead(client, lead_id)["history"] if e.get("from_status") == "new"]) == 1
    monkeypatch.setattr(placement, "notify_together", real)
    for _ in range(2):  # the retry, and one more replay
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    assert len([e for e in lead(client, lead_id)["history"] if e.get("from_status") == "new"]) == 1
    notices = [n for n in inbox.page(owner, False, 200, None)[0] if n["kind"] == "assigned"]
    assert [n["lead_id"] for n in notices] == [lead_id]


def test_a_routed_lead_whose_rule_set_version_no_longer_reads_still_shows_its_history(client: Any) -> None:
    """A routed lead's history entry is rebuilt from the rule set's version that decided, for as long
    as the lead lives: a version that no longer reads or compiles (a document written by an older
    schema, a team removed since) gives the plain words, never a failed lead page."""
    from chalicelib.services import names, routing
    from chalicelib.store.schema import ConfigModel

    lead_id = capture(client, phone(1), city="上海", loan_type="mortgage", name="王伟")
    deliver(client, leads_stream())
    owner = lead(client, lead_id)["owner"]
    rules = body_of(call(client, "GET", "/config/routing", "admin"))["document"]
    assert call(client, "PUT", "/config/routing", "admin", rules).status_code == 200  # version 2: 1 is earlier
    for body in ('{"rules": 5}', '{"rules": [{"id": "r1", "action": {"type": "assign_team", "team": "gone"}}]}'):
        ConfigModel("routing", 1, body=body).save()
        routing._earlier.clear()
        shown = lead(client, lead_id)
        [routed] = [e for e in shown["history"] if e.get("from_status") == "new"]
        assert routed["reason"] == f"按分配规则分配 → {names.user(owner)}" == shown["route"]["reason"]


def test_lead_pages_of_leads_routed_by_several_earlier_versions_compile_each_version_once(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each lead page rebuilds its routing entry in the words of the version that placed the lead: a
    container keeps the last few earlier versions compiled, so pages of leads from different versions,
    read in turn, read and compile each version once (it kept one, and read them again in turn)."""
    from chalicelib.services import routing
    from chalicelib.store import config

    def publish(name: str) -> None:
        rules = body_of(call(client, "GET", "/config/routing", "admin"))["document"]
        rules["rules"][0]["name"] = name
        assert call(client, "PUT", "/config/routing", "admin", rules).status_code == 200

    reader = leads_stream()
    first = capture(client, phone(1), city="上海", loan_type="mortgage")
    deliver(client, reader)
    publish("沪上按揭")  # version 2
    second = capture(client, phone(2), city="上海", loan_type="mortgage")
    deliver(client, reader)
    publish("上海按揭三版")  # version 3: both leads' versions are earlier ones now
    read = config.version_body
    bodies: list[int] = []

    def counted(name: str, version: int) -> Any:
        bodies.append(version)
        return read(name, version)

    routing._earlier.clear()  # the placements' records explained them already: a new container
    monkeypatch.setattr(config, "version_body", counted)
    words = {}
    for lead_id in (first, second, first, second):
        [routed] = [e for e in lead(client, lead_id)["history"] if e.get("from_status") == "new"]
        words.setdefault(lead_id, set()).add(routed["reason"].split("：")[0])
    assert words == {first: {"命中规则「上海房贷」"}, second: {"命中规则「沪上按揭」"}}
    assert sorted(bodies) == [1, 2]
    assert len(routing._earlier) == 2


def test_leads_placed_together_make_one_message_per_rep_however_their_records_come(client: Any) -> None:
    """Routing places a batch's leads together; each rep's 新分配 is one message naming the rep's leads
    of that placement, whether their placement records come in one batch or several, once or again: a
    record handled again neither names its lead twice nor marks a read message unread; a record of a
    lead the message did not name yet does. Erasing one of those customers removes their entry and
    leaves the others'."""
    from chalicelib.store import inbox, ownership
    from local.streams import lambda_event

    for rep in ("sh_rep2", "sh_rep3"):  # one rep on duty: every lead is hers
        ownership.update_user(rep, {"on_duty": False})
    ids = [capture(client, phone(n), city="上海", loan_type="mortgage", name=f"客户{n}") for n in range(6)]
    reader = leads_stream()
    assert deliver(client, reader) == {"batchItemFailures": []}
    placements = reader.read()
    assert len(placements) == 6
    first, second = lambda_event(placements[:4], reader.stream_arn), lambda_event(placements[4:], reader.stream_arn)
    assert client.lambda_.invoke("lead_stream", first).payload == {"batchItemFailures": []}
    told = [n for n in inbox.page("sh_rep1", False, 50, None)[0] if n["kind"] == "assigned"]
    assert len(told) == 1 and [x["lead_id"] for x in told[0]["leads"]] == ids[:4], told
    assert told[0]["title"] == "新分配 4 位客户" and "客户0（房产抵押贷，线索" in told[0]["body"]
    assert "命中分配规则" in told[0]["body"] and "前逐一首次联系" in told[0]["body"]
    inbox.mark_read("sh_rep1", [told[0]["id"]])
    assert client.lambda_.invoke("lead_stream", first).payload == {"batchItemFailures": []}  # again
    again = [n for n in inbox.page("sh_rep1", False, 50, None)[0] if n["kind"] == "assigned"]
    assert [(n["id"], n["read"], len(n["leads"])) for n in again] == [(told[0]["id"], True, 4)]
    assert client.lambda_.invoke("lead_stream", second).payload == {"batchItemFailures": []}
    whole = [n for n in inbox.page("sh_rep1", False, 50, None)[0] if n["kind"] == "assigned"]
    assert [(n["id"], n["read"]) for n in whole] == [(told[0]["id"], False)]
    assert [x["lead_id"] for x in whole[0]["leads"]] == ids and whole[0]["title"] == "新分配 6 位客户"
    erased = call(client, "POST", "/privacy/erase", "admin", {"lead_id": ids[0], "reason": "本人申请删除"})
    assert erased.status_code == 200, body_of(erased)
    left = [n for n in inbox.page("sh_rep1", False, 50, None)[0] if n["kind"] == "assigned"]
    assert [x["lead_id"] for x in left[0]["leads"]] == ids[1:] and "客户0" not in left[0]["body"]
    for lead_id in ids[1:5]:
        erased = call(client, "POST", "/privacy/erase", "admin", {"lead_id": lead_id, "reason": "本人申请删除"})
        assert erased.status_code == 200
    one = [n for n in inbox.page("sh_rep1", False, 50, None)[0] if n["kind"] == "assigned"]
    assert one[0]["lead_id"] == ids[5] and one[0]["lead_name"] == "客户5" and "leads" not in one[0]
    assert one[0]["title"] == "新分配：客户5" and "请在" in one[0]["body"] and "前首次联系" in one[0]["body"]
    call(client, "POST", "/privacy/erase", "admin", {"lead_id": ids[5], "reason": "本人申请删除"})
    assert [n for n in inbox.page("sh_rep1", False, 50, None)[0] if n["kind"] == "assigned"] == []
