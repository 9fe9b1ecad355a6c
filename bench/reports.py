"""Items and read units of report cards (channel × month), over one month and over twelve, at
1,000 and at 50,000 leads spread over 400 days.

In-process moto (nothing under .local/), the demo org seeded. The counters are written from
synthetic final lead images by the code the stream uses (`analytics.contribution`, which includes
the report items), summed per item and written once per item (the rebuild path), as in
bench/dashboard.py. Then `services.reports.query` runs each card as admin, once to warm the
container, once measured: items returned (BatchGetItem) and read units by DynamoDB's rules
(bench/meter.py: a BatchGetItem item costs 0.5 unit per started 4 KB, eventually consistent).

A card reads one item per whole month and one per day of a partial month, per dimension; an item
holds one dimension's values, so its size is bounded by the option list, not by the leads.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.dashboard import ItemMeter, synthetic_lead

TODAY = date(2026, 5, 20)  # mid-month: the cards have partial months at their ends
SPAN_DAYS = 400
CARDS = {  # name → (first day, last day)
    "this_month": (date(2026, 5, 1), TODAY),
    "last_30_days": (TODAY - timedelta(days=29), TODAY),
    "last_12_months": (date(2025, 6, 1), TODAY),
    "last_365_days": (TODAY - timedelta(days=364), TODAY),
    "whole_month": (date(2026, 4, 1), date(2026, 4, 30)),
    "twelve_whole_months": (date(2025, 5, 1), date(2026, 4, 30)),
}


def spread_lead(i: int, rng: random.Random) -> dict[str, Any]:
    """bench.dashboard's synthetic lead, moved to a day within SPAN_DAYS, with a purpose and a city."""
    lead = synthetic_lead(i, rng)
    day = TODAY - timedelta(days=rng.randrange(SPAN_DAYS))
    shift = day - date.fromisoformat(lead["day"])
    lead["day"] = day.isoformat()
    for key in ("created_at", "first_contact_at", "intent_at"):
        if key in lead:
            moment = datetime.fromisoformat(lead[key].replace("Z", "+00:00")) + shift
            lead[key] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if "won_date" in lead:
        lead["won_date"] = (date.fromisoformat(lead["won_date"]) + shift).isoformat()
    lead["purpose"] = rng.choice(["house", "car", "business", "consumption", "education"])
    lead["city"] = rng.choice(["上海", "杭州", "南京", "苏州", "广州", "深圳", "北京", "成都", "武汉", "西安", "重庆",
                               "天津", "长沙", "郑州", "青岛", "厦门", "合肥", "福州", "昆明", "沈阳"])
    return lead


def measure(n: int) -> dict[str, dict[str, float]]:
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
    state = tempfile.TemporaryDirectory(prefix="bench-reports-")
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
                analytics.add_into(counters, analytics.contribution(spread_lead(i, rng)))
            for key, attrs in counters.items():
                aggregates.replace(key, {k: v for k, v in attrs.items() if v})

            from chalicelib.services import reports

            meter = ItemMeter(None, REGION, get_settings().table_prefix)
            meter.install()
            connection.reset()
            out: dict[str, dict[str, float]] = {}
            try:
                admin = Principal("admin", "admin")
                for name, (first, last) in CARDS.items():
                    card = reports.CardQuery.model_validate({"measures": ["leads", "valid", "won", "won_amount"],
                                                             "dimensions": ["month", "source"],
                                                             "from": first.isoformat(), "to": last.isoformat()})
                    meter.phase = f"warm {name}"
                    reports.query(admin, card)
                    meter.phase = name
                    result = reports.query(admin, card)
                    tally = meter.tally(name)
                    out[name] = {"items": float(meter.items.get(name, 0)), "read_units": tally.read_units,
                                 "requests": float(tally.total_requests), "leads": float(result["total"]["leads"] or 0),
                                 "rows": float(len(result["rows"]))}
            finally:
                meter.uninstall()
                connection.reset()
                config.clear_cache()
            report_items = [k for k in counters if k[0].startswith("r/source/all")]
            out["_sizes"] = {"report_items_source": float(len(report_items)), "counter_items": float(len(counters))}
            return out
    finally:
        os.environ.clear()
        os.environ.update(saved)
        state.cleanup()


def run(verbose: bool = True) -> dict[str, float]:
    small, large = measure(1_000), measure(50_000)
    figures: dict[str, float] = {}
    for name in CARDS:
        figures[f"reports_items_{name}_50k"] = large[name]["items"]
        figures[f"reports_read_units_{name}_1k"] = small[name]["read_units"]
        figures[f"reports_read_units_{name}_50k"] = large[name]["read_units"]
    figures["reports_items_ratio_12_months_vs_this_month"] = (large["last_12_months"]["items"]
                                                             / large["this_month"]["items"])
    figures["reports_items_ratio_365_vs_30_days"] = large["last_365_days"]["items"] / large["last_30_days"]["items"]
    figures["reports_read_units_ratio_50k_vs_1k_12_months"] = (large["last_12_months"]["read_units"]
                                                              / small["last_12_months"]["read_units"])
    figures["reports_read_units_ratio_50k_vs_1k_this_month"] = (large["this_month"]["read_units"]
                                                               / small["this_month"]["read_units"])
    if verbose:
        print(f"report cards: leads, valid, won, won amount by channel × month, as admin; leads over {SPAN_DAYS} days "
              f"to {TODAY}")
        print(f"  {'card':<22}{'from':>12}{'to':>12}{'leads 1k':>10}{'leads 50k':>11}{'items':>7}"
              f"{'units 1k':>10}{'units 50k':>11}{'50k/1k':>8}")
        for name, (first, last) in CARDS.items():
            s, g = small[name], large[name]
            print(f"  {name:<22}{first.isoformat():>12}{last.isoformat():>12}{s['leads']:>10.0f}{g['leads']:>11.0f}"
                  f"{g['items']:>7.0f}{s['read_units']:>10.1f}{g['read_units']:>11.1f}"
                  f"{g['read_units'] / s['read_units']:>8.2f}")
        print(f"  items: 12 months / this month = {figures['reports_items_ratio_12_months_vs_this_month']:.2f}, "
              f"365 days / 30 days = {figures['reports_items_ratio_365_vs_30_days']:.2f} (target <= 2); "
              "a whole month is one item, so twelve whole months read 12 items against one")
        print(f"  read units 50k/1k: 12 months {figures['reports_read_units_ratio_50k_vs_1k_12_months']:.2f}, "
              f"this month {figures['reports_read_units_ratio_50k_vs_1k_this_month']:.2f} (target <= 1.5)")
    return figures
