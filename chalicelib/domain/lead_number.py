"""Lead numbers: `L` + Asia/Shanghai date (yyyymmdd) + a sequence of at least three digits; and the
round robin's turns, from blocks likewise.

Sequences come in blocks from a per-day counter (see store.sequences), so the counter item is
written once per block, not once per lead; numbers left in a block when a container dies are
skipped, which keeps every number unique without a hot item.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date

LEAD_ID = re.compile(r"^L\d{8}\d{3,}$")


def format_lead_id(day: date, sequence: int) -> str:
    return f"L{day:%Y%m%d}{sequence:03d}"


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


class TurnBlocks:
    """A team's round-robin turns (0, 1, 2, ...), handed out from blocks that `reserve(name, size)`
    takes from the team's counter (returning the counter after the block): the counter item is
    written once per block, not once per lead. Within a container the turns are consecutive, so its
    leads go round the reps exactly; containers working at once take turns from blocks of their own
    (each rep stays within a block's worth of leads of the others while those blocks are in use),
    and turns left in a block when a container goes are skipped (a rotation shifted, not unfair)."""

    def __init__(self, reserve: Callable[[str, int], int], block_size: int) -> None:
        self._reserve = reserve
        self._size = block_size
        self._blocks: dict[str, tuple[int, int]] = {}  # name -> (next turn, last turn of the block)
        self._lock = threading.Lock()

    def next(self, name: str) -> int:
        with self._lock:
            current, last = self._blocks.get(name, (0, -1))
            if current > last:
                last = self._reserve(name, self._size) - 1
                current = last - self._size + 1
            self._blocks[name] = (current + 1, last)
            return current
