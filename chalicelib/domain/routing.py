"""The routing engine: compiles a rule set (`chalicelib.rules.routing.RuleSet`) and decides leads.

`compile_rules` checks a document's meaning (fields, operators, value types, reachability,
actions) and turns every condition into a small closure. Each rule's `Decision`, reason included,
is built at compile time, so deciding a lead only runs closures and returns a prebuilt, immutable
object: nothing re-reads the JSON tree or touches pydantic per lead.

References to teams and users live elsewhere (the store), so they are checked separately by
`check_references` with data the caller loaded. Pure code: no I/O, no clock (time is passed in).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.lead import FIELD_LABELS
from chalicelib.domain.timeutil import SHANGHAI
from chalicelib.rules.routing import (
    CONDITION_SHAPE,
    CUSTOM_PREFIX,
    OPS,
    PRIORITY_LABELS,
    ROUTABLE_FIELDS,
    STRATEGY_LABELS,
    WEEKDAYS,
    Action,
    AllCondition,
    AnyCondition,
    BusinessHoursCondition,
    Calendar,
    Condition,
    FieldCondition,
    NotCondition,
    Rule,
    RuleSet,
    RuleSetInvalid,
    rule_key,
)

_EXTRA_FIELD_LABELS = {"channel": "渠道", "score": "评分", "score_band": "评分档"}
NO_MATCH_REASON = "未匹配任何规则，进入公海"

OptionLabels = Callable[[str, str], str]
# A compiled condition: (lead, is the calendar open at the decision time) -> matches.
Check = Callable[[Mapping[str, Any], bool], bool]


def _identity_label(field_name: str, value: str) -> str:
    return value


# --- decisions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """Where a lead goes and why. Compiled rule sets share one instance per rule: treat it (its
    `weights` too) as read-only; `as_dict` gives a fresh copy for storage."""

    rule_id: str | None
    version: int
    action: str
    team: str | None
    rep: str | None
    strategy: str | None
    weights: dict[str, int]
    priority: str
    tags: tuple[str, ...]
    reason: str
    rule_name: str | None = None  # as a person reads it (the reason also names the rule's id)

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "version": self.version, "action": self.action, "team": self.team,
                "rep": self.rep, "strategy": self.strategy, "weights": dict(self.weights),
                "priority": self.priority, "tags": list(self.tags), "reason": self.reason}

    def outcome(self) -> tuple[Any, ...]:
        """What routing does with the lead, without why: two decisions with the same outcome
        treat the lead the same way."""
        return (self.action, self.team, self.rep, self.strategy, tuple(sorted(self.weights.items())),
                self.priority, self.tags)


@dataclass(frozen=True)
class _CompiledCalendar:
    hours: tuple[tuple[int, int] | None, ...]  # minutes since midnight, by weekday (Monday first)
    holidays: frozenset[date]
    workdays: frozenset[date]

    @classmethod
    def of(cls, calendar: Calendar) -> _CompiledCalendar:
        def minutes(text: str) -> int:
            hh, mm = text.split(":")
            return int(hh) * 60 + int(mm)

        spans = tuple((minutes(calendar.hours[d][0]), minutes(calendar.hours[d][1])) if d in calendar.hours
                      else None for d in WEEKDAYS)
        return cls(spans, frozenset(calendar.holidays), frozenset(calendar.workdays))

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(SHANGHAI)
        day = local.date()
        if day in self.holidays:
            return False
        span = self.hours[0] if day in self.workdays else self.hours[local.weekday()]
        if span is None:
            return False
        minute = local.hour * 60 + local.minute
        return span[0] <= minute < span[1]


# A field index: (field, value -> bitmask of the rules a lead with that value may match, bitmask of
# the rules that do not constrain the field). Bit i is the i-th compiled rule.
FieldIndex = tuple[str, dict[Any, int], int]


class CompiledRules:
    """A rule set ready to decide: (check, prebuilt decision) pairs in rule order.

    Rules mostly test a few fields (city, loan type, source...) with eq/in. Per such field the
    compiler lists, as a bitmask, which rules each value can satisfy; deciding ANDs the lead's
    masks and tries only the surviving rules, lowest bit (earliest rule) first. First match wins
    exactly as in a walk of the whole list, at a fraction of the checks."""

    def __init__(self, version: int, rules: tuple[tuple[Check, Decision], ...], calendar: _CompiledCalendar,
                 uses_hours: bool, indexes: tuple[FieldIndex, ...] = ()) -> None:
        self.version = version
        self._rules = rules
        self._all = (1 << len(rules)) - 1
        self._indexes = indexes
        self._calendar = calendar
        self._uses_hours = uses_hours
        self._no_match = Decision(None, version, "pool", None, None, None, {}, "normal", (), NO_MATCH_REASON)

    def decide(self, lead: Mapping[str, Any], at: datetime) -> Decision:
        """First enabled rule whose condition holds for `lead` at `at` (timezone-aware)."""
        if at.tzinfo is None:
            raise ValueError("时间必须带时区")
        # The calendar is consulted once per lead, and only when some rule asks about it.
        open_now = self._calendar.is_open(at) if self._uses_hours else False
        candidates = self._all
        for name, masks, unconstrained in self._indexes:
            try:
                candidates &= masks.get(lead.get(name), unconstrained)
            except TypeError:  # an unhashable value (list, map) equals no rule's value
                candidates &= unconstrained
        rules = self._rules
        while candidates:
            lowest = candidates & -candidates
            check, decision = rules[lowest.bit_length() - 1]
            if check(lead, open_now):
                return decision
            candidates ^= lowest
        return self._no_match

    def decision(self, rule_id: str) -> Decision | None:
        """The decision of the rule `rule_id` (None: no such enabled rule in this version)."""
        return next((decision for _, decision in self._rules if decision.rule_id == rule_id), None)

    def is_business_hours(self, at: datetime) -> bool:
        return self._calendar.is_open(at)


# --- compiling ----------------------------------------------------------------------------------

_NUMBER_TYPES = frozenset({int, float, Decimal})  # by exact type, so bool is not a number


def _is_scalar(value: Any) -> bool:
    # bool is an int; NaN equals nothing, infinity is no one's amount.
    return isinstance(value, (str, int)) or isinstance(value, float) and math.isfinite(value)


def _is_number(value: Any) -> bool:
    return _is_scalar(value) and not isinstance(value, (bool, str))


class _Compiler:
    """Compiles one rule's condition to a closure and its reason fragment, collecting errors."""

    def __init__(self, allowed: set[str], field_labels: Mapping[str, str], labels: OptionLabels) -> None:
        self.allowed = allowed
        self.field_labels = field_labels
        self.labels = labels
        self.errors: list[str] = []
        self.uses_hours = False

    def condition(self, cond: Condition, top: bool = False) -> tuple[Check, str]:
        if isinstance(cond, FieldCondition):
            return self.leaf(cond)
        if isinstance(cond, AllCondition):
            if not cond.all_:
                return _always, "兜底规则" if top else "（任意线索）"
            parts = [self.condition(child) for child in cond.all_]
            text = "，".join(t for _, t in parts) if top else "（" + " 且 ".join(t for _, t in parts) + "）"
            return _all_of([c for c, _ in parts]), text
        if isinstance(cond, AnyCondition):
            if not cond.any_:
                self.errors.append("any 条件不能为空（永远不会被命中）")
                return _never, "（无）"
            if len(cond.any_) == 1:
                return self.condition(cond.any_[0], top)
            parts = [self.condition(child) for child in cond.any_]
            return _any_of([c for c, _ in parts]), "（" + " 或 ".join(t for _, t in parts) + "）"
        if isinstance(cond, NotCondition):
            inner, text = self.condition(cond.not_)
            text = text if text.startswith("（") else f"（{text}）"
            return (lambda lead, open_now: not inner(lead, open_now)), f"非{text}"
        if isinstance(cond, BusinessHoursCondition):
            self.uses_hours = True
            if cond.business_hours:
                return (lambda lead, open_now: open_now), "工作时间内"
            return (lambda lead, open_now: not open_now), "非工作时间"
        self.errors.append(CONDITION_SHAPE)
        return _never, "（无）"

    def label_of(self, name: str) -> str:
        return self.field_labels.get(name) or FIELD_LABELS.get(name) or _EXTRA_FIELD_LABELS.get(name) or name

    def show(self, name: str, value: Any) -> str:
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, str):
            return self.labels(name, value)
        return str(value)

    def leaf(self, cond: FieldCondition) -> tuple[Check, str]:
        name, op, value = cond.field, cond.op, cond.value
        before = len(self.errors)
        if name not in self.allowed:
            self.errors.append(f"未知字段 {name}")
        if op not in OPS:
            self.errors.append(f"未知运算符 {op}（可用：{'、'.join(OPS)}）")
            return _never, "（无）"
        problem = _value_problem(op, value)
        if problem:
            self.errors.append(f"字段 {name} 的 {op} {problem}")
        if len(self.errors) > before:
            return _never, "（无）"
        return _leaf_check(name, op, value), self.describe(name, op, value)

    def describe(self, name: str, op: str, value: Any) -> str:
        label = self.label_of(name)
        if op == "eq":
            return f"{label} = {self.show(name, value)}"
        if op == "ne":
            return f"{label} ≠ {self.show(name, value)}"
        if op in ("in", "not_in"):
            values = "、".join(self.show(name, v) for v in value)
            return f"{label}为 {values} 之一" if op == "in" else f"{label}不是 {values} 之一"
        if op == "range":
            low, high = value.get("min"), value.get("max")
            if low is not None and high is not None:
                return f"{label} 在 {self.show(name, low)}–{self.show(name, high)} 之间"
            return f"{label} ≥ {self.show(name, low)}" if low is not None else f"{label} ≤ {self.show(name, high)}"
        if op == "prefix":
            return f"{label}以「{value}」开头"
        return f"{label}已填写" if value else f"{label}未填写"


