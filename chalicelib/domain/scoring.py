"""Lead scoring: features of a lead's profile, an explainable additive score, and its training.

A score is `50 + Σ points` (clamped to 0–100), one point value per (field, value) of the lead: 50 is
the average lead, every factor moves it up or down, and the reasons a rep reads are those points
(房产抵押贷 +12 · 征信：良好,无逾期 +8). Before the team has enough closed leads the points are a
prior an admin sets; after, they come from an L2-regularised logistic regression on one-hot
features, fitted by block-coordinate Newton (each field's one-hot block has a diagonal Hessian, so
each block step is exact), calibrated by Platt scaling on a slice the fit never saw and evaluated
(AUC, Brier) on another. The model's points are `K × (w − mean w of the field)` so that the score
stays additive and the probability is `sigmoid(a × (c + Σ points / K) + b)`.

Features never include identity or contact data (name, phone, address, IP, remarks): they are
not in FEATURE_FIELDS, and SENSITIVE_FIELDS lists what a document may never name.

Pure code: no I/O, no clock; numbers are plain floats so the Lambda package needs no numpy.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from chalicelib.domain.records import Lead

CUSTOM_PREFIX = "custom."
NONE = "_none"  # a field the lead does not have: a value of its own (an empty form says something)

# Profile fields the score may use, with how a reason names them ("" = the value's label alone).
FEATURE_FIELDS: dict[str, str] = {
    "loan_type": "",
    "amount_band": "金额",
    "purpose": "用途：",
    "credit_status": "征信：",
    "customer_type": "",
    "region": "",
    "source": "",
    "channel": "渠道：",
    "campaign": "活动：",
    "partner_id": "合作方：",
    "hour": "",
    "weekday": "",
    "re_inquiry": "",
    # Engagement: follow-up signals, known once the owner has made first contact (see ENGAGEMENT_FIELDS).
    "first_contact": "",
    "answered_calls": "",
    "materials": "",
}
FIELD_NAMES: dict[str, str] = {
    "loan_type": "贷款类型", "amount_band": "贷款金额档", "purpose": "资金用途", "credit_status": "征信情况",
    "customer_type": "客户画像", "region": "大区", "source": "线索来源", "channel": "渠道", "campaign": "活动",
    "partner_id": "合作方", "hour": "咨询时段", "weekday": "咨询星期", "re_inquiry": "再次咨询",
    "first_contact": "首次联系用时", "answered_calls": "电话接通", "materials": "资料发送",
}
# The engagement score's fields. A lead the owner has not contacted yet scores them as the average
# lead (0 points): not contacted *yet* is not "never contacted", which only a closed lead can say.
ENGAGEMENT_FIELDS = ("first_contact", "answered_calls", "materials")
# Outcomes of a call (the lead page's chips) in which the customer picked up.
ANSWERED_OUTCOMES = frozenset({"已接通", "有意向", "无意向", "稍后再联系"})
SENSITIVE_FIELDS = frozenset({
    "name", "phone", "address", "city", "province", "id_number", "id_card", "email", "wechat_id",
    "client_ip", "remark", "page_url", "birthday", "age", "gender", "ethnicity", "religion", "health",
})
AMOUNT_BANDS: tuple[tuple[float, str, str], ...] = (  # (upper bound in 万元, value, label)
    (10, "lt10", "10万以下"), (30, "10_30", "10–30万"), (100, "30_100", "30–100万"),
    (500, "100_500", "100–500万"), (math.inf, "500_plus", "500万以上"),
)
HOUR_SLOTS: tuple[tuple[int, str, str], ...] = (  # (until hour, value, label), Beijing time
    (8, "night", "夜间咨询（0–8点）"), (12, "morning", "上午咨询"), (14, "noon", "午间咨询"),
    (18, "afternoon", "下午咨询"), (24, "evening", "晚间咨询（18–24点）"),
)
WEEKDAY_VALUES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_LABELS = dict(zip(WEEKDAY_VALUES, ("周一咨询", "周二咨询", "周三咨询", "周四咨询", "周五咨询", "周六咨询",
                                           "周日咨询"), strict=True))
RE_INQUIRY_LABELS = {"0": "首次咨询", "1": "曾咨询过 1 次", "2_plus": "曾多次咨询"}
FIRST_CONTACT_BANDS: tuple[tuple[float, str, str], ...] = (  # (under minutes, value, label)
    (5, "5m", "5分钟内首次联系"), (30, "30m", "30分钟内首次联系"), (120, "2h", "2小时内首次联系"),
    (1440, "24h", "首次联系超过 2 小时"), (math.inf, "later", "首次联系超过 24 小时"),
)
FIRST_CONTACT_LABELS = {**{value: label for _, value, label in FIRST_CONTACT_BANDS}, "never": "从未联系"}
ANSWERED_LABELS = {"0": "电话未接通", "1": "接通电话 1 次", "2_plus": "接通电话多次"}
MATERIALS_LABELS = {"0": "未发送资料", "1_plus": "已发送资料"}
CHANNEL_LABELS = {"public": "公开表单", "partner": "合作方", "manual": "手工录入", "import": "Excel导入"}
DERIVED_LABELS: dict[str, dict[str, str]] = {
    "amount_band": {value: label for _, value, label in AMOUNT_BANDS},
    "hour": {value: label for _, value, label in HOUR_SLOTS},
    "weekday": WEEKDAY_LABELS,
    "re_inquiry": RE_INQUIRY_LABELS,
    "channel": CHANNEL_LABELS,
    "first_contact": FIRST_CONTACT_LABELS,
    "answered_calls": ANSWERED_LABELS,
    "materials": MATERIALS_LABELS,
}
# Cross features: pairs of fields whose effect on winning depends on each other, which an additive
# model (and a per-field frequency model) cannot express. Each is a field of its own whose values are
# the pair's cells ("mortgage|100_500"), one per lead, fitted beside the two fields with a stronger L2
# (`CROSS_L2`): a cross carries only what the two fields' own points leave out, and a sparse cell
# stays near 0 (the two fields' points alone) until the history shows otherwise.
#   loan_type×amount_band: what an amount means depends on the product. 200万 is a mortgage's sweet
#     spot, an implausible 信用贷 (unsecured loans stop at tens of 万), and 5万 against a property is odd.
#   source×first_contact: speed to lead matters most where the customer is comparing offers right
#     now (a calculator or website form called within 5 minutes), less for a partner's batch or
#     someone met at an event.
CROSSES: dict[str, tuple[str, str]] = {
    "loan_type×amount_band": ("loan_type", "amount_band"),
    "source×first_contact": ("source", "first_contact"),
}
CROSS_SEPARATOR = "|"  # between the two values of a cross's cell; no derived value contains it
# A cross's L2 (the policy's `l2_cross`; the fields' own is `l2`, 1), and how many fitted leads a
# cell needs to get a weight at all (the two fields' points alone score the rarer cells).
CROSS_L2 = 10.0
CROSS_MIN_COUNT = 20
BAND_LABELS = {"high": "高", "medium": "中", "low": "低"}
Band = Literal["high", "medium", "low"]
Basis = Literal["model", "prior"]
MAX_REASONS = 4


def known_field(name: str) -> bool:
    return name in FEATURE_FIELDS or name in CROSSES or (
        name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


def field_name(name: str, custom_labels: Mapping[str, str] | None = None) -> str:
    if name.startswith(CUSTOM_PREFIX):
        return (custom_labels or {}).get(name, name[len(CUSTOM_PREFIX):])
    if name in CROSSES:
        return "×".join(field_name(part) for part in CROSSES[name])
    return FIELD_NAMES.get(name, name)


def crosses_of(fields: Iterable[str]) -> list[str]:
    """The crosses both of whose fields are among `fields` (a cross of an excluded field is out too)."""
    chosen = set(fields)
    return [name for name, (first, second) in CROSSES.items() if first in chosen and second in chosen]


def cross_value(first: str, second: str) -> str:
    return f"{first}{CROSS_SEPARATOR}{second}"


# --- features -----------------------------------------------------------------------------------

_AMOUNT_BOUNDS = [bound for bound, _, _ in AMOUNT_BANDS]
_AMOUNT_VALUES = [*(value for _, value, _ in AMOUNT_BANDS), NONE]  # NONE past the last (infinite) bound


def _amount_band(amount: Any) -> str:
    if not isinstance(amount, (int, float, Decimal)) or isinstance(amount, bool):  # Decimal: DynamoDB's
        return NONE
    number = float(amount)
    if number <= 0:
        return NONE
    return _AMOUNT_VALUES[bisect_right(_AMOUNT_BOUNDS, number)]  # the first band whose bound is above


# Beijing has kept UTC+8 all year since 1991: a fixed offset converts several times faster than the
# zone database, and scoring does it for every lead.
_BEIJING = timezone(timedelta(hours=8))
_BEIJING_SECONDS = 8 * 3600
_HOUR_VALUE = [next(value for until, value, _ in HOUR_SLOTS if hour < until) for hour in range(24)]


def _parse(at: Any) -> datetime | None:
    if not isinstance(at, str):
        return None
    try:
        return datetime.fromisoformat(at)
    except ValueError:
        return None


def _slot(created: datetime | None) -> tuple[str, str]:
    """(hour slot, weekday) of the capture in Beijing time."""
    if created is None:
        return NONE, NONE
    try:
        local = created.astimezone(_BEIJING)
    except (ValueError, OverflowError):
        return NONE, NONE
    return _HOUR_VALUE[local.hour], WEEKDAY_VALUES[local.weekday()]


def _when(created_at: Any) -> tuple[str, str]:
    return _slot(_parse(created_at))


# The bands' bounds as durations (the last, infinite, as the longest one): compared as they are,
# no conversion to minutes per lead.
_FIRST_CONTACT_BOUNDS = [timedelta(minutes=bound) if bound < math.inf else timedelta.max
                         for bound, _, _ in FIRST_CONTACT_BANDS]
_FIRST_CONTACT_VALUES = [*(value for _, value, _ in FIRST_CONTACT_BANDS), NONE]


def _since(created: datetime | None, first_contact_at: Any) -> str:
    """Minutes from capture to the owner's first contact, as a band; `never` without a contact."""
    if not isinstance(first_contact_at, str) or not first_contact_at:
        return "never"
    if created is None:
        return NONE
    try:
        return _FIRST_CONTACT_VALUES[bisect_right(_FIRST_CONTACT_BOUNDS,
                                                  datetime.fromisoformat(first_contact_at) - created)]
    except (ValueError, TypeError):  # not a time, or one of the two without a zone
        return NONE


