"""Every sample in events/ goes through its real handler, the way Lambda would deliver it."""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.moto

EVENTS = ROOT / "events"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


@dataclass
class FakeLambdaContext:
    function_name: str = "api_handler"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:loan-leads-local-api_handler"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def leads_table() -> str:
    from chalicelib.store.schema import LeadModel

    name: str = LeadModel.Meta.table_name
    return name


def stored_lead(lead_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=leads_table(), Key={"lead_id": {"S": lead_id}}, ConsistentRead=True)["Item"]
    return item


def history(lead_id: str) -> list[dict[str, Any]]:
    """The lead's history as its page shows it (the entry of its move out of `new` rebuilt from the
    lead where that move wrote none, the others items of their own)."""
    from chalicelib.services.history import of_lead
    from chalicelib.store import leads

    return list(of_lead(leads.get(lead_id, consistent=True) or {"lead_id": lead_id}, limit=500))  # type: ignore[arg-type]


def put_images(event: dict[str, Any]) -> None:
    """What the table holds when the stream delivers these records (the write came first)."""
    ddb = boto3.client("dynamodb")
    for record in event["Records"]:
        ddb.put_item(TableName=leads_table(), Item=record["dynamodb"]["NewImage"])


def invoke(client: Any, function: str, event: dict[str, Any]) -> Any:
    return client.lambda_.invoke(function, event).payload


# -- API Gateway ---------------------------------------------------------------------------------

def call_api(event: dict[str, Any]) -> dict[str, Any]:
    import app

    response: dict[str, Any] = app.app(event, FakeLambdaContext())
    return response


def test_json_capture_sample_is_accepted(client: Any) -> None:
    event = sample("apigw_capture_json.json")
    response = call_api(event)
    assert response["statusCode"] == 202, response
    assert response["headers"]["Access-Control-Allow-Origin"] == event["headers"]["Origin"]
    body = json.loads(response["body"])
    assert body["status"] == "received"
    # Numbered by the day of requestTimeEpoch, not the clock. The sequence itself is not asserted:
    # the allocator keeps its reserved block per process, across tests' fresh tables.
    assert re.fullmatch(r"L20240520\d{3,}", body["lead_id"])


def test_form_capture_sample_is_accepted(client: Any) -> None:
    response = call_api(sample("apigw_capture_form.json"))
    assert response["statusCode"] == 202, response
    assert re.fullmatch(r"L20240520\d{3,}", json.loads(response["body"])["lead_id"])


def test_insert_sample_is_exactly_what_capture_writes(client: Any) -> None:
    # Keeps the stream sample honest: if the stored lead shape changes, this sample must follow.
    lead_id = json.loads(call_api(sample("apigw_capture_json.json"))["body"])["lead_id"]
    new_image = sample("dynamodb_stream_insert.json")["Records"][0]["dynamodb"]["NewImage"]
    assert stored_lead(lead_id) == {**new_image, "lead_id": {"S": lead_id}}


# -- DynamoDB stream -----------------------------------------------------------------------------

def _placements(client: Any) -> None:
    """The table's own stream, delivered: the placements' records write the routing history entries."""
    from tests.helpers import deliver, leads_stream

    assert deliver(client, leads_stream()) == {"batchItemFailures": []}


def test_insert_sample_places_the_lead_once(client: Any) -> None:
    event = sample("dynamodb_stream_insert.json")
    lead_id = event["Records"][0]["dynamodb"]["Keys"]["lead_id"]["S"]
    put_images(event)
    assert invoke(client, "lead_stream", event) == {"batchItemFailures": []}
    placed = stored_lead(lead_id)
    assert placed["status"] == {"S": "assigned"}  # a Shanghai mortgage lead: demo rule r1 → sh_mortgage
    assert placed["team"] == {"S": "sh_mortgage"} and placed["owner"]["S"].startswith("sh_rep")
    _placements(client)
    assert len(history(lead_id)) == 1

    # At-least-once delivery: the same record again changes nothing.
    assert invoke(client, "lead_stream", event) == {"batchItemFailures": []}
    assert stored_lead(lead_id) == placed
    assert len(history(lead_id)) == 1


def test_modify_sample_changes_nothing(client: Any) -> None:
    event = sample("dynamodb_stream_modify.json")
    lead_id = event["Records"][0]["dynamodb"]["Keys"]["lead_id"]["S"]
    put_images(event)
    before = stored_lead(lead_id)
    assert invoke(client, "lead_stream", event) == {"batchItemFailures": []}
    assert stored_lead(lead_id) == before
    assert history(lead_id) == []


def _insert_record(base: dict[str, Any], n: int) -> dict[str, Any]:
    record = copy.deepcopy(base)
    lead_id = f"L2024052000{n}"
    record["eventID"] = f"{base['eventID'][:-1]}{n}"
    record["dynamodb"]["SequenceNumber"] = f"{int(base['dynamodb']['SequenceNumber']) + n}"
    record["dynamodb"]["Keys"]["lead_id"]["S"] = lead_id
    record["dynamodb"]["NewImage"]["lead_id"]["S"] = lead_id
    record["dynamodb"]["NewImage"]["phone"]["S"] = f"+861381234567{n}"
    return record


def test_poison_record_fails_alone_and_its_neighbours_are_placed(client: Any) -> None:
    base = sample("dynamodb_stream_insert.json")["Records"][0]
    first, poison, last = (_insert_record(base, n) for n in (1, 2, 3))
    del poison["dynamodb"]["NewImage"]["lead_id"]
    put_images({"Records": [first, last]})

    result = invoke(client, "lead_stream", {"Records": [first, poison, last]})

    assert result == {"batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]}
    _placements(client)
    for record in (first, last):
        lead_id = record["dynamodb"]["Keys"]["lead_id"]["S"]
        assert stored_lead(lead_id)["status"] == {"S": "assigned"}
        assert len(history(lead_id)) == 1


# -- S3 via EventBridge, and the schedule --------------------------------------------------------

def test_s3_object_created_sample_reaches_the_importer(client: Any) -> None:
    event = sample("s3_object_created_eventbridge.json")
    key = event["detail"]["object"]["key"]
    put = boto3.client("s3").put_object(Bucket=event["detail"]["bucket"]["name"], Key=key,
                                        Body="客户姓名,联系方式\n张三,13816204573\n".encode())
    event["detail"]["object"]["etag"] = put["ETag"].strip('"')
    result = invoke(client, "import_object", event)
    assert result["status"] == "done"
    assert invoke(client, "import_object", event)["skipped"]  # delivered twice: imported once


def test_schedule_sample_runs_the_sweep_at_the_event_time(client: Any) -> None:
    event = sample("schedule.json")
    assert invoke(client, "sla_sweep", event)["time"] == event["time"] == "2024-05-20T02:00:00Z"