def _value_problem(op: str, value: Any) -> str | None:
    """Why `value` does not fit `op`, in Chinese, or None."""
    if op in ("eq", "ne"):
        return None if value is not None and _is_scalar(value) else "需要一个文本、数字或布尔值"
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return "需要一个非空列表"
        return None if all(v is not None and _is_scalar(v) for v in value) else "列表只能包含文本、数字或布尔值"
    if op == "range":
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            return "需要 {\"min\": 数字, \"max\": 数字}（至少一个）"
        if not all(_is_number(v) for v in value.values()):
            return "的 min/max 必须是数字"
        if "min" in value and "max" in value and value["min"] > value["max"]:
            return "的 min 不能大于 max"
        return None
    if op == "prefix":
        return None if isinstance(value, str) and value else "需要一个非空文本"
    return None if isinstance(value, bool) else "需要 true 或 false"


def _always(lead: Mapping[str, Any], open_now: bool) -> bool:
    return True


def _never(lead: Mapping[str, Any], open_now: bool) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    # Unrolled for the common sizes: a Python loop per lead costs more than the tests themselves.
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda lead, open_now: a(lead, open_now) and b(lead, open_now)
    if len(checks) == 3:
        a, b, c = checks
        return lambda lead, open_now: a(lead, open_now) and b(lead, open_now) and c(lead, open_now)
    first, rest = checks[0], tuple(checks[1:])

    def all_of(lead: Mapping[str, Any], open_now: bool) -> bool:
        if not first(lead, open_now):
            return False
        for check in rest:  # noqa: SIM110 - all() over a generator is slower per lead
            if not check(lead, open_now):
                return False
        return True
    return all_of