def _first_contact(created_at: Any, first_contact_at: Any) -> str:
    return _since(_parse(created_at), first_contact_at)


def _count(raw: Any) -> int:
    return int(raw) if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool) and raw > 0 else 0


def _calls(raw: Any) -> str:
    count = _count(raw)
    return "0" if count == 0 else "1" if count == 1 else "2_plus"


def feature_values(lead: Mapping[str, Any], fields: Sequence[str]) -> list[tuple[str, str]]:
    """(field, value) for each of `fields`, derived fields computed, NONE where the lead has nothing."""
    out: list[tuple[str, str]] = []
    hour = weekday = None
    for name in fields:
        if name == "amount_band":
            value = _amount_band(lead.get("amount"))
        elif name == "hour" or name == "weekday":
            if hour is None:
                hour, weekday = _when(lead.get("created_at"))
            value = hour if name == "hour" else weekday  # type: ignore[assignment]
        elif name == "re_inquiry":
            count = len(lead.get("previous_leads") or ())
            value = "0" if count == 0 else "1" if count == 1 else "2_plus"
        elif name == "first_contact":
            value = _first_contact(lead.get("created_at"), lead.get("first_contact_at"))
        elif name == "answered_calls":
            value = _calls(lead.get("answered_calls"))
        elif name == "materials":
            value = "1_plus" if _count(lead.get("materials_sent")) else "0"
        elif name in CROSSES:
            first, second = CROSSES[name]
            pair = dict(out)
            value = cross_value(*(pair[part] if part in pair else feature_values(lead, (part,))[0][1]
                                  for part in (first, second)))
        elif name.startswith(CUSTOM_PREFIX):
            custom = lead.get("custom")
            raw = custom.get(name[len(CUSTOM_PREFIX):]) if isinstance(custom, Mapping) else None
            value = raw if isinstance(raw, str) and raw else NONE
        else:
            raw = lead.get(name)
            value = raw if isinstance(raw, str) and raw else NONE
        out.append((name, value))
    return out


