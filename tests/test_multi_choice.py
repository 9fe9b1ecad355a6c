"""Multi-choice custom fields (`type: "multi"`), pure: the profile's schema, capture validation,
import cells, routing on a list of values and the report builder's dimension."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.analytics import fold_report, report_contribution
from chalicelib.domain.lead import validate_submission
from chalicelib.domain.routing import compile_rules
from chalicelib.domain.sheet_rows import ImportTally, find_columns, header_lookup, new_leads
from chalicelib.errors import ValidationFailed
from chalicelib.rules.imports import ImportPolicy
from chalicelib.rules.profile import LeadProfile, choice_list, default_profile
from chalicelib.rules.routing import load_rule_set, routable_fields

pytestmark = pytest.mark.unit

ASSETS = {"key": "assets", "label": "名下资产", "type": "multi",
          "options": [{"value": "house", "label": "房产"}, {"value": "car", "label": "车辆"},
                      {"value": "policy", "label": "保单"}, {"value": "shop", "label": "商铺", "active": False}]}


def profile_with(*fields: dict[str, Any]) -> LeadProfile:
    data = default_profile().model_dump(mode="json")
    data["custom_fields"] = list(fields)
    return LeadProfile.model_validate(data)


def errors_of(raw: dict[str, Any], profile: LeadProfile) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as err:
        validate_submission(raw, profile, "public")
    return dict(err.value.fields or {})


def test_the_profile_accepts_a_bounded_multi_field_and_refuses_a_bad_one() -> None:
    profile = profile_with(ASSETS)
    spec = profile.custom_field("assets")
    assert spec is not None and spec.multi and spec.max_choices == 10
    with pytest.raises(ValidationError, match="需要至少一个选项"):
        profile_with({**ASSETS, "options": []})
    with pytest.raises(ValidationError, match="选项标识重复"):
        profile_with({**ASSETS, "options": [{"value": "a", "label": "甲"}, {"value": "a", "label": "乙"}]})
    with pytest.raises(ValidationError):
        profile_with({**ASSETS, "max_choices": 0})
    with pytest.raises(ValidationError):
        profile_with({**ASSETS, "options": [{"value": f"o{i}", "label": f"选项{i}"} for i in range(51)]})
    with pytest.raises(ValidationError):
        profile_with({**ASSETS, "type": "multiple"})


def test_choice_lists_split_on_chinese_and_latin_commas() -> None:
    assert choice_list("房产、车辆,保单，房产") == ["房产", "车辆", "保单"]
    assert choice_list(["house", " car ", ""]) == ["house", "car"]
    assert choice_list(None) == [] and choice_list(3) is None and choice_list(["a", 1]) is None


def test_capture_takes_a_list_of_active_codes_and_names_the_field_when_wrong() -> None:
    profile = profile_with(ASSETS)
    good = {"phone": "13816204573", "name": "王先生", "consent": True}
    assert validate_submission({**good, "custom": {"assets": ["house", "car", "house"]}}, profile,
                               "public").custom == {"assets": ["house", "car"]}
    assert validate_submission({**good, "assets": "house,policy"}, profile, "public").custom == \
        {"assets": ["house", "policy"]}  # flat and comma-separated, as an HTML form sends it
    unknown = errors_of({**good, "custom": {"assets": ["house", "boat"]}}, profile)
    assert "名下资产" in unknown["custom.assets"] and "boat" in unknown["custom.assets"]
    retired = errors_of({**good, "custom": {"assets": ["shop"]}}, profile)  # 商铺 is retired: not for new leads
    assert "shop" in retired["custom.assets"] and "商铺" not in retired["custom.assets"].split("可选")[1]
    assert "名下资产" in errors_of({**good, "custom": {"assets": {"house": True}}}, profile)["custom.assets"]
    few = profile_with({**ASSETS, "max_choices": 2})
    assert errors_of({**good, "custom": {"assets": ["house", "car", "policy"]}}, few)["custom.assets"] == \
        "名下资产最多选择 2 项"
    required = profile_with({**ASSETS, "required": True})
    assert errors_of({**good, "custom": {"assets": []}}, required) == {"custom.assets": "请填写名下资产（必填）"}


def test_an_import_cell_takes_labels_or_codes_joined_by_either_comma() -> None:
    profile = profile_with(ASSETS)
    lookup = header_lookup(profile, ImportPolicy(), None)
    columns = find_columns([["联系方式", "名下资产"]], lookup)
    assert columns is not None
    rows = [(2, ["13816204573", "房产、车辆"]), (3, ["13916204571", "car,policy"]), (4, ["13716204572", "房产、游艇"])]
    tally = ImportTally()
    made = {number: sub.custom for number, sub in new_leads(rows, columns, profile, ["phone"], tally)}
    assert made == {2: {"assets": ["house", "car"]}, 3: {"assets": ["car", "policy"]}}
    [(number, reason, _)] = tally.rejected
    assert number == 4 and "名下资产" in reason and "游艇" in reason


def test_routing_in_and_not_in_hold_for_any_chosen_value() -> None:
    fields = routable_fields(["assets"])

    def matches(op: str, values: list[str], assets: Any) -> bool:
        rules = load_rule_set({"version": 1, "rules": [
            {"id": "t1", "name": "测试", "when": {"field": "custom.assets", "op": op, "value": values},
             "action": {"type": "pool"}}]})
        lead = {"lead_id": "L1", "custom": {"assets": assets} if assets is not None else {}}
        return compile_rules(rules, fields).decide(lead, datetime(2026, 3, 10, 3, tzinfo=UTC)).rule_id == "t1"

    assert matches("in", ["house", "shop"], ["car", "house"])
    assert not matches("in", ["house", "shop"], ["car"])
    assert not matches("in", ["house"], []) and not matches("in", ["house"], None)
    assert matches("not_in", ["house"], ["car", "policy"]) and matches("not_in", ["house"], None)
    assert not matches("not_in", ["house", "shop"], ["car", "house"])
    assert matches("in", ["house"], "house")  # a single value as before


def test_the_report_counts_a_lead_once_under_each_chosen_value() -> None:
    image = {"lead_id": "L1", "day": "2026-03-10", "status": "new", "source": "website_form",
             "custom": {"assets": ["house", "car"], "assets_single": "house"}}
    contribution = report_contribution(image, None, None)
    [monthly] = [attrs for (scope, period, _), attrs in contribution.items()
                 if scope == "r/custom.assets/all" and period == "2026-03"]
    folded = fold_report([monthly])
    assert sorted(folded) == ["car", "house"]
    few = next(attrs for (scope, period, _), attrs in contribution.items()
               if scope == "r/few/all" and period == "2026-03")  # the total is kept with the few-valued dimensions
    whole = {k.split("|", 2)[2]: v for k, v in few.items() if k.startswith("total|")}
    for value in ("house", "car"):  # each chosen value counts the lead once, as the total does
        assert {k.split("|", 1)[1]: v for k, v in monthly.items() if k.startswith(f"{value}|")} == whole