def _any_of(checks: list[Check]) -> Check:
    if len(checks) == 2:
        a, b = checks
        return lambda lead, open_now: a(lead, open_now) or b(lead, open_now)
    many = tuple(checks)

    def any_of(lead: Mapping[str, Any], open_now: bool) -> bool:
        for check in many:  # noqa: SIM110 - any() over a generator is slower per lead
            if check(lead, open_now):
                return True
        return False
    return any_of


def _value_test(op: str, value: Any) -> Callable[[Any], bool]:
    """The test on a field's value (None when the lead lacks the field). A list value (a multi-choice
    custom field) holds `eq` when it contains the value, `in` when any chosen value is in the list,
    `not_in` when none is."""
    if op == "eq":
        return lambda v: v is not None and (v == value or (isinstance(v, list) and value in v))
    if op == "ne":
        return lambda v: v is None or (value not in v if isinstance(v, list) else v != value)
    if op in ("in", "not_in"):
        members = frozenset(value)
        wanted = op == "in"

        def member(v: Any) -> bool:
            if v is None:
                return not wanted
            if isinstance(v, list):
                return any(isinstance(x, str) and x in members for x in v) is wanted
            try:
                return (v in members) is wanted
            except TypeError:  # an unhashable value (a list or map) is in no list of scalars
                return not wanted
        return member
    if op == "range":
        low = value.get("min", float("-inf"))
        high = value.get("max", float("inf"))
        return lambda v: type(v) in _NUMBER_TYPES and low <= v <= high
    if op == "prefix":
        return lambda v: isinstance(v, str) and v.startswith(value)
    if value:
        return lambda v: v is not None and v != ""
    return lambda v: v is None or v == ""


