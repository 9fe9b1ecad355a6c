"""The embedded AWS: moto's server on a loopback port, the stack's resources created from the one
schema, and their state saved to / restored from .local/ (moto keeps everything in memory)."""

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
        self.snapshot_file = state_dir / "state" / "aws.json"
        self.s3_dir = state_dir / "state" / "s3"
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
        self.server = subprocess.Popen([sys.executable, "-m", "local.motoserver", str(port)], cwd=ROOT, env=env)
        deadline = time.monotonic() + timeout_s
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

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint or None)

    # -- resources -------------------------------------------------------------------------------
    def create_resources(self) -> dict[str, list[dict[str, Any]]]:
        """Create every table, the bucket, the import queue and the bus; restore saved state.
        Returns the stream records that were saved unprocessed, by table name."""
        from chalicelib.settings import get_settings
        from chalicelib.store.schema import table_definitions

        saved = self._load()
        ddb = self.client("dynamodb")
        for definition in table_definitions():
            create = {k: v for k, v in definition.items() if k not in ("StreamSpecification", "TimeToLiveAttribute")}
            ddb.create_table(**create)
            # Restore before the stream is enabled: restored items are not new events.
            self._restore_items(ddb, definition["TableName"], saved.get("tables", {}).get(definition["TableName"], []))
            if "StreamSpecification" in definition:
                description = ddb.update_table(TableName=definition["TableName"],
                                               StreamSpecification=definition["StreamSpecification"])
                self.stream_arns[definition["TableName"]] = description["TableDescription"]["LatestStreamArn"]
            if "TimeToLiveAttribute" in definition:
                ddb.update_time_to_live(TableName=definition["TableName"], TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": definition["TimeToLiveAttribute"]})
        settings = get_settings()
        s3 = self.client("s3")
        s3.create_bucket(Bucket=settings.import_bucket)
        self._restore_objects(s3, settings.import_bucket)
        sqs = self.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=IMPORT_QUEUE)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        queue_arn = attributes["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=settings.import_bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
                                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "imports/"}]}}}]})
        self.client("events").create_event_bus(Name=settings.event_bus)
        # A long import hands over to itself with an event on the default bus (as in AWS, where
        # the import function's rule matches it); here a rule forwards it to a queue the pump reads.
        self.continue_queue_url = sqs.create_queue(QueueName=CONTINUE_QUEUE)["QueueUrl"]
        continue_arn = sqs.get_queue_attributes(QueueUrl=self.continue_queue_url,
                                                AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = self.client("events")
        events.put_rule(Name="import-continued", EventPattern=json.dumps({"source": ["loanleads.imports"]}))
        events.put_targets(Rule="import-continued", Targets=[{"Id": "pump", "Arn": continue_arn}])
        pending: dict[str, list[dict[str, Any]]] = saved.get("pending", {})
        return pending

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

    @property
    def has_saved_state(self) -> bool:
        return self.snapshot_file.exists()

    def save(self, pending: dict[str, list[dict[str, Any]]]) -> None:
        """Write every table and object to .local/ (atomically). Called while nothing else runs."""
        from chalicelib.settings import get_settings
        from chalicelib.store.schema import table_definitions

        ddb = self.client("dynamodb")
        tables: dict[str, list[dict[str, Any]]] = {}
        for definition in table_definitions():
            items: list[dict[str, Any]] = []
            # The local stack's own persistence: the one place a Scan belongs.
            for page in ddb.get_paginator("scan").paginate(TableName=definition["TableName"]):
                items.extend(page["Items"])
            tables[definition["TableName"]] = items
        self._write(self.snapshot_file, json.dumps({"tables": tables, "pending": pending}, ensure_ascii=False))
        self._save_objects(self.client("s3"), get_settings().import_bucket)

    def _save_objects(self, s3: Any, bucket: str) -> None:
        index: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                path = self.s3_dir / "objects" / key
                head = s3.head_object(Bucket=bucket, Key=key)
                index[key] = head.get("ContentType", "application/octet-stream")
                if not path.exists() or path.stat().st_size != obj["Size"]:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._write_bytes(path, s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        self._write(self.s3_dir / "index.json", json.dumps(index, ensure_ascii=False))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        LocalAws._write_bytes(path, text.encode("utf-8"))

    @staticmethod
    def _write_bytes(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
