"""Marketing spend: entered per channel (and campaign / partner) per day or per month, by form
(`POST /api/costs`) or spreadsheet (the import machinery, `start_upload`), or a partner's price per
valid lead. The report builder joins it to the lead counters by day: a month's spend is spread
evenly over its days, a partner's price is paid for each valid lead it brought that day."""

from __future__ import annotations

import calendar
import contextlib
import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from chalicelib.domain import analytics
from chalicelib.domain.access import Principal
from chalicelib.domain.records import ItemOutcome, JsonObject, JsonView, PartnerPriceView, SpendEntryView
from chalicelib.errors import BadRequest, Forbidden
from chalicelib.store import config, directory
from chalicelib.store import reports as store

MAX_AMOUNT = Decimal("1000000000")  # yuan, one entry
PARTNER_SOURCE = "partner"  # the channel a partner's per-lead price is counted under
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SEP = "~"


class CostEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, max_length=40)
    campaign: str | None = Field(default=None, max_length=100)
    partner_id: str | None = Field(default=None, max_length=64)
    day: date | None = None
    month: str | None = None
    amount: Decimal = Field(ge=0, le=MAX_AMOUNT, decimal_places=2)

    @model_validator(mode="after")
    def _one_period(self) -> CostEntry:
        if (self.day is None) == (self.month is None):
            raise ValueError("须填写日期或月份之一")
        if self.month is not None and not _MONTH.match(self.month):
            raise ValueError("月份格式应为 YYYY-MM")
        return self


class PartnerPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(min_length=1, max_length=64)
    price_per_valid: Decimal | None = Field(default=None, ge=0, le=Decimal(100000), decimal_places=2)


class CostBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[JsonObject] = Field(default_factory=list, max_length=1000)  # each validated apart
    prices: list[JsonObject] = Field(default_factory=list, max_length=200)


def _clean(text: str | None) -> str:
    return (text or "").strip().replace("|", "_").replace(_SEP, "-") or analytics.NONE


def check(raw: object) -> tuple[CostEntry | None, dict[str, str]]:
    """An entry, or the reasons (Chinese, per field) it is refused."""
    try:
        entry = CostEntry.model_validate(raw)
    except ValidationError as exc:
        return None, {".".join(str(p) for p in e["loc"]) or "entry": _reason(e) for e in exc.errors()}
    errors: dict[str, str] = {}
    if entry.source not in config.lead_profile().option_values("source"):
        errors["source"] = "未知的渠道"
    if entry.partner_id and not directory.partner_active(entry.partner_id):
        errors["partner_id"] = "未知或已停用的合作方"
    return (None, errors) if errors else (entry, {})


def _reason(error: ErrorDetails) -> str:
    kind = str(error.get("type", ""))
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ")
    return {"missing": "必填", "extra_forbidden": "不支持的字段", "greater_than_equal": "不能为负数",
            "less_than_equal": "金额过大", "decimal_max_places": "最多两位小数",
            "decimal_parsing": "应为数字", "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
            "string_too_long": "过长"}.get(kind, "格式无效")


def _require_admin(who: Principal) -> None:
    if who.role != "admin":
        raise Forbidden("只有管理员可以录入投放成本")


def save(entries: Iterable[CostEntry]) -> int:
    rows = []
    for e in entries:
        month = e.month or e.day.isoformat()[:7]  # type: ignore[union-attr]
        period = "m" if e.month else f"{e.day:%d}"
        rows.append((month, e.source, f"{_clean(e.campaign)}{_SEP}{_clean(e.partner_id)}|{period}", e.amount))
    store.set_spend(rows)
    return len(rows)