def reason_label(name: str, value: str, labels: Callable[[str, str], str],
                 custom_labels: Mapping[str, str] | None = None) -> str:
    """How a rep reads one factor: 房产抵押贷, 征信：良好,无逾期, 金额30–100万, 周六咨询, and a cross
    as its two values: 房产抵押贷·100–500万, 贷款计算器·5分钟内首次联系."""
    if name in CROSSES:
        first, second = CROSSES[name]
        first_value, _, second_value = value.rpartition(CROSS_SEPARATOR)  # the second is derived: no separator
        return "·".join(_cross_part(part, part_value, labels, custom_labels)
                        for part, part_value in ((first, first_value), (second, second_value)))
    if value == NONE:
        return f"{field_name(name, custom_labels)}未填写"
    derived = DERIVED_LABELS.get(name)
    text = derived.get(value, value) if derived else labels(name, value)
    if name.startswith(CUSTOM_PREFIX):
        return f"{field_name(name, custom_labels)}：{text}"
    return FEATURE_FIELDS.get(name, "") + text


def _cross_part(name: str, value: str, labels: Callable[[str, str], str],
                custom_labels: Mapping[str, str] | None) -> str:
    """One value of a cross, read without its field's prefix where the value says it (100–500万)."""
    derived = DERIVED_LABELS.get(name)
    if derived is not None and value in derived:
        return derived[value]
    return reason_label(name, value, labels, custom_labels)


