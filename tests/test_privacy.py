"""PIPL: erase a person from every table with a receipt, reveal with audit, edits refusing system
fields and audited before/after, retention TTL for invalid and lost leads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import MOBILE
from tests.helpers import JSON, auth, body_of, call, capture, deliver, lead, leads_stream

pytestmark = pytest.mark.moto

PHONE = "13986275314"
OTHER = "13761524980"


def _table_dump(model: Any) -> str:
    items = boto3.client("dynamodb").scan(TableName=model.Meta.table_name)["Items"]
    return json.dumps(items, ensure_ascii=False)


def _where(needles: list[str]) -> dict[str, list[str]]:
    """For each table of the schema, which of the needles appear anywhere in its items."""
    from chalicelib.store.schema import MODELS, logical_name

    found: dict[str, list[str]] = {}
    for model in MODELS:
        dump = _table_dump(model)
        hits = [n for n in needles if n in dump]
        if hits:
            found[logical_name(model)] = hits
    return found


def test_erase_removes_the_person_from_every_table(client: Any) -> None:
    reader = leads_stream()
    first = capture(client, "139 8627 5314", name="欧阳娜娜", city="上海", loan_type="mortgage")
    client.http.post("/capture", headers={**JSON, "Idempotency-Key": "form-77"},
                     body=json.dumps({"phone": PHONE, "consent": True, "name": "欧阳娜娜", "remark": "再次咨询"},
                                     ensure_ascii=False))
    keep = capture(client, OTHER, name="司马光", city="上海", loan_type="mortgage")
    deliver(client, reader)
    deliver(client, reader)  # assignment → 首次联系 tasks
    owner = lead(client, first)["owner"]
    duplicate = [i for i in _lead_ids() if i not in (first, keep)][0]
    assert lead(client, duplicate)["status"] == "duplicate"
    called = call(client, "POST", f"/leads/{first}/activities", owner, {"type": "call", "content": "已联系"})
    assert called.status_code == 200
    assert call(client, "POST", f"/leads/{first}/reveal", owner, {"reason": "回拨"}).status_code == 200
    assert call(client, "PATCH", f"/leads/{first}", "sh_lead", {"name": "欧阳娜"}).status_code == 200
    assert call(client, "POST", f"/leads/{first}/release", owner, {"reason": "暂无需求"}).status_code == 200  # cooldown
    deliver(client, reader)
    needles = [PHONE, "欧阳娜", first, duplicate]
    before = _where(needles)
    for table in ("leads", "lead_events", "phone_keys", "tasks", "idempotency", "notifications", "counters",
                  "audit", "rep_load"):
        assert table in before, (table, before)  # the test sees the person's data where it lives

    response = call(client, "POST", "/privacy/erase", "admin", {"phone": "+86 139-8627-5314", "reason": "本人申请删除"})
    assert response.status_code == 200, response.body
    receipt = body_of(response)
    assert receipt["leads"] == 2 and receipt["receipt_id"].startswith("E")
    assert receipt["items"]["leads"] == 2 and receipt["items"]["phone_keys"] == 1
    assert deliver(client, reader) == {"batchItemFailures": []}  # the REMOVE records purge again: nothing left

    assert _where(needles) == {}  # every table of the schema, including any added later
    assert lead(client, keep)["name"] == "司马光"  # the other person is untouched
    from chalicelib.store import audit

    [kept] = audit.of_entity(f"erasure#{receipt['receipt_id']}")
    assert kept["actor"] == "admin" and kept["after"]["leads"] == 2 and not MOBILE.search(json.dumps(kept))
    again = call(client, "POST", "/privacy/erase", "admin", {"phone": PHONE, "reason": "重复申请"})
    assert body_of(again)["leads"] == 0

    # The dashboard still adds up: its counters (numbers only, no personal data) equal the leads
    # that remain, and the funnel counts exactly them.
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.services import aggregates

    report = aggregates.verify()
    assert report["differences"] == [] and report["leads"] == len(_lead_ids())
    today = shanghai_day(datetime.now(UTC))
    board = call(client, "GET", f"/dashboard?from={today - timedelta(days=1)}&to={today}", "admin")
    assert body_of(board)["funnel"]["total"] == len(_lead_ids()) == 1


def test_erasing_a_lead_a_rep_holds_frees_their_held_count(client: Any) -> None:
    """The erased lead leaves its rep's held count (`max_open`) with it, once however often the
    purge runs (the REMOVE record purges again)."""
    from chalicelib.store import ownership

    made = call(client, "POST", "/leads", "sh_rep1", {"phone": PHONE, "name": "欧阳娜娜"})
    assert made.status_code in (200, 201, 202), made.body
    reader = leads_stream()
    deliver(client, reader)
    assert ownership.counter("sh_rep1", "open").n == 1
    response = call(client, "POST", "/privacy/erase", "admin", {"phone": PHONE, "reason": "本人申请删除"})
    assert response.status_code == 200, response.body
    assert deliver(client, reader) == {"batchItemFailures": []}
    assert ownership.counter("sh_rep1", "open").n == 0


def test_erase_needs_an_admin_a_reason_and_a_person(client: Any) -> None:
    lead_id = capture(client, PHONE)
    assert call(client, "POST", "/privacy/erase", "sh_lead", {"lead_id": lead_id, "reason": "x"}).status_code == 403
    missing = call(client, "POST", "/privacy/erase", "admin", {"lead_id": lead_id})
    assert missing.status_code == 422 and "reason" in body_of(missing)["error"]["fields"]
    assert call(client, "POST", "/privacy/erase", "admin", {"reason": "x"}).status_code == 422
    assert call(client, "POST", "/privacy/erase", "admin", {"phone": "12345", "reason": "x"}).status_code == 422
    assert lead(client, lead_id)["status"] == "new"


def _lead_ids() -> list[str]:
    from chalicelib.store.schema import LeadModel

    items = boto3.client("dynamodb").scan(TableName=LeadModel.Meta.table_name)["Items"]
    return sorted(i["lead_id"]["S"] for i in items)


def test_reveal_is_for_owner_supervisor_and_admin_and_is_audited(client: Any) -> None:
    from tests.test_sop import assigned_lead

    lead_id, _ = assigned_lead(client, "sh_rep1", PHONE)
    pooled = capture(client, OTHER)
    deliver(client, leads_stream())
    assert call(client, "POST", f"/leads/{pooled}/reveal", "sh_rep1", {"reason": "看看"}).status_code == 403
    assert call(client, "POST", f"/leads/{lead_id}/reveal", "sh_rep2", {"reason": "看看"}).status_code == 404
    assert call(client, "POST", f"/leads/{lead_id}/reveal", "admin", {}).status_code == 422
    shown = call(client, "POST", f"/leads/{lead_id}/reveal", "admin", {"reason": "客户投诉核实"})
    assert body_of(shown)["phone"] == "+86" + PHONE
    trail = body_of(call(client, "GET", f"/leads/{lead_id}/audit", "sh_lead"))
    [reveal] = [a for a in trail["audit"] if a["action"] == "phone.reveal"]
    assert (reveal["actor"], reveal["reason"]) == ("admin", "客户投诉核实") and reveal["at"]
    assert trail["history"] and all(h["actor"] and h["at"] for h in trail["history"])  # status, ownership moves
    assert call(client, "GET", f"/leads/{lead_id}/audit", "sh_rep1").status_code == 403
    assert call(client, "GET", f"/leads/{lead_id}/audit", "gz_lead").status_code == 404


def test_generic_edit_refuses_system_fields_and_records_before_and_after(client: Any) -> None:
    from tests.test_sop import assigned_lead

    lead_id, _ = assigned_lead(client, "sh_rep1", PHONE)
    before = lead(client, lead_id)
    for field, value in (("owner", "sh_rep2"), ("status", "won"), ("consent", {"granted": True}),
                         ("partner_id", "someone"), ("phone", OTHER), ("team", "south_credit"), ("lead_id", "L1")):
        response = call(client, "PATCH", f"/leads/{lead_id}", "sh_rep1", {"remark": "ok", field: value})
        assert response.status_code == 422, field
        error = body_of(response)["error"]
        assert error["code"] == "FIELD_NOT_EDITABLE" and field in error["fields"] and "remark" not in error["fields"]
    assert lead(client, lead_id) == before  # nothing changed, not even the allowed field beside it
    for body, field in (({"loan_type": "yacht"}, "loan_type"), ({"amount": -1}, "amount"),
                        ({"name": "长" * 60}, "name")):
        bad = call(client, "PATCH", f"/leads/{lead_id}", "sh_rep1", body)
        assert bad.status_code == 422 and field in body_of(bad)["error"]["fields"], body
    ok = call(client, "PATCH", f"/leads/{lead_id}", "sh_rep1", {"amount": 80, "remark": "想贷 80 万"})
    assert ok.status_code == 200 and body_of(ok)["changed"] == ["amount", "remark"]
    after = lead(client, lead_id)
    assert (after["amount"], after["version"], after["owner"]) == (80, before["version"] + 1, "sh_rep1")
    [edit] = [a for a in body_of(call(client, "GET", f"/leads/{lead_id}/audit", "admin"))["audit"]
              if a["action"] == "lead.edit"]
    assert edit["actor"] == "sh_rep1" and edit["after"] == {"amount": 80, "remark": "想贷 80 万"}
    assert edit.get("before", {}) == {k: before[k] for k in ("amount", "remark") if k in before}
    # Capture channels refuse system fields too (the submission model forbids them).
    sneaky = client.http.post("/capture", headers=JSON, body=json.dumps(
        {"phone": OTHER, "consent": True, "owner": "sh_rep1", "status": "won", "partner_id": "p"}))
    assert sneaky.status_code == 422
    assert {"owner", "status", "partner_id"} <= set(body_of(sneaky)["error"]["fields"])


def test_retention_ttl_for_invalid_and_lost_leads(client: Any, monkeypatch: Any) -> None:
    from datetime import timedelta

    from chalicelib.domain.timeutil import parse_iso
    from chalicelib.settings import get_settings
    from chalicelib.store.schema import LeadModel
    from tests.test_sop import assigned_lead

    monkeypatch.setenv("RETENTION_LOST_DAYS", "30")
    get_settings.cache_clear()
    assert get_settings().retention_lost_days == 30  # read now: the test client patches the stage's variables
    try:
        reader = leads_stream()
        invalid = capture(client, "13800138000")  # a test number: cleaning marks it invalid
        deliver(client, reader)
        row = LeadModel.get(invalid)
        assert row.status == "invalid"
        assert row.expires_at is not None
        assert abs(row.expires_at - (parse_iso(row.updated_at) + timedelta(days=180))) < timedelta(seconds=2)

        lead_id, _ = assigned_lead(client, "sh_rep1", PHONE)
        version = lead(client, lead_id)["version"]
        lost = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
                    {"status": "lost", "version": version, "reason": "已在他行办理"})
        assert lost.status_code == 200, lost.body
        row = LeadModel.get(lead_id)
        assert row.expires_at is not None
        assert abs(row.expires_at - (parse_iso(row.updated_at) + timedelta(days=30))) < timedelta(seconds=2)
    finally:
        get_settings.cache_clear()


def test_an_expired_lead_leaves_nothing_behind(client: Any) -> None:
    """DynamoDB's TTL deletes the lead item; the stream's REMOVE record purges what names it."""
    from chalicelib.store import phone_keys as dedup
    from chalicelib.store.schema import LeadModel
    from tests.test_sop import assigned_lead

    lead_id, _ = assigned_lead(client, "sh_rep1", PHONE)
    version = lead(client, lead_id)["version"]
    call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
         {"status": "lost", "version": version, "reason": "流失"})
    reader = leads_stream()
    deliver(client, reader)
    assert lead_id in (dedup.get_phone_key("+86" + PHONE) or dedup.PhoneKey("", None, [])).history
    LeadModel(lead_id).delete()  # what the TTL does
    assert deliver(client, reader) == {"batchItemFailures": []}
    assert _where([lead_id]) == {}
    assert dedup.get_phone_key("+86" + PHONE) is None


def test_mobile_pattern_used_by_the_log_scan() -> None:
    for text in ("13986275314", "+8613986275314", "tel 139 8627 5314.", "86-139-8627-5314"):
        assert MOBILE.search(text), text
    for text in ("139****5314", "L20261129001", "eff911e13986275314ab", "1764367200000", "2026-11-28"):
        assert not MOBILE.search(text), text


def test_phones_are_masked_in_list_and_pool_views(client: Any) -> None:
    pooled = capture(client, PHONE)
    deliver(client, leads_stream())
    for user, path in (("sh_rep1", "/pool"), ("admin", "/leads"), ("admin", f"/leads/{pooled}")):
        text = client.http.get(path, headers=auth(user)).body.decode()
        assert PHONE not in text and "139****5314" in text, (user, path)
