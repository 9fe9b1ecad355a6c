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
    often and however cut the batch is delivered again: the marker is keyed on the first record and
    holds the sequence number applied through (and, while one record too large for a transaction is
    applied in parts, how many of its parts). Returns how many records were applied now."""
    if not records:
        return 0
    marker = records[0].event_id
    expires = int(parse_iso(at).timestamp()) + MARKER_TTL_S
    state = aggregates.applied_state(marker)
    applied, done_parts = state if state is not None else (None, 0)
    pending = [r for r in records if applied is None or r.sequence > applied]
    deltas = [analytics.delta(r.old, r.new) for r in pending]
    chunk: analytics.Contribution = {}
    for index, record in enumerate(pending):
        if len(deltas[index]) > MAX_ITEMS:
            # One record alone touches more items than a transaction holds (a lead worked by several
            # teams): its parts go one transaction each, the marker counting them.
            keys = sorted(deltas[index])
            pieces = [{k: deltas[index][k] for k in keys[i:i + MAX_ITEMS]} for i in range(0, len(keys), MAX_ITEMS)]
            for number, piece in enumerate(pieces):
                if index == 0 and number < done_parts:
                    continue  # applied by an earlier delivery
                final = number + 1 == len(pieces)
                base = applied if applied is not None else -1
                aggregates.apply_batch(marker, applied, record.sequence if final else base, _nonzero(piece), expires,
                                       after_part=number, through_part=0 if final else number + 1)
                applied = record.sequence if final else base
                done_parts = 0 if final else number + 1
            continue
        analytics.add_into(chunk, deltas[index])
        last = index + 1 == len(pending)
        if last or len(chunk.keys() | deltas[index + 1].keys()) > MAX_ITEMS:
            changes = _nonzero(chunk)
            if changes:
                aggregates.apply_batch(marker, applied, record.sequence, changes, expires)
                applied = record.sequence
            chunk = {}
    return len(pending)


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
    return {"leads": count, "items": len(expected), "differences": differences, "fixed": bool(fix and differences)}


def _num(value: Decimal | None) -> float | int:
    if value is None:
        return 0
    return int(value) if value == value.to_integral_value() else float(value)