# --- scoring ------------------------------------------------------------------------------------

class Score(NamedTuple):  # a tuple: made for every lead scored, several times cheaper than a dataclass
    score: int
    band: Band
    reasons: tuple[str, ...]
    basis: Basis
    version: int
    probability: float | None = None

    def as_fields(self) -> Lead:
        """What the lead stores (and routing rules may test: `score`, `score_band`)."""
        out: Lead = {"score": self.score, "score_band": self.band, "score_reasons": list(self.reasons),
                "score_basis": self.basis, "score_version": self.version}
        if self.probability is not None:
            out["score_probability"] = round(self.probability, 4)
        return out


_ENGAGEMENT = frozenset(ENGAGEMENT_FIELDS)
# How `Scorer` reads each field: a plain text field, the capture's hour or weekday, an engagement
# signal, a count of earlier inquiries, the amount, anything else (custom fields), or a cross of two.
_PLAIN, _WHEN, _ENGAGED, _REINQUIRY, _AMOUNT, _OTHER, _CROSS = range(7)


def _kind(name: str) -> int:
    if name in CROSSES:
        return _CROSS
    if name in ("hour", "weekday"):
        return _WHEN
    if name in _ENGAGEMENT:
        return _ENGAGED
    if name == "re_inquiry":
        return _REINQUIRY
    if name == "amount_band":
        return _AMOUNT
    return _OTHER if name.startswith(CUSTOM_PREFIX) else _PLAIN


def format_points(points: int) -> str:
    return f"+{points}" if points > 0 else f"−{-points}"


# A factor that moves a score, as a scorer compiles it: (|points|, −its field's place, points,
# reason). Sorted, the strongest comes first and, among equals, the one of the earlier field.
Hit = tuple[float, int, float, str]
_Ranks = dict[Any, int]  # a field's values (a cross's pairs of values) and the ranks of their factors
_Cross = tuple[_Ranks, int, int]  # a cross's ranks and the slots of its two values
_Engaged = tuple[_Ranks, int, _Ranks, int, _Ranks, int, list[_Cross]]
_new_score = tuple.__new__  # a Score without NamedTuple's __new__ frame: one per lead scored
_WEEK_HOURS = 7 * 24
_EPOCH_HOUR_OF_WEEK = 3 * 24  # 1970-01-01 00:00 (in any zone) was a Thursday: hour 72 of its week


