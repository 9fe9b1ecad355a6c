"""Fixed-window request counters (per partner key), expiring by TTL: one atomic ADD per request;
the window item is per key, so no item is shared by everyone.

The door list of the public form: what it refuses until when (`ip#<address>`, `phone#<hash>` →
epoch seconds), one item written only when the stream's count crosses a limit, read by the capture
path at most once per `refresh_s` per container."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import CounterModel


def hit(kind: str, subject: str, epoch_s: int, window_s: int) -> tuple[int, int]:
    """Count one request in the current window; returns (count so far, seconds until the window ends)."""
    start = epoch_s // window_s * window_s
    row = CounterModel(f"rate#{kind}#{subject}#{start}")
    with aws_errors():
        row.update(actions=[CounterModel.n.add(1),
                            CounterModel.expires_at.set(datetime.fromtimestamp(start + 2 * window_s, tz=UTC))])
    return int(row.n or 0), start + window_s - epoch_s


DOOR_KEY = "door#public"
DOOR_MAX_ENTRIES = 5000  # ~50 bytes each: a warning while still far below DynamoDB's 400 KB item
_door_seen: list[tuple[float, dict[str, int]]] = []  # (monotonic time read, entries) of this container
logger = logging.getLogger(__name__)


def bar(name: str, until_s: int, now_s: int) -> None:
    """Refuse `name` at the door until `until_s` (never shortening a bar). The same writer prunes
    entries that ended. Should a flood from more addresses than the item holds fill it, barring stops
    with a warning: cleaning still judges what comes in."""
    try:
        entries = transaction_connection().client.update_item(
            TableName=CounterModel.Meta.table_name, Key={"key": {"S": DOOR_KEY}},
            UpdateExpression="SET #name = :until", ConditionExpression="attribute_not_exists(#name) OR #name < :until",
            ExpressionAttributeNames={"#name": name}, ExpressionAttributeValues={":until": {"N": str(until_s)}},
            ReturnValues="ALL_NEW")["Attributes"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ConditionalCheckFailedException":
            return  # barred as long already (another lead of the same flood)
        if error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")):
            logger.warning("door list at DynamoDB's item size limit: not barring")
            return
        raise StoreUnavailable() from exc
    ended = [key for key, value in entries.items() if key != "key" and "N" in value and int(value["N"]) <= now_s]
    if len(entries) - len(ended) > DOOR_MAX_ENTRIES:
        logger.warning("door list unusually long", extra={"entries": len(entries) - len(ended)})
    _prune(ended[:100])


def _prune(names: list[str]) -> None:
    if not names:
        return
    placeholders = {f"#e{i}": name for i, name in enumerate(names)}
    with aws_errors():
        transaction_connection().client.update_item(
            TableName=CounterModel.Meta.table_name, Key={"key": {"S": DOOR_KEY}},
            UpdateExpression="REMOVE " + ", ".join(placeholders), ExpressionAttributeNames=placeholders)


def barred(max_age_s: float) -> dict[str, int]:
    """The door list as this container last read it, read again when older than `max_age_s`."""
    now = time.monotonic()
    if _door_seen and now - _door_seen[-1][0] < max_age_s:
        return _door_seen[-1][1]
    with aws_errors():
        item = transaction_connection().client.get_item(
            TableName=CounterModel.Meta.table_name, Key={"key": {"S": DOOR_KEY}}).get("Item", {})
    entries = {key: int(value["N"]) for key, value in item.items() if key != "key" and "N" in value}
    _door_seen[:] = [(now, entries)]
    return entries


def lift_all() -> None:
    """Empty the door list (this container at once, the others within their `refresh_s`)."""
    with aws_errors():
        transaction_connection().client.delete_item(TableName=CounterModel.Meta.table_name,
                                                    Key={"key": {"S": DOOR_KEY}})
    clear_cache()


def clear_cache() -> None:
    _door_seen.clear()
