"""Dashboard aggregates: kept up to date from the lead stream, and rebuilt/verified offline."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chalicelib.domain import analytics
from chalicelib.domain.records import JsonView, Lead
from chalicelib.domain.timeutil import parse_iso
from chalicelib.store import aggregates, leads

MARKER_TTL_S = 3 * 24 * 3600  # longer than the stream's 24 h retention: a replay always finds its marker
MAX_ITEMS = 99  # a transaction holds 100 actions: the marker and up to 99 counter items


@dataclass(frozen=True)
class Change:
    """One lead stream record as the counters see it."""

    event_id: str
    sequence: int
    old: Lead | None
    new: Lead | None


def on_lead_batch(records: list[Change], at: str) -> int:
    """Apply a batch's records (in stream order, the batch's first record first) exactly once, however
    often and however cut the batch is delivered again.

    The records' changes are summed per counter item and written in key order, in transactions of up
    to MAX_ITEMS items: each item once per batch, however many of its records touch it (a record
    alone may touch more items than a transaction holds). The marker, keyed on the batch's first
    record, moves with each transaction to exactly where it leaves the batch: every record through
    a sequence number, and for the records after it, up to which item key their changes are applied.
    A delivery again from the same first record, cut shorter or longer, goes on from there. Returns
    how many records were applied now."""
    changes = [analytics.delta(r.old, r.new) for r in records]
    if not any(changes):
        return 0  # nothing to count (captures: a `new` lead counts once worked out): no marker read
    marker = records[0].event_id
    expires = int(parse_iso(at).timestamp()) + MARKER_TTL_S
    state = aggregates.applied_state(marker)
    left = [(r, change) for r, change in zip(records, changes, strict=True)
            if state is None or r.sequence > state.through]
    if not left:
        return 0
    pending, deltas = [r for r, _ in left], [change for _, change in left]
    bounds = [state.bound_of(r.sequence) if state is not None else None for r in pending]
    if state is not None and state.legacy_items:
        first = sorted(deltas[0])
        if state.legacy_items < len(first):
            bounds[0] = first[state.legacy_items]
        else:  # not left by that code, which moved `through` past a record with its last part
            deltas[0] = {}
    total: analytics.Contribution = {}
    for change, bound in zip(deltas, bounds, strict=True):
        analytics.add_into(total, {key: attrs for key, attrs in change.items() if bound is None or key >= bound})
    total = _nonzero(total)
    keys = sorted(total)
    last = pending[-1].sequence
    later = state.steps_after(last) if state is not None else ()  # an earlier, longer delivery's records
    for start in range(0, len(keys), MAX_ITEMS):
        chunk = keys[start:start + MAX_ITEMS]
        if start + MAX_ITEMS < len(keys):
            # Every pending record now has its changes below the next key applied (or more, from before).
            following = keys[start + MAX_ITEMS]
            steps = [(r.sequence, max(b, following) if b is not None else following) for r, b in zip(pending, bounds,
                                                                                                   strict=True)]
            bounds = [bound for _, bound in steps]
            to = aggregates.Applied(state.through if state is not None else -1, _runs(steps) + later)
        else:
            to = aggregates.Applied(last, later)
        state = aggregates.apply_batch(marker, state, to, {key: total[key] for key in chunk}, expires)
    return len(pending)


def _runs(steps: list[tuple[int, analytics.Key]]) -> tuple[tuple[int, analytics.Key], ...]:
    """(sequence, bound) per record → (last sequence of a run, bound) per run of records alike."""
    out: list[tuple[int, analytics.Key]] = []
    for sequence, bound in steps:
        if out and out[-1][1] == bound:
            out[-1] = (sequence, bound)
        else:
            out.append((sequence, bound))
    return tuple(out)


def _nonzero(total: analytics.Contribution) -> analytics.Contribution:
    out = {key: {name: amount for name, amount in attrs.items() if amount} for key, attrs in total.items()}
    return {key: attrs for key, attrs in out.items() if attrs}


def verify(fix: bool = False) -> JsonView:
    """Recompute every counter from the leads (a Scan: offline only) and compare with the table.
    With `fix`, overwrite what differs. Run it while the stream is drained (nothing pending)."""
    expected: analytics.Contribution = {}
    count = 0
    for lead in leads.scan_all():
        analytics.add_into(expected, analytics.contribution(lead))
        count += 1
    expected = {key: {k: v for k, v in attrs.items() if v} for key, attrs in expected.items()}
    actual = dict(aggregates.scan_counters())
    differences = []
    for key in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(key, {}), actual.get(key, {})
        if want == have:
            continue
        wrong = {name: {"expected": _num(want.get(name)), "actual": _num(have.get(name))}
                 for name in sorted(want.keys() | have.keys()) if want.get(name) != have.get(name)}
        scope, day, shard = key
        differences.append({"scope": scope, "day": day, "shard": shard, "counters": wrong})
        if fix:
            aggregates.replace(key, want)
    if fix:  # a check writes nothing; a rebuild leaves the counters in this code's layout
        aggregates.set_layout(analytics.LAYOUT)
    return {"leads": count, "items": len(expected), "differences": differences, "fixed": bool(fix and differences)}


def current() -> bool:
    """Whether the counters are in this code's layout (a rebuild since the layout last changed)."""
    return aggregates.layout() == analytics.LAYOUT


def _num(value: Decimal | None) -> float | int:
    if value is None:
        return 0
    return int(value) if value == value.to_integral_value() else float(value)