def _leaf_check(name: str, op: str, value: Any) -> Check:
    """One closure per leaf. The usual leaves (eq/in/range/prefix on a top-level field) read the
    lead directly: one call per test instead of a getter plus a value test."""
    if name.startswith(CUSTOM_PREFIX):
        key = name[len(CUSTOM_PREFIX):]
        test = _value_test(op, value)

        def custom(lead: Mapping[str, Any], open_now: bool) -> bool:
            values = lead.get("custom")
            return test(values.get(key) if isinstance(values, dict) else None)
        return custom
    if op == "eq":
        # `value` is never None, so a missing field (None) never matches.
        return lambda lead, open_now: lead.get(name) == value
    if op == "in":
        members = frozenset(value)

        def member(lead: Mapping[str, Any], open_now: bool) -> bool:
            try:
                return lead.get(name) in members
            except TypeError:
                return False
        return member
    if op == "range":
        low = value.get("min", float("-inf"))
        high = value.get("max", float("inf"))

        def within(lead: Mapping[str, Any], open_now: bool) -> bool:
            v = lead.get(name)
            return type(v) in _NUMBER_TYPES and low <= v <= high
        return within
    if op == "prefix":
        def starts(lead: Mapping[str, Any], open_now: bool) -> bool:
            v = lead.get(name)
            return isinstance(v, str) and v.startswith(value)
        return starts
    test = _value_test(op, value)
    return lambda lead, open_now: test(lead.get(name))


def _action_problems(action: Action) -> list[str]:
    problems: list[str] = []
    if action.type == "assign_team":
        if not action.team:
            problems.append("分配至团队需要指定团队")
        if action.strategy is None:
            problems.append("分配至团队需要指定分配策略（round_robin、least_loaded、weighted）")
        if action.rep:
            problems.append("分配至团队时不能同时指定负责人")
    elif action.type == "assign_rep":
        if not action.rep:
            problems.append("分配给个人需要指定负责人")
        if action.team or action.strategy:
            problems.append("分配给个人时不能指定团队或策略")
    elif action.team or action.rep or action.strategy:
        problems.append("进入公海时不能指定团队、负责人或策略")
    if action.strategy == "weighted" and not action.weights:
        problems.append("按权重分配需要设置权重")
    if action.weights and action.strategy != "weighted":
        problems.append("只有按权重分配（weighted）才能设置权重")
    bad = sorted(rep for rep, weight in action.weights.items() if weight <= 0)
    if bad:
        problems.append(f"权重必须大于 0：{'、'.join(bad)}")
    return problems


def describe_action(action: Action, names: Callable[[str], str] | None = None) -> str:
    """The action as a person reads it; `names` turns team and user ids into their names."""
    name = names or (lambda key: key)
    if action.type == "assign_team":
        strategy = STRATEGY_LABELS.get(action.strategy or "", action.strategy or "")
        if action.strategy == "weighted":
            strategy += " " + "、".join(f"{name(rep)}:{weight}" for rep, weight in action.weights.items())
        team = action.team or ""
        text = f"分配至{name(team)}（{strategy}）" if names else f"分配至团队 {team}（{strategy}）"
    elif action.type == "assign_rep":
        text = f"分配给 {name(action.rep)}" if action.rep else "分配给指定销售"
    else:
        text = "进入公海"
    if action.priority != "normal":
        text += f"，优先级{PRIORITY_LABELS[action.priority]}"
    if action.tags:
        text += f"，标签 {'、'.join(action.tags)}"
    return text


