"""The trigger pump: what AWS's event-source mappings, S3 → EventBridge rules and EventBridge
schedules do for the deployed stack, done here against moto for the real handlers.

Streams are read from a checkpoint (the last processed sequence number, journaled by the embedded
AWS after every delivered batch, so a restart neither repeats nor skips a record) and delivered in
Lambda's event shape; failed records reported by the handler are retried from the first failure,
a bounded number of times, then set aside in .local/dead-letters.jsonl (the on-failure
destination). Every handler call holds the app lock, like one Lambda container."""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from local.aws import LocalAws
from local.env import REGION
from local.streams import StreamReader, lambda_record

MAX_ATTEMPTS = 3
IMPORT_POLL_S = 1  # the import loop's SQS long poll while no file is waiting
ACCOUNT = "123456789012"


class FakeContext:
    def __init__(self, name: str, deadline_s: float = 60) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + deadline_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def _resolve(handler_string: str) -> Any:
    module, _, name = handler_string.rpartition(".")
    return getattr(importlib.import_module(module), name)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(name: str, at: datetime) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": iso_z(at), "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"], "detail": {}}


def s3_eventbridge_event(record: dict[str, Any]) -> dict[str, Any]:
    """An S3 notification record → the EventBridge "Object Created" event the deployed stack gets."""
    bucket = record["s3"]["bucket"]["name"]
    obj = record["s3"]["object"]
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": ACCOUNT, "time": record.get("eventTime", iso_z(datetime.now(UTC)))[:19] + "Z",
            "region": REGION, "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       # S3 notifications URL-encode the key; EventBridge events carry it plain.
                       "object": {"key": unquote_plus(obj["key"]), "size": obj.get("size", 0),
                                  "etag": obj.get("eTag", ""),
                                  "version-id": obj.get("versionId"), "sequencer": obj.get("sequencer", "")},
                       "request-id": str(uuid.uuid4()), "requester": ACCOUNT, "reason": "PutObject"}}


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """The subset of EventBridge pattern matching our rules use: value lists and key prefixes."""
    for key, expected in pattern.items():
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not _matches(expected, value):
                return False
            continue
        ok = False
        for option in expected:
            if isinstance(option, dict) and "prefix" in option:
                ok = ok or (isinstance(value, str) and value.startswith(option["prefix"]))
            else:
                ok = ok or value == option
        if not ok:
            return False
    return True


