"""Dashboard arithmetic, pure: what one lead contributes to the aggregates, and the figures
(funnel, rates, averages, medians) read back from them.

A lead's contribution is a function of its current image only. The stream applies, for every
record, `contribution(new) - contribution(old)`; the deltas of one lead telescope, so the
aggregates always equal the sum of the contributions of the leads as they are now, whatever the
order of the records, as long as each record is applied exactly once (keyed on its eventID).

Attribution (`facts`): the lead counts for the team and rep that first received it, a win for the
owner at the time, the first contact for the rep who made it, an activity for whoever logged it,
and each SLA reclaim (`rc`) against the rep and team it was taken from; a lead never assigned is
the pool's own row (`_none`). All of it is kept on the lead (first_owner/first_team,
first_contact_by/_team, activity_by, reclaimed_from), so a change of hands moves no figure.

Counting rules (the lead's current image decides):
- total: every lead the stream has worked out (cleaned, de-duplicated, routed: no longer `new`,
  a second or two after its capture), on its creation day (Asia/Shanghai). A `new` lead
  contributes nothing, so a capture's own record writes no counter: the placement's writes them
  once (half the counter writes of a lead arriving alone, each batch's items written once, not
  twice);
- valid: not `invalid`, not `duplicate` now (a lead a rep later finds invalid stops counting);
- intent: valid, and has reached 意向明确 at least once (`intent_at`, set once, when it first
  enters intent, qualifying or won): moving back and forth counts once;
- won: `won` (final);
- cycle: whole days from the Shanghai creation day to `won_date`;
- first contact: whole minutes from `created_at` to `first_contact_at`.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.timeutil import parse_iso

NONE = "_none"  # the value of a field the lead does not have (also a GET /api/leads filter value)
ALL = "all"
# score_band: is the score right? won rate by the band the lead was given when it was placed.
# form_id: the hosted form (at most the catalog's 200); campaign: at most 100 characters each, from
# the forms' tracking links and partners' fields (a dashboard item holds the campaigns of its leads).
DIMENSIONS = ("total", "source", "partner_id", "loan_type", "region", "province", "customer_type", "team", "owner",
              "score_band", "form_id", "campaign")
INTENT_STAGES = frozenset({"intent", "qualifying", "won"})
NOT_VALID = frozenset({"invalid", "duplicate"})
COUNTS = ("n", "valid", "intent", "won", "won_amt", "act", "rc")
# Histograms are kept only where a median is asked for.
HISTOGRAMS: dict[str, frozenset[str]] = {
    "fc": frozenset({"total", "owner"}),  # minutes to first contact: leaderboard
    "cy": frozenset({"total", "loan_type", "team"}),  # days created → won: conversion cycle
}
STAGES = ("valid", "intent", "won", "first_contact")

Key = tuple[str, str, str]  # (scope, period, kind); counters are attributes `<dimension>|<value>|<metric>`
Contribution = dict[Key, dict[str, Decimal]]

# The dashboard's items: per scope, one per Shanghai day, one per pentad (days 1–5, 6–10, … 26–end:
# `2026-06-p4`) and one per month (`2026-06`), each holding every dimension of the leads created in it,
# so a range reads a few pre-merged items (`cover`), not one per day. `TREND`: per scope and month,
# each day's leads, valid leads and wins (`trend|<day of month>|n`), for the trend chart.
DASH = "d"
TREND = "t"
# The counters' layout: changed whenever their keys or attributes change, so a stack knows its counters
# must be rebuilt from the leads (`services/aggregates.verify(fix=True)`; the local stack does it on start).
LAYOUT = "2026-12-04 few dimensions in one report item"
# Histograms keep buckets (lower edges): minutes to first contact to the minute within 10 minutes,
# then 5, 10, 15, 30, 60 minutes, days past a day; days to a win to the day within two weeks, then
# aligned to the dashboard's cycle ranges (15, 31, 61, 91 days). An item's size stops growing with
# leads; a median is the middle leads' bucket.
FC_EDGES = (*range(11), 15, 20, 25, 30, 40, 50, 60, 75, 90, 105, 120, 150, 180, 240, 300, 360, 480, 600, 720, 960,
            1200, 1440, 2880, 4320, 5760, 7200, 8640, 10080, 14400, 20160, 30240, 43200)
CY_EDGES = (*range(15), 15, 21, 31, 46, 61, 76, 91, 121, 181, 271, 366)


def _bucket(edges: tuple[int, ...], value: int) -> int:
    return edges[bisect.bisect_right(edges, value) - 1]


def fc_bucket(minutes: int) -> int:
    return _bucket(FC_EDGES, minutes)


def cy_bucket(days: int) -> int:
    return _bucket(CY_EDGES, days)


def pentad(day: str) -> str:
    return f"{day[:7]}-p{min(6, (int(day[8:10]) - 1) // 5 + 1)}"


def _pentads(last: int) -> list[tuple[int, int]]:
    return [(1, 5), (6, 10), (11, 15), (16, 20), (21, 25), (26, last)]


def _best(block: tuple[int, int], level: int, want: set[int], have: set[int],
          days_in: int) -> list[tuple[int, tuple[int, int], int]]:
    """The fewest signed blocks (sign, block, level) of one month summing to the days `want`, `have`
    the days that can hold leads: the block itself, its parts within `want`, or the block less its
    parts outside `want`."""
    inside = {d for d in have if block[0] <= d <= block[1]}
    want = want & inside
    if not want:
        return []
    if want == inside:
        return [(1, block, level)]
    kids = _pentads(days_in) if level == 0 else [(d, d) for d in range(block[0], block[1] + 1)]
    add = [part for kid in kids for part in _best(kid, level + 1, want, inside, days_in)]
    less = [(1, block, level)] + [(-sign, part, depth) for kid in kids
                                  for sign, part, depth in _best(kid, level + 1, inside - want, inside, days_in)]
    return min(add, less, key=len)


def cover(first: date, last: date, latest: date) -> list[tuple[int, str]]:
    """Dashboard periods, each signed (+1, -1), whose counters sum to those of the days first..last:
    per month, either its pentads and days within the range, or the month item less its pentads and
    days outside it, whichever is fewer items. Days after `latest` hold no leads (a lead's day is
    the day it was received), so the month item stands for the month so far."""
    out: list[tuple[int, str]] = []
    start = first
    while start <= last:
        days_in = calendar.monthrange(start.year, start.month)[1]
        end = min(last, date(start.year, start.month, days_in))
        month = f"{start:%Y-%m}"
        held = {d for d in range(1, days_in + 1) if date(start.year, start.month, d) <= latest}
        for sign, (a, _), level in _best((1, days_in), 0, set(range(start.day, end.day + 1)), held, days_in):
            out.append((sign, month if level == 0 else f"{month}-p{(a - 1) // 5 + 1}" if level == 1
                        else f"{month}-{a:02d}"))
        start = end + timedelta(days=1)
    return out


def scope_of(team: str | None) -> str:
    return f"team:{team}" if team else ALL


def _value(image: Mapping[str, Any], dimension: str) -> str:
    if dimension == "total":
        return ALL
    raw = image.get(dimension)
    return str(raw).replace("|", "_") if raw not in (None, "") else NONE


def is_valid(image: Mapping[str, Any]) -> bool:
    return image.get("status") not in NOT_VALID


def reached_intent(image: Mapping[str, Any]) -> bool:
    return is_valid(image) and (bool(image.get("intent_at")) or image.get("status") in INTENT_STAGES)


def is_won(image: Mapping[str, Any]) -> bool:
    return image.get("status") == "won"


def first_contact_minutes(image: Mapping[str, Any]) -> int | None:
    if not image.get("first_contact_at") or not image.get("created_at"):
        return None
    seconds = (parse_iso(image["first_contact_at"]) - parse_iso(image["created_at"])).total_seconds()
    return max(0, int(seconds // 60))


def cycle_days(image: Mapping[str, Any]) -> int | None:
    if not is_won(image) or not image.get("won_date") or not image.get("day"):
        return None
    return max(0, (date.fromisoformat(str(image["won_date"])[:10]) - date.fromisoformat(image["day"])).days)


def home(image: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(team, rep) that first received the lead; the current ones for a lead stored before first
    receivers were kept (its next change of hands records them)."""
    if image.get("first_owner") or image.get("first_team"):
        return image.get("first_team"), image.get("first_owner")
    return image.get("team"), image.get("owner")


