"""The report builder: a card (measures × at most one time dimension and one other dimension ×
filters × date range) answered from the report counters the lead stream keeps (domain/analytics.py,
`report_contribution`), never from the leads: whole months read one item each, partial months
their days, so a card over a year reads at most 62 day items + 12 month items per dimension, and
each item holds one dimension (its size bounded by that dimension's values). Costs (services/costs.py)
join by day. Every row carries `drill`: the GET /api/leads parameters listing its leads."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from chalicelib.domain import analytics
from chalicelib.domain.access import Principal
from chalicelib.domain.analytics import Figures
from chalicelib.domain.lifecycle import STATUS_LABELS
from chalicelib.domain.records import Drill, Figure, JsonView, ReportResult, ReportRow
from chalicelib.domain.scoring import BAND_LABELS
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import BadRequest, Forbidden
from chalicelib.services import costs as cost_service
from chalicelib.services import names
from chalicelib.services.dashboard import check_range
from chalicelib.store import aggregates, config, directory, tasks

TIME_DIMENSIONS = {"day": "日期", "week": "周", "month": "月份"}
DIMENSIONS = {"source": "渠道", "campaign": "推广活动", "form_id": "表单", "partner_id": "合作方",
              "loan_type": "贷款类型", "purpose": "资金用途",
              "credit_status": "征信情况", "customer_type": "客户画像", "region": "大区",
              "province": "省份", "city": "城市", "team": "团队", "owner": "客户经理", "status": "当前状态",
              "score_band": "评分等级"}
TOP_N = {"city": 10, "campaign": 10}  # high-cardinality: the top N by leads, the rest as 其他
OTHER = "_other"
MEASURES: dict[str, str] = {
    "leads": "线索数", "valid": "有效线索", "intent": "意向客户", "won": "签约数", "won_amount": "签约金额（万元）",
    "valid_rate": "有效率", "intent_rate": "意向率", "won_rate": "转化率", "activities": "跟进次数",
    "fc_median": "首次联系用时中位数（分钟）", "cycle_median": "签约周期中位数（天）", "reclaims": "超时回收",
    "cost": "投放成本（元）", "cost_per_lead": "单条线索成本（元）", "cost_per_valid": "有效线索成本（元）",
    "cost_per_won": "签约成本（元）", "roi": "投入产出比（签约金额/成本）", "overdue_tasks": "逾期任务（当前）"}
# Open tasks past due at the query's time: read from the tasks' per-owner index, one query per rep of
# the scope (tasks due within the last OVERDUE_DAYS, as 我的任务 shows them), so only by team or rep.
OVERDUE = "overdue_tasks"
OVERDUE_DIMENSIONS = frozenset({"team", "owner"})
OVERDUE_DAYS = 90
COST_MEASURES = frozenset({"cost", "cost_per_lead", "cost_per_valid", "cost_per_won", "roi"})
MEDIANS = frozenset({"fc_median", "cycle_median"})
COST_DIMENSIONS = frozenset({"source", "campaign", "partner_id"})
_DRILL_FIELD = {"source": "source", "partner_id": "partner_id", "loan_type": "loan_type", "region": "region",
                "province": "province", "customer_type": "customer_type", "team": "first_team", "owner": "first_owner",
                "score_band": "score_band", "form_id": "form_id", "campaign": "campaign", "purpose": "purpose",
                "credit_status": "credit_status", "city": "city", "status": "status"}
_WON_FIELD = {"team": "team", "owner": "owner"}  # a win counts for the owner at the time
_UNKNOWN = {"partner_id": "无合作方", "team": "公海（未分配）", "owner": "公海（未分配）", "score_band": "未评分",
            "campaign": "无推广活动", "form_id": "非表单来源"}
_STAGE = {"valid": "valid", "intent": "intent", "won": "won", "won_amount": "won", "fc_median": "first_contact",
          "cycle_median": "won", "cost_per_valid": "valid", "cost_per_won": "won", "roi": "won"}


class CardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    measures: list[str] = Field(min_length=1, max_length=8)
    dimensions: list[str] = Field(default_factory=list, max_length=2)
    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    compare: bool = False  # also the previous period of the same length (single figure cards)


def parse(body: object) -> CardQuery:
    try:
        return CardQuery.model_validate(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": _reason(e) for e in exc.errors()}
        raise BadRequest("报表查询参数无效", fields=fields) from exc


def _reason(error: ErrorDetails) -> str:
    kind = str(error.get("type", ""))
    return {"missing": "必填", "extra_forbidden": "不支持的参数",
            "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD", "too_short": "至少选择一项",
            "too_long": "选择过多"}.get(kind, "格式无效")


def custom_dimensions() -> dict[str, str]:
    """The profile's custom option fields, as dimensions `custom.<key>`."""
    return {f"custom.{f.key}": f.label for f in config.lead_profile().custom_fields if f.type in ("option", "multi")}