def _is_catch_all(rule: Rule) -> bool:
    return rule.enabled and (rule.when is None or (isinstance(rule.when, AllCondition) and not rule.when.all_))


def compile_rules(rule_set: RuleSet, known_fields: set[str], labels: OptionLabels | None = None,
                  field_labels: Mapping[str, str] | None = None,
                  names: Callable[[str], str] | None = None) -> CompiledRules:
    """Validate `rule_set` and compile it once. Raises RuleSetInvalid listing every problem.

    known_fields: fields rules may test (with ROUTABLE_FIELDS always allowed); custom fields as
    `custom.<key>`. labels(field, value) turns an option value into its label for reasons (e.g.
    `LeadProfile.option_label`); field_labels names custom fields (`{"custom.x": "房产面积"}`);
    names(id) names teams and users in reasons (ids when absent).
    """
    allowed = set(known_fields) | ROUTABLE_FIELDS
    option_label = labels or _identity_label
    errors: dict[str, str] = {}
    compiled: list[tuple[Check, Decision]] = []
    conditions: list[Condition | None] = []
    seen: dict[str, int] = {}
    catch_all: Rule | None = None
    uses_hours = False
    for index, rule in enumerate(rule_set.rules):
        problems: list[str] = []
        if rule.id in seen:
            problems.append(f"规则ID {rule.id} 重复（与 rules[{seen[rule.id]}] 相同）")
        seen.setdefault(rule.id, index)
        if catch_all is not None and rule.enabled:
            problems.append(f"位于兜底规则「{catch_all.name}」之后，永远不会被命中")
        compiler = _Compiler(allowed, field_labels or {}, option_label)
        check: Check = _always
        text = "兜底规则"
        if rule.when is not None:
            check, text = compiler.condition(rule.when, top=True)
        if compiler.uses_hours and not rule_set.calendar.hours:
            problems.append("使用了工作时间条件，但日历没有设置工作时间")
        problems += compiler.errors + _action_problems(rule.action)
        if problems:
            errors[rule_key(index, rule.id)] = "；".join(problems)
        if _is_catch_all(rule) and catch_all is None:
            catch_all = rule
        if not rule.enabled:
            continue
        uses_hours = uses_hours or compiler.uses_hours
        action = rule.action
        reason = f"命中规则「{rule.name}」：{text} → {describe_action(action, names)}"
        decision = Decision(rule.id, rule_set.version, action.type, action.team, action.rep, action.strategy,
                            dict(action.weights), action.priority, tuple(action.tags), reason, rule.name)
        compiled.append((check, decision))
        conditions.append(rule.when)
    if errors:
        raise RuleSetInvalid(errors)
    guards = [_guards(cond) for cond in conditions]  # only valid values can be hashed
    return CompiledRules(rule_set.version, tuple(compiled), _CompiledCalendar.of(rule_set.calendar), uses_hours,
                         _indexes(guards))


def _guards(cond: Condition | None) -> dict[str, frozenset[Any]]:
    """For each top-level field, the values it must take for `cond` to hold (from eq/in, through
    all/any). Missing and unlisted values cannot match, so rules guarded on them can be skipped."""
    if isinstance(cond, FieldCondition):
        if cond.field.startswith(CUSTOM_PREFIX) or cond.op not in ("eq", "in"):
            return {}
        return {cond.field: frozenset(cond.value if cond.op == "in" else [cond.value])}
    if isinstance(cond, AllCondition):
        out: dict[str, frozenset[Any]] = {}
        for child in cond.all_:
            for name, values in _guards(child).items():
                out[name] = out[name] & values if name in out else values
        return out
    if isinstance(cond, AnyCondition) and cond.any_:
        branches = [_guards(child) for child in cond.any_]
        shared = set(branches[0]).intersection(*branches[1:])
        return {name: frozenset().union(*(branch[name] for branch in branches)) for name in shared}
    return {}


