"""DynamoDB stream consumers. Powertools' BatchProcessor reports failed records one by one, so a
poison record never blocks its shard or loses its neighbours (ReportBatchItemFailures)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, DynamoDBEvent

from chalicelib import metrics
from chalicelib.domain.timeutil import iso_utc
from chalicelib.observability import logger
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


def _handle_lead_record(record: Any) -> None:
    from chalicelib.outbound import publish
    from chalicelib.plain import plain
    from chalicelib.services.intake import lead_events, process_lead_change, process_new_lead

    logger.thread_safe_append_keys(correlation_id=record.event_id)
    keys = record.dynamodb.keys or {}
    logger.thread_safe_append_keys(lead_id=keys.get("lead_id"))
    # The record's own time (epoch seconds, may carry milliseconds), never the clock.
    at = _at(record.raw_event)
    kind = record.event_name.name
    old = plain(record.dynamodb.old_image) if kind != "INSERT" else None
    new = plain(record.dynamodb.new_image) if kind != "REMOVE" else None
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
    elif kind == "REMOVE":  # retention TTL or an erasure: purge whatever still names the lead
        from chalicelib.services.privacy import purge_expired

        gone = plain(record.dynamodb.old_image)
        if "lead_id" in gone and "phone" in gone:
            purge_expired(gone)
            logger.info("removed lead purged")


# Large batches: the dashboard counters take one write per batch, whatever the number of leads in it.
@bp.on_dynamodb_record(stream_arn=get_settings().leads_stream_arn, batch_size=500,
                       starting_position="TRIM_HORIZON", name="lead_stream")
@metrics.flushed
def lead_stream(event: DynamoDBEvent) -> dict[str, Any]:
    # Deferred import: only the stream function pays for the batch utility.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    raw = event.to_dict()
    try:
        response = dict(process_partial_response(event=raw, record_handler=_handle_lead_record,
                                                 processor=processor, context=event.context))  # type: ignore[arg-type]
    finally:
        logger.thread_safe_remove_keys(["correlation_id", "lead_id"])  # per thread: see observability
    return _count_for_dashboard(raw["Records"], response)


def _count_for_dashboard(records: list[dict[str, Any]], response: dict[str, Any]) -> dict[str, Any]:
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
        done.append(Change(record["eventID"], int(stream.sequence_number),
                           plain(stream.old_image) if stream.old_image else None,
                           plain(stream.new_image) if stream.new_image else None))
    try:
        on_lead_batch(done, _at(records[-1]) if records else "")
    except Exception:
        logger.exception("dashboard counters not applied; the batch is delivered again")
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]}
    return response


def _at(record: dict[str, Any]) -> str:
    return iso_utc(datetime.fromtimestamp(float(record["dynamodb"]["ApproximateCreationDateTime"]), tz=UTC))
