"""Cleaning and race-free de-duplication on the lead stream (in-process moto)."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from tests.helpers import JSON, auth, body_of, call, capture, deliver, lead, leads_stream

pytestmark = pytest.mark.moto

PHONE = "13816204573"
E164 = "+8613816204573"  # as the lead stores it


def activities(lead_id: str) -> list[dict[str, Any]]:
    from chalicelib.store import leads

    return [e for e in leads.history(lead_id, limit=500) if e["kind"] == "activity"]


def inbox(user: str) -> list[Any]:
    from chalicelib.store.schema import NotificationModel

    return list(NotificationModel.query(user))


def test_cleaning_places_the_lead_and_keeps_it(client: Any) -> None:
    lead_id = capture(client, "１３８ １６２０ ４５７３", name="  王　小明  ", city="沪", loan_type="car")
    deliver(client, leads_stream())
    item = lead(client, lead_id)
    assert item["status"] == "pool"
    assert (item["city"], item["province"], item["region"]) == ("上海", "上海", "华东")
    assert item["name"] == "王 小明"
    no_city = capture(client, "13912876540")  # 江苏 by its number's home location
    deliver(client, leads_stream())
    assert lead(client, no_city)["region"] == "华东"


@pytest.mark.parametrize("phone", ["12345", "1381234567", "23812345678"])
def test_impossible_numbers_are_refused_at_capture(client: Any, phone: str) -> None:
    response = client.http.post("/capture", headers=JSON, body=json.dumps({"phone": phone, "consent": True}))
    assert response.status_code == 422 and "phone" in body_of(response)["error"]["fields"]


@pytest.mark.parametrize(("phone", "name", "reason"), [
    ("13800138000", "李雷", "测试号码"),
    ("13888888888", "李雷", "重复数字"),
    ("13812345678", "李雷", "连续数字"),
    ("13816204573", "测试", "测试姓名"),
    ("13816204573", "aaa", "测试姓名"),
])
def test_test_data_becomes_invalid_with_reasons_and_is_kept(client: Any, phone: str, name: str,
                                                           reason: str) -> None:
    lead_id = capture(client, phone, name=name)
    deliver(client, leads_stream())
    item = lead(client, lead_id)
    assert item["status"] == "invalid"
    assert any(reason in r for r in item["invalid_reasons"])
    assert item["history"][0]["to_status"] == "invalid"
    assert item["history"][0]["reason"] == "；".join(item["invalid_reasons"]) and item["invalid_at"]


def test_an_invalid_leads_history_entry_is_rebuilt_from_it_and_stays_when_it_is_restored(client: Any) -> None:
    """Cleaning's refusal is one conditional update of the lead (it keeps `invalid_at` and its reasons),
    no history item (three write units less than a transaction of both); a later move out of
    `invalid` (the lifecycle allows one to the pool) adds its own entry, and the refusal still shows
    beneath it."""
    from chalicelib.store import leads
    from chalicelib.store.schema import LeadEventModel

    lead_id = capture(client, "13800138000", name="李雷")
    deliver(client, leads_stream())
    item = lead(client, lead_id)
    assert item["status"] == "invalid" and list(LeadEventModel.query(lead_id)) == []
    [entry] = item["history"]
    assert (entry["from_status"], entry["to_status"], entry["at"]) == ("new", "invalid", item["invalid_at"])
    assert "测试号码" in entry["reason"]
    assert leads.move_status(lead_id, "invalid", "pool", "2099-01-01T00:00:00.000Z", "admin", "核实为真实客户",
                             "evt-restore")
    restored = lead(client, lead_id)
    assert restored["status"] == "pool"
    assert [(e["from_status"], e["to_status"]) for e in restored["history"] if e["kind"] == "status"] == \
        [("invalid", "pool"), ("new", "invalid")]


def test_blocklist_is_data(client: Any) -> None:
    rules = body_of(client.http.get("/config/cleaning", headers=auth("admin")))["document"]
    rules["phone_blocklist"] = ["+8613816204573"]
    assert client.http.put("/config/cleaning", headers={**JSON, **auth("admin")},
                           body=json.dumps(rules, ensure_ascii=False)).status_code == 200
    lead_id = capture(client, PHONE)
    deliver(client, leads_stream())
    assert "号码在黑名单中" in lead(client, lead_id)["invalid_reasons"]


def test_second_channel_is_a_duplicate_with_a_re_inquiry(client: Any, demo_org: str) -> None:
    first = capture(client, PHONE, name="王小明", source="wechat", loan_type="car")
    deliver(client, leads_stream())
    partner = client.http.post("/partner/leads", headers={**JSON, "X-Api-Key": demo_org},
                               body=json.dumps({"leads": [{"phone": "+86 138-1620-4573", "name": "王晓明",
                                                           "amount": 200, "loan_type": "credit"}]}))
    second = body_of(partner)["results"][0]["lead_id"]
    deliver(client, leads_stream())
    dup = lead(client, second)
    assert dup["status"] == "duplicate" and dup["duplicate_of"] == first
    assert dup["can"]["work"] is False  # worked on its original (the page links there), not here
    # nor through the API: a follow-up on the duplicate is refused, with where to go, and writes nothing
    refused = call(client, "POST", f"/leads/{second}/activities", "admin", {"type": "call"})
    error = body_of(refused)["error"]
    assert refused.status_code == 409 and error["code"] == "DUPLICATE_LEAD"
    assert first in error["message"] and "请在原线索上跟进" in error["message"]
    task = call(client, "POST", f"/leads/{second}/tasks", "admin",
                {"title": "回访", "due_at": "2026-12-10T10:00:00+08:00"})
    assert task.status_code == 409 and body_of(task)["error"]["code"] == "DUPLICATE_LEAD"
    assert lead(client, second)["version"] == dup["version"] and lead(client, second)["tasks"] == []
    active = lead(client, first)
    assert active["can"]["work"] is True
    assert active["status"] == "pool"
    assert active["name"] == "王小明" and active["loan_type"] == "car"  # never overwritten
    assert active["amount"] == 200  # an empty field filled from the inquiry
    [activity] = activities(first)
    assert activity["activity_type"] == "re_inquiry" and activity["channel"] == "partner"
    assert activity["related_lead"] == second
    assert set(activity["detail"]["differences"]) >= {"name", "loan_type", "amount"}
    # The lead's history names the channel and what the inquiry filled (never a code).
    [event] = [e for e in active["history"] if e["kind"] == "activity"]
    assert event["activity_label"] == "再次咨询" and event["channel_label"] == "第三方平台"
    assert event["filled"] == [{"field": "amount", "label": "贷款金额(万元)", "text": "200 万元"},
                               {"field": "partner_id", "label": "合作方", "text": "演示合作方（贷款超市）"}]


def test_a_duplicates_history_entry_is_rebuilt_from_it_and_the_phone_is_checked_only_when_needed(
        client: Any) -> None:
    """A submission merged into its phone's active lead keeps when and into which lead: its history
    shows the merge from there, and no history item is written for it (two write units less). The
    merge's transaction checks the phone's item only while the active lead is `new` (its claim may
    be taken over) or has leads merged into it by hand (an unmerge moves their claims back); a placed
    lead's own condition (still active) covers the rest: two write units less per duplicate. A lead
    merged before the change keeps its stored entry, shown once."""
    import botocore.client

    from chalicelib.services import history
    from chalicelib.services.pipeline import process_new_lead
    from chalicelib.store import leads
    from chalicelib.store import phone_keys as dedup
    from chalicelib.store.schema import PREFIX, LeadEventModel, LeadModel

    transactions: list[list[str]] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self: Any, operation: str, params: Any) -> Any:
        if operation == "TransactWriteItems":  # each item's table, without the stage's prefix
            transactions.append(sorted(next(iter(item.values()))["TableName"].removeprefix(PREFIX)
                                       for item in params["TransactItems"]))
        return original(self, operation, params)

    def merge() -> list[str]:
        """The merge's transaction (a record delivered again tries it again: the same items, refused)."""
        found = {tuple(t) for t in transactions if "lead_events" in t}
        assert len(found) == 1, found
        return list(found.pop())

    first = capture(client, PHONE, name="王小明")
    early = capture(client, PHONE, source="douyin")
    assert dedup.claim_phone(E164, first, "2026-11-28T03:00:00.000Z")  # claimed, not yet placed: `new`
    botocore.client.BaseClient._make_api_call = spy  # type: ignore[method-assign]
    try:
        assert process_new_lead(leads.get(early) or {}, "evt-2", "2026-11-28T03:00:01.000Z") == "duplicate"
        assert merge() == ["lead_events", "leads", "leads", "phone_keys"]
        transactions.clear()
        deliver(client, leads_stream())  # the first placed (pool)
        assert lead(client, first)["status"] == "pool"
        transactions.clear()
        later = capture(client, PHONE, source="zhihu")
        deliver(client, leads_stream())
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
    assert merge() == ["lead_events", "leads", "leads"]  # the active lead's own condition holds
    for dup in (early, later):
        assert list(LeadEventModel.query(dup)) == []  # no item: the lead keeps the merge
        item = lead(client, dup)
        assert item["duplicate_of"] == first and item["duplicate_at"]
        [entry] = [e for e in item["history"] if e["kind"] == "status"]
        assert (entry["from_status"], entry["to_status"], entry["at"]) == ("new", "duplicate", item["duplicate_at"])
        assert entry["reason"] == f"与 {first} 为同一客户，已合并" and entry["related_lead"] == first
    # A lead merged by the code before: its stored entry, shown once (not rebuilt beside it).
    stored = leads.get(later) or {}
    LeadModel(later).update(actions=[LeadModel.duplicate_at.remove()])
    LeadEventModel(later, f"{stored['duplicate_at']}#status#old", kind="status", at=stored["duplicate_at"],
                   actor="system", from_status="new", to_status="duplicate", reason=f"与 {first} 为同一客户，已合并",
                   related_lead=first).save()
    assert [e["to_status"] for e in history.of_lead(leads.get(later) or {}) if e["kind"] == "status"] == ["duplicate"]