class TriggerPump:
    def __init__(self, aws: LocalAws, app: Any, lock: threading.RLock,
                 pending: dict[str, list[dict[str, Any]]]) -> None:
        from chalice.app import CloudWatchEventConfig, DynamoDBEventConfig, ScheduledEventConfig

        self.aws = aws
        self.lock = lock
        self.pending = pending
        self.stats = {"stream_records": 0, "stream_failures": 0, "dead_letters": 0,
                      "import_events": 0, "schedule_runs": 0, "checkpoints": 0}
        self.attempts: dict[str, int] = {}
        self.streams_client = aws.client("dynamodbstreams")
        self.sqs = aws.client("sqs")
        self.stream_handlers: dict[str, tuple[Any, StreamReader, int]] = {}
        self.event_rules: list[tuple[dict[str, Any], Any, str]] = []
        self.schedules: list[tuple[str, Any, float]] = []
        for source in app.event_sources:
            if isinstance(source, DynamoDBEventConfig):
                table = source.stream_arn.split(":table/", 1)[1].split("/", 1)[0]
                arn = aws.stream_arns[table]
                reader = StreamReader(self.streams_client, arn)
                self.stream_handlers[table] = (_resolve(source.handler_string), reader, source.batch_size)
            elif isinstance(source, CloudWatchEventConfig):
                self.event_rules.append((source.event_pattern, _resolve(source.handler_string), source.name))
            elif isinstance(source, ScheduledEventConfig):
                expression = source.schedule_expression
                seconds = _rate_seconds(expression)
                if seconds:
                    self.schedules.append((source.name, _resolve(source.handler_string), seconds))
        saved = aws.journal("/_journal/checkpoints") if aws.endpoint else {}
        for table, (_, reader, _size) in self.stream_handlers.items():
            reader.checkpoint = saved.get(table)
        self._stop = threading.Event()
        self._held = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- streams ---------------------------------------------------------------------------------
    def _deliver(self, table: str, handler: Any, records: list[dict[str, Any]]) -> int:
        """Deliver lambda-shaped records; returns how many leading records are done with."""
        try:
            result = handler({"Records": records}, FakeContext(f"{table}-stream")) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # the whole batch failed (e.g. every record raised)
            failed = {r["dynamodb"]["SequenceNumber"] for r in records}
        done = 0
        for record in records:
            seq = record["dynamodb"]["SequenceNumber"]
            if seq in failed:
                self.stats["stream_failures"] += 1
                self.attempts[seq] = self.attempts.get(seq, 0) + 1
                if self.attempts[seq] < MAX_ATTEMPTS:
                    break
                self._dead_letter(table, record)
            self.attempts.pop(seq, None)
            self.stats["stream_records"] += 1
            done += 1
        return done

    def _dead_letter(self, table: str, record: dict[str, Any]) -> None:
        self.stats["dead_letters"] += 1
        path = self.aws.state_dir / "dead-letters.jsonl"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"table": table, "record": record}, ensure_ascii=False, default=str) + "\n")

    def pump_streams(self) -> bool:
        progressed = False
        for table, (handler, reader, batch_size) in self.stream_handlers.items():
            saved = self.pending.get(table) or []
            if saved:
                done = self._deliver(table, handler, saved[:batch_size])
                self.pending[table] = saved[done:]
                progressed = progressed or done > 0
                continue
            raw = reader.read(limit=batch_size)
            if not raw:
                continue
            records = [lambda_record(r, reader.stream_arn) for r in raw]
            done = self._deliver(table, handler, records)
            if done:
                reader.advance(raw[done - 1])
                self._checkpoint({table: reader.checkpoint})
                progressed = True
        return progressed

    def _checkpoint(self, positions: dict[str, str | None]) -> None:
        """Journal how far the streams are processed (on disk before this returns)."""
        known = {table: seq for table, seq in positions.items() if seq is not None}
        if known:
            self.aws.journal("/_journal/checkpoints", known)
            self.stats["checkpoints"] += 1

    def unprocessed(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for table, (_, reader, _size) in self.stream_handlers.items():
            records = list(self.pending.get(table) or [])
            records += [lambda_record(r, reader.stream_arn) for r in reader.read(limit=10_000)]
            if records:
                out[table] = records
        return out

    def skip_existing(self) -> None:
        """Fast-forward every stream past what is in it now (records written by seeding)."""
        for table, (_, reader, _size) in self.stream_handlers.items():
            while records := reader.read(limit=1000):
                reader.advance(records[-1])
            self._checkpoint({table: reader.checkpoint})

    # -- S3 → EventBridge ------------------------------------------------------------------------
    def pump_imports(self, wait_s: int = 0) -> bool:
        """S3 notifications (as the EventBridge events the deployed stack gets) and the import
        function's own "Import Continued" events, to the functions whose rules match them. Waits up
        to `wait_s` for a notification (an SQS long poll: moto answers as soon as one arrives)."""
        busy = False
        # "Import Continued" events come from the import function, which runs in this thread: they
        # are there when the loop comes back, so only the S3 notifications are waited for.
        for queue_url, wait in ((self.aws.queue_url, wait_s), (self.aws.continue_queue_url, 0)):
            messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=wait).get("Messages", [])
            for message in messages:
                body = json.loads(message["Body"])
                if "Records" in body or "Event" in body:  # S3 notification (s3:TestEvent has no records)
                    events = [s3_eventbridge_event(record) for record in body.get("Records", [])]
                else:  # moto's SQS target leaves out fields EventBridge always sends
                    events = [{"account": ACCOUNT, "region": REGION, "resources": [], **body}]
                for event in events:
                    for pattern, handler, name in self.event_rules:
                        if _matches(pattern, event):
                            handler(event, FakeContext(name, deadline_s=900))
                            self.stats["import_events"] += 1
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            busy = busy or bool(messages)
        return busy

    # -- schedules -------------------------------------------------------------------------------
    def fire_schedules(self, at: datetime, only: str | None = None) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for name, handler, _ in self.schedules:
            if only and name != only:
                continue
            results[name] = handler(scheduled_event(name, at), FakeContext(name))
            self.stats["schedule_runs"] += 1
        return results

    # -- loops -----------------------------------------------------------------------------------
    def start(self) -> None:
        for target in (self._stream_loop, self._import_loop, self._schedule_loop):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)

    # -- holding back (local only: `POST /_local/pump?hold=1|0`, `POST /_local/drain`) ------------
    @property
    def held(self) -> bool:
        return self._held.is_set()

    def hold(self) -> None:
        """Hold back stream deliveries (the loops' background work) until `release`;
        returns once none is running. Records wait in their streams, as they do in AWS while a
        consumer is throttled; nothing is dropped, and stopping the stack still delivers and saves.
        For measuring the request path alone (bench/capture_load.py)."""
        self._held.set()
        with self.lock:
            pass

    def release(self) -> None:
        self._held.clear()

    def drain(self, limit_s: float = 600.0) -> int:
        """Deliver what the streams hold now, in this thread, until a pass finds nothing (bounded);
        returns how many records were handled."""
        before = self.stats["stream_records"]
        deadline = time.monotonic() + limit_s
        with self.lock:
            while time.monotonic() < deadline and (self.pump_streams() or self._retrying()):
                pass
        return self.stats["stream_records"] - before

    def _retrying(self) -> bool:
        return bool(self.attempts)

    def _guarded(self, step: Any) -> bool:
        try:
            with self.lock:
                return bool(step())
        except Exception as exc:  # keep pumping; a broken step must not kill the stack
            print(f"[pump] {step.__name__} failed: {exc!r}", flush=True)
            return False

    def _stream_loop(self) -> None:
        while not self._stop.is_set():
            if self._held.is_set() or not self._guarded(self.pump_streams):
                self._stop.wait(0.1)

    def _import_loop(self) -> None:
        """Imports run beside the streams, as separate functions do in AWS: a long file must not
        hold back the leads it writes (nor anyone else's). A snapshot taken meanwhile holds a
        checkpointed job, which is what a crashed invocation leaves behind too."""
        busy = True
        while not self._stop.is_set():
            try:
                # Idle, it long-polls (IMPORT_POLL_S) instead of asking moto 10 times a second.
                busy = self.pump_imports(wait_s=0 if busy else IMPORT_POLL_S)
            except Exception as exc:  # keep pumping, as _guarded does
                print(f"[pump] pump_imports failed: {exc!r}", flush=True)
                busy = False
                self._stop.wait(0.2)

    def _schedule_loop(self) -> None:
        due = {name: time.monotonic() + seconds for name, _, seconds in self.schedules}
        while not self._stop.wait(1.0):
            for name, _, seconds in self.schedules:
                if time.monotonic() >= due[name]:
                    due[name] = time.monotonic() + seconds
                    self._guarded(lambda n=name: self.fire_schedules(datetime.now(UTC), only=n))

    def stop(self) -> None:
        """Stop the loops and deliver what is still waiting (bounded). Nothing needs saving: every
        change and every checkpoint is already in the embedded AWS's journal."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._guarded(self.pump_streams):
            pass


def _rate_seconds(expression: Any) -> float | None:
    value = getattr(expression, "value", None)
    unit = getattr(expression, "unit", None)
    if value is None or unit is None:
        return None  # cron expressions run only through `make tick`
    return float(value) * {"minutes": 60, "hours": 3600, "days": 86400}[str(unit).lower()]
