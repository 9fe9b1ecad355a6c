"""Where an active lead goes: the published rule set decides the team (or rep, or pool), the
team's strategy picks the rep among those on duty and under their caps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.lead import FIELD_LABELS, UTM_FIELDS
from chalicelib.domain.lead_number import turn_of
from chalicelib.domain.ownership import Caps
from chalicelib.domain.scoring import BAND_LABELS
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.rules.routing import CompiledRules, Decision, RuleSet, compile_rules, default_rule_set
from chalicelib.services import names
from chalicelib.store import config, ownership

_compiled: dict[int, CompiledRules] = {}


@dataclass(frozen=True)
class Route:
    status: str  # "assigned" or "pool"
    owner: str | None
    team: str | None
    reason: str
    caps: Caps = Caps()
    record: dict[str, Any] = field(default_factory=dict)  # stored on the lead as `route`
    unstaffed_team: str | None = None  # a team with nobody available: its supervisor is told


def known_fields() -> set[str]:
    profile = config.lead_profile()
    return (set(FIELD_LABELS) | set(UTM_FIELDS) | {"channel"}) | {f"custom.{c.key}" for c in profile.custom_fields}


def compile_document(rule_set: RuleSet) -> CompiledRules:
    profile = config.lead_profile()
    def labels(name: str, value: str) -> str:
        return BAND_LABELS.get(value, value) if name == "score_band" else profile.option_label(name, value)

    return compile_rules(rule_set, known_fields(), labels=labels,
                         field_labels={f"custom.{c.key}": c.label for c in profile.custom_fields},
                         names=_name)


def _name(key: str) -> str:
    """A team's label or a user's name for routing reasons (the rules name both by id)."""
    label = names.team(key)
    return label if label != key else names.user(key)


def live_rules() -> CompiledRules:
    """The published rule set, compiled once per version per container."""
    rule_set, version = config.document("routing", RuleSet, default_rule_set)
    if version not in _compiled:
        _compiled.clear()
        _compiled[version] = compile_document(rule_set.model_copy(update={"version": version}))
    return _compiled[version]


def _on_duty(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reps = [m for m in members if m["role"] == "rep" and m["active"] and m["on_duty"]]
    return sorted(reps, key=lambda m: m["user_id"])


def _eligible(members: list[dict[str, Any]], day: str) -> list[tuple[dict[str, Any], int, int]]:
    reps = _on_duty(members)
    load = ownership.loads([m["user_id"] for m in reps], day) if reps else {}
    out = []
    for rep in reps:
        open_count, today = load[rep["user_id"]]
        if open_count < rep["max_open"] and today < rep["daily_cap"]:
            out.append((rep, open_count, today))
    return out


def _round_robin_first(members: list[dict[str, Any]], day: str, lead_id: str) -> dict[str, Any] | None:
    """The rep whose turn it is, when under their caps: only their load is read (the team's, one
    item per rep and counter, only when they are not). None: ask `_eligible`."""
    reps = _on_duty(members)
    if not reps:
        return None
    rep = reps[turn_of(lead_id) % len(reps)]
    return rep if _eligible([rep], day) else None


def _pick(decision: Decision, eligible: list[tuple[dict[str, Any], int, int]], lead_id: str) -> dict[str, Any]:
    if decision.strategy == "least_loaded":
        return min(eligible, key=lambda e: (e[1], e[2], e[0]["user_id"]))[0]
    turn = turn_of(lead_id)  # the lead's number: fair under bursts, and no team-wide item written
    if decision.strategy == "weighted":
        weighted = [(e[0], max(decision.weights.get(e[0]["user_id"], 1), 1)) for e in eligible]
        slot = turn % sum(w for _, w in weighted)
        for rep, weight in weighted:
            if slot < weight:
                return rep
            slot -= weight
    return eligible[turn % len(eligible)][0]


def route(lead: dict[str, Any], at: datetime) -> Route:
    record_base = {"decided_at": iso_utc(at)}
    if lead.get("owner"):
        return Route("assigned", lead["owner"], lead.get("team"), "录入人即负责人",
                     record={**record_base, "rule_id": None, "reason": "录入人即负责人"})
    decision = live_rules().decide(lead, at)
    record: dict[str, Any] = {**record_base, "rule_id": decision.rule_id, "version": decision.version,
                              "reason": decision.reason}
    record.update({k: v for k, v in (("priority", decision.priority), ("tags", list(decision.tags))) if v})
    if decision.action == "pool":
        return Route("pool", None, None, decision.reason, record=record)
    day = shanghai_day(at).isoformat()
    if decision.action == "assign_rep" and decision.rep:
        user = ownership.user_record(decision.rep)
        if user and _eligible([user], day):
            caps = Caps(max_open=user["max_open"], daily=user["daily_cap"])
            return Route("assigned", user["user_id"], user.get("team"), decision.reason, caps, record)
        reason = f"{decision.reason}；但 {names.user(decision.rep)} 不在岗或已达上限，进入公海"
        return Route("pool", None, None, reason, record={**record, "reason": reason},
                     unstaffed_team=user.get("team") if user else None)
    team = decision.team or ""
    members = ownership.team_members(team)
    first = _round_robin_first(members, day, lead["lead_id"]) if decision.strategy == "round_robin" else None
    if first is not None:
        rep = first
    else:
        eligible = _eligible(members, day)
        if not eligible:
            reason = f"{decision.reason}；但团队无在岗且未满额的销售，进入公海"
            return Route("pool", None, None, reason, record={**record, "reason": reason}, unstaffed_team=team)
        rep = _pick(decision, eligible, lead["lead_id"])
    caps = Caps(max_open=rep["max_open"], daily=rep["daily_cap"])
    reason = f"{decision.reason} → {rep.get('name') or rep['user_id']}"
    return Route("assigned", rep["user_id"], team, reason, caps, {**record, "reason": reason,
                                                                    "strategy": decision.strategy})
