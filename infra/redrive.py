"""List and redrive what the stage's functions gave up on, with the operator's AWS credentials:

    python -m infra.redrive <stage> list [--queue async|stream] [--max N]
    python -m infra.redrive <stage> redrive [--queue async|stream] [--max N]
    make redrive STAGE=<stage> [QUEUE=stream] [GO=1]       (list, or redrive with GO=1)

Two queues hold Lambda's on-failure records (docs/operations.md says when to use which):
- `<app>-<stage>-async-failures`: an event the importer or a sweep failed on after Lambda's two
  retries (or older than 6 h). The record holds the event itself (`requestPayload`) and the error
  (`responsePayload`): a redrive invokes the same function with the same event, asynchronously,
  and deletes the record once Lambda accepted it. The queue is also the rules' dead-letter queue:
  an event EventBridge could not deliver at all is the message body, its target in `TARGET_ARN`.
  Every consumer is idempotent (import jobs are keyed on the object, sweeps on the event time), so
  redriving twice changes nothing more.
- `<app>-<stage>-stream-failures`: a batch of lead stream records given up after 5 retries or
  6 h. The record names the shard and sequence range only (`DDBStreamBatchInfo`): a redrive reads
  those records from the stream again (DynamoDB keeps them 24 h), hands them to the stream function
  synchronously, and deletes the record when none of them failed. Then run
  `python -m infra.ops <stage> aggregates` (see docs/operations.md): the dashboard counters skip
  records that were given up.

A record that fails again stays in its queue (it becomes visible again after the visibility timeout)
and is reported; nothing is deleted unless its redrive succeeded.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

QUEUES = {"async": "async-failures", "stream": "stream-failures"}
VISIBILITY_S = 120  # a record being redriven is hidden from a second operator meanwhile


@dataclass
class Failure:
    """One on-failure record, as Lambda wrote it."""

    receipt: str
    function: str  # the function's name (from its ARN)
    function_arn: str
    condition: str  # RetriesExhausted, EventAgeExceeded, RetryAttemptsExhausted, RecordAgeExceeded...
    at: str
    error: str = ""
    event: dict[str, Any] | None = None  # async: the event to deliver again
    batch: dict[str, Any] = field(default_factory=dict)  # stream: DDBStreamBatchInfo

    def summary(self) -> str:
        what = ""
        if self.event is not None:
            detail = self.event.get("detail") or {}
            key = (detail.get("object") or {}).get("key")
            what = f"{self.event.get('detail-type', '?')} {self.event.get('time', '')}" + (f" {key}" if key else "")
        elif self.batch:
            what = (f"{self.batch.get('batchSize', '?')} records {self.batch.get('shardId', '?')} "
                    f"{self.batch.get('startSequenceNumber')}..{self.batch.get('endSequenceNumber')}")
        return f"{self.at}  {self.function}  {self.condition}  {what}  {self.error}".rstrip()


def function_name(arn: str) -> str:
    """`arn:aws:lambda:r:a:function:loanleads-dev-import_object:$LATEST` → `loanleads-dev-import_object`."""
    return arn.split(":function:", 1)[-1].split(":", 1)[0]


def parse(receipt: str, body: str, attributes: dict[str, Any] | None = None) -> Failure:
    record: dict[str, Any] = json.loads(body)
    attributes = attributes or {}
    if "requestContext" not in record and "TARGET_ARN" in attributes:
        # A rule target's dead letter: EventBridge could not invoke the function; the body is the event.
        def attribute(name: str) -> str:
            return str((attributes.get(name) or {}).get("StringValue", ""))

        target = attribute("TARGET_ARN")
        return Failure(receipt, function_name(target), target, attribute("ERROR_CODE") or "Undelivered",
                       str(record.get("time", "")), attribute("ERROR_MESSAGE"), record)
    context = record.get("requestContext") or {}
    arn = str(context.get("functionArn", ""))
    response = record.get("responsePayload") or {}
    error = f"{response.get('errorType', '')}: {response.get('errorMessage', '')}" if isinstance(response, dict) \
        and response.get("errorMessage") else str((record.get("responseContext") or {}).get("functionError", ""))
    return Failure(receipt, function_name(arn), arn, str(context.get("condition", "")),
                   str(record.get("timestamp", "")), error, record.get("requestPayload"),
                   record.get("DDBStreamBatchInfo") or {})


def receive(sqs: Any, url: str, limit: int, visibility_s: int) -> list[Failure]:
    out: list[Failure] = []
    while len(out) < limit:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(out)),
                                       VisibilityTimeout=visibility_s, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        out += [parse(m["ReceiptHandle"], m["Body"], m.get("MessageAttributes")) for m in messages]
    return out


def list_failures(sqs: Any, url: str, limit: int = 100) -> list[Failure]:
    """The queue's records (up to `limit`), left in the queue: visible again at once."""
    found = receive(sqs, url, limit, VISIBILITY_S)
    for failure in found:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=failure.receipt, VisibilityTimeout=0)
    return found


