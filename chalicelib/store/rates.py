"""Fixed-window request counters (per partner key, client IP or hashed phone), expiring by TTL.
One atomic ADD per request; the window item is per key, so no item is shared by everyone."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from chalicelib.errors import StoreUnavailable
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import CounterModel


def hit(kind: str, subject: str, epoch_s: int, window_s: int) -> tuple[int, int]:
    """Count one request in the current window; returns (count so far, seconds until the window ends)."""
    start = epoch_s // window_s * window_s
    row = CounterModel(f"rate#{kind}#{subject}#{start}")
    try:
        row.update(actions=[CounterModel.n.add(1),
                            CounterModel.expires_at.set(datetime.fromtimestamp(start + 2 * window_s, tz=UTC))])
    except UpdateError as exc:
        raise StoreUnavailable() from exc
    return int(row.n or 0), start + window_s - epoch_s


def hit_nested(kind: str, subject: str, epoch_s: int, window_s: int, outer_s: int) -> tuple[int, int, int]:
    """Count one request in two fixed windows at once, `window_s` dividing `outer_s` (a rate limit
    and a longer burst window over the same key): one item per outer window holds the outer count and
    one count per inner window, so one write serves both. Returns (count in the inner window,
    seconds until it ends, count in the outer window)."""
    outer = epoch_s // outer_s * outer_s
    inner = epoch_s // window_s * window_s
    try:
        response = transaction_connection().client.update_item(
            TableName=CounterModel.Meta.table_name,
            Key={"key": {"S": f"rates#{kind}#{subject}#{outer_s}#{outer}"}},
            UpdateExpression="ADD n :one, #inner :one SET expires_at = :expires",
            ExpressionAttributeNames={"#inner": f"w{window_s}#{inner}"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(outer + 2 * outer_s)}},
            ReturnValues="UPDATED_NEW")
    except ClientError as exc:
        raise StoreUnavailable() from exc
    counts = response["Attributes"]
    return int(counts[f"w{window_s}#{inner}"]["N"]), inner + window_s - epoch_s, int(counts["n"]["N"])
