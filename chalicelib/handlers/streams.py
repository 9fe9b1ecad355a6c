"""DynamoDB stream consumers: each hands its batch to the service that runs it.

The lead stream's stages (count, clean, dedup, route, place, follow up, events and aggregates) are
in chalicelib/services/pipeline.py, top to bottom."""

from __future__ import annotations

from chalice.app import Blueprint, DynamoDBEvent

from chalicelib import metrics
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


# Large batches: the dashboard counters take one write per batch, whatever the number of leads in it.
@bp.on_dynamodb_record(stream_arn=get_settings().leads_stream_arn, batch_size=500,
                       starting_position="TRIM_HORIZON", name="lead_stream")
@metrics.flushed
def lead_stream(event: DynamoDBEvent) -> dict[str, object]:
    from chalicelib.services import pipeline

    return dict(pipeline.run(event.to_dict(), event.context))
