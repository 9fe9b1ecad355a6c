"""Items and read units of a 30-day dashboard, at 1,000 and at 50,000 leads in 30 days.

In-process moto (moto.mock_aws, nothing under .local/), the demo org seeded. Seeding 100,000 leads
through capture and the full stream path takes too long against moto, so the counters are written
from synthetic final lead images (61 days of steady traffic over every channel, region, product,
team and rep, with contacts, intent, won amounts) by the same code the stream uses to compute a
lead's contribution (`chalicelib.domain.analytics.contribution`), summed per counter item and
written once per item (the rebuild path, `chalicelib.store.aggregates.replace`). The counters are
identical to what the stream would leave (tests/test_dashboard.py shows stream counters = rebuilt
counters).

Then `chalicelib.services.dashboard.dashboard` runs as admin for the 30 days ending on each day of
the last month (its request's day that day: the view a manager opens each morning), once to warm the
container's caches and then each measured: items returned by DynamoDB (Query items, GetItem and
BatchGetItem hits) and read units (computed from item sizes by DynamoDB's rules, see bench/meter.py).
A view's ratio is its 50,000-lead read units over its 1,000-lead ones; the figure is their mean over
the month's days, the worst day beside it (the pre-merged items that cover a range depend on where
it starts and ends in its months: `analytics.cover`).
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

from bench.meter import DynamoMeter

_SOURCES = ["website_form", "online_chat", "loan_calculator", "wechat", "douyin", "zhihu", "partner", "offline_event"]
_REGIONS = ["华东", "华南", "华北", "华中", "西南", "西北", "东北"]
_PROVINCES = ["上海", "江苏", "浙江", "安徽", "广东", "福建", "广西", "北京", "天津", "河北", "山东", "河南", "湖北",
              "湖南", "四川", "重庆", "云南", "陕西", "甘肃", "辽宁", "吉林", "黑龙江", "江西", "山西", "贵州", None]
_LOAN_TYPES = ["mortgage", "credit", "business", "car", "other"]
_CUSTOMERS = ["business_owner", "salaried", "self_employed", "freelancer", "other", None]
_TEAMS = {"sh_mortgage": ["sh_rep1", "sh_rep2", "sh_rep3"], "south_credit": ["gz_rep1", "gz_rep2"]}
DAYS = 61
TODAY = date(2026, 6, 30)
VIEW_DAYS = 30


class ItemMeter(DynamoMeter):
    """The meter, plus the number of items each read returned."""

    def __init__(self, endpoint: str | None, region: str, table_prefix: str = "") -> None:
        super().__init__(endpoint, region, table_prefix)
        self.items: dict[str, int] = {}

    def attach(self, events: Any) -> None:
        super().attach(events)
        events.register("after-call.dynamodb.*", self._count_items)

    def _count_items(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            found = len(parsed.get("Items", []))
        elif model.name == "GetItem":
            found = int("Item" in parsed)
        elif model.name == "BatchGetItem":
            found = sum(len(v) for v in parsed.get("Responses", {}).values())
        else:
            return
        self.items[self.phase] = self.items.get(self.phase, 0) + found


def synthetic_lead(i: int, rng: random.Random) -> dict[str, Any]:
    day = TODAY - timedelta(days=rng.randrange(DAYS))
    created = datetime(day.year, day.month, day.day, rng.randrange(1, 15), rng.randrange(60), tzinfo=UTC)
    status = rng.choices(["pool", "assigned", "contacted", "observing", "intent", "qualifying", "won", "lost",
                          "invalid", "duplicate"], [8, 10, 20, 10, 8, 5, 6, 13, 12, 8])[0]
    lead: dict[str, Any] = {"lead_id": f"L{day:%Y%m%d}{i:06d}", "day": day.isoformat(),
                            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "status": status,
                            "source": rng.choice(_SOURCES), "loan_type": rng.choice(_LOAN_TYPES),
                            "region": rng.choice(_REGIONS), "province": rng.choice(_PROVINCES),
                            "customer_type": rng.choice(_CUSTOMERS)}
    if lead["source"] == "partner":
        lead["partner_id"] = rng.choice(["demo_partner", "rong360", "haodai"])
    if status not in ("pool", "invalid", "duplicate"):
        lead["team"] = rng.choice(list(_TEAMS))
        lead["owner"] = rng.choice(_TEAMS[lead["team"]])
    if status not in ("pool", "assigned", "invalid", "duplicate"):
        lead["first_contact_at"] = (created + timedelta(minutes=rng.randrange(5, 3000))).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z")
        lead["activity_count"] = rng.randint(1, 6)
    if status in ("intent", "qualifying", "won") or (status == "observing" and rng.random() < 0.3):
        lead["intent_at"] = lead["created_at"]
    if status == "won":
        lead["won_amount"] = rng.choice([20, 35.5, 50, 80, 120, 300])
        lead["won_date"] = (day + timedelta(days=rng.randrange(0, 30))).isoformat()
    return {k: v for k, v in lead.items() if v is not None}


def measure(per_view: int) -> dict[str, list[float]]:
    """Per 30-day view ending on each of the last 30 days: items read, read units, requests, leads in
    range; `per_view` leads arrive in 30 days."""
    import tempfile
    from pathlib import Path

    import moto

    from local.env import configure
    from local.fast_moto import counter_adds, plain_json_answers, quick_query

    # moto's costs that say nothing about ours, as in the local stack (a counter item holds hundreds of
    # attributes: moto alone measured each one's put quadratically, minutes at 50,000 leads)
    plain_json_answers()
    counter_adds()
    quick_query()

    saved = dict(os.environ)
    state = tempfile.TemporaryDirectory(prefix="bench-dashboard-")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    configure(None, 8000, Path(state.name))
    try:
        with moto.mock_aws():
            import boto3

            from chalicelib.domain import analytics
            from chalicelib.domain.access import Principal
            from chalicelib.settings import get_settings
            from chalicelib.store import aggregates, config, connection
            from chalicelib.store.schema import table_definitions
            from local.env import REGION
            from local.seed import seed_demo_org

            connection.reset()
            config.clear_cache()
            ddb = boto3.client("dynamodb", region_name=REGION)
            for definition in table_definitions():
                ddb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLiveAttribute"})
            boto3.client("events", region_name=REGION).create_event_bus(Name=get_settings().event_bus)
            seed_demo_org("2026-05-01T00:00:00.000Z", Path(state.name))
            rng = random.Random(per_view)
            counters: analytics.Contribution = {}
            # The report builder's items are not read here (bench/reports.py measures them): not computed.
            with mock.patch.object(analytics, "report_contribution", lambda *_: {}):
                for i in range(per_view * DAYS // VIEW_DAYS):
                    analytics.add_into(counters, analytics.contribution(synthetic_lead(i, rng)))
            for key, attrs in counters.items():
                if key[2] in (analytics.DASH, analytics.TREND):  # the report builder's items: bench/reports.py
                    aggregates.replace(key, {k: v for k, v in attrs.items() if v})
            scopes = sorted({key[0] for key in counters if key[2] == analytics.DASH})

            from chalicelib.services.dashboard import dashboard

            meter = ItemMeter(None, REGION, get_settings().table_prefix)
            meter.install()
            connection.reset()
            admin = Principal("admin", "admin")
            out: dict[str, list[float]] = {"items": [], "read_units": [], "requests": [], "leads_in_range": []}
            try:
                meter.phase = "warm"
                dashboard(admin, TODAY - timedelta(days=VIEW_DAYS - 1), TODAY, None, TODAY)
                for back in range(VIEW_DAYS):
                    today = TODAY - timedelta(days=back)
                    meter.phase = f"setup{back}"
                    for key, attrs in _as_of(counters, scopes, today).items():
                        aggregates.replace(key, attrs)
                    meter.phase = f"view{back}"
                    result = dashboard(admin, today - timedelta(days=VIEW_DAYS - 1), today, None, today)
                    tally = meter.tally(meter.phase)
                    funnel = result["funnel"]
                    assert isinstance(funnel, dict)
                    out["items"].append(float(meter.items.get(meter.phase, 0)))
                    out["read_units"].append(tally.read_units)
                    out["requests"].append(float(tally.total_requests))
                    out["leads_in_range"].append(float(funnel["total"]))
            finally:
                meter.uninstall()
                connection.reset()
                config.clear_cache()
            return out
    finally:
        os.environ.clear()
        os.environ.update(saved)
        state.cleanup()


def _as_of(counters: dict[tuple[str, str, str], dict[str, Any]], scopes: list[str],
           today: date) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The dashboard items of `today`'s month as they stand at the end of that day (no lead created
    after it): its days up to `today`, its pentads and month summed from those, its trend cut there."""
    from chalicelib.domain import analytics

    month = f"{today:%Y-%m}"
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for scope in scopes:
        for day in range(1, 32):
            try:
                period = date(today.year, today.month, day).isoformat()
            except ValueError:
                break
            attrs = counters.get((scope, period, analytics.DASH), {}) if day <= today.day else {}
            out[(scope, period, analytics.DASH)] = dict(attrs)
            for whole in (analytics.pentad(period), month):
                into = out.setdefault((scope, whole, analytics.DASH), {})
                for name, amount in attrs.items():
                    into[name] = into.get(name, 0) + amount
        trend = counters.get((scope, month, analytics.TREND), {})
        out[(scope, month, analytics.TREND)] = {k: v for k, v in trend.items() if int(k.split("|")[1]) <= today.day}
    return {key: {k: v for k, v in attrs.items() if v} for key, attrs in out.items()}