def catalog() -> JsonView:
    """What the card editor offers, with labels."""
    return {"measures": [{"key": k, "label": v, "cost": k in COST_MEASURES, "now": k == OVERDUE}
                         for k, v in MEASURES.items()],
            "dimensions": [{"key": k, "label": v, "time": True} for k, v in TIME_DIMENSIONS.items()]
            + [{"key": k, "label": v, "time": False} for k, v in {**DIMENSIONS, **custom_dimensions()}.items()],
            "charts": [{"key": k, "label": v} for k, v in CHARTS.items()],
            "products": [{"value": o.value, "label": o.label}
                         for o in config.lead_profile().options.get(analytics.PRODUCT, []) if o.active]}


CHARTS = {"bar": "柱状图", "stacked": "堆叠柱状图", "line": "折线图", "pie": "饼图", "funnel": "漏斗图",
          "table": "表格", "figure": "单个数字"}


@dataclass(frozen=True)
class Plan:
    time: str | None
    dimension: str | None
    scope: str | None  # a team, or None: all teams
    values: frozenset[str] | None  # the dimension's values kept by a filter
    products: frozenset[str] | None = None  # the loan types a card is narrowed to (any dimension)


def plan(who: Principal, q: CardQuery) -> Plan:
    check_range(q.first, q.last)
    unknown = [m for m in q.measures if m not in MEASURES]
    if unknown:
        raise BadRequest("未知的指标", fields={"measures": "、".join(unknown)})
    allowed = {**DIMENSIONS, **custom_dimensions()}
    times = [d for d in q.dimensions if d in TIME_DIMENSIONS]
    others = [d for d in q.dimensions if d in allowed]
    if len(times) + len(others) != len(q.dimensions) or len(set(q.dimensions)) != len(q.dimensions):
        raise BadRequest("未知的维度", fields={"dimensions": "无效"})
    if len(times) > 1 or len(others) > 1:
        raise BadRequest("一张卡片最多一个时间维度和一个其他维度", fields={"dimensions": "组合不支持"})
    dimension = others[0] if others else None
    team_filter = q.filters.get("team")
    if isinstance(team_filter, list):
        team_filter = team_filter[0] if len(team_filter) == 1 else None if not team_filter else "*"
        if team_filter == "*":
            raise BadRequest("团队筛选一次只能选一个团队", fields={"filters.team": "只能选一个"})
    scope = _scope_team(who, team_filter or None)
    values: frozenset[str] | None = None
    products: frozenset[str] | None = None
    for name, chosen in q.filters.items():
        if name == "team":
            continue
        if name == analytics.PRODUCT and name != dimension:
            products = _products(chosen)
            continue
        if name != dimension:
            raise BadRequest(f"筛选“{allowed.get(name, name)}”需要同时按它拆分（选为维度）",
                             fields={f"filters.{name}": "请把它选为维度"})
        values = frozenset([chosen] if isinstance(chosen, str) else chosen)
    if dimension == "team" and scope:
        raise BadRequest("团队视图内不能再按团队拆分", fields={"dimensions": "team"})
    if MEDIANS & set(q.measures) and dimension:
        raise BadRequest("中位数指标只能按时间拆分", fields={"dimensions": allowed[dimension]})
    if COST_MEASURES & set(q.measures):
        if who.role != "admin":
            raise Forbidden("成本为全公司数据，只有管理员可以查看成本指标")
        if products:
            raise BadRequest("投放成本不分贷款类型：成本指标不能按贷款类型筛选",
                             fields={"filters.loan_type": "去掉筛选或成本指标"})
        if scope or (dimension and dimension not in COST_DIMENSIONS):
            raise BadRequest("成本指标只能按时间、渠道、推广活动或合作方拆分（全部团队）",
                             fields={"dimensions": allowed.get(dimension or "", "团队")})
    if OVERDUE in q.measures and products:
        raise BadRequest("逾期任务不能按贷款类型筛选", fields={"filters.loan_type": "去掉筛选或逾期任务"})
    if OVERDUE in q.measures and (times or (dimension and dimension not in OVERDUE_DIMENSIONS)):
        raise BadRequest("逾期任务是当前时刻的数字，只能按团队或客户经理拆分，不能按时间或其他维度拆分",
                         fields={"dimensions": "、".join({**TIME_DIMENSIONS, **allowed}[d] for d in q.dimensions)})
    return Plan(times[0] if times else None, dimension, scope, values, products)


