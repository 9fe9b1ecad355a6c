"""Lead numbers: `L` + Asia/Shanghai date (yyyymmdd) + a sequence of at least three digits.

Sequences come in blocks from a per-day counter (see store.sequences), so the counter item is
written once per block, not once per lead; numbers left in a block when a container dies are
skipped, which keeps every number unique without a hot item.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable
from datetime import date

LEAD_ID = re.compile(r"^L\d{8}\d{3,}$")


def format_lead_id(day: date, sequence: int) -> str:
    return f"L{day:%Y%m%d}{sequence:03d}"


def turn_of(lead_id: str) -> int:
    """A lead's turn in a round robin: its sequence number of the day. Numbers are handed out in
    order within a block, so consecutive leads take consecutive turns; no shared counter is written
    (a per-team cursor was one write per routed lead on one item, a hot key under a burst), and a
    redelivered record takes the same turn. Ids of another shape fall back to a stable hash."""
    if LEAD_ID.match(lead_id):
        return int(lead_id[9:])
    return zlib.crc32(lead_id.encode("utf-8"))


class BlockAllocator:
    """Hands out sequence numbers from blocks reserved by `reserve(day_key, size) -> last`."""

    def __init__(self, reserve: Callable[[str, int], int], block_size: int) -> None:
        self._reserve = reserve
        self._size = block_size
        self._blocks: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def next(self, day: date) -> int:
        key = f"{day:%Y%m%d}"
        with self._lock:
            current, end = self._blocks.get(key, (1, 0))
            if current > end:
                end = self._reserve(key, self._size)
                current = end - self._size + 1
            self._blocks = {key: (current + 1, end)}  # only today's block is worth keeping
            return current
