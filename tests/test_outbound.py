"""Domain events on the EventBridge bus and the team robot webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest

from tests.helpers import assigned_lead, body_of, call, deliver, later, leads_stream, tick

pytestmark = pytest.mark.moto


def bus_queue() -> str:
    import os

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    bus = os.environ["EVENT_BUS"]
    events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["loanleads"]}))
    events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def drained(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    out = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def test_lifecycle_events_reach_the_bus_without_personal_data(client: Any) -> None:
    url = bus_queue()
    lead_id, t = assigned_lead(client)
    deliver(client, leads_stream())
    tick(client, later(t, hours=2, minutes=5))
    tick(client, later(t, hours=24, minutes=5))
    events = drained(url)
    kinds = [e["detail-type"] for e in events]
    for kind in ("lead.captured", "lead.assigned", "lead.status_changed", "task.due", "task.overdue",
                 "lead.reclaimed"):
        assert kind in kinds, kinds
    assert all(e["source"] == "loanleads" and e["detail"]["lead_id"] == lead_id for e in events)
    assert "13816204573" not in json.dumps(events) and "+86" not in json.dumps(events)


class Robot(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail = False

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(500 if type(self).fail else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_team_robot_gets_reclaims_and_failures_never_block_the_sweep(client: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), Robot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/robot"
    try:
        assert call(client, "PUT", "/teams/sh_mortgage/webhook", "gz_lead", {"url": hook}).status_code == 404
        assert call(client, "PUT", "/teams/sh_mortgage/webhook", "sh_lead",
                    {"url": "ftp://example.com/x"}).status_code == 422
        assert call(client, "PUT", "/teams/sh_mortgage/webhook", "sh_lead", {"url": hook}).status_code == 200
        _, t = assigned_lead(client)
        result = tick(client, later(t, hours=24, minutes=5))
        assert result["reclaimed"] == 1
        texts = [m["markdown"]["content"] for m in Robot.received]
        assert any("收回公海" in text for text in texts)
        Robot.fail, Robot.received = True, []
        deliver(client, leads_stream())
        _, t2 = assigned_lead(client, "sh_rep2", "13917326685")
        result = tick(client, later(t2, hours=24, minutes=5))
        assert result["reclaimed"] == 1  # the robot failed three times; the sweep did its work regardless
        assert len(Robot.received) >= 3
    finally:
        server.shutdown()
        Robot.fail, Robot.received = False, []
    assert body_of(call(client, "PUT", "/teams/sh_mortgage/webhook", "admin", {"url": None}))["webhook_url"] is None