def _products(chosen: str | list[str]) -> frozenset[str]:
    """The loan types of a filter, checked against the lead profile's options (`_none`: no type)."""
    wanted = frozenset([chosen] if isinstance(chosen, str) else chosen)
    known = {o.value for o in config.lead_profile().options.get(analytics.PRODUCT, [])} | {analytics.NONE}
    unknown = sorted(wanted - known)
    if not wanted or unknown:
        raise BadRequest("未知的贷款类型" if unknown else "请至少选择一个贷款类型",
                         fields={"filters.loan_type": "、".join(unknown) or "为空"})
    return wanted


def _scope_team(who: Principal, team: str | None) -> str | None:
    if who.role == "admin":
        return team
    if who.role == "supervisor" and who.team:
        if team not in (None, who.team):
            raise Forbidden("主管只能查看本团队的报表")
        return who.team
    raise Forbidden("只有主管和管理员可以查看报表")


# -- periods ---------------------------------------------------------------------------------------

def segments(first: date, last: date, by_day: bool) -> list[str]:
    """The periods whose items cover first..last: whole months as one month item, the days of a
    partial month (or every day when `by_day`)."""
    out: list[str] = []
    month = date(first.year, first.month, 1)
    while month <= last:
        end = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
        if not by_day and first <= month and end <= last:
            out.append(month.isoformat()[:7])
        else:
            day = max(first, month)
            while day <= min(end, last):
                out.append(day.isoformat())
                day += timedelta(days=1)
        month = end + timedelta(days=1)
    return out


def bucket_of(period: str, time: str | None) -> str:
    """The row a period's item belongs to: the day, the week's Monday, the month, or all."""
    if time is None:
        return analytics.ALL
    if time == "month":
        return period[:7]
    day = date.fromisoformat(period)
    return (day - timedelta(days=day.weekday())).isoformat() if time == "week" else period


def bucket_span(bucket: str, time: str | None, first: date, last: date) -> tuple[date, date]:
    if time is None:
        return first, last
    if time == "month":
        start = date.fromisoformat(bucket + "-01")
        end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    else:
        start = date.fromisoformat(bucket)
        end = start + timedelta(days=6) if time == "week" else start
    return max(start, first), min(end, last)


def bucket_label(bucket: str, time: str, first: date, last: date) -> str:
    start, end = bucket_span(bucket, time, first, last)
    if time == "month":
        return f"{start.year}年{start.month}月"
    if time == "week":
        return f"{start.month}月{start.day}日–{end.month}月{end.day}日"
    return f"{start.month}月{start.day}日"


# -- labels ----------------------------------------------------------------------------------------

