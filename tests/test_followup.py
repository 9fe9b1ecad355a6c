"""Activities, status changes with optimistic locking, and the inbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import body_of, call, capture, deliver, lead, leads_stream

pytestmark = pytest.mark.moto


def owned_lead(client: Any, rep: str = "sh_rep1", phone: str = "13816204573") -> str:
    lead_id = str(body_of(call(client, "POST", "/leads", rep, {"phone": phone, "name": "钱多多"}))["lead_id"])
    deliver(client, leads_stream())
    return lead_id


def test_owner_activity_counts_as_contact(client: Any) -> None:
    lead_id = owned_lead(client)
    note = call(client, "POST", f"/leads/{lead_id}/activities", "sh_lead", {"type": "note", "content": "优质客户"})
    assert note.status_code == 200 and body_of(note)["counts_as_contact"] is False
    assert lead(client, lead_id)["status"] == "assigned" and "first_contact_at" not in lead(client, lead_id)
    response = call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1",
                    {"type": "call", "outcome": "接通", "content": "客户需要 50 万经营贷", "duration_s": 180,
                     "next_step": "周五发送资料"})
    assert response.status_code == 200 and body_of(response)["counts_as_contact"] is True
    item = lead(client, lead_id)
    assert item["status"] == "contacted" and item["first_contact_at"] == item["last_activity_at"]
    call_event = next(e for e in item["history"] if e.get("activity_type") == "call")
    assert (call_event["outcome"], call_event["duration_s"], call_event["actor"]) == ("接通", 180, "sh_rep1")
    assert any(e.get("to_status") == "contacted" for e in item["history"])
    assert call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep2", {"type": "call"}).status_code == 404
    assert call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1", {"type": "fax"}).status_code == 422
    assert call(client, "POST", f"/leads/{lead_id}/activities", "sh_rep1",
                {"type": "call", "duration_s": -5}).status_code == 422


def test_status_changes_follow_the_lifecycle_with_locking(client: Any) -> None:
    lead_id = owned_lead(client)
    version = lead(client, lead_id)["version"]
    ok = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1", {"status": "intent", "version": version})
    assert ok.status_code == 200
    stale = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1", {"status": "qualifying", "version": version})
    assert stale.status_code == 409 and body_of(stale)["error"]["code"] == "STALE_VERSION"
    assert body_of(stale)["error"]["fields"]["version"] == str(version + 1)
    version += 1
    no_amount = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1", {"status": "won", "version": version})
    assert no_amount.status_code == 422 and {"won_amount", "won_date"} <= set(body_of(no_amount)["error"]["fields"])
    assert lead(client, lead_id)["status"] == "intent"
    won = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
               {"status": "won", "version": version, "won_amount": 50, "won_date": "2026-11-28"})
    assert won.status_code == 200
    item = lead(client, lead_id)
    assert (item["status"], item["won_amount"], item["won_date"]) == ("won", 50, "2026-11-28")
    back = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1", {"status": "lost", "version": version + 1,
                                                                          "reason": "x"})
    assert back.status_code == 409 and body_of(back)["error"]["code"] == "ILLEGAL_TRANSITION"
    to_pool = call(client, "POST", f"/leads/{lead_id}/status", "sh_lead", {"status": "pool", "version": version + 1})
    assert to_pool.status_code == 422
    assert lead(client, lead_id)["status"] == "won"
    history = [(e["from_status"], e["to_status"], e["actor"]) for e in item["history"] if e["kind"] == "status"]
    assert ("intent", "won", "sh_rep1") in history and ("assigned", "intent", "sh_rep1") in history


def test_lost_needs_a_reason_and_frees_the_phone(client: Any) -> None:
    lead_id = owned_lead(client)
    version = lead(client, lead_id)["version"]
    assert call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
                {"status": "lost", "version": version}).status_code == 422
    assert call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
                {"status": "lost", "version": version, "reason": "已在他行办理"}).status_code == 200
    deliver(client, leads_stream())
    again = capture(client, "13816204573")
    deliver(client, leads_stream())
    assert lead(client, again)["previous_leads"] == [lead_id]


def test_the_lead_page_offers_only_the_statuses_the_api_sets_by_hand(client: Any) -> None:
    """变更状态 offers what the lead may be set to by hand, from the server (it offered 公海 from every
    working, lost or invalid lead, which the API refuses: the pool and assignment are moves of their
    own); each one offered is accepted."""
    lead_id = owned_lead(client)
    item = body_of(call(client, "GET", f"/leads/{lead_id}", "sh_rep1"))
    assert item["status"] == "assigned"
    assert item["statuses"] == ["contacted", "observing", "intent", "qualifying", "lost", "invalid"]
    lost = call(client, "POST", f"/leads/{lead_id}/status", "sh_rep1",
                {"status": "lost", "version": item["version"], "reason": "已在他行办理"})
    assert lost.status_code == 200
    assert body_of(call(client, "GET", f"/leads/{lead_id}", "sh_rep1"))["statuses"] == []  # lost: nothing by hand
    pooled = capture(client, "13917326685", city="成都", loan_type="car")
    deliver(client, leads_stream())
    view = body_of(call(client, "GET", f"/leads/{pooled}", "admin"))
    assert (view["status"], view["statuses"]) == ("pool", ["invalid"])
    assert call(client, "POST", f"/leads/{pooled}/status", "admin",
                {"status": "invalid", "version": view["version"], "reason": "空号"}).status_code == 200


def test_inbox_lists_counts_and_marks_read(client: Any) -> None:
    owned_lead(client)
    for source in ("wechat", "douyin"):
        capture(client, "13816204573", source=source)
    deliver(client, leads_stream())
    box = body_of(call(client, "GET", "/inbox", "sh_rep1"))
    assert box["unread"] == 2 and len(box["items"]) == 2 and not any(i["read"] for i in box["items"])
    marked = body_of(call(client, "POST", "/inbox/read", "sh_rep1", {"ids": [box["items"][0]["id"], "bogus"]}))
    assert marked == {"marked": 1, "unread": 1}
    assert [i["id"] for i in body_of(call(client, "GET", "/inbox?unread=1", "sh_rep1"))["items"]] == \
           [box["items"][1]["id"]]
    assert body_of(call(client, "GET", "/inbox", "sh_rep2"))["unread"] == 0  # nobody reads another's inbox
    assert call(client, "POST", "/inbox/read", "sh_rep2", {"ids": []}).status_code == 422
