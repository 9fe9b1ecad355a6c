"""The dashboard: figures for the leads created in a date range (Asia/Shanghai days), read from
the stream-maintained aggregates (a fixed number of queries, whatever the number of leads).
Every figure carries `drill`: the GET /api/leads query parameters listing exactly its leads."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain import analytics
from chalicelib.domain.access import Principal
from chalicelib.domain.analytics import Figures
from chalicelib.domain.records import JsonView
from chalicelib.domain.scoring import BAND_LABELS
from chalicelib.errors import BadRequest, Forbidden
from chalicelib.services import names
from chalicelib.store import aggregates, config, directory

MAX_DAYS = 366
# Teams and reps are the ones that first received the lead (domain/analytics.py): drill by those.
_DIMENSION_FIELD = {"source": "source", "partner_id": "partner_id", "loan_type": "loan_type", "region": "region",
                    "province": "province", "customer_type": "customer_type", "team": "first_team",
                    "owner": "first_owner", "score_band": "score_band", "form_id": "form_id", "campaign": "campaign"}
_BAND_ORDER = {"high": 0, "medium": 1, "low": 2}
FUNNEL_LABELS = {"total": "总线索", "valid": "有效线索", "intent": "意向客户", "won": "签约客户"}
_UNKNOWN = {"partner_id": "无合作方", "team": "公海（未分配）", "owner": "公海（未分配）", "score_band": "未评分"}


# The conversion cycle's distribution (whole days from creation to 放款), as a manager reads it.
CYCLE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("7 天内", 0, 7), ("8–14 天", 8, 14), ("15–30 天", 15, 30), ("31–60 天", 31, 60), ("61–90 天", 61, 90),
    ("90 天以上", 91, None))
TREND_DAILY_MAX = 62  # a longer range charts by week (Monday to Sunday, cut at the range's ends)


def _trend_buckets(first: date, last: date) -> list[tuple[date, date]]:
    if (last - first).days < TREND_DAILY_MAX:
        return [(first + timedelta(days=i), first + timedelta(days=i)) for i in range((last - first).days + 1)]
    out, start = [], first
    while start <= last:
        end = min(last, start + timedelta(days=6 - start.weekday()))
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def _day_label(day: date) -> str:
    return f"{day.month}月{day.day}日"


def check_range(first: date, last: date) -> None:
    if first > last:
        raise BadRequest("开始日期不能晚于结束日期", fields={"from": "晚于结束日期"})
    if (last - first).days >= MAX_DAYS:
        raise BadRequest(f"日期范围最长 {MAX_DAYS} 天", fields={"to": f"超过 {MAX_DAYS} 天"})


def _scope_team(who: Principal, team: str | None) -> str | None:
    if who.role == "admin":
        return team or None
    if who.role == "supervisor" and who.team:
        if team not in (None, "", who.team):
            raise Forbidden("主管只能查看本团队的看板")
        return who.team
    raise Forbidden("只有主管和管理员可以查看看板")


class _Labels:
    def __init__(self) -> None:
        self.profile = config.lead_profile()
        self.teams: dict[str, str] = {}
        self.users: dict[str, directory.User | None] = {}

    def of(self, dimension: str, value: str) -> str:
        if value == analytics.NONE:
            return _UNKNOWN.get(dimension, "未知")
        if dimension in ("source", "loan_type", "customer_type"):
            return self.profile.option_label(dimension, value)
        if dimension == "score_band":
            return f"评分{BAND_LABELS.get(value, value)}"
        if dimension == "team":
            if value not in self.teams:
                self.teams[value] = directory.team_label(value) or value
            return self.teams[value]
        if dimension == "owner":
            user = self.user(value)
            return user.name if user else value
        if dimension == "partner_id":
            return names.partner(value)
        return value

    def user(self, user_id: str) -> directory.User | None:
        if user_id not in self.users:
            self.users[user_id] = directory.get_user(user_id)
        return self.users[user_id]


def _form_figures(figures: dict[str, dict[str, Figures]], first: date, last: date, scoped: str | None,
                  drill: Any) -> JsonView:
    """Per hosted form and per campaign: page views (counted when the form is served: the org's,
    not a team's, so only in the all-teams view), submissions (leads), valid leads, wins."""
    from chalicelib.services.forms import catalog
    from chalicelib.store import forms as form_store

    titles = {form.form_id: form.title for form in catalog().forms}
    by_form = figures.get("form_id", {})
    ids = sorted(set(titles) | {v for v in by_form if v != analytics.NONE})
    seen = form_store.views(ids, first, last) if not scoped else {}
    campaign_views: dict[str, int] = {}
    for counts in seen.values():
        for name, n in counts.items():
            if name.startswith("c|"):
                campaign_views[name[2:]] = campaign_views.get(name[2:], 0) + n

    def row(dimension: str, value: str, label: str, views: int | None) -> JsonView:
        f = figures.get(dimension, {}).get(value, Figures())
        return {"value": value, "label": label, "views": views, "submissions": f.n, "valid": f.valid, "won": f.won,
                "submit_rate": analytics.rate(f.n, views) if views is not None else None,
                "valid_rate": analytics.rate(f.valid, f.n), "conversion": analytics.rate(f.won, f.n),
                "drill": {"submissions": drill(dimension, value), "valid": drill(dimension, value, "valid"),
                          "won": drill(dimension, value, "won")}}

    forms = [row("form_id", i, titles.get(i, i), None if scoped else seen.get(i, {}).get("n", 0)) for i in ids]
    campaigns = sorted({v for v, f in figures.get("campaign", {}).items() if v != analytics.NONE and f.n}
                       | set(campaign_views))
    return {"forms": forms,
            "campaigns": [row("campaign", c, c, None if scoped else campaign_views.get(c, 0)) for c in campaigns]}


def _read(scope: str, first: date, last: date, today: date) -> tuple[dict[str, dict[str, Figures]], dict[str, Figures]]:
    """The range's figures (its cover's items summed, signed) and each day's trend figures: one
    BatchGetItem of the cover (at most 10 items for 30 days, 24 for a year) and a trend item per
    month, whatever the number of leads."""
    periods = analytics.cover(first, last, today + timedelta(days=1))  # a day's margin for clocks
    months = sorted({f"{first + timedelta(days=i):%Y-%m}" for i in range((last - first).days + 1)})
    keys = [(scope, period, analytics.DASH) for _, period in periods] + [(scope, m, analytics.TREND) for m in months]
    items = aggregates.read_items(keys)
    summed: dict[str, Decimal] = {}
    for sign, period in periods:
        for name, amount in items[(scope, period, analytics.DASH)].items():
            summed[name] = summed.get(name, Decimal(0)) + sign * amount
    daily = {f"{m}-{d}": f for m in months
             for d, f in analytics.fold([items[(scope, m, analytics.TREND)]]).get("trend", {}).items()}
    return analytics.fold([summed]), daily


def dashboard(who: Principal, first: date, last: date, team: str | None, today: date) -> JsonView:
    """`today`: the Shanghai day of the request (no lead is created after it)."""
    check_range(first, last)
    scoped = _scope_team(who, team)
    figures, daily = _read(analytics.scope_of(scoped), first, last, today)
    base = {"from": first.isoformat(), "to": last.isoformat(), **({"team": scoped} if scoped else {})}
    # A team's figures are its leads wherever they are now (a reclaimed one sits in the pool).
    drill_base = {"from": base["from"], "to": base["to"], **({"first_team": scoped} if scoped else {})}
    labels = _Labels()

    def drill(dimension: str | None = None, value: str | None = None, stage: str | None = None) -> dict[str, str]:
        out = dict(drill_base)
        if dimension and value is not None:
            out[_DIMENSION_FIELD[dimension]] = value
        if stage:
            out["stage"] = stage
        return out

    def funnel_row(dimension: str, value: str, f: Figures) -> JsonView:
        return {"value": value, "label": labels.of(dimension, value), "leads": f.n, "valid": f.valid,
                "valid_rate": analytics.rate(f.valid, f.n), "intent": f.intent, "won": f.won,
                "conversion": analytics.rate(f.won, f.n), "won_amount": analytics.amount(f.won_amt),
                "reclaimed": f.rc,
                "drill": {"leads": drill(dimension, value), "valid": drill(dimension, value, "valid"),
                          "intent": drill(dimension, value, "intent"), "won": drill(dimension, value, "won"),
                          "won_amount": drill(dimension, value, "won")}}

    def cycle_row(dimension: str | None, value: str, f: Figures) -> JsonView:
        row: JsonView = {"avg_days": analytics.average(f.cy_sum, f.cy_n),
                         "median_days": analytics.histogram_median(f.cy), "won": f.cy_n,
                         "drill": drill(dimension, value, "won")}
        return {"value": value, "label": labels.of(dimension, value), **row} if dimension else row

    def rows_of(dimension: str) -> list[tuple[str, Figures]]:
        """Values with leads or wins in the scope (another team's rep logging a call makes no row)."""
        return sorted(((v, f) for v, f in figures.get(dimension, {}).items() if f.n or f.won or
                       (dimension in ("team", "owner") and (f.rc or f.act or f.fc_n))),
                      key=lambda kv: (-kv[1].n, kv[0]))

    total = figures.get("total", {}).get(analytics.ALL, Figures())
    funnel = {"total": total.n, "valid": total.valid, "intent": total.intent, "won": total.won,
              "won_amount": analytics.amount(total.won_amt),
              "rates": {"valid_rate": analytics.rate(total.valid, total.n),
                        "intent_rate": analytics.rate(total.intent, total.valid),
                        "won_rate": analytics.rate(total.won, total.intent),
                        "conversion": analytics.rate(total.won, total.n)},
              "labels": FUNNEL_LABELS,
              "drill": {"total": drill(), "valid": drill(stage="valid"), "intent": drill(stage="intent"),
                        "won": drill(stage="won"), "won_amount": drill(stage="won")}}
    ranked: list[tuple[tuple[float, int, int, str], JsonView]] = []
    for owner, f in rows_of("owner"):
        if owner == analytics.NONE:
            continue
        rank = (-float(analytics.amount(f.won_amt)), -int(f.won), -int(f.n), str(owner))
        ranked.append((rank, {
            "owner": owner, "label": labels.of("owner", owner), "team": getattr(labels.user(owner), "team", None),
            "leads": f.n, "activities": f.act, "won": f.won, "won_amount": analytics.amount(f.won_amt),
            "reclaimed": f.rc,
            "first_contact_median_minutes": analytics.histogram_median(f.fc),
            "first_contact_avg_minutes": analytics.average(f.fc_sum, f.fc_n), "first_contacted": f.fc_n,
            "drill": {"leads": drill("owner", owner), "activities": drill("owner", owner),
                      "won": {**drill(), "owner": owner, "stage": "won"},
                      "won_amount": {**drill(), "owner": owner, "stage": "won"},
                      "first_contact": drill("owner", owner, "first_contact")}}))
    leaderboard = [row for _, row in sorted(ranked, key=lambda ranked_row: ranked_row[0])]
    # Leads / valid / won per day (per week past TREND_DAILY_MAX days), each point drilling to its days.
    trend: list[JsonView] = []
    for start, end in _trend_buckets(first, last):
        f = Figures()
        for i in range((end - start).days + 1):
            day = daily.get((start + timedelta(days=i)).isoformat(), Figures())
            f.n, f.valid, f.won = f.n + day.n, f.valid + day.valid, f.won + day.won
        span = {**drill_base, "from": start.isoformat(), "to": end.isoformat()}
        trend.append({"from": start.isoformat(), "to": end.isoformat(),
                      "label": _day_label(start) if start == end else f"{_day_label(start)}–{_day_label(end)}",
                      "leads": f.n, "valid": f.valid, "won": f.won,
                      "drill": {"leads": span, "valid": {**span, "stage": "valid"}, "won": {**span, "stage": "won"}}})
    # Within one team's scope the team is the total.
    teams = [(scoped, total)] if scoped else rows_of("team")
    return {
        "range": {**base, "days": (last - first).days + 1,
                  "team_label": labels.of("team", scoped) if scoped else "全部团队"},
        "funnel": funnel,
        "channels": [funnel_row("source", v, f) for v, f in rows_of("source")],
        "partners": [funnel_row("partner_id", v, f) for v, f in rows_of("partner_id") if v != analytics.NONE],
        "products": [funnel_row("loan_type", v, f) for v, f in rows_of("loan_type")],
        "teams": [funnel_row("team", v, f) for v, f in teams if f.n or f.won or f.rc],
        # Won rate (`conversion`) by score band, high to low: the score is right when it falls with the band.
        "score_bands": sorted((funnel_row("score_band", v, f) for v, f in rows_of("score_band")),
                              key=lambda row: _BAND_ORDER.get(str(row["value"]), 9)),
        "leaderboard": leaderboard,
        "trend": {"unit": "day" if (last - first).days < TREND_DAILY_MAX else "week", "points": trend},
        "cycle": {"overall": cycle_row(None, analytics.ALL, total),
                  "distribution": [{"label": label, "min_days": low, "max_days": high,
                                    "won": sum(n for d, n in total.cy.items() if low <= d <= (high or 10**6)),
                                    "drill": drill(stage="won")} for label, low, high in CYCLE_BUCKETS],
                  "by_product": [cycle_row("loan_type", v, f) for v, f in rows_of("loan_type") if f.cy_n],
                  "by_team": [cycle_row("team", v, f) for v, f in teams if f.cy_n]},
        **_form_figures(figures, first, last, scoped, drill),
        "distributions": {d: [{"value": v, "label": labels.of(d, v), "leads": f.n, "drill": drill(d, v)}
                              for v, f in rows_of(d)] for d in ("region", "province", "loan_type", "customer_type")},
    }
