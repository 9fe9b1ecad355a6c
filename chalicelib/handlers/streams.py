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
    from chalicelib.services.aggregates import on_lead_record
    from chalicelib.services.intake import lead_events, process_lead_change, process_new_lead

    logger.thread_safe_append_keys(correlation_id=record.event_id)
    keys = record.dynamodb.keys or {}
    logger.thread_safe_append_keys(lead_id=keys.get("lead_id"))
    # The record's own time (epoch seconds, may carry milliseconds), never the clock.
    at = iso_utc(datetime.fromtimestamp(float(record.raw_event["dynamodb"]["ApproximateCreationDateTime"]),
                                        tz=UTC))
    kind = record.event_name.name
    old = plain(record.dynamodb.old_image) if kind != "INSERT" else None
    new = plain(record.dynamodb.new_image) if kind != "REMOVE" else None
    on_lead_record(old, new, record.event_id, at)  # dashboard counters, once per eventID
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


@bp.on_dynamodb_record(stream_arn=get_settings().leads_stream_arn, batch_size=100,
                       starting_position="TRIM_HORIZON", name="lead_stream")
@metrics.flushed
def lead_stream(event: DynamoDBEvent) -> dict[str, Any]:
    # Deferred import: only the stream function pays for the batch utility.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    try:
        response = process_partial_response(event=event.to_dict(), record_handler=_handle_lead_record,
                                            processor=processor, context=event.context)  # type: ignore[arg-type]
        return dict(response)
    finally:
        logger.thread_safe_remove_keys(["correlation_id", "lead_id"])  # per thread: see observability