def test_owner_is_notified_of_a_re_inquiry(client: Any) -> None:
    manual = client.http.post("/leads", headers={**JSON, **auth("sh_rep1")},
                              body=json.dumps({"name": "赵敏", "phone": PHONE}))
    owned = body_of(manual)["lead_id"]
    deliver(client, leads_stream())
    capture(client, PHONE, source="douyin")
    deliver(client, leads_stream())
    [notice] = inbox("sh_rep1")
    assert notice.kind == "re_inquiry" and notice.lead_id == owned and "抖音" in notice.body
    # The owner reads the customer's name (they own the lead); never the phone number.
    assert PHONE not in notice.body and "赵敏" in notice.body and notice.lead_name == "赵敏"


def test_closed_history_starts_a_new_linked_lead(client: Any) -> None:
    from chalicelib.store import leads

    first = capture(client, PHONE)
    deliver(client, leads_stream())
    leads.move_status(first, "pool", "assigned", "2026-11-28T01:00:00.000Z", "sh_lead", "分配", "t1",
                      {"owner": "sh_rep1", "team": "sh_mortgage"})
    leads.move_status(first, "assigned", "lost", "2026-11-28T02:00:00.000Z", "sh_rep1", "客户已在他行办理", "t2")
    deliver(client, leads_stream())  # the MODIFY into `lost` releases the phone
    second = capture(client, PHONE, source="zhihu")
    deliver(client, leads_stream())
    item = lead(client, second)
    assert item["status"] == "pool" and item["previous_leads"] == [first]
    assert first in item["history"][0]["reason"]


