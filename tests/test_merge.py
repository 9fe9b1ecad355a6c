"""Manual merge and unmerge of two leads the phone key missed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import JSON, auth, body_of, capture, deliver, lead, leads_stream

pytestmark = pytest.mark.moto

SKIP = {"version", "updated_at", "history", "merged_history", "tasks", "next_follow_up"}  # the last: from the tasks


def manual(client: Any, user: str, phone: str, name: str) -> str:
    response = client.http.post("/leads", headers={**JSON, **auth(user)},
                                body=json.dumps({"phone": phone, "name": name}, ensure_ascii=False))
    return str(body_of(response)["lead_id"])


def post(client: Any, user: str, path: str, body: dict[str, Any]) -> Any:
    return client.http.post(path, headers={**JSON, **auth(user)}, body=json.dumps(body, ensure_ascii=False))


def fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in SKIP}


def test_merge_then_unmerge_restores_both_exactly(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.store import placement

    checked: list[bool] = []  # whether each re-inquiry's merge checked the phone's item
    real = placement.mark_duplicate
    monkeypatch.setattr(placement, "mark_duplicate",
                        lambda *a, **k: checked.append(k["check_phone"]) or real(*a, **k))
    kept = manual(client, "sh_rep1", "13816204573", "周芷若")
    other = capture(client, "13917326685", name="周芷若", loan_type="car", city="上海")
    reader = leads_stream()
    deliver(client, reader)
    deliver(client, reader)  # the placements' records (history entries)
    before_kept, before_other = lead(client, kept), lead(client, other)

    response = post(client, "admin", f"/leads/{kept}/merge", {"source": other, "reason": "同一客户的两个号码"})
    assert response.status_code == 200, response.body
    merged_other, merged_kept = lead(client, other), lead(client, kept)
    assert merged_other["status"] == "duplicate" and merged_other["duplicate_of"] == kept
    assert merged_kept["merged_leads"] == [other]
    assert {e["lead_id"] for e in merged_kept["merged_history"]} == {other}  # both histories on the kept lead

    later = capture(client, "13917326685", source="wechat")  # the second number now leads to the kept lead
    deliver(client, leads_stream())
    assert lead(client, later)["duplicate_of"] == kept
    assert set(checked) == {True}  # a lead with leads merged into it by hand: an unmerge may move the claim back

    response = post(client, "sh_lead", f"/leads/{other}/unmerge", {"reason": "误合并"})
    assert response.status_code == 404  # the pooled lead is not in the supervisor's team
    response = post(client, "admin", f"/leads/{other}/unmerge", {"reason": "误合并"})
    assert response.status_code == 200, response.body
    after_kept, after_other = lead(client, kept), lead(client, other)
    assert fields(after_other) == fields(before_other)
    assert fields(after_kept) == fields(before_kept)  # the re-inquiry while merged only added an activity
    for before, after in ((before_kept, after_kept), (before_other, after_other)):
        kept_events = [(e["at"], e["kind"], e.get("to_status")) for e in after["history"]]
        assert all((e["at"], e["kind"], e.get("to_status")) in kept_events for e in before["history"])
        assert {e["kind"] for e in after["history"]} >= {"merge", "unmerge"}

    again = capture(client, "13917326685", source="douyin")  # and the number belongs to its own lead again
    deliver(client, leads_stream())
    assert lead(client, again)["duplicate_of"] == other
    assert checked[-1] is False  # a placed lead's own condition (still active) is enough


def test_merge_rules(client: Any) -> None:
    one = manual(client, "sh_rep1", "13816204573", "甲")
    two = manual(client, "sh_rep2", "13917326685", "乙")
    gz = manual(client, "gz_rep1", "13712876540", "丙")
    deliver(client, leads_stream())
    assert post(client, "sh_rep1", f"/leads/{one}/merge", {"source": two, "reason": "x"}).status_code == 403
    assert post(client, "sh_lead", f"/leads/{one}/merge", {"source": gz, "reason": "x"}).status_code == 404
    assert post(client, "sh_lead", f"/leads/{one}/merge", {"source": one, "reason": "x"}).status_code == 422
    assert post(client, "sh_lead", f"/leads/{one}/merge", {"source": two}).status_code == 422
    assert post(client, "sh_lead", f"/leads/{one}/unmerge", {"reason": "x"}).status_code == 409
    ok = post(client, "sh_lead", f"/leads/{one}/merge", {"source": two, "reason": "同一人"})
    assert ok.status_code == 200
    again = post(client, "sh_lead", f"/leads/{one}/merge", {"source": two, "reason": "同一人"})
    assert again.status_code == 409 and body_of(again)["error"]["code"] == "NOT_MERGEABLE"
