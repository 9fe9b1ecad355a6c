"""Items and read units one 30-day dashboard reads, at 1,000 and at 50,000 leads.

In-process moto (moto.mock_aws, nothing under .local/), the demo org seeded. Seeding 50,000 leads
through capture and the full stream path takes too long against moto, so the counters are written
from synthetic final lead images (35 days of leads over every channel, region, product, team and
rep, with contacts, intent, won amounts) by the same code the stream uses to compute a lead's
contribution (`chalicelib.domain.analytics.contribution`), summed per counter item and written once
per item (the rebuild path, `chalicelib.store.aggregates.replace`). The counters are identical to
what the stream would leave (tests/test_dashboard.py shows stream counters = rebuilt counters).

Then `chalicelib.services.dashboard.dashboard` runs for the last 30 days as admin, once to warm
the container's caches and once measured: items returned by DynamoDB (Query items, GetItem hits)
and read units (computed from item sizes by DynamoDB's rules, see bench/meter.py).
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.meter import DynamoMeter

_SOURCES = ["website_form", "online_chat", "loan_calculator", "wechat", "douyin", "zhihu", "partner", "offline_event"]
_REGIONS = ["华东", "华南", "华北", "华中", "西南", "西北", "东北"]
_PROVINCES = ["上海", "江苏", "浙江", "安徽", "广东", "福建", "广西", "北京", "天津", "河北", "山东", "河南", "湖北",
              "湖南", "四川", "重庆", "云南", "陕西", "甘肃", "辽宁", "吉林", "黑龙江", "江西", "山西", "贵州", None]
_LOAN_TYPES = ["mortgage", "credit", "business", "car", "other"]
_CUSTOMERS = ["business_owner", "salaried", "self_employed", "freelancer", "other", None]
_TEAMS = {"sh_mortgage": ["sh_rep1", "sh_rep2", "sh_rep3"], "south_credit": ["gz_rep1", "gz_rep2"]}
DAYS = 35
TODAY = date(2026, 5, 31)


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


def measure(n: int) -> dict[str, float]:
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
            rng = random.Random(n)
            counters: analytics.Contribution = {}
            for i in range(n):
                analytics.add_into(counters, analytics.contribution(synthetic_lead(i, rng)))
            for key, attrs in counters.items():
                aggregates.replace(key, {k: v for k, v in attrs.items() if v})

            from chalicelib.services.dashboard import dashboard

            meter = ItemMeter(None, REGION, get_settings().table_prefix)
            meter.install()
            connection.reset()
            try:
                admin = Principal("admin", "admin")
                first = TODAY - timedelta(days=29)
                meter.phase = "warm"
                dashboard(admin, first, TODAY, None)
                meter.phase = "measured"
                result = dashboard(admin, first, TODAY, None)
            finally:
                meter.uninstall()
                connection.reset()
                config.clear_cache()
            tally = meter.tally("measured")
            funnel = result["funnel"]
            assert isinstance(funnel, dict)
            return {"items": float(meter.items.get("measured", 0)), "read_units": tally.read_units,
                    "requests": float(tally.total_requests), "counter_items": float(len(counters)),
                    "leads_in_range": float(funnel["total"])}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        state.cleanup()


def run(verbose: bool = True) -> dict[str, float]:
    small, large = measure(1_000), measure(50_000)
    figures = {
        "dashboard_items_read_1k": small["items"], "dashboard_items_read_50k": large["items"],
        "dashboard_read_units_1k": small["read_units"], "dashboard_read_units_50k": large["read_units"],
        "dashboard_requests_50k": large["requests"],
        "dashboard_read_ratio_50k_vs_1k": large["items"] / small["items"],
        "dashboard_read_units_ratio_50k_vs_1k": large["read_units"] / small["read_units"],
    }
    if verbose:
        print(f"dashboard reads: one 30-day dashboard as admin, counters seeded from {DAYS} days of synthetic leads")
        print(f"  {'leads':>8}{'in range':>10}{'counter items':>15}{'requests':>10}{'items read':>12}"
              f"{'read units':>12}")
        for label, m in (("1,000", small), ("50,000", large)):
            print(f"  {label:>8}{m['leads_in_range']:>10.0f}{m['counter_items']:>15.0f}{m['requests']:>10.0f}"
                  f"{m['items']:>12.0f}{m['read_units']:>12.1f}")
        print(f"  items read 50k/1k = {figures['dashboard_read_ratio_50k_vs_1k']:.3f} (target <= 1.1); "
              f"read units 50k/1k = {figures['dashboard_read_units_ratio_50k_vs_1k']:.2f} "
              "(bigger counter items: more values and histogram buckets per item, bounded by the option lists)")
    return figures
