"""File imports: the upload handshake and job pages (API), the import template, and the function that
imports each file dropped under `imports/` of the bucket (the lead export is in `exports.py`).

Objects arrive as S3 → EventBridge "Object Created" events (`chalice package` refuses on_s3_event
on a bucket the stack does not create itself); a run that needs more than one invocation hands
over to itself with an "Import Continued" event on the default bus, which the same rule matches.
"""

from __future__ import annotations

import time
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate, Response

from chalicelib import metrics
from chalicelib.domain.timeutil import parse_iso, shanghai_day
from chalicelib.handlers import http
from chalicelib.handlers.events import lenient
from chalicelib.observability import logger
from chalicelib.outbound import continue_import
from chalicelib.settings import get_settings

bp = Blueprint(__name__)

# Only the stage's own import bucket and prefix (the handler checks both again: a rule edited by
# hand, or an event replayed from elsewhere, must not start a job). infra/package.py writes the
# bucket as a reference to the stack's ImportBucket.
IMPORT_PATTERN = {"source": ["aws.s3", "loanleads.imports"], "detail-type": ["Object Created", "Import Continued"],
                  "detail": {"bucket": {"name": [get_settings().import_bucket]},
                             "object": {"key": [{"prefix": "imports/"}]}}}


@bp.route("/imports", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def start_import() -> Response:
    from chalicelib.services.imports import start_upload

    request = bp.current_request
    body = start_upload(http.principal(request), http.read_body(request), http.received_at(request))
    return Response(body=body, status_code=201, headers={"Content-Type": http.JSON})


@bp.route("/imports", methods=["GET"])
@http.endpoint
def list_imports() -> dict[str, Any]:
    from chalicelib.services.imports import list_jobs

    request = bp.current_request
    return list_jobs(http.principal(request), shanghai_day(http.received_at(request)))


@bp.route("/imports/template", methods=["GET"])
@http.endpoint
def import_template() -> dict[str, Any]:
    from chalicelib.services.imports import template_url

    return template_url(http.principal(bp.current_request))


@bp.route("/imports/{import_id}", methods=["GET"])
@http.endpoint
def get_import(import_id: str) -> dict[str, Any]:
    from chalicelib.services.imports import get_job

    return get_job(http.principal(bp.current_request), import_id)


@bp.on_cw_event(IMPORT_PATTERN, name="import_object")
@metrics.flushed
def import_object(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.services.imports import StoredObject, object_created, screen

    detail = event.detail or {}
    obj = detail.get("object") or {}
    stored = StoredObject(str(obj.get("key", "")), str(obj.get("etag", "")), int(obj.get("size") or 0),
                          parse_iso(event.time))
    skipped = screen((detail.get("bucket") or {}).get("name"), stored)
    if skipped:
        logger.info("object skipped", extra={"key": stored.key, "reason": skipped, "size": stored.size})
        return {"ignored": stored.key, "reason": skipped}
    context: Any = event.context
    remaining = context.get_remaining_time_in_millis if context is not None else (lambda: 900_000)
    result = object_created(stored, remaining, time.time, continue_import)
    logger.info("import object", extra={"key": stored.key, **{k: v for k, v in result.items() if k != "ignored"}})
    return result


@bp.schedule(Rate(10, unit=Rate.MINUTES), name="import_sweep")
@metrics.flushed
def import_sweep(event: CloudWatchEvent) -> dict[str, Any]:
    """Jobs that stopped moving (an upload that never came, a run whose event was given up) end
    `failed` with a Chinese reason instead of staying `queued` / `running` for good."""
    from chalicelib.services.imports import fail_stalled

    failed = fail_stalled(parse_iso(event.time))
    logger.info("import sweep", extra={"tick_time": event.time, "failed": failed})
    return {"time": event.time, "failed": failed}


# Events as tools and replays send them (no `version`, no `account`...) reach the code.
lenient(import_object)
lenient(import_sweep)
