"""Hypothesis properties of the pure parts every lead goes through: the phone normaliser and text
cleaning, and the compiled routing rule engine against a plain reference interpreter."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.lead import clean_text
from chalicelib.domain.phone import mask_phone, normalise_cn_phone
from chalicelib.domain.routing import compile_rules
from chalicelib.rules.routing import RuleSet

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
PROPS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))

mobiles = st.builds(lambda second, rest: f"1{second}{rest}", st.sampled_from("3456789"),
                    st.text("0123456789", min_size=9, max_size=9))
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def spellings(draw: Any, number: str) -> str:
    """How forms and spreadsheets write one number: prefixes, separators, full-width digits, Excel."""
    groups = [number[:3], number[3:7], number[7:]]
    text = draw(st.sampled_from(["", " ", "-"])).join(groups)
    text = draw(st.sampled_from(["", "+86", "+86 ", "0086", "86"])) + text if draw(st.booleans()) else text
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    if draw(st.booleans()):
        text = f"  {text}\t"
    if draw(st.booleans()) and text.strip().isdigit():
        text = text.strip() + ".0"
    return text


@PROPS
@given(st.data(), mobiles)
def test_every_spelling_of_a_mobile_normalises_to_one_e164(data: Any, number: str) -> None:
    try:
        canonical = normalise_cn_phone(number)
    except ValueError:
        return  # not an allocated range: every spelling must be refused too
    assert canonical == "+86" + number
    assert normalise_cn_phone(data.draw(spellings(number))) == canonical
    assert normalise_cn_phone(canonical) == canonical  # idempotent
    masked = mask_phone(canonical)
    assert masked == f"{number[:3]}****{number[-4:]}"  # the middle four digits never shown


@PROPS
@given(st.text(max_size=40))
def test_the_normaliser_refuses_or_returns_a_chinese_e164(text: str) -> None:
    try:
        result = normalise_cn_phone(text)
    except ValueError:
        return
    assert result.startswith("+86") and result[1:].isdigit() and normalise_cn_phone(result) == result


@PROPS
@given(st.text(max_size=60))
def test_clean_text_is_idempotent_and_trimmed(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once and once == once.strip() and "  " not in once


# --- routing -------------------------------------------------------------------------------------

CITIES = ["上海", "北京", "广州", "成都", "杭州"]
LOANS = ["mortgage", "credit", "car", "business"]
SOURCES = ["web", "partner", "manual"]
FIELDS = {"city": CITIES, "loan_type": LOANS, "source": SOURCES, "amount": [10, 50, 100, 300, 1000]}


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    text_field = st.sampled_from(["city", "loan_type", "source"])
    return st.one_of(
        text_field.flatmap(lambda f: st.builds(lambda op, v: {"field": f, "op": op, "value": v},
                                               st.sampled_from(["eq", "ne"]), st.sampled_from(FIELDS[f]))),
        text_field.flatmap(lambda f: st.builds(lambda op, v: {"field": f, "op": op, "value": v},
                                               st.sampled_from(["in", "not_in"]),
                                               st.lists(st.sampled_from(FIELDS[f]), min_size=1, max_size=3,
                                                        unique=True))),
        st.builds(lambda lo, width: {"field": "amount", "op": "range", "value": {"min": lo, "max": lo + width}},
                  st.sampled_from([0, 20, 80, 200]), st.sampled_from([10, 100, 500])),
        st.builds(lambda v: {"field": "city", "op": "prefix", "value": v}, st.sampled_from(["上", "北", "广州"])),
        st.builds(lambda f, v: {"field": f, "op": "exists", "value": v}, st.sampled_from(list(FIELDS)),
                  st.booleans()),
    )


conditions = st.recursive(leaf(), lambda inner: st.one_of(
    st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda x: {"not": x}, inner)), max_leaves=6)

rule_sets = st.lists(st.tuples(st.one_of(st.none(), conditions), st.booleans()), min_size=1, max_size=8).map(
    lambda rules: {"version": 1, "rules": [
        {"id": f"r{i}", "name": f"规则{i}", "enabled": enabled, "when": when, "action": {"type": "pool"}}
        for i, (when, enabled) in enumerate(rules)
        if when is not None or i == len(rules) - 1]})  # a catch-all only last

leads = st.fixed_dictionaries({}, optional={f: st.sampled_from(values) for f, values in FIELDS.items()})


def holds(cond: dict[str, Any] | None, lead: dict[str, Any]) -> bool:
    """The reference: the rule language read literally, no indexes, no compilation."""
    if cond is None:
        return True
    if "all" in cond:
        return all(holds(c, lead) for c in cond["all"])
    if "any" in cond:
        return any(holds(c, lead) for c in cond["any"])
    if "not" in cond:
        return not holds(cond["not"], lead)
    value, wanted, op = lead.get(cond["field"]), cond["value"], cond["op"]
    return {"eq": lambda: value == wanted, "ne": lambda: value != wanted,
            "in": lambda: value in wanted, "not_in": lambda: value not in wanted,
            "range": lambda: isinstance(value, int) and wanted["min"] <= value <= wanted["max"],
            "prefix": lambda: isinstance(value, str) and value.startswith(wanted),
            "exists": lambda: (value is not None) == wanted}[op]()


@PROPS
@given(rule_sets, st.lists(leads, min_size=1, max_size=10))
def test_the_compiled_engine_picks_the_first_rule_that_holds(document: dict[str, Any],
                                                            batch: list[dict[str, Any]]) -> None:
    compiled = compile_rules(RuleSet.model_validate(document), set(FIELDS))
    at = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    for lead in batch:
        expected = next((r["id"] for r in document["rules"] if r["enabled"] and holds(r["when"], lead)), None)
        decision = compiled.decide(lead, at)
        assert decision.rule_id == expected, (lead, decision.reason)
        assert compiled.decide(dict(lead), at) is decision  # deterministic, shared decisions


def test_a_contradictory_rule_compiles_and_never_matches() -> None:
    """Found by the property above: `city = 上海 and city = 北京` used to divide by zero when indexing."""
    document = {"version": 1, "rules": [
        {"id": "never", "name": "矛盾", "when": {"all": [{"field": "city", "op": "eq", "value": "上海"},
                                                          {"field": "city", "op": "eq", "value": "北京"}]},
         "action": {"type": "pool"}},
        {"id": "rest", "name": "兜底", "when": None, "action": {"type": "pool"}}]}
    compiled = compile_rules(RuleSet.model_validate(document), set(FIELDS))
    assert compiled.decide({"city": "上海"}, datetime(2026, 11, 30, 3, 0, tzinfo=UTC)).rule_id == "rest"
