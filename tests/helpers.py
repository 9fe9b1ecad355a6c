"""Helpers the test modules share: requests to the in-process app (`client`), the lead stream by
hand, the SOP clock, imports. Fixtures stay in conftest.py; a helper used by one module stays there."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3

from chalicelib.domain.timeutil import iso_utc, parse_iso
from local.streams import StreamReader, lambda_event
from tests.conftest import ROOT, TEST_STATE


def token(user: str) -> str:
    from local.devsigner import mint
    from local.seed import USERS

    return mint(user, USERS[user][1], TEST_STATE)


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# A Shanghai credit lead: valid, and no demo routing rule matches it, so it lands in the pool.
GOOD = {"name": "张三", "phone": "138 1620 4573", "consent": True, "loan_type": "credit", "city": "上海",
        "amount": 300}


def lead_count() -> int:
    from chalicelib.store.schema import LeadModel

    return int(boto3.client("dynamodb").scan(TableName=LeadModel.Meta.table_name, Select="COUNT")["Count"])


def body_of(response: Any) -> Any:
    return json.loads(response.body)


def capture(client: Any, phone: str, **fields: Any) -> str:
    body = {"phone": phone, "consent": True, **fields}
    response = client.http.post("/capture", headers=JSON, body=json.dumps(body, ensure_ascii=False))
    assert response.status_code == 202, response.body
    return str(body_of(response)["lead_id"])


def lead(client: Any, lead_id: str) -> dict[str, Any]:
    return dict(body_of(client.http.get(f"/leads/{lead_id}", headers=auth("admin"))))


def call(client: Any, method: str, path: str, user: str, body: Any = None) -> Any:
    return client.http.request(method, path, headers={**JSON, **auth(user)},
                               body=json.dumps(body, ensure_ascii=False) if body is not None else b"")


def phone(n: int) -> str:
    return f"139{(17326685 + n * 7919) % 100000000:08d}"


def leads_stream() -> StreamReader:
    from chalicelib.store.schema import LeadModel

    arn = boto3.client("dynamodb").describe_table(TableName=LeadModel.Meta.table_name)["Table"]["LatestStreamArn"]
    return StreamReader(boto3.client("dynamodbstreams"), arn)


def deliver(client: Any, reader: StreamReader) -> dict[str, Any]:
    records = reader.read()
    event = lambda_event(records, reader.stream_arn)
    if records:
        reader.advance(records[-1])
    result: dict[str, Any] = client.lambda_.invoke("lead_stream", event).payload
    return result


def later(at: str, **delta: float) -> str:
    return iso_utc(parse_iso(at) + timedelta(**delta)).replace(".000Z", "Z")


def tick(client: Any, at: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "schedule.json").read_text(encoding="utf-8"))
    event["time"] = at
    payload: dict[str, Any] = client.lambda_.invoke("sla_sweep", event).payload
    return payload


def assigned_lead(client: Any, rep: str = "sh_rep1", phone: str = "13816204573") -> tuple[str, str]:
    lead_id = str(body_of(call(client, "POST", "/leads", rep, {"phone": phone}))["lead_id"])
    reader = leads_stream()
    deliver(client, reader)  # INSERT: routed to its owner
    deliver(client, reader)  # MODIFY: the assignment creates 首次联系
    item = lead(client, lead_id)
    assert item["status"] == "assigned"
    return lead_id, str(item["assigned_at"])


def partner_post(client: Any, key: str | None, body: Any, extra: dict[str, str] | None = None) -> Any:
    headers = {**JSON, **({"X-Api-Key": key} if key else {}), **(extra or {})}
    return client.http.post("/partner/leads", headers=headers, body=json.dumps(body, ensure_ascii=False))
