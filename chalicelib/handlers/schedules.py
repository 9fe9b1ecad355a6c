"""EventBridge schedules. "Now" is the event's `time`, never the clock, so `make tick AT=...`
and tests can run a sweep at any moment."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

from chalicelib import metrics
from chalicelib.domain.timeutil import parse_iso
from chalicelib.handlers.events import lenient
from chalicelib.observability import logger

bp = Blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="sla_sweep")
@metrics.flushed
def sla_sweep(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.services.boards import weekly_summaries
    from chalicelib.services.sop import sweep

    counts = sweep(parse_iso(event.time))
    counts["board_summaries"] = weekly_summaries(parse_iso(event.time))  # Mondays 09:00, once per board
    logger.info("sla sweep", extra={"tick_time": event.time, **counts})
    return {"time": event.time, **counts}


lenient(sla_sweep)  # scheduled events without `version` (sam local, sample sets) reach the sweep


@bp.schedule(Rate(1, unit=Rate.DAYS), name="scoring_train")
@metrics.flushed
def scoring_train(event: CloudWatchEvent) -> dict[str, Any]:
    """The lead-scoring model, retrained daily on the window's closed leads."""
    from chalicelib.services.scoring import retrain

    result = retrain(parse_iso(event.time))
    logger.info("scoring training", extra={"tick_time": event.time, **{k: v for k, v in result.items()
                                                                         if k in ("closed", "won", "trained", "auc")}})
    return {"time": event.time, **result}


lenient(scoring_train)