def metrics(image: Mapping[str, Any]) -> dict[str, Decimal]:
    """The lead's own figures, before they are spread over dimensions."""
    won = is_won(image)
    out = {"n": Decimal(1), "valid": Decimal(int(is_valid(image))), "intent": Decimal(int(reached_intent(image))),
           "won": Decimal(int(won)), "act": Decimal(int(image.get("activity_count") or 0)),
           "won_amt": Decimal(str(image.get("won_amount") or 0)) if won else Decimal(0)}
    return {k: v for k, v in out.items() if v}


def _split(entry: str) -> tuple[str | None, str | None]:
    team, _, user = str(entry).rpartition("/")
    return team or None, user or None


def facts(image: Mapping[str, Any]) -> list[tuple[str | None, str | None, dict[str, Decimal]]]:
    """(team, rep, figures) under the attribution that survives changes of hands:
    - the lead itself (n, valid, intent) for the team and rep that first received it (never assigned:
      the pool's own row, `_none`);
    - a win (won, won amount, cycle) for the owner at the time (a won lead never changes hands);
    - the first contact (minutes) for the rep who made it;
    - each activity for whoever logged it, with the team they worked it for;
    - each SLA reclaim (rc) against the rep and team it was taken from."""
    own = metrics(image)
    team, rep = home(image)
    lead_part = {k: v for k, v in own.items() if k in ("n", "valid", "intent")}
    out: list[tuple[str | None, str | None, dict[str, Decimal]]] = [(team, rep, lead_part)]
    if is_won(image):
        out.append((image.get("team"), image.get("owner"), {k: v for k, v in own.items() if k in ("won", "won_amt")}
                    | {"#cy": Decimal(1)}))
    if image.get("first_contact_at"):
        out.append((image.get("first_contact_team") or team, image.get("first_contact_by") or rep, {"#fc": Decimal(1)}))
    logged = {str(k): int(v) for k, v in (image.get("activity_by") or {}).items() if int(v)}
    earlier = int(image.get("activity_count") or 0) - sum(logged.values())  # logged before authors were kept
    if earlier > 0:
        out.append((team, rep, {"act": Decimal(earlier)}))
    for entry, count in sorted(logged.items()):
        out.append((*_split(entry), {"act": Decimal(count)}))
    for entry in image.get("reclaimed_from") or []:
        out.append((*_split(entry), {"rc": Decimal(1)}))
    return out