def _indexes(guards: list[dict[str, frozenset[Any]]], most: int = 8) -> tuple[FieldIndex, ...]:
    """Index the fields that prune most: each costs one dict lookup per lead, so fields that would
    rule out under a tenth of the rules (values assumed equally likely) are not worth it."""
    scored: list[tuple[float, FieldIndex]] = []
    for name in sorted({name for guard in guards for name in guard}):
        values = frozenset().union(*(guard[name] for guard in guards if name in guard))
        unconstrained = sum(1 << i for i, guard in enumerate(guards) if name not in guard)
        masks = dict.fromkeys(values, unconstrained)
        for i, guard in enumerate(guards):
            for value in guard.get(name, ()):
                masks[value] |= 1 << i
        # A contradictory guard (e.g. city = 上海 and city = 北京) has no values: such rules never match.
        pruned = sum(1 - len(guard[name]) / len(values) if values else 1.0 for guard in guards if name in guard)
        if pruned >= 0.1 * len(guards):
            scored.append((pruned, (name, masks, unconstrained)))
    scored.sort(key=lambda item: -item[0])
    return tuple(index for _, index in scored[:most])


# --- references and dry-run ---------------------------------------------------------------------

def check_references(rule_set: RuleSet, teams: Mapping[str, list[str]], active_users: set[str]) -> dict[str, str]:
    """Rule-named errors for enabled rules naming teams or reps that cannot take leads.

    teams: team id -> member rep ids; active_users: ids of users who are not deactivated.
    """
    errors: dict[str, str] = {}
    for index, rule in enumerate(rule_set.rules):
        if not rule.enabled:
            continue
        action, problems = rule.action, []
        if action.type == "assign_team" and action.team:
            members = teams.get(action.team)
            if members is None:
                problems.append(f"团队 {action.team} 不存在")
            else:
                strategy = STRATEGY_LABELS.get(action.strategy or "", "")
                if not members:
                    problems.append(f"团队 {action.team} 没有成员，无法按「{strategy}」分配")
                elif not any(rep in active_users for rep in members):
                    problems.append(f"团队 {action.team} 的成员均已停用，无法按「{strategy}」分配")
                outsiders = sorted(set(action.weights) - set(members))
                if outsiders:
                    problems.append(f"权重中的 {'、'.join(outsiders)} 不是团队 {action.team} 的成员")
        elif action.type == "assign_rep" and action.rep and action.rep not in active_users:
            problems.append(f"用户 {action.rep} 不存在或已停用")
        if problems:
            errors[rule_key(index, rule.id)] = "；".join(problems)
    return errors


def _summary(decision: Decision) -> dict[str, Any]:
    return {"rule_id": decision.rule_id, "version": decision.version, "action": decision.action,
            "team": decision.team, "rep": decision.rep, "strategy": decision.strategy,
            "priority": decision.priority, "tags": list(decision.tags), "reason": decision.reason}


def dry_run(live: CompiledRules, draft: CompiledRules, leads: Sequence[Mapping[str, Any]],
            at: datetime) -> list[dict[str, Any]]:
    """Each lead's decision under the live and the draft rule set. `changed` means the lead would
    be handled differently (action, team, rep, strategy, weights, priority or tags); a different
    rule or reason alone is not a change."""
    out = []
    for lead in leads:
        before, after = live.decide(lead, at), draft.decide(lead, at)
        out.append({"lead_id": lead.get("lead_id"), "live": _summary(before), "draft": _summary(after),
                    "changed": before.outcome() != after.outcome()})
    return out


_PREVIOUS = "（该号码曾有线索 {}）"


def history_reason(reason: str, previous: Sequence[str] | None) -> str:
    """The routing history entry's reason: the route's, and the phone's closed leads (re-inquiries)."""
    return reason + (_PREVIOUS.format("、".join(previous)) if previous else "")


def route_reason(entry_reason: str, previous: Sequence[str] | None) -> str:
    """The route's reason from its history entry's (the one place a placed lead's reason is kept)."""
    suffix = _PREVIOUS.format("、".join(previous)) if previous else ""
    return entry_reason[:-len(suffix)] if suffix and entry_reason.endswith(suffix) else entry_reason
