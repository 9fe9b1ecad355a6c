"""The embedded AWS's journal (local/journal.py): moto's server, killed with SIGKILL, comes back with
every acknowledged write and the very same stream records, over a snapshot or without one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.aws import free_port
from local.journal import Journal, read_segment
from tests.conftest import ROOT

pytestmark = pytest.mark.stack

TABLE = "journaled"


def test_a_torn_frame_at_the_end_is_cut_and_the_records_before_it_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open_segment(1)
    for n in range(3):
        journal.wait_durable(journal.append(("checkpoints", {"t": str(n)})))
    journal.close()
    path = journal.segment_path(1)
    whole = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(b"\x00\x00\x01\x00garbage")  # a frame whose write never finished
    assert [r[1]["t"] for r in read_segment(path)] == ["0", "1", "2"]
    assert path.stat().st_size == whole


class Server:
    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "local.motoserver", str(self.port), str(state)], cwd=ROOT,
                                     stdin=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "moto's server did not start"
                time.sleep(0.05)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.endpoint + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def records(self, after: str | None = None) -> list[dict[str, Any]]:
        streams = self.client("dynamodbstreams")
        arn = self.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after else \
            {"ShardIteratorType": "TRIM_HORIZON"}
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **where)["ShardIterator"]
        found: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        return found

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _put(server: Server, n: int) -> None:
    server.client("dynamodb").put_item(TableName=TABLE, Item={"k": {"S": f"L{n}"}, "n": {"N": str(n)}},
                                       ConditionExpression="attribute_not_exists(k)")


def _shape(records: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    return [(r["eventID"], r["eventName"], r["dynamodb"]["SequenceNumber"],
             r["dynamodb"]["ApproximateCreationDateTime"].timestamp()) for r in records]


def test_a_killed_server_comes_back_with_every_write_and_the_same_stream_records(tmp_path: Path) -> None:
    server = Server(tmp_path)
    try:
        server.client("dynamodb").create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        for n in range(5):
            _put(server, n)
        before = server.records()
        server.post("/_journal/checkpoints", {TABLE: before[2]["dynamodb"]["SequenceNumber"]})
        assert server.post("/_journal/snapshot", {})["segment"] >= 2  # the state so far, stream trimmed
        for n in range(5, 8):
            _put(server, n)
        before = server.records()
    finally:
        server.kill()
    again = Server(tmp_path)
    try:
        checkpoint = again.post("/_journal/checkpoints", {})[TABLE]
        assert checkpoint == before[2]["dynamodb"]["SequenceNumber"]
        after = again.records(after=checkpoint)
        # the records not yet processed are all there, numbered, named and dated as before
        assert _shape(after) == _shape(before[3:])
        items = again.client("dynamodb").scan(TableName=TABLE)["Items"]
        assert sorted(int(i["n"]["N"]) for i in items) == list(range(8))
        _put(again, 8)  # numbering goes on where it was
        assert int(again.records(after=after[-1]["dynamodb"]["SequenceNumber"])[0]["dynamodb"]["SequenceNumber"]) == \
            int(after[-1]["dynamodb"]["SequenceNumber"]) + 1
    finally:
        again.kill()


def test_a_message_deleted_before_the_crash_is_not_delivered_again(tmp_path: Path) -> None:
    """Receipt handles are made up at random by each receive (not journaled): the replay deletes the
    message the delete named, not whatever its handle would name now."""
    server = Server(tmp_path)
    try:
        sqs = server.client("sqs")
        queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        for body in ("handled", "waiting"):
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        handled = next(m for m in got if m["Body"] == "handled")
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=handled["ReceiptHandle"])
    finally:
        server.kill()
    again = Server(tmp_path)
    try:
        sqs = again.client("sqs")
        queue = sqs.get_queue_url(QueueName="notifications")["QueueUrl"]
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                          WaitTimeSeconds=1).get("Messages", [])]
        assert bodies == ["waiting"]
    finally:
        again.kill()
