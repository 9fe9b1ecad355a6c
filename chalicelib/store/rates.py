"""Fixed-window request counters (per partner key, client IP or hashed phone), expiring by TTL.
One atomic ADD per request; the window item is per key, so no item is shared by everyone."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError

from chalicelib.errors import StoreUnavailable
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
