"""Dashboard aggregates: kept up to date from the lead stream, and rebuilt/verified offline."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.domain import analytics
from chalicelib.domain.timeutil import parse_iso
from chalicelib.store import aggregates, leads

MARKER_TTL_S = 3 * 24 * 3600  # longer than the stream's 24 h retention: a replay always finds its marker


def on_lead_record(old: dict[str, Any] | None, new: dict[str, Any] | None, event_id: str, at: str) -> bool:
    """Apply what one lead stream record changes in the counters, once per eventID."""
    changes = analytics.delta(old, new)
    if not changes:
        return False
    return aggregates.apply(event_id, changes, int(parse_iso(at).timestamp()) + MARKER_TTL_S)


def verify(fix: bool = False) -> dict[str, Any]:
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
