"""DynamoDB stream consumers. Powertools' BatchProcessor reports failed records one by one, so a
poison record never blocks its shard or loses its neighbours (ReportBatchItemFailures).

Records are taken as they come, not as the table's current view type promises: a MODIFY without
`OldImage` (a NEW_IMAGE or KEYS_ONLY view, a replay tool that drops it) is an unknown change, never
a change (no `lead.assigned` / `lead.status_changed`, no dashboard delta); a REMOVE without images
still purges what is keyed on the lead id; a record without `ApproximateCreationDateTime` takes the
time of its batch.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, DynamoDBEvent

from chalicelib import metrics
from chalicelib.domain.timeutil import iso_utc
from chalicelib.observability import logger
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


def _handle_lead_record(record: Any, batch_at: str) -> None:
    from chalicelib.outbound import publish
    from chalicelib.plain import plain
    from chalicelib.services.intake import lead_events, process_lead_change, process_new_lead

    logger.thread_safe_append_keys(correlation_id=record.event_id)
    keys = record.dynamodb.keys or {}
    logger.thread_safe_append_keys(lead_id=keys.get("lead_id"))
    # The record's own time (epoch seconds, may carry milliseconds), else its batch's; never the clock.
    at = _at(record.raw_event) or batch_at
    kind = record.event_name.name
    old = plain(record.dynamodb.old_image) if kind != "INSERT" and record.dynamodb.old_image else None
    new = plain(record.dynamodb.new_image) if kind != "REMOVE" and record.dynamodb.new_image else None
    if kind == "INSERT":
        image = new or {}
        if "lead_id" not in image or "phone" not in image:
            raise ValueError("lead image without lead_id or phone")
        outcome = process_new_lead(image, record.event_id, at)
        logger.info("lead cleaned", extra={"outcome": outcome})
        metrics.lead_outcome(outcome, image.get("source"))
        publish(lead_events(None, image, at))
    elif kind == "MODIFY" and old is not None and new is not None:
        if process_lead_change(old, new, at):
            logger.info("lead change handled")
        publish(lead_events(old, new, at))
    elif kind == "MODIFY":  # what changed is unknown: acting on it would invent a change
        logger.warning("lead modified without both images: change unknown, not acted on",
                       extra={"old_image": old is not None, "new_image": new is not None})
    elif kind == "REMOVE":  # retention TTL or an erasure: purge whatever still names the lead
        from chalicelib.services.privacy import purge_expired

        gone = old or dict(plain(keys))  # a view without images: the keys are all there is
        if "lead_id" not in gone:
            raise ValueError("removed lead without lead_id")
        purge_expired(gone)
        logger.info("removed lead purged", extra={"from_image": old is not None})


# Large batches: the dashboard counters take one write per batch, whatever the number of leads in it.
@bp.on_dynamodb_record(stream_arn=get_settings().leads_stream_arn, batch_size=500,
                       starting_position="TRIM_HORIZON", name="lead_stream")
@metrics.flushed
def lead_stream(event: DynamoDBEvent) -> dict[str, Any]:
    # Deferred import: only the stream function pays for the batch utility.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    raw = event.to_dict()
    batch_at = _batch_at(raw["Records"])
    try:
        response = dict(process_partial_response(
            event=raw, record_handler=functools.partial(_handle_lead_record, batch_at=batch_at),
            processor=processor, context=event.context))  # type: ignore[arg-type]
    finally:
        logger.thread_safe_remove_keys(["correlation_id", "lead_id"])  # per thread: see observability
    return _count_for_dashboard(raw["Records"], response, batch_at)


def _count_for_dashboard(records: list[dict[str, Any]], response: dict[str, Any], batch_at: str) -> dict[str, Any]:
    """Dashboard counters for the records before the first failed one (a retry starts there), once."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    from chalicelib.plain import plain
    from chalicelib.services.aggregates import Change, on_lead_batch

    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    done: list[Change] = []
    for record in records:
        if record["dynamodb"]["SequenceNumber"] in failed:
            break
        parsed = DynamoDBRecord(record)
        stream = parsed.dynamodb
        assert stream is not None and stream.sequence_number is not None
        old = plain(stream.old_image) if stream.old_image else None
        new = plain(stream.new_image) if stream.new_image else None
        # A lead's contribution moves by new − old: without the image a record's kind needs, the
        # delta would count a modified lead again (or not remove a removed one). Left for
        # `make aggregates` to repair, with a warning.
        needs = {"INSERT": new is not None, "MODIFY": old is not None and new is not None,
                 "REMOVE": old is not None}
        if not needs.get(str(record.get("eventName")), False):
            logger.warning("record without the images the dashboard needs: not counted",
                           extra={"event_name": record.get("eventName")})
            old = new = None
        done.append(Change(record["eventID"], int(stream.sequence_number), old, new))
    try:
        on_lead_batch(done, batch_at)
    except Exception:
        # Nothing of this batch is counted (the marker commits with the counters): deliver again from
        # its first counted record; records before it were counted by an earlier delivery.
        logger.exception("dashboard counters not applied; the batch is delivered again")
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]}
    return response


def _at(record: dict[str, Any]) -> str | None:
    """The record's own time, when the stream gave it one (epoch seconds, may carry milliseconds)."""
    value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    try:
        return iso_utc(datetime.fromtimestamp(float(value), tz=UTC)) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _batch_at(records: list[dict[str, Any]]) -> str:
    """The time of the batch: its latest record time; the clock only for a batch that has none
    (read here at the edge, like an API request's time without requestTimeEpoch)."""
    times = [at for at in map(_at, records) if at is not None]
    return max(times) if times else iso_utc(datetime.now(UTC))
