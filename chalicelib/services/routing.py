"""Where an active lead goes: the published rule set decides the team (or rep, or pool), the
team's strategy picks the rep among those on duty and under their caps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.lead import FIELD_LABELS, UTM_FIELDS
from chalicelib.domain.lead_number import TurnBlocks
from chalicelib.domain.ownership import Caps
from chalicelib.domain.records import HistoryEntry, Lead, Member, RouteRecord
from chalicelib.domain.routing import CompiledRules, Decision, compile_rules, history_reason
from chalicelib.domain.scoring import BAND_LABELS
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.rules.routing import RuleSet, RuleSetInvalid, default_rule_set
from chalicelib.services import names, placing
from chalicelib.store import config, ownership, sequences

_compiled: dict[int, CompiledRules] = {}
# A team's round-robin counter (`rr#<team>`) is written once per block of turns: at 1,000 leads/s for
# one team, 1000 / TURN_BLOCK writes/s on it (DESIGN.md: no hot keys).
TURN_BLOCK = 16
_turns = TurnBlocks(sequences.reserve_turns, TURN_BLOCK)


def clear_caches() -> None:
    """Forget the container's blocks of turns and compiled rule sets (a fresh store, whose version 2
    is another rule set: tests, benchmarks)."""
    global _turns
    _turns = TurnBlocks(sequences.reserve_turns, TURN_BLOCK)
    _compiled.clear()
    _earlier.clear()


@dataclass(frozen=True)
class Route:
    status: str  # "assigned" or "pool"
    owner: str | None
    team: str | None
    reason: str
    caps: Caps = Caps()
    record: RouteRecord = field(default_factory=lambda: RouteRecord())  # stored on the lead as `route`
    unstaffed_team: str | None = None  # a team with nobody available: its supervisor is told
    rule_name: str | None = None  # the rule that decided, as a person reads it


def known_fields() -> set[str]:
    profile = config.lead_profile()
    return (set(FIELD_LABELS) | set(UTM_FIELDS) | {"channel"}) | {f"custom.{c.key}" for c in profile.custom_fields}


def compile_document(rule_set: RuleSet) -> CompiledRules:
    profile = config.lead_profile()
    def labels(name: str, value: str) -> str:
        if name == "score_band":
            return BAND_LABELS.get(value, value)
        if name.startswith("custom.") and (spec := profile.custom_field(name.removeprefix("custom."))) is not None:
            return spec.label_of(str(value))  # a choice field's label; other values as they are
        return profile.option_label(name, value)

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


# Versions no longer live, to explain what they decided (a lead page rebuilds its routing entry in the
# words of the version that placed it): the few last read, each compiled once per container.
_earlier: dict[int, CompiledRules] = {}
EARLIER_KEPT = 8
SELF_ENTERED = "录入人即负责人"


def rules_at(version: int) -> CompiledRules:
    """The rule set as published at `version` (the live one, or an earlier one read and compiled)."""
    live = live_rules()
    if version == live.version:
        return live
    if version not in _earlier:
        body = config.version_body("routing", version)
        rule_set = RuleSet.model_validate(body) if body else default_rule_set()
        compiled = compile_document(rule_set.model_copy(update={"version": version}))
        while len(_earlier) >= EARLIER_KEPT:
            del _earlier[next(iter(_earlier))]  # the one read longest ago
        _earlier[version] = compiled
    return _earlier[version]


def _assigned_reason(decision: Decision, owner: str) -> str:
    """Why routing gave the lead to `owner`: the rule's reason, and the rep a team's strategy picked."""
    return decision.reason if decision.action == "assign_rep" else f"{decision.reason} → {names.user(owner)}"


def explain(lead: Lead) -> Route | None:
    """The route of a lead that routing has just placed with an owner (the placement's own record),
    rebuilt from what the lead keeps (`route`: the rule and the rule set's version, without the
    reason, so the lead stays under 1 KB): the words of its owner's 新分配 notice, which the stream
    writes from that record (services/pipeline.py). None: not such a lead."""
    record: RouteRecord = lead.get("route") or {}
    owner = lead.get("owner")
    if not owner or lead.get("status") != "assigned" or "decided_at" not in record:
        return None
    return _rebuilt(record, owner, lead.get("team"))


def first_route(lead: Lead) -> Route | None:
    """The route that placed the lead with an owner, whatever has happened to it since: rebuilt from
    what it keeps for good (`route`, and `first_owner` / `first_team`, whom routing gave it to). None:
    routing did not place it with an owner (pooled: its reason is on `route`, `history.pool_entry`)."""
    record: RouteRecord = lead.get("route") or {}
    owner = lead.get("first_owner")
    if not owner or "decided_at" not in record or "reason" in record or record.get("status") not in (None, "assigned"):
        return None
    return _rebuilt(record, owner, lead.get("first_team"))


def _rebuilt(record: RouteRecord, owner: str, team: str | None) -> Route:
    if record.get("rule_id") is None:
        return Route("assigned", owner, team, SELF_ENTERED, record={**record, "reason": SELF_ENTERED})
    try:
        decision = rules_at(int(record.get("version") or 0)).decision(str(record["rule_id"]))
    except (RuleSetInvalid, ValueError):  # that version no longer compiles (a team since removed) or reads
        decision = None  # (written by an older schema: pydantic's ValidationError): its rule's words are gone
    reason = _assigned_reason(decision, owner) if decision else f"按分配规则分配 → {names.user(owner)}"
    return Route("assigned", owner, team, reason, record={**record, "reason": reason},
                 rule_name=decision.rule_name if decision else None)


def routing_entry(lead: Lead) -> HistoryEntry | None:
    """The history entry of the lead's routing to an owner, rebuilt (`first_route`): the lead keeps
    the decision itself (when, which rule of which version, to whom), so no item of its own is
    written for it (one write unit less per routed lead)."""
    route = first_route(lead)
    if route is None:
        return None
    return {"kind": "status", "at": str(route.record["decided_at"]), "actor": "system", "from_status": "new",
            "to_status": "assigned", "reason": history_reason(route.reason, lead.get("previous_leads")),
            "detail": {"kind": "route", "to_owner": route.owner, "to_team": route.team}}


def _on_duty(members: list[Member]) -> list[Member]:
    reps = [m for m in members if m["role"] == "rep" and m["active"] and m["on_duty"]]
    return sorted(reps, key=lambda m: m["user_id"])


def _eligible(members: list[Member], day: str) -> list[tuple[Member, int, int]]:
    reps = _on_duty(members)
    load = ownership.loads([m["user_id"] for m in reps], day) if reps else {}
    held = placing.held(load, day)  # the batch's leads not yet in the load items
    out = []
    for rep in reps:
        open_count, today = (n + held[rep["user_id"]] for n in load[rep["user_id"]])
        if open_count < rep["max_open"] and today < rep["daily_cap"]:
            out.append((rep, open_count, today))
    return out


def _round_robin_first(members: list[Member], day: str, turn: int) -> Member | None:
    """The rep whose turn it is, when under their caps: only their load is read (the team's, one
    item per rep and counter, only when they are not). None: ask `_eligible`."""
    reps = _on_duty(members)
    if not reps:
        return None
    rep = reps[turn % len(reps)]
    return rep if _eligible([rep], day) else None


def _pick(decision: Decision, eligible: list[tuple[Member, int, int]], turn: int) -> Member:
    if decision.strategy == "least_loaded":
        return min(eligible, key=lambda e: (e[1], e[2], e[0]["user_id"]))[0]
    if decision.strategy == "weighted":
        weighted = [(e[0], max(decision.weights.get(e[0]["user_id"], 1), 1)) for e in eligible]
        slot = turn % sum(w for _, w in weighted)
        for rep, weight in weighted:
            if slot < weight:
                return rep
            slot -= weight
    return eligible[turn % len(eligible)][0]


def route(lead: Lead, at: datetime) -> Route:
    record_base: RouteRecord = {"decided_at": iso_utc(at)}
    if lead.get("owner"):
        return Route("assigned", lead["owner"], lead.get("team"), SELF_ENTERED,
                     record={**record_base, "rule_id": None, "reason": SELF_ENTERED})
    decision = live_rules().decide(lead, at)
    record: RouteRecord = {**record_base, "rule_id": decision.rule_id, "version": decision.version,
                           "reason": decision.reason}
    if decision.priority:
        record["priority"] = decision.priority
    if decision.tags:
        record["tags"] = list(decision.tags)
    name = decision.rule_name
    if decision.action == "pool":
        return Route("pool", None, None, decision.reason, record=record, rule_name=name)
    day = shanghai_day(at).isoformat()
    if decision.action == "assign_rep" and decision.rep:
        user = ownership.user_record(decision.rep)
        if user and _eligible([user], day):
            caps = Caps(max_open=user["max_open"], daily=user["daily_cap"])
            return Route("assigned", user["user_id"], user.get("team"), decision.reason, caps, record, rule_name=name)
        reason = f"{decision.reason}；但 {names.user(decision.rep)} 不在岗或已达上限，进入公海"
        return Route("pool", None, None, reason, record={**record, "reason": reason},
                     unstaffed_team=user.get("team") if user else None, rule_name=name)
    team = decision.team or ""
    members = placing.team_members(team, ownership.team_members)
    # The team's own turns (blocks of its counter): fair under bursts and whatever other teams receive.
    turn = _turns.next(f"rr#{team}") if decision.strategy in ("round_robin", "weighted") else 0
    first = _round_robin_first(members, day, turn) if decision.strategy == "round_robin" else None
    if first is not None:
        rep = first
    else:
        eligible = _eligible(members, day)
        if not eligible:
            reason = f"{decision.reason}；但团队无在岗且未满额的销售，进入公海"
            return Route("pool", None, None, reason, record={**record, "reason": reason}, unstaffed_team=team,
                         rule_name=name)
        rep = _pick(decision, eligible, turn)
    caps = Caps(max_open=rep["max_open"], daily=rep["daily_cap"])
    reason = _assigned_reason(decision, rep["user_id"])
    return Route("assigned", rep["user_id"], team, reason, caps, {**record, "reason": reason,
                                                                    "strategy": decision.strategy}, rule_name=name)
