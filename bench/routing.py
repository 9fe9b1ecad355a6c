"""Routing decisions per second with 500 rules on one core, reasons included, and compile time.

The rule set mixes eq/in/range/prefix/not and all/any nesting over geography, product, amount,
source, channel, campaign, partner and a custom field, with a catch-all last. Nine leads in ten
are built to satisfy one rule picked uniformly from the rest, so the average lead walks about half
the list before its first match; the tenth falls through to the catch-all. Deterministic (seeded).
The figure is the best of PASSES passes over all leads in this one process.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.routing import compile_rules
from chalicelib.rules.cleaning import default_cleaning_rules
from chalicelib.rules.profile import default_profile
from chalicelib.rules.routing import RuleSet, routable_fields

PASSES = 3
COMPILES = 5
AT = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Shanghai

_LOAN_TYPES = ["mortgage", "credit", "business", "car", "other"]
_SOURCES = ["website_form", "online_chat", "loan_calculator", "wechat", "douyin", "zhihu", "partner"]
_CUSTOMER_TYPES = ["business_owner", "salaried", "self_employed", "freelancer", "other"]
_CREDIT = ["good", "minor_overdue", "serious_overdue", "unknown"]
_CHANNELS = ["public", "partner", "manual", "import"]
_UTM = ["baidu", "toutiao", "wechat", "douyin", "360", "sogou"]

Places = list[tuple[str, str, str]]  # city, province, region
Lead = dict[str, Any]
Patch = dict[str, Any]


def places() -> Places:
    rules = default_cleaning_rules()
    cities = list(rules.city_provinces.items())[:40]
    return [(city, province, rules.province_regions[province]) for city, province in cities]


def _leaf(name: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": name, "op": op, "value": value}


def _band(rng: random.Random) -> tuple[dict[str, int], int]:
    low = rng.randrange(0, 500, 25)
    return {"min": low, "max": low + 40}, low + 20


def _rule(index: int, rng: random.Random, where: Places) -> tuple[dict[str, Any], Patch]:
    """One rule of a varied shape, and the fields a lead needs to match it."""
    city, province, region = rng.choice(where)
    loan = rng.choice(_LOAN_TYPES)
    source = rng.choice(_SOURCES)
    band, amount = _band(rng)
    shape = index % 7
    if shape == 0:
        when: dict[str, Any] = {"all": [_leaf("city", "eq", city), _leaf("loan_type", "eq", loan),
                                        _leaf("amount", "range", band)]}
        patch: Patch = {"city": city, "loan_type": loan, "amount": amount}
    elif shape == 1:
        others = [c for c, _, _ in rng.sample(where, 2)]
        when = {"all": [_leaf("city", "in", [city, *others]), _leaf("loan_type", "eq", loan),
                        _leaf("source", "eq", source), _leaf("amount", "range", band)]}
        patch = {"city": city, "loan_type": loan, "source": source, "amount": amount}
    elif shape == 2:
        prefix = f"cmp{rng.randrange(100)}_"
        customer = rng.choice(_CUSTOMER_TYPES)
        when = {"all": [_leaf("region", "eq", region), _leaf("customer_type", "eq", customer),
                        _leaf("campaign", "prefix", prefix)]}
        patch = {"region": region, "customer_type": customer, "campaign": prefix + "spring"}
    elif shape == 3:
        partner = f"p{rng.randrange(100):03d}"
        when = {"any": [{"all": [_leaf("city", "eq", city), _leaf("loan_type", "eq", loan),
                                 _leaf("source", "eq", source)]},
                        {"all": [_leaf("partner_id", "eq", partner), _leaf("loan_type", "in", [loan, "other"])]}]}
        patch = {"city": city, "loan_type": loan, "source": source}
    elif shape == 4:
        when = {"all": [_leaf("province", "eq", province), _leaf("loan_type", "in", [loan, "other"]),
                        {"not": _leaf("credit_status", "eq", "serious_overdue")}, _leaf("amount", "range", band)]}
        patch = {"province": province, "loan_type": loan, "credit_status": "good", "amount": amount}
    elif shape == 5:
        area, area_value = _band(rng)
        when = {"all": [_leaf("custom.house_area", "range", area), _leaf("city", "eq", city),
                        _leaf("loan_type", "eq", loan)]}
        patch = {"custom": {"house_area": float(area_value)}, "city": city, "loan_type": loan}
    else:
        channel, utm = rng.choice(_CHANNELS), rng.choice(_UTM)
        when = {"all": [_leaf("channel", "eq", channel), _leaf("utm_source", "eq", utm),
                        _leaf("loan_type", "eq", loan), _leaf("amount", "range", band)]}
        patch = {"channel": channel, "utm_source": utm, "loan_type": loan, "amount": amount}
    team = f"team{index % 20:02d}"
    action: dict[str, Any] = {"type": "assign_team", "team": team, "strategy": "round_robin"}
    if index % 5 == 0:
        action = {"type": "assign_team", "team": team, "strategy": "weighted",
                  "weights": {f"{team}_rep1": 2, f"{team}_rep2": 1}, "priority": "high", "tags": ["重点"]}
    elif index % 11 == 0:
        action = {"type": "assign_rep", "rep": f"rep{index:03d}"}
    rule = {"id": f"r{index:03d}", "name": f"规则{index:03d}", "when": when, "action": action}
    return rule, patch


def rule_set(n_rules: int, rng: random.Random, where: Places) -> tuple[RuleSet, list[Patch]]:
    built = [_rule(index, rng, where) for index in range(n_rules - 1)]
    rules = [rule for rule, _ in built] + [{"id": "fallback", "name": "其他进公海", "action": {"type": "pool"}}]
    return RuleSet.model_validate({"version": 7, "rules": rules}), [patch for _, patch in built]


def lead(index: int, rng: random.Random, where: Places, patches: list[Patch]) -> Lead:
    city, province, region = rng.choice(where)
    data: Lead = {
        "lead_id": f"L20260310{index:05d}", "city": city, "province": province, "region": region,
        "loan_type": rng.choice(_LOAN_TYPES), "amount": rng.randrange(1, 600), "source": rng.choice(_SOURCES),
        "customer_type": rng.choice(_CUSTOMER_TYPES), "credit_status": rng.choice(_CREDIT),
        "channel": rng.choice(_CHANNELS), "utm_source": rng.choice(_UTM), "campaign": f"cmp{rng.randrange(200)}_x",
        "partner_id": f"p{rng.randrange(200):03d}", "custom": {"house_area": float(rng.randrange(0, 600))},
    }
    if rng.random() < 0.9:
        data.update(rng.choice(patches))
    return data


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(n_rules: int = 500, n_leads: int = 20_000, verbose: bool = True) -> dict[str, float]:
    rng = random.Random(20260310)
    where = places()
    rules, patches = rule_set(n_rules, rng, where)
    leads = [lead(index, rng, where, patches) for index in range(n_leads)]
    fields = routable_fields(["house_area"])
    labels = default_profile().option_label

    compile_s = statistics.median(_timed(lambda: compile_rules(rules, fields, labels)) for _ in range(COMPILES))
    engine = compile_rules(rules, fields, labels)
    decide = engine.decide
    best = min(_timed(lambda: [decide(item, AT) for item in leads]) for _ in range(PASSES))

    position = {rule.id: index for index, rule in enumerate(rules.rules)}
    decisions = [decide(item, AT) for item in leads]
    walked = statistics.fmean(position[d.rule_id] + 1 for d in decisions if d.rule_id is not None)
    fallback = sum(d.rule_id == "fallback" for d in decisions) / n_leads
    assert all(d.reason.startswith("命中规则") for d in decisions)
    figures = {
        "routing_decisions_per_s": n_leads / best,
        "routing_compile_ms": compile_s * 1000,
        "routing_match_position_avg": walked,
    }
    if verbose:
        print(f"  {n_rules} rules, {n_leads} leads, one process: {figures['routing_decisions_per_s']:,.0f} "
              f"decisions/s (best of {PASSES}); first match at rule {walked:.0f} on average, "
              f"{fallback:.0%} to the catch-all")
        print(f"  compile: {figures['routing_compile_ms']:.1f} ms (median of {COMPILES})")
        print(f"  e.g. {decisions[0].reason}")
    return figures


if __name__ == "__main__":
    print(run())