def test_replaying_processed_batches_changes_nothing(client: Any) -> None:
    from chalicelib.store.schema import LeadEventModel, NotificationModel

    reader = leads_stream()
    manual = client.http.post("/leads", headers={**JSON, **auth("sh_rep1")}, body=json.dumps({"phone": PHONE}))
    active = body_of(manual)["lead_id"]
    for source in ("website_form", "wechat", "douyin"):
        capture(client, PHONE, source=source)
    records = reader.read()
    event = {"Records": [r for r in _lambda(records, reader.stream_arn)]}
    assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}

    def state() -> Any:
        ddb = boto3.client("dynamodb")
        return [ddb.scan(TableName=m.Meta.table_name)["Items"] for m in (LeadEventModel, NotificationModel)] + \
               [[(i["lead_id"], i["status"], i.get("duplicate_of")) for i in _all_leads()]]

    before = state()
    for _ in range(2):
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    assert state() == before
    assert len(activities(active)) == 3 and len(inbox("sh_rep1")) == 3


def _lambda(records: list[dict[str, Any]], arn: str) -> list[dict[str, Any]]:
    from local.streams import lambda_record

    return [lambda_record(r, arn) for r in records]


def _all_leads() -> list[dict[str, Any]]:
    from chalicelib.store import leads
    from chalicelib.store.schema import LeadModel

    items = boto3.client("dynamodb").scan(TableName=LeadModel.Meta.table_name)["Items"]
    return sorted((leads.get(i["lead_id"]["S"]) or {} for i in items), key=lambda x: x["lead_id"])