Invoke = Callable[[str, dict[str, Any]], None]
InvokeSync = Callable[[str, dict[str, Any]], dict[str, Any]]


def redrive_async(sqs: Any, url: str, invoke: Invoke, limit: int = 100) -> dict[str, Any]:
    """Deliver each failed event again to its function; delete the record once that was accepted."""
    done, failed = 0, []
    for failure in receive(sqs, url, limit, VISIBILITY_S):
        if failure.event is None:
            failed.append(f"{failure.function}: no event in the record (not an async on-failure record)")
            continue
        try:
            invoke(failure.function_arn, failure.event)
        except Exception as exc:  # noqa: BLE001 - reported, the record stays
            failed.append(f"{failure.summary()} → {exc}")
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=failure.receipt)
        done += 1
    return {"redriven": done, "failed": failed}


def stream_records(streams: Any, batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's records, read again from the stream (Lambda's record shape)."""
    from local.streams import lambda_record

    arn, first, last = batch["streamArn"], batch["startSequenceNumber"], int(batch["endSequenceNumber"])
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=batch["shardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=first)["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=100)
        chunk = [r for r in page["Records"] if int(r["dynamodb"]["SequenceNumber"]) <= last]
        records += [lambda_record(r, arn) for r in chunk]
        if len(chunk) < len(page["Records"]) or not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return records


def redrive_stream(sqs: Any, url: str, streams: Any, invoke_sync: InvokeSync, limit: int = 100) -> dict[str, Any]:
    """Hand each given-up batch to the stream function again; delete its record when none failed."""
    done, failed = 0, []
    for failure in receive(sqs, url, limit, VISIBILITY_S):
        try:
            records = stream_records(streams, failure.batch)
            if not records:
                raise RuntimeError("the records are no longer in the stream (kept 24 h): see docs/operations.md")
            answer = invoke_sync(failure.function_arn, {"Records": records})
            if answer.get("batchItemFailures"):
                raise RuntimeError(f"{len(answer['batchItemFailures'])} records failed again")
        except Exception as exc:  # noqa: BLE001 - reported, the record stays
            failed.append(f"{failure.summary()} → {exc}")
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=failure.receipt)
        done += 1
    return {"redriven": done, "failed": failed}


def lambda_invoker(client: Any) -> tuple[Invoke, InvokeSync]:  # pragma: no cover - needs an AWS account
    def invoke(arn: str, event: dict[str, Any]) -> None:
        client.invoke(FunctionName=arn, InvocationType="Event", Payload=json.dumps(event).encode())

    def invoke_sync(arn: str, event: dict[str, Any]) -> dict[str, Any]:
        response = client.invoke(FunctionName=arn, InvocationType="RequestResponse",
                                 Payload=json.dumps(event).encode())
        payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise RuntimeError(payload.get("errorMessage", "function error"))
        return payload

    return invoke, invoke_sync


def queue_url(sqs: Any, stage: str, queue: str) -> str:
    from infra.package import merge_template

    app = merge_template(stage)["Parameters"]["AppName"]["Default"]
    url: str = sqs.get_queue_url(QueueName=f"{app}-{stage}-{QUEUES[queue]}")["QueueUrl"]
    return url


def main() -> None:  # pragma: no cover - needs an AWS account
    import boto3

    from infra.package import stages

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(stages()))
    parser.add_argument("command", choices=["list", "redrive"])
    parser.add_argument("--queue", choices=sorted(QUEUES), default="async")
    parser.add_argument("--max", type=int, default=100)
    args = parser.parse_args()
    region = stages()[args.stage]["region"]
    sqs = boto3.client("sqs", region_name=region)
    url = queue_url(sqs, args.stage, args.queue)
    if args.command == "list":
        found = list_failures(sqs, url, args.max)
        for failure in found:
            print(failure.summary())
        print(f"{len(found)} record(s) in {url}")
        return
    invoke, invoke_sync = lambda_invoker(boto3.client("lambda", region_name=region))
    if args.queue == "async":
        result = redrive_async(sqs, url, invoke, args.max)
    else:
        result = redrive_stream(sqs, url, boto3.client("dynamodbstreams", region_name=region), invoke_sync, args.max)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if result["failed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