def label_of(dimension: str, value: str) -> str:
    if value == OTHER:
        return "其他"
    if value == analytics.NONE:
        return _UNKNOWN.get(dimension, "未填写")
    if dimension in ("source", "loan_type", "customer_type", "purpose", "credit_status"):
        return config.lead_profile().option_label(dimension, value)
    if dimension.startswith("custom."):
        return names.value(dimension[len("custom."):], value)
    if dimension == "score_band":
        return f"评分{BAND_LABELS.get(value, value)}"
    if dimension == "status":
        return STATUS_LABELS.get(value, value)
    if dimension == "team":
        return names.team(value)
    if dimension == "owner":
        return names.user(value)
    if dimension == "partner_id":
        return names.partner(value)
    if dimension == "form_id":
        from chalicelib.services.forms import catalog as forms

        return next((f.title for f in forms().forms if f.form_id == value), value)
    return value


# -- figures ---------------------------------------------------------------------------------------

def _value(measure: str, f: Figures, cost: Decimal | None) -> Figure:
    if measure == "leads":
        return f.n
    if measure in ("valid", "intent", "won"):
        return int(getattr(f, measure))
    if measure == "won_amount":
        return analytics.amount(f.won_amt)
    if measure == "valid_rate":
        return analytics.rate(f.valid, f.n)
    if measure == "intent_rate":
        return analytics.rate(f.intent, f.valid)
    if measure == "won_rate":
        return analytics.rate(f.won, f.n)
    if measure == "activities":
        return f.act
    if measure == "reclaims":
        return f.rc
    if measure == "fc_median":
        return analytics.histogram_median(f.fc)
    if measure == "cycle_median":
        return analytics.histogram_median(f.cy)
    if measure == OVERDUE:
        return None  # not a counter: `_add_overdue` fills it in from the tasks
    spent = cost if cost is not None else Decimal(0)
    if measure == "cost":
        return analytics.amount(spent)
    per = {"cost_per_lead": f.n, "cost_per_valid": f.valid, "cost_per_won": f.won}
    if measure in per:
        return analytics.amount(spent / per[measure]) if per[measure] and spent else None
    # roi: the won amount (万元) in yuan per yuan spent
    return round(float(f.won_amt * 10000 / spent), 2) if spent else None


def _merge(into: Figures, part: Figures) -> None:
    for name in ("n", "valid", "intent", "won", "act", "rc", "fc_n", "fc_sum", "cy_n", "cy_sum"):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    into.won_amt += part.won_amt
    for mine, theirs in ((into.fc, part.fc), (into.cy, part.cy)):
        for k, v in theirs.items():
            mine[k] = mine.get(k, 0) + v


def query(who: Principal, q: CardQuery, now: datetime | None = None) -> ReportResult:
    p = plan(who, q)
    result = _figures(p, q.first, q.last, q.measures)
    out = _shape(p, q, result)
    if q.compare:
        span = (q.last - q.first).days + 1
        before = _figures(p, q.first - timedelta(days=span), q.first - timedelta(days=1), q.measures)
        previous = _shape(p, q.model_copy(update={"first": q.first - timedelta(days=span),
                                                   "last": q.first - timedelta(days=1)}), before)
        out["previous"] = {"from": previous["from"], "to": previous["to"], "total": previous["total"]}
    if OVERDUE in q.measures:
        _add_overdue(out, p, q, now or datetime.now(UTC))
    return out


Cell = tuple[str, str]  # (bucket, dimension value)


@dataclass
class _Result:
    figures: dict[Cell, Figures]
    costs: dict[Cell, Decimal]
    reads: int


def _figures(p: Plan, first: date, last: date, measures: list[str]) -> _Result:
    dimension = p.dimension or "total"
    scope = analytics.scope_of(p.scope)
    scopes = [analytics.product_scope(scope, t) for t in sorted(p.products)] if p.products else [scope]
    periods = segments(first, last, by_day=p.time in ("day", "week"))
    keys = [(analytics.report_scope(dimension, each), period, analytics.REPORT_SHARD)
            for each in scopes for period in periods]
    items = aggregates.read_items(keys)
    out: dict[Cell, Figures] = {}
    for key, counters in items.items():
        bucket = bucket_of(key[1], p.time)
        for value, f in analytics.fold_report([counters], dimension).items():
            _merge(out.setdefault((bucket, value), Figures()), f)
    costs: dict[Cell, Decimal] = {}
    if COST_MEASURES & set(measures):
        def valid_by_partner() -> dict[tuple[str, str], int]:
            return _valid_by_partner(p, first, last)

        for (day, value), spent in cost_service.spend(first, last, p.dimension, valid_by_partner).items():
            cell = (bucket_of(day, p.time), value)
            costs[cell] = costs.get(cell, Decimal(0)) + spent
    return _Result(out, costs, len(keys))