def run(verbose: bool = True) -> dict[str, float]:
    small, large = measure(1_000), measure(50_000)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    units = [b / a for a, b in zip(small["read_units"], large["read_units"], strict=True)]
    items = [b / a for a, b in zip(small["items"], large["items"], strict=True)]
    figures = {
        "dashboard_items_read_1k": mean(small["items"]), "dashboard_items_read_50k": mean(large["items"]),
        "dashboard_read_units_1k": mean(small["read_units"]), "dashboard_read_units_50k": mean(large["read_units"]),
        "dashboard_requests_50k": mean(large["requests"]),
        "dashboard_read_ratio_50k_vs_1k": mean(items), "dashboard_read_ratio_50k_vs_1k_worst": max(items),
        "dashboard_read_units_ratio_50k_vs_1k": mean(units), "dashboard_read_units_ratio_50k_vs_1k_worst": max(units),
    }
    if verbose:
        print(f"dashboard reads: a 30-day dashboard as admin ending on each of the {VIEW_DAYS} days to {TODAY}, "
              f"counters seeded from {DAYS} days of synthetic leads at a steady rate")
        print(f"  {'leads/30 d':>10}{'in range':>10}{'requests':>10}{'items read':>12}{'read units':>12}"
              f"{'(min-max)':>14}")
        for label, m in (("1,000", small), ("50,000", large)):
            print(f"  {label:>10}{mean(m['leads_in_range']):>10.0f}{mean(m['requests']):>10.1f}"
                  f"{mean(m['items']):>12.1f}{mean(m['read_units']):>12.1f}"
                  f"{min(m['read_units']):>7.1f}-{max(m['read_units']):.1f}")
        print(f"  items read 50k/1k = {figures['dashboard_read_ratio_50k_vs_1k']:.3f} (target <= 1.1); "
              f"read units 50k/1k = {figures['dashboard_read_units_ratio_50k_vs_1k']:.2f} mean of the days, "
              f"{figures['dashboard_read_units_ratio_50k_vs_1k_worst']:.2f} the worst (target <= 1.5)")
        print("  read units by day ending:", " ".join(f"{TODAY.day - i}:{u:.2f}" for i, u in enumerate(units)))
    return figures
