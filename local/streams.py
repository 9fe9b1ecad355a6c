"""DynamoDB stream records as Lambda receives them, read from moto (server or in-process)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def lambda_record(record: dict[str, Any], stream_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """moto's get_records output → the record shape of a Lambda DynamoDB stream event."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    dynamodb.setdefault("StreamViewType", "NEW_AND_OLD_IMAGES")
    dynamodb.setdefault("SizeBytes", 1)
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def lambda_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(r, stream_arn) for r in records]}


class StreamReader:
    """Reads one table's stream from a checkpoint (the last processed sequence number)."""

    def __init__(self, streams_client: Any, stream_arn: str, checkpoint: str | None = None) -> None:
        self.client = streams_client
        self.stream_arn = stream_arn
        self.checkpoint = checkpoint
        shards = streams_client.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        self.shard_id = shards[0]["ShardId"]

    def read(self, limit: int = 100) -> list[dict[str, Any]]:
        if self.checkpoint is None:
            it = self.client.get_shard_iterator(StreamArn=self.stream_arn, ShardId=self.shard_id,
                                                ShardIteratorType="TRIM_HORIZON")
        else:
            it = self.client.get_shard_iterator(StreamArn=self.stream_arn, ShardId=self.shard_id,
                                                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                                SequenceNumber=self.checkpoint)
        records: list[dict[str, Any]] = self.client.get_records(ShardIterator=it["ShardIterator"],
                                                                Limit=limit)["Records"]
        return records

    def advance(self, record: dict[str, Any]) -> None:
        self.checkpoint = record["dynamodb"]["SequenceNumber"]