def test_one_poison_record_among_a_hundred(client: Any) -> None:
    reader = leads_stream()
    for n in range(99):
        capture(client, f"1370{n:03d}6{n:03d}"[:11])
    records = _lambda(reader.read(limit=100), reader.stream_arn)
    assert len(records) == 99
    poison = json.loads(json.dumps(records[0]))
    poison["eventID"] = "poison"
    poison["dynamodb"]["SequenceNumber"] = "999"
    del poison["dynamodb"]["NewImage"]["phone"]
    batch = records[:50] + [poison] + records[50:]
    payload = client.lambda_.invoke("lead_stream", {"Records": batch}).payload
    assert payload == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    statuses = [i["status"] for i in _all_leads()]
    assert len(statuses) == 99 and set(statuses) == {"pool"}
    assert all(len(lead(client, i["lead_id"])["history"]) == 1 for i in _all_leads())


@pytest.mark.parametrize(("crash_in", "to"), [("place_group", "owner"), ("place", "pool")])
def test_a_crash_between_the_phone_claim_placement_and_history_is_finished_by_the_retry(
        client: Any, monkeypatch: pytest.MonkeyPatch, crash_in: str, to: str) -> None:
    """Claim and placement are conditional writes, not one transaction (a lead placed with an owner
    gets its notices from its placement's own record; its history entry, like a pooled lead's, is
    rebuilt from what the lead keeps): a crash after either fails the record, and the stream's retry
    of it ends in the state one delivery would have made (placed once, one history entry, the rep's
    load counted once)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from chalicelib.errors import StoreUnavailable
    from chalicelib.store import ownership, phone_keys
    from chalicelib.store import placement as dedup

    if to == "owner":
        manual = client.http.post("/leads", headers={**JSON, **auth("sh_rep1")},
                                  body=json.dumps({"phone": PHONE, "name": "王五"}))
        lead_id = body_of(manual)["lead_id"]
    else:
        lead_id = capture(client, PHONE, city="成都", loan_type="car")
    reader = leads_stream()
    event = {"Records": _lambda(reader.read(), reader.stream_arn)}
    real = getattr(dedup, crash_in)

    def crash(*args: Any, **kwargs: Any) -> Any:  # the container dies before this write
        raise StoreUnavailable()

    monkeypatch.setattr(dedup, crash_in, crash)
    with pytest.raises(BatchProcessingError):  # the record fails, so the stream delivers it again
        client.lambda_.invoke("lead_stream", event)
    monkeypatch.setattr(dedup, crash_in, real)
    for _ in range(2):  # the retry, and one more replay
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    for _ in range(2):  # then every record of the stream (the placement's too), twice
        assert deliver(client, leads_stream()) == {"batchItemFailures": []}
    item = lead(client, lead_id)
    routed = [e for e in item["history"] if e.get("from_status") == "new"]
    if to == "owner":
        assert item["status"] == "assigned" and item["owner"] == "sh_rep1"
        assert len(routed) == 1 and routed[0]["reason"] == "录入人即负责人" == item["route"]["reason"]
        assert ownership.counter("sh_rep1", "open").n == 1
    else:
        assert item["status"] == "pool" and len(routed) == 1 and routed[0]["reason"] == item["route"]["reason"]
        from chalicelib.store.schema import LeadEventModel

        assert list(LeadEventModel.query(lead_id)) == []  # the entry is the lead's own route, rebuilt
        assert (routed[0]["at"], routed[0]["to_status"]) == (item["route"]["decided_at"], "pool")
    assert phone_keys.get_phone_key(E164).active_lead == lead_id  # type: ignore[union-attr]


def test_a_duplicate_of_a_lead_claimed_but_not_yet_placed_merges_into_it(client: Any) -> None:
    """Between the first lead's phone claim and its placement a second submission comes: it merges
    into the first (still `new`), which is then placed with the re-inquiry on its timeline."""
    from chalicelib.services.pipeline import process_new_lead
    from chalicelib.store import leads
    from chalicelib.store import phone_keys as dedup

    first = capture(client, PHONE, name="张三")
    second = capture(client, PHONE, source="wechat", loan_type="car")
    assert dedup.claim_phone(E164, first, "2026-11-28T03:00:00.000Z")
    assert process_new_lead(leads.get(second) or {}, "evt-2", "2026-11-28T03:00:01.000Z") == "duplicate"
    assert leads.get(first)["status"] == "new"  # type: ignore[index]
    assert process_new_lead(leads.get(first) or {}, "evt-1", "2026-11-28T03:00:00.000Z") == "pool"
    kept = lead(client, first)
    assert kept["status"] == "pool" and kept["loan_type"] == "car"  # filled from the duplicate
    assert [a["related_lead"] for a in activities(first)] == [second]
    assert lead(client, second)["duplicate_of"] == first


def test_a_lead_claimed_and_never_placed_gives_its_phone_up_after_the_streams_retry_window(client: Any) -> None:
    """The phone was claimed, then the lead's record failed until the stream gave it up (it stays
    `new`). A submission of that phone within the retry window merges into it; one after the window
    takes the phone over and is placed; the stale record, redriven by ops, merges into the new one."""
    from datetime import timedelta

    import infra.package
    from chalicelib.domain.timeutil import iso_utc, parse_iso
    from chalicelib.services.pipeline import STALE_CLAIM, process_new_lead
    from chalicelib.store import leads
    from chalicelib.store import phone_keys as dedup

    assert STALE_CLAIM.total_seconds() > infra.package.STREAM_FAILURE_SETTINGS["MaximumRecordAgeInSeconds"]
    stuck = capture(client, PHONE, name="张三")
    created = leads.get(stuck)["created_at"]  # type: ignore[index]
    assert dedup.claim_phone(E164, stuck, created)
    later = capture(client, PHONE, source="wechat")
    soon = capture(client, PHONE, source="zhihu")
    def after(hours: float) -> str:
        return iso_utc(parse_iso(created) + timedelta(hours=hours))

    assert process_new_lead(leads.get(soon) or {}, "evt-soon", after(1)) == "duplicate"
    assert leads.get(soon)["duplicate_of"] == stuck  # type: ignore[index]
    assert process_new_lead(leads.get(later) or {}, "evt-later", after(8)) == "pool"
    assert dedup.get_phone_key(E164).active_lead == later  # type: ignore[union-attr]
    assert process_new_lead(leads.get(stuck) or {}, "evt-stuck", created) == "duplicate"  # redriven
    assert leads.get(stuck)["duplicate_of"] == later  # type: ignore[index]


def test_a_replay_of_a_closed_leads_record_leaves_the_phone_free(client: Any) -> None:
    """Redelivering a lead's first record after the lead closed claims nothing for it."""
    from chalicelib.store import leads
    from chalicelib.store import phone_keys as dedup

    reader = leads_stream()
    first = capture(client, PHONE)
    event = {"Records": _lambda(reader.read(), reader.stream_arn)}
    assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    leads.move_status(first, "pool", "invalid", "2026-11-28T01:00:00.000Z", "admin", "空号", "t1")
    deliver(client, reader)  # the MODIFY into `invalid` gives the phone up
    assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    key = dedup.get_phone_key(E164)
    assert key is not None and key.active_lead is None and key.history == [first]