def contribution(image: Mapping[str, Any] | None) -> Contribution:
    """Attribute `<dimension>|<value>|<metric>` → amount, per aggregate item, for one lead image."""
    if not image or not image.get("lead_id") or not image.get("day") or image.get("status") == "new":
        return {}
    minutes, days = first_contact_minutes(image), cycle_days(image)
    day = str(image["day"])
    board: dict[str, dict[str, Decimal]] = {}
    for team, rep, figures in facts(image):
        for scope in [ALL] + ([scope_of(team)] if team else []):
            attrs = board.setdefault(scope, {})
            for dimension in DIMENSIONS:
                if dimension == "team" and scope != ALL:
                    continue  # within a team's scope the team is the total
                if dimension in ("team", "owner"):
                    whose = team if dimension == "team" else rep
                    value = str(whose).replace("|", "_") if whose else NONE
                else:
                    value = _value(image, dimension)
                at = f"{dimension}|{value}|"
                for metric, amount in figures.items():
                    if metric == "#fc" and minutes is not None and dimension in HISTOGRAMS["fc"]:
                        _add(attrs, {at + "fc_n": Decimal(1), at + "fc_sum": Decimal(minutes),
                                     at + f"fc#{fc_bucket(minutes)}": Decimal(1)})
                    elif metric == "#cy" and days is not None and dimension in HISTOGRAMS["cy"]:
                        _add(attrs, {at + "cy_n": Decimal(1), at + "cy_sum": Decimal(days),
                                     at + f"cy#{cy_bucket(days)}": Decimal(1)})
                    elif not metric.startswith("#"):
                        _add(attrs, {at + metric: amount})
    out: Contribution = {}
    for scope, attrs in board.items():
        for period in (day, pentad(day), day[:7]):
            _add(out.setdefault((scope, period, DASH), {}), attrs)
        trend = {f"trend|{day[8:10]}|{metric}": attrs[f"total|{ALL}|{metric}"]
                 for metric in ("n", "valid", "won") if f"total|{ALL}|{metric}" in attrs}
        _add(out.setdefault((scope, day[:7], TREND), {}), trend)
    for key, attrs in report_contribution(image, minutes, days).items():
        _add(out.setdefault(key, {}), attrs)
    return {key: attrs for key, attrs in out.items() if attrs}


