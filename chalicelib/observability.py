"""One Powertools Logger for every function: structured JSON, correlation id and lead_id keys.

Personal data (phone, name) never goes into a log line: log lead ids, never lead contents.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "loan-leads"),
                level=os.environ.get("LOG_LEVEL", "INFO"))


def http_correlation(event: object, get_response: object) -> object:
    """Chalice http middleware: every log line of a request carries its API Gateway request id.
    Kept per thread: the local stack serves requests (and the stream consumer) on several threads
    of one process; in Lambda there is one thread and it is the same thing."""
    context = getattr(event, "context", None) or {}
    logger.thread_safe_append_keys(correlation_id=context.get("requestId"))
    try:
        return get_response(event)  # type: ignore[operator]
    finally:
        logger.thread_safe_remove_keys(["correlation_id"])