def test_racing_replayed_and_crashing_deliveries_end_in_one_consistent_state(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six phones, five submissions each (Shanghai mortgage leads go to reps, the rest to the pool),
    every record delivered twice, in a shuffled order, by six threads at once, while a fifth of the
    intake's writes crash (before the write, or after it landed); a failed delivery is retried, as
    the stream does. In the end: no lead left `new`; per phone one placed lead with one routing
    entry, the phone item naming it, every other submission its duplicate with one re-inquiry on
    it; each rep's open-lead counter grew by exactly the leads assigned to them."""
    import queue
    import random

    from chalicelib.domain.lifecycle import CLOSED
    from chalicelib.errors import StoreUnavailable
    from chalicelib.services import history
    from chalicelib.services.pipeline import process_new_lead
    from chalicelib.store import leads, ownership, phone_keys, placement

    phones = ["13816204573", "13917326685", "13725814690", "13612876540", "15920481736", "18628375104"]
    shanghai = set(phones[:4])
    submitted = {p: [capture(client, p, source=s, **({"city": "上海", "loan_type": "mortgage"} if p in shanghai
                                                      else {"city": "成都", "loan_type": "car"}))
                     for s in ("website_form", "wechat", "douyin", "zhihu", "website_form")] for p in phones}
    reps = ("sh_rep1", "sh_rep2", "sh_rep3")
    open_before = {rep: ownership.counter(rep, "open").n for rep in reps}
    images = {i: leads.get(i) or {} for ids in submitted.values() for i in ids}
    rng, lock = random.Random(11), threading.Lock()

    def flaky(module: Any, name: str) -> None:
        real = getattr(module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                roll = rng.random()
            if roll < 0.1:
                raise StoreUnavailable()  # the container dies before the write
            result = real(*args, **kwargs)
            if roll < 0.2:
                raise StoreUnavailable()  # ... or just after it landed
            return result

        monkeypatch.setattr(module, name, call)

    patched = ((phone_keys, "claim_phone"), (placement, "place"), (placement, "mark_duplicate"),
               (phone_keys, "drop_claim"))
    reals = [(module, name, getattr(module, name)) for module, name in patched]
    for module, name in patched:
        flaky(module, name)
    work: queue.Queue[str] = queue.Queue()
    for lead_id in rng.sample(sorted(images) * 2, len(images) * 2):
        work.put(lead_id)
    retries = []

    def deliverer() -> None:
        while True:
            try:
                lead_id = work.get_nowait()
            except queue.Empty:
                return
            try:
                process_new_lead(images[lead_id], f"evt-{lead_id}", images[lead_id]["created_at"])
            except Exception:  # noqa: BLE001 - any failure is a failed record: the stream delivers it again
                retries.append(lead_id)
                work.put(lead_id)

    threads = [threading.Thread(target=deliverer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert retries, "the crashes must have happened"
    for module, name, real in reals:
        monkeypatch.setattr(module, name, real)
    # Then the stream's records of what the deliveries changed (the placements': their notices),
    # twice (the captures' records stood for the deliveries above, under the test's own event ids).
    reader = leads_stream()
    changes = [record for batch in iter(lambda: _read_on(reader), []) for record in batch
               if record["eventName"] == "MODIFY"]
    for _ in range(2):
        for start in range(0, len(changes), 100):
            event = {"Records": _lambda(changes[start:start + 100], reader.stream_arn)}
            assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    assigned: dict[str, int] = {}
    for phone, ids in submitted.items():
        final = {i: leads.get(i, consistent=True) or {} for i in ids}
        assert all(item["status"] != "new" for item in final.values())
        placed = [i for i, item in final.items() if item["status"] not in CLOSED | {"duplicate"}]
        assert len(placed) == 1, (phone, {i: item["status"] for i, item in final.items()})
        active = placed[0]
        assert all(final[i]["duplicate_of"] == active for i in ids if i != active)
        key = phone_keys.get_phone_key(final[active]["phone"])
        assert key is not None and key.active_lead == active and key.history == []
        routed = [e for e in history.of_lead(final[active], limit=500) if e["kind"] == "status"]
        assert len(routed) == 1 and routed[0]["to_status"] == final[active]["status"]
        assert sorted(a["related_lead"] for a in activities(active)) == sorted(i for i in ids if i != active)
        if final[active].get("owner"):
            assigned[final[active]["owner"]] = assigned.get(final[active]["owner"], 0) + 1
    assert sum(assigned.values()) == 4  # the four Shanghai mortgage leads went to reps
    assert {rep: ownership.counter(rep, "open").n - open_before[rep] for rep in reps} == \
        {rep: assigned.get(rep, 0) for rep in reps}


def _read_on(reader: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = reader.read()
    if records:
        reader.advance(records[-1])
    return records


def test_concurrent_submissions_of_one_phone_have_one_winner(client: Any) -> None:
    """Twenty new leads of one phone processed at once, in threads: exactly one becomes active."""
    from chalicelib.services.pipeline import process_new_lead
    from chalicelib.store import leads

    ids = [capture(client, PHONE, source=s) for s in ("website_form", "wechat", "douyin", "zhihu") * 5]
    images = [leads.get(i) for i in ids]
    results: list[str] = []
    barrier = threading.Barrier(len(images))

    def work(image: dict[str, Any]) -> None:
        barrier.wait()
        results.append(process_new_lead(image, f"evt-{image['lead_id']}", "2026-11-28T03:00:00.000Z"))

    threads = [threading.Thread(target=work, args=(img,)) for img in images]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count("duplicate") == 19 and results.count("pool") == 1
    final = _all_leads()
    [winner] = [i for i in final if i["status"] == "pool"]
    assert all(i["duplicate_of"] == winner["lead_id"] for i in final if i["status"] == "duplicate")
    assert len(activities(winner["lead_id"])) == 19


@pytest.mark.parametrize("guard_window_s", [60, 420])
def test_a_burst_from_one_ip_is_invalid(client: Any, guard_window_s: int) -> None:
    """The stream counts the guard's IP rate and cleaning's IP burst: with the guard's window dividing
    the burst window (60 s in 600 s, the defaults) one counter item per IP and burst window serves
    both; otherwise the stream keeps its own set of the IP's leads as well. The outcome is the same,
    and the capture path wrote nothing but the leads."""
    from chalicelib.rules.capture_guard import default_capture_guard
    from chalicelib.store.schema import CounterModel

    guard = {**default_capture_guard().model_dump(mode="json"), "ip_window_s": guard_window_s}
    client.http.put("/config/capture-guard", headers={**JSON, **auth("admin")}, body=json.dumps(guard))
    rules = body_of(client.http.get("/config/cleaning", headers=auth("admin")))["document"]
    rules["burst"].update({"ip_max": 3, "ip_allowlist": []})
    client.http.put("/config/cleaning", headers={**JSON, **auth("admin")}, body=json.dumps(rules, ensure_ascii=False))

    def ip_items() -> list[str]:
        scan = boto3.client("dynamodb").scan(TableName=CounterModel.Meta.table_name)["Items"]
        return [i["key"]["S"] for i in scan if i["key"]["S"].startswith(("ip#", "rate#ip#", "rates#ip#"))]

    ids = [capture(client, f"1391287{n:04d}") for n in range(5)]
    assert ip_items() == []  # counted by the stream, not at capture
    deliver(client, leads_stream())
    statuses = [lead(client, i)["status"] for i in ids]
    assert statuses == ["pool", "pool", "pool", "invalid", "invalid"]
    assert "同一 IP" in lead(client, ids[-1])["invalid_reasons"][0]
    if guard_window_s == 60:
        assert len(ip_items()) == 1 and ip_items()[0].startswith("rates#ip#")
    else:
        assert sorted(k.split("#")[0] for k in ip_items()) == ["ip", "rate"]  # the guard's, the burst's


@pytest.mark.parametrize("guard_window_s", [3600, 420])
def test_a_burst_from_one_phone_is_merged_but_notifies_once(client: Any, guard_window_s: int) -> None:
    """A phone's repeats count against cleaning's burst (600 s) and the capture guard's rate (3600 s):
    both windows are sets of one counter item per phone (the burst's divides the guard's), so a
    repeat writes one counter, keyed on a keyed hash of the number, never the number itself (with
    windows that do not divide, two items, also keyed on the hash)."""
    from chalicelib.rules.capture_guard import default_capture_guard
    from chalicelib.services.capture_guard import phone_digest
    from chalicelib.store.schema import CounterModel

    guard = {**default_capture_guard().model_dump(mode="json"), "phone_window_s": guard_window_s}
    client.http.put("/config/capture-guard", headers={**JSON, **auth("admin")}, body=json.dumps(guard))
    client.http.post("/leads", headers={**JSON, **auth("sh_rep1")}, body=json.dumps({"phone": PHONE}))
    for _ in range(8):
        capture(client, PHONE)
    deliver(client, leads_stream())
    leads_ = _all_leads()
    assert [i["status"] for i in leads_].count("duplicate") == 8  # nothing lost
    assert len(inbox("sh_rep1")) == 4  # the owner's lead is 1 of 5 allowed; 4 more notify, the rest do not
    assert sum("phone_burst" in (i.get("spam_flags") or []) for i in leads_) == 4
    items = boto3.client("dynamodb").scan(TableName=CounterModel.Meta.table_name)["Items"]
    phone_items = [i for i in items if not i["key"]["S"].startswith(("ip#", "rate#ip#", "rates#ip#"))]
    assert all(phone_digest(leads_[0]["phone"]) in i["key"]["S"] for i in phone_items)
    assert not any(leads_[0]["phone"].lstrip("+") in i["key"]["S"] for i in items)
    if guard_window_s == 3600:
        assert [i["key"]["S"].split("#")[:3] for i in phone_items] == [["rates", "phone", "3600"]]
        sets = {name: len(v["SS"]) for name, v in phone_items[0].items() if "SS" in v}
        assert sets["members"] == 9 and sorted(sets.values()) == [6, 9]  # the hour's 9; the burst's 5 + 1 (capped)
    else:
        assert sorted(i["key"]["S"].split("#")[0] for i in phone_items) == ["phone", "rate"]


def test_no_scan_on_the_capture_and_stream_path(client: Any, demo_org: str) -> None:
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        capture(client, PHONE)
        capture(client, "13912876540", source="wechat")
        client.http.post("/partner/leads", headers={**JSON, "X-Api-Key": demo_org},
                         body=json.dumps({"leads": [{"phone": PHONE}]}))
        deliver(client, leads_stream())
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
    assert "TransactWriteItems" in calls and "Scan" not in calls
