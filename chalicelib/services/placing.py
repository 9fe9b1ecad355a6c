"""A stream batch's routed leads, placed together.

Routing a lead to a rep adds one to that rep's load item, bounded by the caps. Placed one by one,
that item takes a write per lead: the rate at which the rep receives leads (333 writes/s for each of
three reps taking 1,000 leads/s; DynamoDB allows 1,000 per partition). A batch's routed leads are
instead held back here, their phones already claimed, and written together by
`store.placement.place_group`, up to 100 at a time: each rep's load reserves all of theirs in one
update and settles in one more, each lead is one update of its own (each lead's notice follows from
its placement's own stream record, `pipeline.record_routing`; its history entry is rebuilt from the
lead, `history.of_lead`). Routing sees the held-back leads in the reps' loads (`held`), so the caps
and the turns hold as if each lead had been placed at once.

A lead the group could not place (moved meanwhile, its rep's caps reached by another path) is
placed again on its own, the way the pipeline places any lead (`services/pipeline.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from chalicelib.store.placement import Placement

MAX_LEADS = 100  # a group's leads: a rep's reservation (their ids) and 新分配 (their names) stay small


@dataclass
class Waiting:
    placement: Placement
    record: Any  # the stream record, as delivered (placed again from it if the group is refused)
    after: list[Callable[[], None]] = field(default_factory=list)  # what follows its placement


class PlacementGroup:
    """The batch's held-back placements (at most MAX_LEADS)."""

    def __init__(self, flush: Callable[[list[Waiting]], None]) -> None:
        self._flush = flush
        self.waiting: list[Waiting] = []
        self._received: dict[str, tuple[str, int]] = {}  # rep → (Shanghai day, leads held back for them)
        self.teams: dict[str, list[Any]] = {}  # team → its members as the batch read them (once)

    def held(self, rep: str, day: str) -> int:
        """Leads held back for `rep` on `day`, not yet in their load item."""
        held_day, count = self._received.get(rep, ("", 0))
        return count if held_day == day else 0

    def holds(self, lead_id: str) -> bool:
        return any(w.placement.change.lead_id == lead_id for w in self.waiting)

    def waiting_for(self, lead_id: str, record: Any) -> Waiting:
        """The lead's held-back placement, now with its stream record."""
        found = next(w for w in self.waiting if w.placement.change.lead_id == lead_id)
        found.record = record
        return found

    def add(self, placement: Placement, record: Any = None) -> None:
        change = placement.change
        rep, day = str(change.new_owner), change.day
        held_day, count = self._received.get(rep, (day, 0))
        if held_day != day or len(self.waiting) >= MAX_LEADS:
            self.flush()  # one reservation per rep and group: a second day waits for the next
            count = 0
        self.waiting.append(Waiting(placement, record))
        self._received[rep] = (day, count + 1)

    def flush(self) -> None:
        waiting, self.waiting, self._received = self.waiting, [], {}
        if waiting:
            self._flush(waiting)


_current: ContextVar[PlacementGroup | None] = ContextVar("placement_group", default=None)


def current() -> PlacementGroup | None:
    """The group of the batch being handled (None outside a batch: placed at once)."""
    return _current.get()


@contextmanager
def grouping(flush: Callable[[list[Waiting]], None]) -> Iterator[PlacementGroup]:
    group = PlacementGroup(flush)
    token = _current.set(group)
    try:
        yield group
    finally:
        _current.reset(token)


@contextmanager
def alone() -> Iterator[None]:
    """Lead records handled here are placed at once (a refused group's leads, one by one)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def team_members(team: str, read: Callable[[str], list[Any]]) -> list[Any]:
    """A team's members, read once per batch (its leads are routed at one moment: a rep put on or off
    duty counts from the next batch, a second later); outside a batch, read each time."""
    group = current()
    if group is None:
        return read(team)
    if team not in group.teams:
        group.teams[team] = read(team)
    return group.teams[team]


def held(reps: Mapping[str, Any], day: str) -> dict[str, int]:
    """Per rep, the leads the current batch holds back for them on `day` (routing adds them to loads)."""
    group = current()
    return {rep: group.held(rep, day) if group else 0 for rep in reps}
