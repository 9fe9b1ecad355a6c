"""The ops command for what the functions gave up on (`python -m infra.redrive`): Lambda's
on-failure records (events/lambda_*_failure_*.json) listed, and redriven through the real handlers
(in-process here, where there is no Lambda service), deleted only when the redrive succeeded."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from tests.helpers import auth
from tests.test_events import FakeLambdaContext, sample
from tests.test_real_events import CSV, import_jobs

pytestmark = pytest.mark.moto

BUCKET = "loanleads-local-imports"


def _queue(name: str) -> str:
    sqs = boto3.client("sqs")
    sqs.create_queue(QueueName=f"loanleads-dev-{name}")
    from infra.redrive import queue_url

    return queue_url(sqs, "dev", "async" if name == "async-failures" else "stream")


def _in_process(arn: str, event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda would run for the ARN: the app's handler of that name (`loanleads-dev-<name>`)."""
    import app
    from infra.redrive import function_name

    result: dict[str, Any] = app.app.handler_map[function_name(arn).split("-dev-", 1)[1]](event, FakeLambdaContext())
    return result


def _depth(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def test_failed_import_event_is_listed_then_redriven_once(client: Any) -> None:
    from infra.redrive import list_failures, redrive_async

    url = _queue("async-failures")
    record = sample("lambda_async_failure_import.json")
    event = record["requestPayload"]
    stored = unquote_plus(event["detail"]["object"]["key"])
    event["detail"]["object"]["etag"] = boto3.client("s3").put_object(
        Bucket=BUCKET, Key=stored, Body=CSV)["ETag"].strip('"')
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(record, ensure_ascii=False))

    [listed] = list_failures(boto3.client("sqs"), url)
    assert listed.function == "loanleads-dev-import_object" and listed.condition == "RetriesExhausted"
    assert "NoSuchKey" in listed.error and event["detail"]["object"]["key"] in listed.summary()
    assert _depth(url) == 1 and list_failures(boto3.client("sqs"), url)  # listing leaves it there, visible

    result = redrive_async(boto3.client("sqs"), url, lambda arn, e: _in_process(arn, e) and None)

    assert result == {"redriven": 1, "failed": []}
    assert _depth(url) == 0
    [job] = import_jobs()
    assert job["status"] == {"S": "done"} and job["counts"]["M"]["imported"] == {"N": "2"}


def test_a_redrive_that_fails_again_keeps_the_record(client: Any) -> None:
    from infra.redrive import redrive_async

    url = _queue("async-failures")
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(sample("lambda_async_failure_import.json")))

    def refuse(arn: str, event: dict[str, Any]) -> None:
        raise RuntimeError("TooManyRequestsException")

    result = redrive_async(boto3.client("sqs"), url, refuse)
    assert result["redriven"] == 0 and "TooManyRequestsException" in result["failed"][0]
    assert _depth(url) == 1


def test_given_up_stream_batch_is_read_again_and_handled(client: Any) -> None:
    from infra.redrive import list_failures, redrive_stream
    from tests.test_stream import leads_stream

    response = client.http.post("/capture", body=json.dumps({"name": "张三", "phone": "13816204573", "consent": True,
                                                             "city": "上海", "loan_type": "mortgage"}),
                                headers={"Content-Type": "application/json"})
    lead_id = response.json_body["lead_id"]
    reader = leads_stream()
    [record] = reader.read()  # the INSERT Lambda gave up on
    url = _queue("stream-failures")
    failure = sample("lambda_stream_failure_batch.json")
    sequence = record["dynamodb"]["SequenceNumber"]
    failure["DDBStreamBatchInfo"].update(shardId=reader.shard_id, streamArn=reader.stream_arn,
                                         startSequenceNumber=sequence, endSequenceNumber=sequence)
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(failure))
    [listed] = list_failures(boto3.client("sqs"), url)
    assert listed.function == "loanleads-dev-lead_stream" and "1 records" in listed.summary()

    result = redrive_stream(boto3.client("sqs"), url, boto3.client("dynamodbstreams"), _in_process)

    assert result == {"redriven": 1, "failed": []} and _depth(url) == 0
    lead = client.http.get(f"/leads/{lead_id}", headers=auth("admin")).json_body
    assert lead["status"] == "assigned" and lead["team"] == "sh_mortgage"


@pytest.mark.parametrize("name", ["lambda_async_failure_import.json", "lambda_stream_failure_batch.json"])
def test_failure_record_samples_parse(name: str) -> None:
    from infra.redrive import parse

    failure = parse("r", json.dumps(sample(name)))
    assert failure.function.startswith("loanleads-dev-") and failure.condition.endswith("Exhausted")
    assert (failure.event is not None) != bool(failure.batch)


def test_event_the_rule_could_not_deliver_is_redriven_to_its_target(client: Any) -> None:
    from infra.redrive import list_failures, redrive_async

    url = _queue("async-failures")
    message = sample("eventbridge_dead_letter_schedule.json")  # as SQS holds it: the event, attributes
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(message["Body"]),
                                     MessageAttributes=message["MessageAttributes"])
    [listed] = list_failures(boto3.client("sqs"), url)
    assert listed.function == "loanleads-dev-sla_sweep" and listed.condition == "SDK_CLIENT_ERROR"
    ran: list[Any] = []

    result = redrive_async(boto3.client("sqs"), url, lambda arn, event: ran.append(_in_process(arn, event)))

    assert result == {"redriven": 1, "failed": []} and _depth(url) == 0
    assert ran[0]["time"] == message["Body"]["time"]  # the sweep ran at the missed tick's time
