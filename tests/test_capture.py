"""Capture from every channel (handler level, in-process moto): the contract of SPEC.md."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.helpers import FORM, GOOD, JSON, auth, body_of, lead_count

pytestmark = pytest.mark.moto


def post(client: Any, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return client.http.post("/capture", headers={**JSON, **(headers or {})}, body=raw)


def test_json_capture_answers_202_and_stores_a_new_lead(client: Any) -> None:
    response = post(client, GOOD)
    assert response.status_code == 202
    data = body_of(response)
    assert data["status"] == "received"
    assert data["lead_id"].startswith("L") and len(data["lead_id"]) >= 12
    lead = body_of(client.http.get(f"/leads/{data['lead_id']}", headers=auth("admin")))
    assert lead["status"] == "new"
    assert lead["phone"] == "138****4573" and lead["phone_masked"] is True  # admin is not the owner
    assert lead["source"] == "website_form" and lead["channel"] == "public"
    assert lead["consent"]["granted"] is True and lead["consent"]["text_version"]
    assert lead["labels"]["loan_type"] == "个人信用贷"


def test_form_encoded_capture(client: Any) -> None:
    form = urlencode({"name": "李四", "phone": "１３９１７３２６６８５", "consent": "on", "source": "loan_calculator",
                      "amount": "50"})
    response = client.http.post("/capture", headers=FORM, body=form)
    assert response.status_code == 202, response.body
    lead = body_of(client.http.get(f"/leads/{body_of(response)['lead_id']}", headers=auth("admin")))
    assert lead["source"] == "loan_calculator" and lead["amount"] == 50


def test_form_redirect_to_allow_listed_url(client: Any) -> None:
    form = urlencode({**{k: str(v) for k, v in GOOD.items()}, "consent": "true",
                      "redirect_to": "https://www.example-lender.cn/thanks"})
    response = client.http.post("/capture", headers=FORM, body=form)
    assert response.status_code == 303
    assert response.headers["Location"] == "https://www.example-lender.cn/thanks"
    bad = client.http.post("/capture", headers=FORM, body=form.replace("example-lender", "evil"))
    assert bad.status_code == 422 and "redirect_to" in body_of(bad)["error"]["fields"]


def test_same_idempotency_key_gives_same_lead_and_one_item(client: Any) -> None:
    first = body_of(post(client, GOOD, {"Idempotency-Key": "form-42"}))
    again = post(client, GOOD, {"Idempotency-Key": "form-42"})
    assert again.status_code == 202 and body_of(again)["lead_id"] == first["lead_id"]
    assert lead_count() == 1
    other = post(client, {**GOOD, "name": "王五"}, {"Idempotency-Key": "form-42"})
    assert other.status_code == 409 and body_of(other)["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert lead_count() == 1


def test_a_retry_writes_the_lead_a_failed_first_request_claimed_but_never_wrote(client: Any) -> None:
    """The key is claimed before the lead is written (two writes, no transaction): when the first
    request fails between the two, its retry writes the lead under the claimed number, once."""
    from chalicelib.store.schema import LeadModel

    first = body_of(post(client, GOOD, {"Idempotency-Key": "form-43"}))["lead_id"]
    LeadModel(first).delete()  # as if the first request had stopped right after its claim
    again = post(client, GOOD, {"Idempotency-Key": "form-43"})
    assert again.status_code == 202 and body_of(again)["lead_id"] == first
    assert lead_count() == 1 and LeadModel.get(first).idempotency_key
    assert body_of(post(client, GOOD, {"Idempotency-Key": "form-43"}))["lead_id"] == first
    assert lead_count() == 1


def test_lead_numbers_are_unique_and_dated(client: Any) -> None:
    ids = [body_of(post(client, {**GOOD, "phone": f"1381234{n:04d}"}))["lead_id"] for n in range(20)]
    assert len(set(ids)) == 20
    assert all(i[1:9].isdigit() and len(i) >= 12 for i in ids)


BAD_CASES = [
    ("consent missing", {k: v for k, v in GOOD.items() if k != "consent"}, 422, "consent"),
    ("consent false", {**GOOD, "consent": False}, 422, "consent"),
    ("phone 12345", {**GOOD, "phone": "12345"}, 422, "phone"),
    ("unknown field", {**GOOD, "favourite_colour": "red"}, 422, "favourite_colour"),
    ("system field", {**GOOD, "status": "won"}, 422, "status"),
    ("owner field", {**GOOD, "owner": "sh_rep1"}, 422, "owner"),
    ("wrong type", {**GOOD, "amount": "很多"}, 422, "amount"),
    ("wrong type list", {**GOOD, "name": ["a"]}, 422, "name"),
    ("negative amount", {**GOOD, "amount": -1}, 422, "amount"),
    ("amount over bound", {**GOOD, "amount": 100001}, 422, "amount"),
    ("unknown option", {**GOOD, "loan_type": "yacht"}, 422, "loan_type"),
    ("channel source", {**GOOD, "source": "partner"}, 422, "source"),
    ("foreign phone", {**GOOD, "phone": "+12025550143"}, 422, "phone"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_refused_with_chinese_field_errors(client: Any, case: str, body: Any, status: int,
                                                        field: str) -> None:
    response = post(client, body)
    assert response.status_code == status
    error = body_of(response)["error"]
    assert set(error) == {"code", "message", "fields"}
    assert field in error["fields"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"] + error["fields"][field])
    assert lead_count() == 0


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    ("x" * (70 * 1024), JSON, 413, "PAYLOAD_TOO_LARGE"),
    ("garbage{", JSON, 400, "INVALID_JSON"),
    ("[1, 2]", JSON, 400, "INVALID_JSON"),
    ("<lead/>", {"Content-Type": "application/xml"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("a=b", {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
])
def test_malformed_requests(client: Any, body: str, headers: dict[str, str], status: int, code: str) -> None:
    response = client.http.post("/capture", headers=headers, body=body)
    assert response.status_code == status
    error = body_of(response)["error"]
    assert error["code"] == code and error["message"] and isinstance(error["fields"], dict)
    assert lead_count() == 0


def test_honeypot_is_accepted_quietly_and_invalidated_by_the_stream(client: Any) -> None:
    from tests.test_stream import deliver, leads_stream

    response = post(client, {**GOOD, "website": "http://spam.example"})
    assert response.status_code == 202  # a bot learns nothing
    lead_id = body_of(response)["lead_id"]
    deliver(client, leads_stream())
    lead = body_of(client.http.get(f"/leads/{lead_id}", headers=auth("admin")))
    assert lead["status"] == "invalid"
    assert lead["invalid_reasons"] == ["命中蜜罐字段（疑似机器人提交）"]


def test_cors_allow_list(client: Any) -> None:
    allowed = post(client, GOOD, {"Origin": "https://www.example-lender.cn"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://www.example-lender.cn"
    other = post(client, {**GOOD, "phone": "13917326685"}, {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.http.request("OPTIONS", "/capture", headers={"Origin": "https://www.example-lender.cn"})
    assert preflight.status_code == 204
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]


def test_bad_idempotency_key(client: Any) -> None:
    response = post(client, GOOD, {"Idempotency-Key": "键"})
    assert response.status_code == 400
    assert lead_count() == 0