class Scorer:
    """Points per (field, value), compiled once per document version; `score` is pure and fast.

    Compiling ranks every factor any lead can have, strongest first, so that a lead's factors are
    a list of small ints: their points add up from one list, and its reasons are those of its
    smallest ranks. It also sorts the fields by how they are read, so that scoring a lead is a few
    tight loops of dict lookups: the plain text fields, the amount, the capture's hour and weekday
    (one parse, then one lookup of the hour of the week), the earlier inquiries, custom fields, the
    engagement signals (one step, after the first contact only) and the crosses. A cross reads the
    values of its two fields from slots of a list made per lead."""

    def __init__(self, basis: Basis, version: int, points: Mapping[str, Mapping[str, float]],
                 labels: Callable[[str, str], str], *, high_from: int = 70, medium_from: int = 40,
                 custom_labels: Mapping[str, str] | None = None, center: float = 0.0, per_logit: float = 1.0,
                 platt: tuple[float, float] | None = None) -> None:
        self.basis = basis
        self.version = version
        self.fields = tuple(points)
        # Every factor, reasons prebuilt so scoring formats nothing; a cross's by its pair of values.
        factors: list[tuple[Hit, str, Any]] = []
        for place, (name, values) in enumerate(points.items()):
            for value, p in values.items():
                if p == 0:
                    continue
                key: Any = value
                if name in CROSSES:
                    first, _, second = value.rpartition(CROSS_SEPARATOR)
                    key = (first, second)
                reason = f"{reason_label(name, value, labels, custom_labels)} {format_points(round(p))}"
                factors.append(((abs(float(p)), -place, float(p), reason), name, key))
        factors.sort(key=lambda factor: factor[0], reverse=True)
        self._points = [hit[2] for hit, _, _ in factors]
        self._reasons = [hit[3] for hit, _, _ in factors]
        self._weak_from = sum(1 for hit, _, _ in factors if hit[0] >= 0.5)  # smaller factors are no reason
        tables: dict[str, dict[Any, int]] = {name: {} for name in points}  # field -> value -> rank
        for rank, (_, name, key) in enumerate(factors):
            tables[name][key] = rank
        crosses = [name for name, table in tables.items() if name in CROSSES and table]
        slots = {part: place for place, part in enumerate(dict.fromkeys(
            part for name in crosses for part in CROSSES[name]))}
        self._slots = len(slots)
        kinds = {name: _kind(name) for name in (*tables, *slots)}

        def read(kind: int) -> list[str]:  # the fields of a kind that score or that a cross reads
            return [name for name, k in kinds.items() if k == kind and (tables.get(name) or name in slots)]

        def step(name: str) -> tuple[dict[Any, int], int | None, int]:  # table, rank of an empty field, slot
            table = tables.get(name, {})
            return table, table.get(NONE), slots.get(name, -1)

        self._plain = [(name, *step(name)[:2]) for name in read(_PLAIN) if name not in slots]
        self._kept = [(name, *step(name)) for name in read(_PLAIN) if name in slots]
        self._amount = step("amount_band") if read(_AMOUNT) else None
        # Hour and weekday by the hour of the week, Beijing time (Monday 0–8 h is 0…7).
        self._when = None
        if read(_WHEN):
            (hours, _, hour_slot), (weekdays, _, weekday_slot) = step("hour"), step("weekday")
            week = [(_HOUR_VALUE[at % 24], WEEKDAY_VALUES[at // 24]) for at in range(_WEEK_HOURS)]
            self._when = ([(hours.get(hour), weekdays.get(weekday), hour, weekday) for hour, weekday in week],
                          hours, weekdays, hour_slot, weekday_slot)
        self._reinquiry = step("re_inquiry") if read(_REINQUIRY) else None
        self._other = [(name, tables[name]) for name in read(_OTHER)]
        engaged_crosses = [(tables[name], slots[CROSSES[name][0]], slots[CROSSES[name][1]])
                           for name in crosses if set(CROSSES[name]) & _ENGAGEMENT]
        # (table, slot) of the first contact, the answered calls and the materials, then the crosses.
        self._engaged: _Engaged | None = None
        if read(_ENGAGED):
            (contacts, _, contact_slot), (calls, _, calls_slot), (materials, _, materials_slot) = (
                step(signal) for signal in ENGAGEMENT_FIELDS)
            self._engaged = (contacts, contact_slot, calls, calls_slot, materials, materials_slot, engaged_crosses)
        self._crosses = [(tables[name], slots[CROSSES[name][0]], slots[CROSSES[name][1]])
                         for name in crosses if not set(CROSSES[name]) & _ENGAGEMENT]
        self.high_from = high_from
        self.medium_from = medium_from
        self.center = center
        self.per_logit = per_logit
        self.platt = platt

    def explain(self, lead: Mapping[str, Any]) -> list[tuple[float, str]]:
        """The factors of `lead` that move its score, strongest first: (points, reason)."""
        return [(self._points[rank], self._reasons[rank]) for rank in sorted(self._ranks(lead))]

    def _ranks(self, lead: Mapping[str, Any]) -> list[int]:
        out: list[int] = []
        append = out.append
        get = lead.get
        rank: int | None
        for name, table, empty in self._plain:
            raw = get(name)
            rank = table.get(raw) if raw.__class__ is str and raw else empty
            if rank is not None:
                append(rank)
        seen: list[str] = [NONE] * self._slots
        for name, table, empty, slot in self._kept:
            raw = get(name)
            if raw.__class__ is str and raw:
                seen[slot] = raw
                rank = table.get(raw)
            else:
                rank = empty
            if rank is not None:
                append(rank)
        if self._amount is not None:
            table, _, slot = self._amount
            value = _amount_band(get("amount"))
            if slot >= 0:
                seen[slot] = value
            if (rank := table.get(value)) is not None:
                append(rank)
        created: datetime | None = None
        parsed = False  # created_at is parsed once, for the slot and for the minutes to first contact
        if self._when is not None:
            week, hours, weekdays, hour_slot, weekday_slot = self._when
            created, parsed = _parse(get("created_at")), True
            # The hour of the week from the epoch seconds, as astimezone(Beijing) would give it; the
            # first and last years, where astimezone may overflow, take astimezone's own way.
            at_hour = -1
            if created is not None and 1 < created.year < 9999:
                try:
                    at_hour = (int((created.timestamp() + _BEIJING_SECONDS) // 3600) + _EPOCH_HOUR_OF_WEEK) \
                        % _WEEK_HOURS
                except (ValueError, OverflowError, OSError):  # a naive time the local zone cannot place
                    at_hour = -1
            if at_hour >= 0:
                hour_rank, weekday_rank, hour, weekday = week[at_hour]
            else:
                hour, weekday = _slot(created)
                hour_rank, weekday_rank = hours.get(hour), weekdays.get(weekday)
            if hour_slot >= 0:
                seen[hour_slot] = hour
            if weekday_slot >= 0:
                seen[weekday_slot] = weekday
            if hour_rank is not None:
                append(hour_rank)
            if weekday_rank is not None:
                append(weekday_rank)
        if self._reinquiry is not None:
            table, _, slot = self._reinquiry
            count = len(get("previous_leads") or ())
            value = "0" if count == 0 else "1" if count == 1 else "2_plus"
            if slot >= 0:
                seen[slot] = value
            if (rank := table.get(value)) is not None:
                append(rank)
        for name, table in self._other:
            if (rank := table.get(feature_values(lead, (name,))[0][1])) is not None:
                append(rank)
        # Before the owner's first contact the engagement factors (crosses included) score as the
        # average lead's: nothing.
        if self._engaged is not None and (contact := get("first_contact_at")):
            contacts, contact_slot, calls, calls_slot, materials, materials_slot, crosses = self._engaged
            if not parsed:
                created = _parse(get("created_at"))
            value = _since(created, contact)
            if contact_slot >= 0:
                seen[contact_slot] = value
            if (rank := contacts.get(value)) is not None:
                append(rank)
            answered: Any = get("answered_calls")
            if answered.__class__ is not int:
                answered = _count(answered)
            value = "0" if answered <= 0 else "1" if answered == 1 else "2_plus"
            if calls_slot >= 0:
                seen[calls_slot] = value
            if (rank := calls.get(value)) is not None:
                append(rank)
            sent: Any = get("materials_sent")
            value = "1_plus" if (sent > 0 if sent.__class__ is int else _count(sent)) else "0"
            if materials_slot >= 0:
                seen[materials_slot] = value
            if (rank := materials.get(value)) is not None:
                append(rank)
            for table, first, second in crosses:
                if (rank := table.get((seen[first], seen[second]))) is not None:
                    append(rank)
        for table, first, second in self._crosses:
            if (rank := table.get((seen[first], seen[second]))) is not None:
                append(rank)
        return out

    def score(self, lead: Mapping[str, Any]) -> Score:
        ranks = self._ranks(lead)
        ranks.sort()
        points = self._points
        total = 0.0
        for rank in ranks:
            total += points[rank]
        value = round(50 + total)
        if value < 0 or value > 100:
            value = 0 if value < 0 else 100
        band: Band = "high" if value >= self.high_from else "medium" if value >= self.medium_from else "low"
        top = ranks[:MAX_REASONS]  # the strongest; those too weak to name are the largest ranks
        if top and top[-1] >= self._weak_from:
            top = top[:bisect_left(top, self._weak_from)]
        probability = None
        if self.platt is not None:
            a, b = self.platt
            z = a * (self.center + total / self.per_logit) + b
            if z >= 0:  # _sigmoid, inline
                probability = 1.0 / (1.0 + math.exp(-z))
            else:
                e = math.exp(z)
                probability = e / (1.0 + e)
        reasons = tuple(map(self._reasons.__getitem__, top))
        return _new_score(Score, (value, band, reasons, self.basis, self.version, probability))


# --- training -----------------------------------------------------------------------------------

def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half). 0.5 when one class is absent."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(labels[order[k]] for k in range(i, j + 1))
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def brier(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    if not labels:
        return 0.0
    return sum((p - y) ** 2 for p, y in zip(probabilities, labels, strict=True)) / len(labels)


@dataclass
class Trained:
    """A fitted model, as the numbers a model document stores."""

    intercept: float
    weights: dict[str, dict[str, float]]
    points: dict[str, dict[str, float]]
    center: float
    per_logit: float
    platt: tuple[float, float]
    auc: float
    brier: float
    samples: dict[str, int]
    features: list[str]
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)


def split(n: int, seed: int, test: float = 0.2, calibration: float = 0.1) -> tuple[list[int], list[int], list[int]]:
    """Row indices for (fit, calibration, test), shuffled with `seed` (reproducible)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = int(n * test)
    n_cal = int(n * calibration)
    return order[n_test + n_cal:], order[n_test:n_test + n_cal], order[:n_test]


def fit(rows: Sequence[Sequence[tuple[str, str]]], outcomes: Sequence[int], *, l2: float = 1.0,
        min_count: int = 5, sweeps: int = 6, l2_cross: float = CROSS_L2,
        min_cross_count: int = CROSS_MIN_COUNT) -> tuple[float, dict[str, dict[str, float]]]:
    """L2-regularised logistic regression on one-hot (field, value) features: (intercept, weights).

    Values seen fewer than `min_count` times get no weight (they score as the field's average).
    Block-coordinate Newton: per field, the rows' margins give each value's gradient and (diagonal,
    the values of one field being exclusive) Hessian; one exact Newton step per block per sweep.
    Crosses (`CROSSES`) are fields like any other, with their own L2 and minimum count; their
    blocks come after the fields', so each sweep fits the cross to what the fields leave out."""
    n = len(rows)
    if n == 0:
        return 0.0, {}
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        for name, value in row:
            per = counts.setdefault(name, {})
            per[value] = per.get(value, 0) + 1
    # The fields first, then the crosses (a field's block sees the crosses' previous sweep).
    order = sorted(counts, key=lambda name: name in CROSSES)
    index = {name: {value: j for j, value in enumerate(
        v for v, c in counts[name].items() if c >= (min_cross_count if name in CROSSES else min_count))}
        for name in order}
    penalty = {name: l2_cross if name in CROSSES else l2 for name in index}
    columns: dict[str, list[int]] = {name: [-1] * n for name in index}
    for i, row in enumerate(rows):
        for name, value in row:
            columns[name][i] = index[name].get(value, -1)
    weights = {name: [0.0] * len(values) for name, values in index.items()}
    y = [float(o) for o in outcomes]
    positives = sum(y)
    rate = min(max(positives / n, 1e-6), 1 - 1e-6)
    intercept = math.log(rate / (1 - rate))
    z = [intercept] * n
    sig = _sigmoid
    for _ in range(sweeps):
        p = [sig(v) for v in z]
        gradient = sum(p) - positives
        hessian = sum(q * (1 - q) for q in p) or 1.0
        step = -gradient / hessian
        intercept += step
        z = [v + step for v in z]
        for name, column in columns.items():
            w = weights[name]
            if not w:
                continue
            p = [sig(v) for v in z]
            g = [0.0] * len(w)
            h = [0.0] * len(w)
            for i, j in enumerate(column):
                if j >= 0:
                    q = p[i]
                    g[j] += q - y[i]
                    h[j] += q * (1 - q)
            lam = penalty[name]
            delta = [-(g[j] + lam * w[j]) / (h[j] + lam) for j in range(len(w))]
            for j in range(len(w)):
                w[j] += delta[j]
            delta.append(0.0)  # column value -1 (no weight) moves nothing
            z = [v + delta[j] for v, j in zip(z, column, strict=True)]
    named = {name: {value: weights[name][j] for value, j in values.items()} for name, values in index.items()}
    return intercept, named


def margin(intercept: float, weights: Mapping[str, Mapping[str, float]], row: Iterable[tuple[str, str]]) -> float:
    total = intercept
    for name, value in row:
        total += weights.get(name, {}).get(value, 0.0)
    return total


def _platt(margins: Sequence[float], outcomes: Sequence[int], iterations: int = 30) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a·z + b): Newton on two parameters, lightly
    regularised so a tiny or one-sided calibration slice cannot send them off."""
    a, b = 1.0, 0.0
    if not margins or not 0 < sum(outcomes) < len(outcomes):
        return a, b
    ridge = 1e-3
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for z, y in zip(margins, outcomes, strict=True):
            p = _sigmoid(a * z + b)
            r = p - y
            s = p * (1 - p)
            ga += r * z
            gb += r
            haa += s * z * z
            hab += s * z
            hbb += s
        ga += ridge * (a - 1)
        haa += ridge
        hbb += ridge
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) < 1e-9 and abs(db) < 1e-9:
            break
    return a, b


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, int(q * (len(sorted_values) - 1))))]


def train(rows: Sequence[Sequence[tuple[str, str]]], outcomes: Sequence[int], *, l2: float = 1.0,
          min_count: int = 5, seed: int = 26, sweeps: int = 6, l2_cross: float = CROSS_L2) -> Trained:
    """Fit on 70 %, calibrate on 10 %, measure AUC and Brier on the 20 % neither saw."""
    fit_rows, cal_rows, test_rows = split(len(rows), seed)
    intercept, weights = fit([rows[i] for i in fit_rows], [outcomes[i] for i in fit_rows], l2=l2,
                             min_count=min_count, sweeps=sweeps, l2_cross=l2_cross)
    # The average lead's margin, field by field: points are relative to it.
    baseline: dict[str, float] = {}
    fit_margins = []
    for i in fit_rows:
        fit_margins.append(margin(intercept, weights, rows[i]))
        for name, value in rows[i]:
            baseline[name] = baseline.get(name, 0.0) + weights.get(name, {}).get(value, 0.0)
    n_fit = max(len(fit_rows), 1)
    baseline = {name: total / n_fit for name, total in baseline.items()}
    center = intercept + sum(baseline.values())
    spread = sorted(m - center for m in fit_margins)
    widest = max(abs(_quantile(spread, 0.025)), abs(_quantile(spread, 0.975)), 1e-6)
    per_logit = 50.0 / widest  # the middle 95 % of the fitted history spans the 0–100 scale
    points = {name: {value: per_logit * (w - baseline.get(name, 0.0)) for value, w in values.items()}
              for name, values in weights.items()}
    platt = _platt([margin(intercept, weights, rows[i]) for i in cal_rows], [outcomes[i] for i in cal_rows])
    test_margins = [margin(intercept, weights, rows[i]) for i in test_rows]
    test_outcomes = [outcomes[i] for i in test_rows]
    probabilities = [_sigmoid(platt[0] * m + platt[1]) for m in test_margins]
    samples = {"total": len(rows), "won": int(sum(outcomes)), "fit": len(fit_rows), "calibration": len(cal_rows),
               "test": len(test_rows)}
    features = sorted({name for row in rows for name, _ in row})
    return Trained(intercept, weights, points, center, per_logit, platt, auc(test_margins, test_outcomes),
                   brier(probabilities, test_outcomes), samples, features)


def training_outcome(lead: Mapping[str, Any]) -> int | None:
    """1 won, 0 lost or found invalid after someone had it; None for what the model must not learn
    from (still open, a duplicate, invalid at the door)."""
    status = lead.get("status")
    if status == "won":
        return 1
    if status == "lost" or (status == "invalid" and lead.get("first_owner")):
        return 0
    return None