def _valid_by_partner(p: Plan, first: date, last: date) -> dict[tuple[str, str], int]:
    """Valid leads per (day, partner) for partners paid per valid lead: the partner dimension's days."""
    keys = [(analytics.report_scope("partner_id", analytics.ALL), d, analytics.REPORT_SHARD)
            for d in segments(first, last, by_day=True)]
    out: dict[tuple[str, str], int] = {}
    for key, counters in aggregates.read_items(keys).items():
        for value, f in analytics.fold_report([counters], "partner_id").items():
            if f.valid and value != analytics.NONE:
                out[(key[1], value)] = f.valid
    return out


def _shape(p: Plan, q: CardQuery, result: _Result) -> ReportResult:
    dim_key = p.dimension
    cells = set(result.figures) | set(result.costs)
    values = {v for _, v in cells}
    if p.values is not None:
        values &= p.values
    kept = _top(dim_key, values, result) if dim_key else values
    rows: list[ReportRow] = []
    buckets = sorted({b for b, _ in cells}) if p.time else [analytics.ALL]
    if p.time:  # every bucket of the range gets a row (a trend has no holes)
        buckets = sorted({bucket_of(d, p.time) for d in segments(q.first, q.last, by_day=p.time != "month")})
    drill_base = {**({"first_team": p.scope} if p.scope else {})}
    if p.products and len(p.products) == 1:
        drill_base[analytics.PRODUCT] = next(iter(p.products))
    total = Figures()
    total_cost = Decimal(0)
    for bucket in buckets:
        grouped: dict[str, tuple[Figures, Decimal]] = {}
        for value in sorted(values):
            f = result.figures.get((bucket, value), Figures())
            spent = result.costs.get((bucket, value), Decimal(0))
            target = value if value in kept else OTHER
            acc, acc_cost = grouped.get(target, (Figures(), Decimal(0)))
            _merge(acc, f)
            grouped[target] = (acc, acc_cost + spent)
        if not dim_key and not grouped:
            grouped[analytics.ALL] = (Figures(), Decimal(0))
        order = sorted(grouped, key=lambda v: (v == OTHER, -grouped[v][0].n, -float(grouped[v][1]), v))
        for value in order:
            f, spent = grouped[value]
            if dim_key and not (f.n or f.won or f.act or f.rc or spent):
                continue
            _merge(total, f)
            total_cost += spent
            start, end = bucket_span(bucket, p.time, q.first, q.last)
            row: ReportRow = {}
            if p.time:
                row[p.time] = bucket
                row[f"{p.time}_label"] = bucket_label(bucket, p.time, q.first, q.last)
            if dim_key:
                row[dim_key] = value
                row[f"{dim_key}_label"] = label_of(dim_key, value)
            row.update({m: _value(m, f, spent) for m in q.measures})
            drills = {m: _drill(drill_base, start, end, dim_key, value, m, p.scope) for m in q.measures}
            if value == OTHER and dim_key:
                drills = _other_drill(drills, dim_key, kept, p.values)
            row["drill"] = _products_drill(p, drills)
            rows.append(row)
    labels = {**TIME_DIMENSIONS, **DIMENSIONS, **custom_dimensions()}
    out: ReportResult = {
        "from": q.first.isoformat(), "to": q.last.isoformat(),
        "measures": [{"key": m, "label": MEASURES[m]} for m in q.measures],
        "dimensions": [{"key": d, "label": labels[d]} for d in q.dimensions],
        "scope": {"team": p.scope, "label": names.team(p.scope) if p.scope else "全部团队"},
        "rows": rows, "total": {m: _value(m, total, total_cost) for m in q.measures},
        "drill": _products_drill(p, {m: _drill(drill_base, q.first, q.last, None, None, m, p.scope)
                                     for m in q.measures}),
        "items_read": result.reads}
    if p.products:
        out["products"] = [{"key": t, "label": label_of(analytics.PRODUCT, t)} for t in sorted(p.products)]
    return out