# -- report counters (the report builder) -------------------------------------------------------
# One item per (dimension, scope, period), the period a Shanghai day or a month (the month item is
# the sum of its days, kept by the same stream write), so a card over a year reads at most its two
# partial months' days plus one item per whole month, and each item holds one dimension (but `FEW`,
# below): its size is bounded by that dimension's values, not by the number of leads. Keys:
# (`r/<dimension>/<scope>`, period, "r"); attributes `<value>|<metric>`. Custom option fields of the profile plug in as
# `custom.<key>` (their values are option codes).
REPORT_DIMENSIONS = ("total", "source", "campaign", "form_id", "partner_id", "loan_type", "purpose", "credit_status",
                     "customer_type", "region", "province", "city", "team", "owner", "status", "score_band")
REPORT_SHARD = "r"
# Dimensions with a few values each share one item per (scope, period), `r/few/<scope>`, their
# attributes `<dimension>|<value>|<metric>`: a lead touches 1 item for them, not 8 (a lead alone in
# its stream batch writes ~50 report items fewer), and the item stays ~10 KB at any volume (about 45
# values). A card on one of them reads that item and keeps its own attributes.
FEW = frozenset({"total", "loan_type", "purpose", "credit_status", "customer_type", "region", "status", "score_band"})
_OPTION_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# A card may be narrowed to loan products (贷款类型: a lender's product lines) whatever its dimension:
# every report item is also kept per product, under the scope `<scope>~<loan type>` (`_none`: no
# type). A lead has one type, so a card over several products sums their items. Other fields narrow a
# card only as its own dimension (items hold one dimension each).
PRODUCT = "loan_type"


def report_scope(dimension: str, scope: str) -> str:
    return f"r/{report_item(dimension)[0]}/{scope}"


def report_item(dimension: str) -> tuple[str, str]:
    """(the item a report dimension is kept in, its attributes' prefix there)."""
    return ("few", f"{dimension}|") if dimension in FEW else (dimension, "")


def product_scope(scope: str, loan_type: str) -> str:
    return f"{scope}~{loan_type}"


