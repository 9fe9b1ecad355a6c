"""The routing rule engine, pure: demo rules, operators, business hours, validation, references,
dry-run, and that the compiled engine agrees with a plain reading of the rules."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bench import routing as routing_bench
from chalicelib.domain.routing import NO_MATCH_REASON, CompiledRules, check_references, compile_rules, dry_run
from chalicelib.rules.profile import default_profile
from chalicelib.rules.routing import (
    AllCondition,
    FieldCondition,
    RuleSet,
    RuleSetInvalid,
    default_rule_set,
    load_rule_set,
    routable_fields,
)

pytestmark = pytest.mark.unit

FIELDS = routable_fields(["house_area", "property_type"])
LABELS = default_profile().option_label
TUESDAY_11 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
SHANGHAI_MORTGAGE = {"lead_id": "L1", "city": "上海", "province": "上海", "region": "华东", "loan_type": "mortgage",
                     "amount": 120}
GUANGZHOU_CREDIT = {"lead_id": "L2", "city": "广州", "province": "广东", "region": "华南", "loan_type": "credit",
                    "amount": 20}
CHENGDU_CAR = {"lead_id": "L3", "city": "成都", "province": "四川", "region": "西南", "loan_type": "car", "amount": 15}
DEMO_ORG = {"sh_mortgage": ["sh_rep1", "sh_rep2", "sh_rep3"], "south_credit": ["gz_rep1", "gz_rep2"]}
ACTIVE = {"admin", "sh_lead", "sh_rep1", "sh_rep2", "sh_rep3", "gz_lead", "gz_rep1", "gz_rep2"}


def demo() -> CompiledRules:
    return compile_rules(default_rule_set(), FIELDS, LABELS)


def one_rule(when: dict[str, Any] | None, calendar: dict[str, Any] | None = None, **rule: Any) -> RuleSet:
    body: dict[str, Any] = {"id": "t1", "name": "测试", "when": when, "action": {"type": "pool"}, **rule}
    return load_rule_set({"version": 3, "rules": [body], **({"calendar": calendar} if calendar else {})})


def matches(when: dict[str, Any], lead: dict[str, Any], at: datetime = TUESDAY_11) -> bool:
    return compile_rules(one_rule(when), FIELDS).decide(lead, at).rule_id == "t1"


def invalid(rules: list[dict[str, Any]]) -> dict[str, str]:
    with pytest.raises(RuleSetInvalid) as err:
        compile_rules(load_rule_set({"version": 2, "rules": rules}), FIELDS)
    return err.value.errors


def rule(rule_id: str, when: dict[str, Any] | None = None, **action: Any) -> dict[str, Any]:
    return {"id": rule_id, "name": f"规则{rule_id}", "when": when, "action": action or {"type": "pool"}}


def leaf(name: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": name, "op": op, "value": value}


# --- the demo org's rules ---------------------------------------------------------------------

def test_shanghai_mortgage_goes_to_sh_mortgage_by_round_robin() -> None:
    decision = demo().decide(SHANGHAI_MORTGAGE, TUESDAY_11)
    assert (decision.rule_id, decision.version, decision.action) == ("r1", 1, "assign_team")
    assert (decision.team, decision.strategy, decision.rep) == ("sh_mortgage", "round_robin", None)
    assert decision.reason == ("命中规则「上海房贷」：城市 = 上海，贷款类型 = 房产抵押贷 → "
                               "分配至团队 sh_mortgage（轮流分配）")


def test_guangzhou_credit_goes_to_south_credit_by_least_load() -> None:
    decision = demo().decide(GUANGZHOU_CREDIT, TUESDAY_11)
    assert (decision.rule_id, decision.version, decision.team, decision.strategy) == \
        ("r2", 1, "south_credit", "least_loaded")
    assert decision.reason == ("命中规则「华南信贷」：大区 = 华南，贷款类型 = 个人信用贷 → "
                               "分配至团队 south_credit（最少持有优先）")


def test_chengdu_car_stays_in_the_pool() -> None:
    decision = demo().decide(CHENGDU_CAR, TUESDAY_11)
    assert (decision.rule_id, decision.version, decision.action, decision.team, decision.rep) == \
        ("r3", 1, "pool", None, None)
    assert decision.reason == "命中规则「其他进公海」：兜底规则 → 进入公海"


def test_no_matching_rule_means_pool_with_its_own_reason() -> None:
    decision = compile_rules(one_rule(leaf("city", "eq", "上海")), FIELDS).decide(CHENGDU_CAR, TUESDAY_11)
    assert (decision.rule_id, decision.version, decision.action, decision.reason) == \
        (None, 3, "pool", NO_MATCH_REASON)


def test_without_labels_reasons_show_option_values() -> None:
    reason = compile_rules(default_rule_set(), FIELDS).decide(SHANGHAI_MORTGAGE, TUESDAY_11).reason
    assert "贷款类型 = mortgage" in reason


def test_default_rule_set_round_trips_through_json() -> None:
    document = default_rule_set().model_dump(mode="json")
    assert document["rules"][0]["when"]["all"][0] == {"field": "city", "op": "eq", "value": "上海"}
    assert load_rule_set(document) == default_rule_set()


# --- operators --------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "lead", "expected"), [
    (leaf("city", "eq", "上海"), {"city": "上海"}, True),
    (leaf("city", "eq", "上海"), {"city": "北京"}, False),
    (leaf("city", "eq", "上海"), {}, False),
    (leaf("amount", "eq", 50), {"amount": 50.0}, True),
    (leaf("city", "ne", "上海"), {"city": "北京"}, True),
    (leaf("city", "ne", "上海"), {"city": "上海"}, False),
    (leaf("city", "ne", "上海"), {}, True),
    (leaf("city", "in", ["上海", "杭州"]), {"city": "杭州"}, True),
    (leaf("city", "in", ["上海", "杭州"]), {"city": "北京"}, False),
    (leaf("city", "in", ["上海", "杭州"]), {}, False),
    (leaf("city", "in", ["上海", "杭州"]), {"city": ["上海"]}, False),
    (leaf("city", "not_in", ["上海", "杭州"]), {"city": "北京"}, True),
    (leaf("city", "not_in", ["上海", "杭州"]), {"city": "上海"}, False),
    (leaf("city", "not_in", ["上海", "杭州"]), {}, True),
    (leaf("amount", "range", {"min": 50, "max": 200}), {"amount": 50}, True),
    (leaf("amount", "range", {"min": 50, "max": 200}), {"amount": 200.0}, True),
    (leaf("amount", "range", {"min": 50, "max": 200}), {"amount": Decimal("99.5")}, True),
    (leaf("amount", "range", {"min": 50, "max": 200}), {"amount": 200.5}, False),
    (leaf("amount", "range", {"min": 50, "max": 200}), {"amount": 49}, False),
    (leaf("amount", "range", {"min": 50, "max": 200}), {"amount": "100"}, False),
    (leaf("amount", "range", {"min": 0, "max": 200}), {"amount": True}, False),
    (leaf("amount", "range", {"min": 50, "max": 200}), {}, False),
    (leaf("amount", "range", {"min": 500}), {"amount": 10000}, True),
    (leaf("amount", "range", {"max": 30}), {"amount": 10}, True),
    (leaf("amount", "range", {"max": 30}), {"amount": 31}, False),
    (leaf("campaign", "prefix", "spring_"), {"campaign": "spring_2026"}, True),
    (leaf("campaign", "prefix", "spring_"), {"campaign": "autumn_spring_"}, False),
    (leaf("campaign", "prefix", "spring_"), {}, False),
    (leaf("campaign", "prefix", "1"), {"campaign": 123}, False),
    (leaf("campaign", "exists", True), {"campaign": "x"}, True),
    (leaf("campaign", "exists", True), {"campaign": ""}, False),
    (leaf("campaign", "exists", True), {}, False),
    (leaf("campaign", "exists", False), {}, True),
    (leaf("campaign", "exists", False), {"campaign": "x"}, False),
    (leaf("custom.house_area", "range", {"min": 100}), {"custom": {"house_area": 120.0}}, True),
    (leaf("custom.house_area", "range", {"min": 100}), {"custom": {"house_area": 80.0}}, False),
    (leaf("custom.house_area", "range", {"min": 100}), {"custom": {}}, False),
    (leaf("custom.house_area", "range", {"min": 100}), {"house_area": 120.0}, False),
    (leaf("custom.property_type", "eq", "villa"), {"custom": {"property_type": "villa"}}, True),
    (leaf("custom.property_type", "in", ["villa", "shop"]), {"custom": {"property_type": "flat"}}, False),
    (leaf("custom.property_type", "ne", "villa"), {}, True),
    (leaf("custom.property_type", "exists", False), {"custom": {"property_type": "villa"}}, False),
])
def test_operators(when: dict[str, Any], lead: dict[str, Any], expected: bool) -> None:
    assert matches(when, lead) is expected


def test_nesting_all_any_not() -> None:
    when = {"all": [
        {"any": [leaf("city", "eq", "上海"), leaf("region", "eq", "华南")]},
        {"not": leaf("credit_status", "eq", "serious_overdue")},
        {"any": [leaf("amount", "range", {"min": 100}), {"all": [leaf("loan_type", "eq", "credit"),
                                                                  leaf("source", "in", ["wechat", "douyin"])]}]},
    ]}
    assert matches(when, {"city": "上海", "credit_status": "good", "amount": 150})
    assert matches(when, {"region": "华南", "loan_type": "credit", "source": "wechat", "amount": 5})
    assert matches(when, {"city": "上海", "amount": 150})  # no credit status: "not serious" holds
    assert not matches(when, {"city": "上海", "credit_status": "serious_overdue", "amount": 150})
    assert not matches(when, {"city": "北京", "credit_status": "good", "amount": 150})
    assert not matches(when, {"region": "华南", "loan_type": "credit", "source": "zhihu", "amount": 5})
    assert matches({"not": {"not": leaf("city", "eq", "上海")}}, {"city": "上海"})
    assert matches({"all": [leaf("city", "eq", "上海")] * 5}, {"city": "上海"})
    assert matches({"any": [leaf("city", "eq", c) for c in ("北京", "天津", "上海")]}, {"city": "上海"})


def test_first_match_wins_and_disabled_rules_are_skipped() -> None:
    rules = load_rule_set({"version": 4, "rules": [
        {**rule("a", leaf("city", "eq", "上海"), type="assign_rep", rep="sh_rep1"), "enabled": False},
        rule("b", leaf("loan_type", "eq", "mortgage"), type="assign_rep", rep="sh_rep2"),
        rule("c", leaf("city", "eq", "上海"), type="assign_rep", rep="sh_rep3"),
    ]})
    decision = compile_rules(rules, FIELDS).decide(SHANGHAI_MORTGAGE, TUESDAY_11)
    assert (decision.rule_id, decision.rep, decision.version) == ("b", "sh_rep2", 4)


def test_reasons_describe_nesting_weights_priority_and_tags() -> None:
    rules = load_rule_set({"version": 5, "rules": [{
        "id": "vip", "name": "大额加急",
        "when": {"all": [{"any": [leaf("city", "in", ["上海", "杭州"]), leaf("custom.house_area", "exists", True)]},
                         {"not": leaf("credit_status", "eq", "serious_overdue")},
                         leaf("amount", "range", {"min": 100, "max": 500}), {"business_hours": True}]},
        "action": {"type": "assign_team", "team": "sh_mortgage", "strategy": "weighted",
                   "weights": {"sh_rep1": 3, "sh_rep2": 1}, "priority": "high", "tags": ["大额", "加急"]},
    }], "calendar": default_rule_set().calendar.model_dump(mode="json")})
    engine = compile_rules(rules, FIELDS, LABELS, field_labels={"custom.house_area": "房产面积"})
    decision = engine.decide({"city": "杭州", "amount": 300}, TUESDAY_11)
    assert decision.reason == (
        "命中规则「大额加急」：（城市为 上海、杭州 之一 或 房产面积已填写），非（征信情况 = 严重逾期），"
        "贷款金额(万元) 在 100–500 之间，工作时间内 → 分配至团队 sh_mortgage（按权重分配 sh_rep1:3、sh_rep2:1），"
        "优先级高，标签 大额、加急")
    assert decision.weights == {"sh_rep1": 3, "sh_rep2": 1} and decision.tags == ("大额", "加急")
    assert decision.as_dict()["tags"] == ["大额", "加急"]


# --- business hours ---------------------------------------------------------------------------

def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


@pytest.mark.parametrize(("at", "open_now"), [
    (shanghai("2026-03-10T11:00"), True),  # Tuesday
    (shanghai("2026-03-10T09:00"), True),
    (shanghai("2026-03-10T08:59"), False),
    (shanghai("2026-03-10T17:59"), True),
    (shanghai("2026-03-10T18:00"), False),  # closing time is closed
    (shanghai("2026-03-14T11:00"), False),  # Saturday
    (shanghai("2026-10-01T11:00"), False),  # 国庆节, a Thursday
    (shanghai("2026-02-18T11:00"), False),  # 春节, a Wednesday
    (shanghai("2026-10-10T11:00"), True),  # 调休: a Saturday worked with Monday's hours
    (shanghai("2026-10-17T11:00"), False),  # the Saturday after: closed
    (datetime(2026, 3, 10, 1, 30, tzinfo=UTC), True),  # 01:30 UTC is 09:30 in Shanghai
    (datetime(2026, 3, 10, 10, 30, tzinfo=UTC), False),  # 10:30 UTC is 18:30 in Shanghai
])
def test_business_hours_on_the_default_calendar(at: datetime, open_now: bool) -> None:
    during = one_rule({"business_hours": True}, default_rule_set().calendar.model_dump(mode="json"))
    after = one_rule({"business_hours": False}, default_rule_set().calendar.model_dump(mode="json"))
    assert compile_rules(during, FIELDS).decide({}, at).rule_id == ("t1" if open_now else None)
    assert compile_rules(after, FIELDS).decide({}, at).rule_id == (None if open_now else "t1")
    assert demo().is_business_hours(at) is open_now


def test_business_hours_use_the_shanghai_day_across_midnight_utc() -> None:
    calendar = {"hours": {"mon": ["00:00", "08:00"], "wed": ["00:00", "24:00"]}, "holidays": ["2026-10-01"]}
    engine = compile_rules(one_rule({"business_hours": True}, calendar), FIELDS)
    assert engine.decide({}, datetime(2026, 3, 8, 17, 0, tzinfo=UTC)).rule_id == "t1"  # Sunday UTC, Monday 01:00
    assert engine.decide({}, datetime(2026, 3, 9, 17, 0, tzinfo=UTC)).rule_id is None  # Tuesday 01:00
    assert engine.decide({}, datetime(2026, 9, 30, 15, 30, tzinfo=UTC)).rule_id == "t1"  # Wednesday 23:30
    assert engine.decide({}, datetime(2026, 9, 30, 16, 30, tzinfo=UTC)).rule_id is None  # 10-01 00:30, holiday


def test_decide_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        demo().decide(SHANGHAI_MORTGAGE, datetime(2026, 3, 10, 11, 0))


@pytest.mark.parametrize(("calendar", "message"), [
    ({"hours": {"mon": ["9:00", "18:00"]}}, "HH:MM"),
    ({"hours": {"mon": ["18:00", "09:00"]}}, "早于"),
    ({"hours": {"mon": ["09:00", "18:00"]}, "workdays": ["2026-03-10"]}, "周六或周日"),
    ({"hours": {"mon": ["09:00", "18:00"]}, "workdays": ["2026-10-10"], "holidays": ["2026-10-10"]}, "既是"),
    ({"hours": {"tue": ["09:00", "18:00"]}, "workdays": ["2026-10-10"]}, "周一"),
    ({"hours": {"mon": ["09:00", "18:00"]}, "timezone": "UTC"}, "Asia/Shanghai"),
    ({"hours": {"funday": ["09:00", "18:00"]}}, "mon"),
])
def test_bad_calendars_are_refused(calendar: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleSetInvalid) as err:
        one_rule(None, calendar)
    assert set(err.value.errors) == {"calendar"} and message in err.value.errors["calendar"]


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "message"), [
    (leaf("foo", "eq", "x"), "未知字段 foo"),
    (leaf("custom.nope", "eq", "x"), "未知字段 custom.nope"),
    (leaf("city", "gt", "x"), "未知运算符 gt"),
    (leaf("amount", "range", {"min": "a"}), "必须是数字"),
    (leaf("amount", "range", {"min": True}), "必须是数字"),
    (leaf("amount", "range", {}), "min"),
    (leaf("amount", "range", [1, 2]), "min"),
    (leaf("amount", "range", {"min": 5, "max": 1}), "不能大于"),
    (leaf("amount", "range", {"low": 5}), "min"),
    (leaf("city", "in", "上海"), "非空列表"),
    (leaf("city", "in", []), "非空列表"),
    (leaf("city", "not_in", [["上海"]]), "列表只能包含"),
    (leaf("city", "eq", None), "需要一个文本"),
    (leaf("city", "eq", ["上海"]), "需要一个文本"),
    (leaf("amount", "eq", float("nan")), "需要一个文本"),
    (leaf("campaign", "prefix", ""), "非空文本"),
    (leaf("campaign", "exists", "yes"), "true 或 false"),
    ({"any": []}, "any 条件不能为空"),
    ({"business_hours": True}, "日历没有设置工作时间"),
    ({"all": [leaf("city", "eq", "上海"), {"not": leaf("foo", "eq", 1)}]}, "未知字段 foo"),
])
def test_bad_conditions_are_refused_naming_the_rule(when: dict[str, Any], message: str) -> None:
    errors = invalid([rule("ok", leaf("city", "eq", "上海")), rule("bad7", when)])
    assert list(errors) == ["rules[1] (bad7)"]
    assert message in errors["rules[1] (bad7)"]


@pytest.mark.parametrize("catch_all", [None, {"all": []}])
def test_a_rule_after_a_catch_all_is_refused(catch_all: dict[str, Any] | None) -> None:
    errors = invalid([rule("r1", leaf("city", "eq", "上海")), rule("everything", catch_all),
                      rule("late", leaf("city", "eq", "北京")),
                      {**rule("parked", leaf("city", "eq", "天津")), "enabled": False}])
    assert list(errors) == ["rules[2] (late)"]
    assert "位于兜底规则" in errors["rules[2] (late)"] and "永远不会被命中" in errors["rules[2] (late)"]


def test_a_disabled_catch_all_does_not_hide_later_rules() -> None:
    rules = load_rule_set({"version": 1, "rules": [{**rule("off"), "enabled": False},
                                                    rule("city", leaf("city", "eq", "上海"))]})
    assert compile_rules(rules, FIELDS).decide(SHANGHAI_MORTGAGE, TUESDAY_11).rule_id == "city"


@pytest.mark.parametrize(("action", "message"), [
    ({"type": "assign_team", "strategy": "round_robin"}, "需要指定团队"),
    ({"type": "assign_team", "team": "sh_mortgage"}, "需要指定分配策略"),
    ({"type": "assign_rep"}, "需要指定负责人"),
    ({"type": "assign_team", "team": "sh_mortgage", "strategy": "weighted"}, "需要设置权重"),
    ({"type": "assign_team", "team": "sh_mortgage", "strategy": "weighted", "weights": {"sh_rep1": 0}},
     "权重必须大于 0：sh_rep1"),
    ({"type": "assign_team", "team": "sh_mortgage", "strategy": "weighted", "weights": {"sh_rep1": -2}},
     "权重必须大于 0"),
    ({"type": "assign_team", "team": "sh_mortgage", "strategy": "round_robin", "weights": {"sh_rep1": 2}},
     "只有按权重分配"),
    ({"type": "pool", "team": "sh_mortgage"}, "进入公海时不能指定"),
    ({"type": "assign_rep", "rep": "sh_rep1", "team": "sh_mortgage"}, "不能指定团队"),
])
def test_incomplete_actions_are_refused_naming_the_rule(action: dict[str, Any], message: str) -> None:
    errors = invalid([rule("act9", leaf("city", "eq", "上海"), **action)])
    assert list(errors) == ["rules[0] (act9)"] and message in errors["rules[0] (act9)"]


def test_every_error_is_reported_at_once() -> None:
    errors = invalid([
        rule("r1", leaf("foo", "eq", 1)),
        rule("r1", leaf("city", "gt", 1), type="assign_rep"),
        rule("r3", None),
        rule("r4", leaf("city", "eq", "上海")),
    ])
    assert set(errors) == {"rules[0] (r1)", "rules[1] (r1)", "rules[3] (r4)"}
    assert "未知字段 foo" in errors["rules[0] (r1)"]
    second = errors["rules[1] (r1)"]
    assert "规则ID r1 重复" in second and "未知运算符 gt" in second and "需要指定负责人" in second
    assert "兜底规则「规则r3」之后" in errors["rules[3] (r4)"]


@pytest.mark.parametrize(("body", "message"), [
    ({"when": {"foo": 1}}, "条件应为"),
    ({"when": {"field": "city", "op": "eq"}}, "value：必填"),
    ({"when": {"field": "city", "op": "eq", "value": "x", "extra": 1}}, "extra：未知字段"),
    ({"when": {"business_hours": "yes"}}, "true/false"),
    ({"action": {"type": "call"}}, "action.type：应为"),
    ({"action": {"type": "pool", "priority": "urgent"}}, "action.priority"),
    ({"colour": "red"}, "colour：未知字段"),
    ({"name": ""}, "name：不能为空"),
])
def test_bad_shapes_are_refused_naming_the_rule(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleSetInvalid) as err:
        load_rule_set({"version": 1, "rules": [rule("fine"), {**rule("shape5"), **body}]})
    assert list(err.value.errors) == ["rules[1] (shape5)"]
    assert message in err.value.errors["rules[1] (shape5)"]


def test_a_missing_action_and_version_are_named() -> None:
    with pytest.raises(RuleSetInvalid) as err:
        load_rule_set({"rules": [{"id": "x1", "name": "无动作"}]})
    assert err.value.errors == {"version": "必填", "rules[0] (x1)": "action：必填"}


# --- references -------------------------------------------------------------------------------

def test_demo_rules_reference_the_demo_org() -> None:
    assert check_references(default_rule_set(), DEMO_ORG, ACTIVE) == {}


def test_references_to_missing_teams_members_and_users_are_named() -> None:
    rules = load_rule_set({"version": 2, "rules": [
        rule("t_gone", leaf("city", "eq", "北京"), type="assign_team", team="bj_mortgage", strategy="round_robin"),
        rule("t_empty", leaf("city", "eq", "天津"), type="assign_team", team="tj_team", strategy="least_loaded"),
        rule("t_left", leaf("city", "eq", "重庆"), type="assign_team", team="cq_team", strategy="round_robin"),
        rule("w_out", leaf("city", "eq", "上海"), type="assign_team", team="sh_mortgage", strategy="weighted",
             weights={"sh_rep1": 2, "gz_rep1": 1}),
        rule("rep_gone", leaf("city", "eq", "广州"), type="assign_rep", rep="ex_rep"),
        {**rule("off", leaf("city", "eq", "深圳"), type="assign_rep", rep="ex_rep"), "enabled": False},
        rule("ok", leaf("city", "eq", "杭州"), type="assign_rep", rep="sh_rep1"),
    ]})
    teams = {**DEMO_ORG, "tj_team": [], "cq_team": ["cq_rep1"]}
    errors = check_references(rules, teams, ACTIVE)
    assert errors == {
        "rules[0] (t_gone)": "团队 bj_mortgage 不存在",
        "rules[1] (t_empty)": "团队 tj_team 没有成员，无法按「最少持有优先」分配",
        "rules[2] (t_left)": "团队 cq_team 的成员均已停用，无法按「轮流分配」分配",
        "rules[3] (w_out)": "权重中的 gz_rep1 不是团队 sh_mortgage 的成员",
        "rules[4] (rep_gone)": "用户 ex_rep 不存在或已停用",
    }


# --- dry-run ----------------------------------------------------------------------------------

def test_dry_run_lists_exactly_the_leads_a_draft_would_move() -> None:
    document = default_rule_set().model_dump(mode="json")
    document["version"] = 2
    document["rules"][0]["action"]["team"] = "south_credit"
    draft = compile_rules(load_rule_set(document), FIELDS, LABELS)
    leads = [SHANGHAI_MORTGAGE, GUANGZHOU_CREDIT, CHENGDU_CAR, {**SHANGHAI_MORTGAGE, "lead_id": "L4"}]
    report = dry_run(demo(), draft, leads, TUESDAY_11)
    assert [row["lead_id"] for row in report] == ["L1", "L2", "L3", "L4"]
    changed = [row for row in report if row["changed"]]
    assert [row["lead_id"] for row in changed] == ["L1", "L4"]
    for row in changed:
        assert (row["live"]["rule_id"], row["live"]["team"], row["live"]["version"]) == ("r1", "sh_mortgage", 1)
        assert (row["draft"]["rule_id"], row["draft"]["team"], row["draft"]["version"]) == ("r1", "south_credit", 2)
        assert "分配至团队 south_credit（轮流分配）" in row["draft"]["reason"]
        assert "分配至团队 sh_mortgage（轮流分配）" in row["live"]["reason"]
    unchanged = report[1]
    assert unchanged["live"]["team"] == unchanged["draft"]["team"] == "south_credit"


def test_dry_run_ignores_a_new_reason_for_the_same_outcome() -> None:
    document = default_rule_set().model_dump(mode="json")
    document["rules"][0]["name"] = "上海房抵贷"
    report = dry_run(demo(), compile_rules(load_rule_set(document), FIELDS), [SHANGHAI_MORTGAGE], TUESDAY_11)
    assert report[0]["changed"] is False and report[0]["live"]["reason"] != report[0]["draft"]["reason"]


# --- compiled once ----------------------------------------------------------------------------

def test_the_compiled_engine_does_not_read_the_rule_set_again() -> None:
    source = default_rule_set().model_copy(deep=True)
    engine = compile_rules(source, FIELDS, LABELS)
    first = source.rules[0].when
    assert isinstance(first, AllCondition) and isinstance(first.all_[0], FieldCondition)
    first.all_[0].value = "北京"
    source.rules[0].action.team = "elsewhere"
    source.rules.clear()
    source.version = 99
    decision = engine.decide(SHANGHAI_MORTGAGE, TUESDAY_11)
    assert (decision.rule_id, decision.team, decision.version) == ("r1", "sh_mortgage", 1)
    assert default_rule_set().rules[0].action.team == "sh_mortgage"


def _reference(cond: Any, lead: dict[str, Any], open_now: bool) -> bool:
    """The rules read plainly, node by node: what the compiled engine must agree with."""
    if cond is None:
        return True
    if "all" in cond:
        return all(_reference(child, lead, open_now) for child in cond["all"])
    if "any" in cond:
        return any(_reference(child, lead, open_now) for child in cond["any"])
    if "not" in cond:
        return not _reference(cond["not"], lead, open_now)
    if "business_hours" in cond:
        return open_now is cond["business_hours"]
    name, op, value = cond["field"], cond["op"], cond["value"]
    v = (lead.get("custom") or {}).get(name[7:]) if name.startswith("custom.") else lead.get(name)
    number = isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)
    checks: dict[str, Callable[[], bool]] = {
        "eq": lambda: v is not None and v == value,
        "ne": lambda: v is None or v != value,
        "in": lambda: v is not None and any(v == item for item in value),
        "not_in": lambda: v is None or all(v != item for item in value),
        "range": lambda: number and value.get("min", -1e18) <= v <= value.get("max", 1e18),
        "prefix": lambda: isinstance(v, str) and v.startswith(value),
        "exists": lambda: (v is not None and v != "") is value,
    }
    return bool(checks[op]())


def test_the_compiled_engine_agrees_with_a_plain_reading_of_the_rules() -> None:
    rng = random.Random(7)
    where = routing_bench.places()
    rules, patches = routing_bench.rule_set(300, rng, where)
    raw = rules.model_dump(mode="json")["rules"]
    engine = compile_rules(rules, FIELDS)
    leads = [routing_bench.lead(index, rng, where, patches) for index in range(1500)]
    for index, lead in enumerate(leads[:300]):  # odd values and missing fields too
        lead.pop(rng.choice(["city", "loan_type", "province", "source", "channel", "amount"]))
        lead[rng.choice(["city", "loan_type"])] = rng.choice([None, "", ["上海"], {"a": 1}, 7, Decimal(index)])
    seen = set()
    for lead in leads:
        expected = next((item["id"] for item in raw if _reference(item["when"], lead, False)), None)
        assert engine.decide(lead, TUESDAY_11).rule_id == expected
        seen.add(expected)
    assert len(seen) > 200  # the leads reach rules all along the list


def test_the_bench_runs_small() -> None:
    figures = routing_bench.run(n_rules=40, n_leads=200, verbose=False)
    assert {"routing_decisions_per_s", "routing_compile_ms"} <= set(figures)
    assert figures["routing_decisions_per_s"] > 0