def _products_drill(p: Plan, drills: dict[str, Drill | None]) -> dict[str, Drill | None]:
    """The lead list filters one loan type: a card over several gets no drill rather than a wrong one."""
    return {m: None for m in drills} if p.products and len(p.products) > 1 else drills


def _top(dimension: str, values: set[str], result: _Result) -> set[str]:
    limit = TOP_N.get(dimension)
    if limit is None or len(values) <= limit:
        return values
    leads: dict[str, int] = {}
    for (_, value), f in result.figures.items():
        leads[value] = leads.get(value, 0) + f.n
    return set(sorted(values, key=lambda v: (-leads.get(v, 0), v))[:limit])


def _drill(base: dict[str, str], start: date, end: date, dimension: str | None, value: str | None, measure: str,
           scope: str | None) -> Drill:
    """The lead list's filters for one cell (custom fields as `custom.<key>`)."""
    out = {**base, "from": start.isoformat(), "to": end.isoformat()}
    stage = _STAGE.get(measure)
    if stage:
        out["stage"] = stage
    won = stage == "won"
    if won and scope:
        out.pop("first_team", None)
        out["team"] = scope
    if dimension and value is not None:
        if value == OTHER:
            return out  # the 其他 row: `_other_drill` excludes the listed values
        field = dimension if dimension.startswith("custom.") else \
            _WON_FIELD.get(dimension, _DRILL_FIELD[dimension]) if won else _DRILL_FIELD[dimension]
        out[field] = value
    return out


def _other_drill(drills: dict[str, dict[str, str] | None], dimension: str, kept: set[str],
                 chosen: frozenset[str] | None) -> dict[str, dict[str, str] | None]:
    """A top-N dimension's 其他 row lists the leads whose value is none of the top values shown
    (`city_not=上海,杭州,...`). None when a filter narrowed the dimension (the rest is then a list of
    values, not an exclusion) or a shown value holds the list's separator."""
    if chosen is not None or any("," in v for v in kept):
        return {m: None for m in drills}
    excluded = ",".join(sorted(kept))
    return {m: ({**d, f"{_DRILL_FIELD[dimension]}_not": excluded} if d is not None else None)
            for m, d in drills.items()}


def _add_overdue(out: ReportResult, p: Plan, q: CardQuery, now: datetime) -> None:
    """Open tasks past due now, per rep of the scope (its team's members, or every rep and
    supervisor), one query each: bounded by the number of reps, not of leads or of tasks ever made.
    Counted for the rep's team now (the one who must act); no drill (the lead list has no task filter)."""
    people = directory.users_of_team(p.scope) if p.scope else \
        directory.users_by_role("rep") + directory.users_by_role("supervisor")
    since, at = iso_utc(now - timedelta(days=OVERDUE_DAYS)), iso_utc(now)
    counts: dict[str, int] = {}
    for person in people:
        n = tasks.open_past_due(str(person["user_id"]), since, at)
        if not n:
            continue
        value = analytics.ALL if p.dimension is None else str(person["user_id"]) if p.dimension == "owner" \
            else str(person["team"] or analytics.NONE)
        if p.values is None or value in p.values:
            counts[value] = counts.get(value, 0) + n
    rows = out["rows"]
    key = p.dimension
    for row in rows:
        row[OVERDUE] = counts.pop(str(row[key]) if key else analytics.ALL, 0)
        drills = row["drill"]
        if isinstance(drills, dict):
            drills[OVERDUE] = None
    for value, n in sorted(counts.items()):
        if key is None:
            continue
        extra: ReportRow = {key: value, f"{key}_label": label_of(key, value),
                            **{m: _value(m, Figures(), None) for m in q.measures}, OVERDUE: n,
                            "drill": {m: None for m in q.measures}}
        rows.append(extra)
    out["total"][OVERDUE] = sum(v for v in (r[OVERDUE] for r in rows) if isinstance(v, int))
    out["drill"][OVERDUE] = None
    out["overdue_at"] = at