def _report_values(image: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Each dimension's value on the lead; a multi-choice custom field gives its list of codes (the
    lead counts once under each chosen value)."""
    out: dict[str, str | list[str]] = {d: _value(image, d) for d in REPORT_DIMENSIONS if d not in ("team", "owner")}
    for key, raw in sorted((image.get("custom") or {}).items()):
        if isinstance(raw, str) and _OPTION_CODE.match(raw):
            out[f"custom.{key}"] = raw
        elif isinstance(raw, list):
            chosen = sorted({v for v in raw if isinstance(v, str) and _OPTION_CODE.match(v)})
            if chosen:
                out[f"custom.{key}"] = chosen
    return out


def report_contribution(image: Mapping[str, Any], minutes: int | None, days: int | None) -> Contribution:
    values = _report_values(image)
    product = str(values[PRODUCT])
    day = str(image["day"])
    out: Contribution = {}
    for team, rep, figures in facts(image):
        bases = [ALL] + ([scope_of(team)] if team else [])
        for base, scope in [(b, b) for b in bases] + [(b, product_scope(b, product)) for b in bases]:
            dims: dict[str, str | list[str]] = dict(values)
            if scope != base:
                del dims[PRODUCT]  # a product's own row is its product-wide item
            if base == ALL:
                dims["team"] = str(team).replace("|", "_") if team else NONE
            dims["owner"] = str(rep).replace("|", "_") if rep else NONE
            for dimension, value in dims.items():
                part: dict[str, Decimal] = {}
                for metric, amount in figures.items():
                    if metric == "#fc" and minutes is not None and dimension == "total":
                        part.update({"fc_n": Decimal(1), "fc_sum": Decimal(minutes),
                                     f"fc#{fc_bucket(minutes)}": Decimal(1)})
                    elif metric == "#cy" and days is not None and dimension == "total":
                        part.update({"cy_n": Decimal(1), "cy_sum": Decimal(days), f"cy#{cy_bucket(days)}": Decimal(1)})
                    elif not metric.startswith("#"):
                        part[metric] = amount
                if not part:
                    continue
                prefix = report_item(dimension)[1]
                named = {f"{prefix}{each}|{metric}": amount for each in ([value] if isinstance(value, str) else value)
                         for metric, amount in part.items()}
                for period in (day, day[:7]):
                    _add(out.setdefault((report_scope(dimension, scope), period, REPORT_SHARD), {}), named)
    return out


def fold_report(items: Iterable[Mapping[str, Any]], dimension: str = "") -> dict[str, Figures]:
    """Report items holding `dimension` ({"value|metric": amount}, or {"dimension|value|metric": amount}
    in the `few` item) → value → summed figures."""
    prefix = report_item(dimension)[1] if dimension else ""
    out: dict[str, Figures] = {}
    for attrs in items:
        for name, amount in attrs.items():
            if not name.startswith(prefix):
                continue
            value, sep, metric = name[len(prefix):].rpartition("|")
            if sep:
                out.setdefault(value, Figures()).add(metric, Decimal(str(amount)))
    return out


def _add(into: dict[str, Decimal], part: Mapping[str, Decimal]) -> None:
    for name, amount in part.items():
        into[name] = into.get(name, Decimal(0)) + amount


def delta(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Contribution:
    """What one stream record changes: contribution(new) - contribution(old), zeros dropped."""
    before, after = contribution(old), contribution(new)
    out: Contribution = {}
    for key in before.keys() | after.keys():
        b, a = before.get(key, {}), after.get(key, {})
        changes = {name: a.get(name, Decimal(0)) - b.get(name, Decimal(0)) for name in b.keys() | a.keys()}
        changes = {name: amount for name, amount in changes.items() if amount}
        if changes:
            out[key] = changes
    return out


def add_into(total: Contribution, part: Contribution) -> None:
    for key, attrs in part.items():
        into = total.setdefault(key, {})
        for name, amount in attrs.items():
            into[name] = into.get(name, Decimal(0)) + amount


# -- reading back -------------------------------------------------------------------------------

@dataclass
class Figures:
    """One dimension value's sums over a date range."""

    n: int = 0
    valid: int = 0
    intent: int = 0
    won: int = 0
    won_amt: Decimal = Decimal(0)
    act: int = 0
    rc: int = 0  # SLA reclaims (taken from this rep or team)
    fc_n: int = 0
    fc_sum: int = 0
    cy_n: int = 0
    cy_sum: int = 0
    fc: dict[int, int] = field(default_factory=dict)  # minutes to first contact → leads
    cy: dict[int, int] = field(default_factory=dict)  # days created → won → leads

    def add(self, metric: str, amount: Decimal) -> None:
        if "#" in metric:
            kind, _, bucket = metric.partition("#")
            histogram = self.fc if kind == "fc" else self.cy
            histogram[int(bucket)] = histogram.get(int(bucket), 0) + int(amount)
        elif metric == "won_amt":
            self.won_amt += amount
        elif metric in _SUMMED:
            setattr(self, metric, getattr(self, metric) + int(amount))


_SUMMED = frozenset({"n", "valid", "intent", "won", "act", "rc", "fc_n", "fc_sum", "cy_n", "cy_sum"})


def fold(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Figures]]:
    """Counter items ({"dimension|value|metric": amount}) → dimension → value → summed figures."""
    out: dict[str, dict[str, Figures]] = {}
    for attrs in items:
        for name, amount in attrs.items():
            parts = name.split("|")
            if len(parts) != 3:
                continue
            dimension, value, metric = parts
            out.setdefault(dimension, {}).setdefault(value, Figures()).add(metric, Decimal(str(amount)))
    return out


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def histogram_median(histogram: Mapping[int, int]) -> float | None:
    """The median of the values a histogram of whole numbers holds (mean of the middle two)."""
    count = sum(n for n in histogram.values() if n > 0)
    if count == 0:
        return None
    wanted = [(count - 1) // 2, count // 2]
    found: list[int] = []
    seen = 0
    for value in sorted(v for v, n in histogram.items() if n > 0):
        seen += histogram[value]
        while len(found) < 2 and seen > wanted[len(found)]:
            found.append(value)
    return (found[0] + found[1]) / 2


def average(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


def amount(value: Decimal) -> float:
    return float(round(value, 2))
