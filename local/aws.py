"""The embedded AWS: moto's server on a loopback port, the stack's resources created from the one
schema. Its state lives in .local/state/journal/ (moto's process journals every change before
answering it and replays the journal on start: local/journal.py); a .local/ saved by an older
stack (state/aws.json, written by whole-state snapshots) is migrated into it once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from local.env import REGION, ROOT

IMPORT_QUEUE = "loanleads-local-import-events"
CONTINUE_QUEUE = "loanleads-local-import-continued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalAws:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.snapshot_file = state_dir / "state" / "aws.json"  # the old format, migrated once
        self.s3_dir = state_dir / "state" / "s3"
        self.journal_dir = state_dir / "state" / "journal"
        self.restored = False
        self.server: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.stream_arns: dict[str, str] = {}
        self.queue_url = ""
        self.continue_queue_url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout_s: float = 60) -> str:
        """Start moto's server in its own process (`local/motoserver.py`) and wait until it listens."""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        # Its stdin is how it is told to stop (closed by `stop`, or by the kernel if this process dies).
        command = [sys.executable, "-m", "local.motoserver", str(port), str(self.state_dir / "state")]
        self.server = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s + self._replay_allowance()
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self.server.returncode} before listening")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto's server did not listen on port {port}") from None
                time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    def _replay_allowance(self) -> float:
        """More time to start with a long journal to replay (about 2,000 records/s, a byte count guess)."""
        size = sum(p.stat().st_size for p in self.journal_dir.glob("journal-*.log")) if self.journal_dir.exists() else 0
        return size / 1_000_000 * 5

    def stop(self) -> None:
        """Close its stdin: it finishes the journal, writes a snapshot and exits."""
        if self.server is not None:
            if self.server.stdin is not None:
                self.server.stdin.close()
            try:
                self.server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def journal(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The server's own endpoints (`/_journal/...`): status, stream checkpoints."""
        import urllib.request

        request = urllib.request.Request(self.endpoint + path, method="POST" if body is not None else "GET",
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint or None)

    # -- resources -------------------------------------------------------------------------------
    def create_resources(self) -> dict[str, list[dict[str, Any]]]:
        """Create whatever of the tables, the bucket, the queues and the bus the journal did not
        bring back (all of it on a first start; a table added to the schema since, later).
        Returns the stream records an old-format .local/ saved unprocessed, by table name."""
        from chalicelib.settings import get_settings
        from chalicelib.store.schema import table_definitions

        ddb = self.client("dynamodb")
        existing = set(ddb.list_tables()["TableNames"])
        saved = self._load() if not existing else {}
        self.restored = bool(existing) or bool(saved)  # an old-format .local/ is migrated, not seeded over
        for definition in table_definitions():
            name = definition["TableName"]
            if name in existing:
                description = ddb.describe_table(TableName=name)["Table"]
                if "StreamSpecification" in definition:
                    self.stream_arns[name] = description["LatestStreamArn"]
                self._add_indexes(ddb, definition, description)
                continue
            create = {k: v for k, v in definition.items() if k not in ("StreamSpecification", "TimeToLiveAttribute")}
            ddb.create_table(**create)
            # Restore before the stream is enabled: restored items are not new events.
            self._restore_items(ddb, name, saved.get("tables", {}).get(name, []))
            if "StreamSpecification" in definition:
                description = ddb.update_table(TableName=name, StreamSpecification=definition["StreamSpecification"])
                self.stream_arns[name] = description["TableDescription"]["LatestStreamArn"]
            if "TimeToLiveAttribute" in definition:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": definition["TimeToLiveAttribute"]})
        settings = get_settings()
        s3 = self.client("s3")
        if not self._bucket_exists(s3, settings.import_bucket):
            s3.create_bucket(Bucket=settings.import_bucket)
            self._restore_objects(s3, settings.import_bucket)
        sqs = self.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=IMPORT_QUEUE)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        queue_arn = attributes["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=settings.import_bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
                                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "imports/"}]}}}]})
        events = self.client("events")
        if settings.event_bus not in {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=settings.event_bus)
        # A long import hands over to itself with an event on the default bus (as in AWS, where
        # the import function's rule matches it); here a rule forwards it to a queue the pump reads.
        self.continue_queue_url = sqs.create_queue(QueueName=CONTINUE_QUEUE)["QueueUrl"]
        continue_arn = sqs.get_queue_attributes(QueueUrl=self.continue_queue_url,
                                                AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="import-continued", EventPattern=json.dumps({"source": ["loanleads.imports"]}))
        events.put_targets(Rule="import-continued", Targets=[{"Id": "pump", "Arn": continue_arn}])
        pending: dict[str, list[dict[str, Any]]] = saved.get("pending", {})
        if saved:  # migrated into the journal: the old file is kept aside, never read again
            self.snapshot_file.replace(self.snapshot_file.with_suffix(".json.migrated"))
        return pending

    def _add_indexes(self, ddb: Any, definition: dict[str, Any], description: dict[str, Any]) -> None:
        """An index the schema gained since the table was made (moto builds it from the items at once;
        DynamoDB backfills it). One the schema dropped stays until the upgrade that needs it gone
        (`local/__main__.py`) has moved the items off it: `drop_index`."""
        have = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes") or []}
        attributes = {a["AttributeName"]: a for a in description.get("AttributeDefinitions") or []}
        attributes.update({a["AttributeName"]: a for a in definition["AttributeDefinitions"]})
        for index in definition.get("GlobalSecondaryIndexes") or []:
            if index["IndexName"] not in have:
                ddb.update_table(TableName=definition["TableName"], AttributeDefinitions=list(attributes.values()),
                                 GlobalSecondaryIndexUpdates=[{"Create": index}])

    def indexes(self, table: str) -> set[str]:
        table_description = self.client("dynamodb").describe_table(TableName=table)["Table"]
        return {index["IndexName"] for index in table_description.get("GlobalSecondaryIndexes") or []}

    def drop_index(self, table: str, index: str) -> None:
        self.client("dynamodb").update_table(TableName=table,
                                             GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}])

    @staticmethod
    def _bucket_exists(s3: Any, bucket: str) -> bool:
        return bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}

    @staticmethod
    def _restore_items(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 25):
            request = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
            while request:
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    def _restore_objects(self, s3: Any, bucket: str) -> None:
        index = self.s3_dir / "index.json"
        if not index.exists():
            return
        for key, content_type in json.loads(index.read_text(encoding="utf-8")).items():
            path = self.s3_dir / "objects" / key
            if path.exists():
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)

    # -- persistence -----------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if not self.snapshot_file.exists():
            return {}
        data: dict[str, Any] = json.loads(self.snapshot_file.read_text(encoding="utf-8"))
        return data
