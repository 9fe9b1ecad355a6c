"""Files dropped under `imports/` of the import bucket, delivered as S3 → EventBridge events
(`chalice package` refuses on_s3_event on a bucket the stack does not create itself)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent

from chalicelib import metrics
from chalicelib.observability import logger

bp = Blueprint(__name__)

IMPORT_PATTERN = {"source": ["aws.s3"], "detail-type": ["Object Created"],
                  "detail": {"object": {"key": [{"prefix": "imports/"}]}}}


@bp.on_cw_event(IMPORT_PATTERN, name="import_object")
@metrics.flushed
def import_object(event: CloudWatchEvent) -> dict[str, Any]:
    detail = event.detail or {}
    bucket = detail.get("bucket", {}).get("name")
    key = detail.get("object", {}).get("key", "")
    if not key.startswith("imports/"):
        return {"ignored": key}
    # The import capability parses the file into leads; the trigger and its event shape are wired.
    logger.info("import object received", extra={"bucket": bucket, "key": key})
    return {"received": key}