def record(who: Principal, body: object) -> JsonView:
    """Enter spend and partner prices; a refused entry changes nothing and does not stop the others."""
    _require_admin(who)
    try:
        parsed = CostBody.model_validate(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        raise BadRequest("请求格式无效：应为 {\"entries\": [...], \"prices\": [...]}",
                         fields={".".join(str(p) for p in e["loc"]): _reason(e) for e in exc.errors()}) from exc
    results: list[ItemOutcome] = []
    good: list[CostEntry] = []
    for index, raw in enumerate(parsed.entries):
        entry, errors = check(raw)
        outcome: ItemOutcome = {"index": index, "status": "saved" if entry else "rejected"}
        if errors:
            outcome["errors"] = errors
        results.append(outcome)
        if entry:
            good.append(entry)
    save(good)
    price_results: list[ItemOutcome] = []
    for index, raw in enumerate(parsed.prices):
        try:
            price = PartnerPrice.model_validate(raw)
        except ValidationError as exc:
            price_results.append({"index": index, "status": "rejected", "errors": {
                ".".join(str(p) for p in e["loc"]): _reason(e) for e in exc.errors()}})
            continue
        if not directory.partner_active(price.partner_id):
            price_results.append({"index": index, "status": "rejected",
                                  "errors": {"partner_id": "未知或已停用的合作方"}})
            continue
        store.set_price(price.partner_id, price.price_per_valid)
        price_results.append({"index": index, "status": "saved"})
    return {"saved": len(good), "rejected": len(parsed.entries) - len(good), "results": results,
            "prices": price_results}


def overview(who: Principal, month: str) -> JsonView:
    """A month's entries as entered, and the partner prices."""
    _require_admin(who)
    if not _MONTH.match(month):
        raise BadRequest("月份格式应为 YYYY-MM", fields={"month": "格式无效"})
    from chalicelib.services.reports import label_of

    entries: list[SpendEntryView] = []
    for source, attrs in sorted(store.spend_of(month).items()):
        for name, amount in sorted(attrs.items()):
            who_part, _, period = name.rpartition("|")
            campaign, _, partner = who_part.partition(_SEP)
            entry: SpendEntryView = {
                "source": source, "source_label": label_of("source", source),
                "campaign": None if campaign == analytics.NONE else campaign,
                "partner_id": None if partner == analytics.NONE else partner,
                "partner_label": None if partner == analytics.NONE else label_of("partner_id", partner)}
            if period == "m":
                entry["month"] = month
            else:
                entry["day"] = f"{month}-{period}"
            entry["amount"] = float(amount)
            entries.append(entry)
    prices: list[PartnerPriceView] = [
        {"partner_id": p, "partner_label": label_of("partner_id", p), "price_per_valid": float(v)}
        for p, v in sorted(store.prices().items())]
    return {"month": month, "entries": entries, "prices": prices}


def _months(first: date, last: date) -> list[str]:
    out, day = [], first.replace(day=1)
    while day <= last:
        out.append(day.isoformat()[:7])
        day = (day + timedelta(days=32)).replace(day=1)
    return out


def spend(first: date, last: date, dimension: str | None,
          valid_by_partner: Callable[[], dict[tuple[str, str], int]]) -> dict[tuple[str, str], Decimal]:
    """(Shanghai day, value of `dimension`: source, campaign, partner_id, or `all`) → yuan spent."""
    out: dict[tuple[str, str], Decimal] = {}

    def add(day: str, source: str, campaign: str, partner: str, amount: Decimal) -> None:
        value = {"source": source, "campaign": campaign, "partner_id": partner}.get(dimension or "", analytics.ALL)
        out[(day, value)] = out.get((day, value), Decimal(0)) + amount

    for month in _months(first, last):
        year, number = int(month[:4]), int(month[5:])
        length = calendar.monthrange(year, number)[1]
        for source, attrs in store.spend_of(month).items():
            for name, amount in attrs.items():
                who_part, _, period = name.rpartition("|")
                campaign, _, partner = who_part.partition(_SEP)
                days = range(1, length + 1) if period == "m" else [int(period)]
                share = amount / length if period == "m" else amount
                for d in days:
                    when = date(year, number, d)
                    if first <= when <= last:
                        add(when.isoformat(), source, campaign, partner, share)
    paid = store.prices()
    if paid:
        for (on, partner), valid in valid_by_partner().items():
            if partner in paid:
                add(on, PARTNER_SOURCE, analytics.NONE, partner, paid[partner] * valid)
    return out


# -- spreadsheet upload (the import machinery: job, file checks, error report) --------------------

FIELD_LABELS = {"source": "渠道", "campaign": "推广活动", "partner_id": "合作方", "day": "日期", "month": "月份",
                "amount": "金额", "entry": "整行"}
HEADERS = {"日期": "day", "月份": "month", "渠道": "source", "推广活动": "campaign", "活动": "campaign",
           "合作方": "partner_id", "金额": "amount", "金额(元)": "amount", "金额（元）": "amount", "成本": "amount",
           "花费": "amount"}


def sheet_rows(rows: Iterable[list[object]]) -> tuple[list[str], list[tuple[int, CostEntry | None, dict[str, str],
                                                                          list[str]]]]:
    """A spend sheet's header and rows: (row number, entry or None, reasons, original cells). Labels
    are accepted for channels (官网表单) as well as codes; partners by their ID."""
    profile = config.lead_profile()
    channels = {o.label: o.value for o in profile.options.get("source", [])}
    header: list[str] = []
    columns: dict[int, str] = {}
    out: list[tuple[int, CostEntry | None, dict[str, str], list[str]]] = []
    for number, row in enumerate(rows, start=1):
        cells = ["" if c is None else str(c).strip() for c in row]
        if not columns:
            found = {i: HEADERS[c.replace(" ", "")] for i, c in enumerate(cells) if c.replace(" ", "") in HEADERS}
            if "amount" in found.values() and "source" in found.values():
                header, columns = cells, found
            continue
        if not any(cells):
            continue
        text: dict[str, str] = {}
        for i, key in columns.items():
            value = cells[i] if i < len(cells) else ""
            if value:
                text[key] = value
        if "source" in text:
            text["source"] = channels.get(text["source"], text["source"])
        for key in ("day", "month"):
            if key in text:
                text[key] = _period_text(text[key], key)
        raw: dict[str, object] = dict(text)
        if "amount" in text:
            with contextlib.suppress(InvalidOperation):  # left as text: validation names the field
                raw["amount"] = Decimal(text["amount"].replace(",", "")).quantize(Decimal("0.01"))
        entry, errors = check(raw)
        out.append((number, entry, errors, cells))
    if not columns:
        raise BadRequest("未找到表头：须包含“渠道”和“金额”列，以及“日期”或“月份”列")
    return header, out


def _period_text(value: str, key: str) -> str:
    text = value.split(" ")[0].split("T")[0].replace("/", "-").replace("年", "-").replace("月", "-").rstrip("-")
    text = text.removesuffix("日")
    parts = text.split("-")
    if key == "month" and len(parts) >= 2:
        return f"{parts[0]}-{int(parts[1]):02d}" if parts[1].isdigit() else text
    if key == "day" and len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[0]}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return text
