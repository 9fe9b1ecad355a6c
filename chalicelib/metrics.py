"""Business metrics as CloudWatch embedded metric format (Powertools Metrics), recorded cheaply.

    from chalicelib import metrics
    metrics.count(metrics.LEADS_CAPTURED, source="website_form")

`count` only adds to an in-memory tally: importing this module or counting imports nothing heavy.
`flush()` runs once at the end of every invocation and only then imports Powertools Metrics. It
writes one EMF line per set of dimensions to stdout; Lambda ships it to CloudWatch Logs, which turns
it into metrics (namespace POWERTOOLS_METRICS_NAMESPACE, dimension `service` = POWERTOOLS_SERVICE_NAME).
No API call, so no permission and no network hop. POWERTOOLS_METRICS_DISABLED=true (the local stack)
discards the tallies.

Who flushes: the API function through the `flush_per_invocation` middleware (app.py); every other
function through `@metrics.flushed` under its Chalice decorator. Middleware registered in app.py does
not reach them: a blueprint's event function runs from its own module (`chalicelib.handlers.streams.
lead_stream`), and Lambda never imports app.py for it (aws/chalice#1566).

Tracing is lazy the same way: `start_tracing()` creates the Powertools Tracer (aws-xray-sdk, ~300 ms of
imports) on the first invocation in Lambda, never at import and never outside Lambda.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

_Handler = TypeVar("_Handler", bound=Callable[..., Any])

# Metric names (the dashboard and the alarms in infra/observe.py use the same constants).
LEADS_CAPTURED = "LeadsCaptured"  # dimension source
DUPLICATES_MERGED = "DuplicatesMerged"  # dimension source
LEADS_INVALID = "LeadsInvalid"
LEADS_ASSIGNED = "LeadsAssigned"  # dimension how: rule | manual | claim
LEADS_RECLAIMED = "LeadsReclaimed"
IMPORT_ROWS = "ImportRows"  # dimension outcome: imported | duplicate | rejected
IMPORT_FAILED = "ImportFailed"  # a file that could not be processed at all (alarmed)
BUSINESS_METRICS = (LEADS_CAPTURED, DUPLICATES_MERGED, LEADS_INVALID, LEADS_ASSIGNED, LEADS_RECLAIMED,
                    IMPORT_ROWS, IMPORT_FAILED)

_Key = tuple[str, tuple[tuple[str, str], ...]]  # (metric, sorted dimensions)
_tally: defaultdict[_Key, float] = defaultdict(float)
_tracer: Any = None


def count(metric: str, value: float = 1, **dimensions: str) -> None:
    """Adds `value` to `metric` (unit Count) under `dimensions`, to be written by the next flush."""
    _tally[(metric, tuple(sorted(dimensions.items())))] += value


def lead_outcome(outcome: str, source: object) -> None:
    """What the lead stream made of a new lead (a replay, `already`, counts nothing)."""
    if outcome == "duplicate":
        count(DUPLICATES_MERGED, source=str(source or "unknown"))
    elif outcome == "invalid":
        count(LEADS_INVALID, source=str(source or "unknown"))
    elif outcome == "assigned":
        count(LEADS_ASSIGNED, how="route")


def ownership_change(kind: str) -> None:
    """A committed ownership move: assignments by how they happened, reclaims to the pool."""
    if kind == "reclaim":
        count(LEADS_RECLAIMED)
    elif kind in ("assign", "claim", "reassign", "transfer"):
        count(LEADS_ASSIGNED, how=kind)


def pending() -> dict[_Key, float]:
    """What the next flush will write (for tests and debugging)."""
    return dict(_tally)


def flush() -> None:
    """Writes every tallied metric as EMF (one line per set of dimensions) and clears the tally."""
    if not _tally:
        return
    tally = dict(_tally)
    _tally.clear()
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, float]]] = {}
    for (metric, dims), value in tally.items():
        groups.setdefault(dims, []).append((metric, value))
    for dims, values in groups.items():
        emf = EphemeralMetrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LoanLeads"),
                               service=os.environ.get("POWERTOOLS_SERVICE_NAME", "loan-leads"))
        for dimension, label in dims:
            emf.add_dimension(name=dimension, value=label)
        for metric, total in values:
            emf.add_metric(name=metric, unit=MetricUnit.Count, value=total)
        emf.flush_metrics()


def start_tracing() -> None:
    """Creates the Tracer once, in Lambda only (it patches botocore: every AWS call becomes a subsegment).
    Tracing is never worth a failed invocation: without the X-Ray SDK it logs once and stays off."""
    global _tracer
    if _tracer is not None or not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    try:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "loan-leads"))
    except ImportError:
        from chalicelib.observability import logger

        logger.warning("tracing off: aws-xray-sdk is not installed")
        _tracer = False


def flush_per_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice http middleware: tracing started, metrics written when the request ends."""
    start_tracing()
    try:
        return get_response(event)
    finally:
        flush()


def flushed(handler: _Handler) -> _Handler:
    """The same for an event function (stream, schedule, S3): put it under the Chalice decorator."""

    @functools.wraps(handler)
    def invocation(*args: Any, **kwargs: Any) -> Any:
        start_tracing()
        try:
            return handler(*args, **kwargs)
        finally:
            flush()

    return invocation  # type: ignore[return-value]
