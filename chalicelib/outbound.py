"""What the product tells other systems: domain events on the stage's EventBridge bus, and an
optional per-team robot webhook (企业微信 / 钉钉). Neither ever carries a phone number or a name,
and neither may block or fail the work that triggered it: errors are logged and swallowed.

The one module that talks to EventBridge and webhooks: it also hands a long import over to the
next invocation (`continue_import`), the one event whose loss must fail the work."""

from __future__ import annotations

import json
import time
import urllib.request
from functools import lru_cache
from typing import Any

from chalicelib.observability import logger
from chalicelib.settings import get_settings

SOURCE = "loanleads"
DETAIL_TYPES = ("lead.captured", "lead.assigned", "lead.reclaimed", "lead.status_changed", "task.due",
                "task.overdue")


@lru_cache(maxsize=1)
def events_client() -> Any:
    from chalicelib.store.connection import client

    return client("events")


def publish(events: list[tuple[str, dict[str, Any]]]) -> int:
    """Put events on the bus in batches of 10; returns how many were accepted."""
    entries = [{"Source": SOURCE, "DetailType": kind, "Detail": json.dumps(detail, ensure_ascii=False),
                "EventBusName": get_settings().event_bus} for kind, detail in events]
    accepted = 0
    for start in range(0, len(entries), 10):
        try:
            result = events_client().put_events(Entries=entries[start:start + 10])
            accepted += len(entries[start:start + 10]) - int(result.get("FailedEntryCount", 0))
        except Exception:  # the bus is a courtesy to other systems; the lead's own work goes on
            logger.exception("event bus unavailable", extra={"events": len(entries)})
    return accepted


def post_webhook(url: str, kind: str, title: str, text: str, attempts: int = 3, timeout_s: float = 3.0) -> bool:
    """A markdown message to a team's robot; retried with backoff, never raises."""
    if kind == "dingtalk":
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n\n{text}"}}
    else:  # 企业微信
        body = {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{text}"}}
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    for attempt in range(attempts):
        try:
            request = urllib.request.Request(url, data=data, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - admin-set URL
                if 200 <= response.status < 300:
                    return True
        except Exception as exc:  # retried below; a robot must never stop the sweep
            logger.warning("webhook failed", extra={"attempt": attempt + 1, "error": type(exc).__name__})
        time.sleep(0.2 * (2 ** attempt))
    return False


def continue_import(detail: dict[str, Any]) -> None:
    """Hand the rest of a long import to the next invocation: an "Import Continued" event on the
    default bus, which the import rule matches. Raises if the bus refuses it (the invocation is
    then retried and resumes)."""
    entry = {"Source": "loanleads.imports", "DetailType": "Import Continued", "Detail": json.dumps({
        "import_id": detail["import_id"], "bucket": {"name": get_settings().import_bucket},
        "object": {"key": detail["key"], "etag": detail["etag"], "size": detail["size"]}})}
    result = events_client().put_events(Entries=[entry])
    if result.get("FailedEntryCount"):
        raise RuntimeError("could not hand over the import")
