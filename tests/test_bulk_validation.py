"""The import's field-by-field, memoised validation (`SubmissionValidator`, `new_leads`) against
the one every channel uses (`validate_submission`): same leads, same errors, bad values included."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import lead as lead_module
from chalicelib.domain.lead import LeadSubmission, SubmissionValidator, validate_submission
from chalicelib.domain.sheet_rows import (
    ImportTally,
    RowReader,
    find_columns,
    header_lookup,
    is_blank,
    new_leads,
    reason_text,
)
from chalicelib.errors import ValidationFailed
from chalicelib.rules.imports import default_import_policy
from chalicelib.rules.profile import LeadProfile, default_profile

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
PROPS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))
CHANNELS = ("public", "partner", "manual", "import")


def custom_profile() -> LeadProfile:
    data: dict[str, Any] = default_profile().model_dump()
    data["options"]["loan_type"].append({"value": "old", "label": "停用贷", "active": False})
    data["amount_max"] = 500
    data["custom_fields"] = [
        {"key": "house_area", "label": "房产面积", "type": "number", "required": True},
        {"key": "wechat_id", "label": "微信号", "type": "text", "max_length": 10},
        {"key": "level", "label": "客户等级", "type": "option",
         "options": [{"value": "a", "label": "A级"}, {"value": "b", "label": "B级", "active": False}]},
        {"key": "visit_date", "label": "到访日期", "type": "date"},
        {"key": "city", "label": "城市备注", "type": "text"},  # named like a model field
    ]
    return LeadProfile.model_validate(data)


# Good and bad values for every field a channel may send (types as JSON bodies and cells give them).
VALUES: dict[str, list[Any]] = {
    "name": ["张三", "客户123", "  李  四 ", "Ｚｈａｎｇ", "", "   ", "x" * 50, "x" * 51, 12, None, True],
    "phone": ["13816204573", "138 1620 4573", "+86 13816204573", "0086-13816204573", "１３８１６２０４５７３",
              "13816204573.0", "010-62345678", "01062345678", "12345", "", None, "abc", 13816204573,
              "19999999999", "+1 650 253 0000"],
    "loan_type": ["mortgage", "credit", "old", "房产抵押贷", "nope", "", None, "x" * 2001, 3],
    "amount": [True, 1, 1.0, 50, 50.0, "50", " 80 ", "1e2", 0, -3, "abc", 499.5, 500, 501, "501", None, "nan", "inf"],
    "purpose": ["business_turnover", "other", "企业经营周转", None],
    "credit_status": ["good", "unknown", "bad", None],
    "source": ["import", "partner", "manual", "website_form", "douyin", "carrier_pigeon", "", None],
    "city": ["上海", " 广州 ", "x" * 20, "x" * 21, None, 5],
    "province": ["广东", None],
    "customer_type": ["business_owner", "salaried", "老板", None],
    "consent": [True, False, "true", "yes", "1", 1, 0, "是", "maybe", None],
    "consent_version": ["2024-01", "x" * 21, None],
    "campaign": ["2026双十一", "x" * 100, "x" * 101, None],
    "utm_source": ["baidu", "x" * 101, None],
    "page_url": ["https://example.com/a", None],
    "remark": [True, 1, 1.0, "希望下午联系", "　全角空格　", "a\tb\n c", "x" * 500, "x" * 501, ["a"], {"k": 1}, None],
    "website": ["", "http://spam.example", None],
    "house_area": ["120.5", 80, "大", "", None],
    "wechat_id": ["zs_01", "x" * 11, None],
    "level": ["a", "b", "c", None],
    "visit_date": ["2024-05-20", "20/05/2024", None],
    "status": ["won"],  # a system field: refused
    "custom": [{"level": "a"}, {"nope": 1}, {"house_area": "99"}, "text", None, {}],
}


def outcome(call: Any) -> tuple[str, Any]:
    """A validation's whole result: the submission's fields (values with their types, in order)
    and which were set, or the errors in their order."""
    try:
        sub: LeadSubmission = call()
    except ValidationFailed as exc:
        return "refused", list(exc.fields.items())
    return "accepted", ([(key, type(value), value) for key, value in sub.__dict__.items()],
                        sub.model_fields_set, sub.__pydantic_extra__, sub.__pydantic_private__)


def assert_same(raw: dict[str, Any], profile: LeadProfile, validator: SubmissionValidator) -> None:
    expected = outcome(lambda: validate_submission(raw, profile, validator.channel))
    assert outcome(lambda: validator.validate(raw)) == expected, raw
    assert outcome(lambda: validator.validate(raw)) == expected, raw  # again, from the memo


def test_the_fast_path_is_live_and_builds_what_validate_submission_builds() -> None:
    assert lead_module._FIELD_VALIDATORS is not None  # the model still validates field by field
    profile = default_profile()
    validator = SubmissionValidator(profile, "import")
    fields = {"name": validator.field("name", "张三"), "phone": validator.check("phone", "13816204573"),
              "loan_type": validator.field("loan_type", "mortgage"), "amount": validator.field("amount", 50)}
    fast = validator.accept(fields, {})
    assert fast is not None
    slow = validate_submission({"name": "张三", "phone": "13816204573", "loan_type": "mortgage", "amount": 50},
                               profile, "import")
    assert fast == slow and list(fast.__dict__.items()) == list(slow.__dict__.items())
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump() == slow.model_dump() and repr(fast) == repr(slow)


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_value_alone_gives_the_same_lead_or_errors(channel: str) -> None:
    for profile in (default_profile(), custom_profile()):
        validator = SubmissionValidator(profile, channel)  # type: ignore[arg-type]
        base: dict[str, Any] = {"phone": "13816204573", "house_area": "100"}
        if channel == "public":
            base["consent"] = True
        for field, values in VALUES.items():
            for value in values:
                assert_same({**base, field: value}, profile, validator)
                assert_same({"name": "张三", field: value}, profile, validator)  # no phone unless the field is


@PROPS
@given(st.data(), st.sampled_from(CHANNELS), st.booleans())
def test_any_mix_of_good_and_bad_values_gives_the_same_result(data: Any, channel: str, custom: bool) -> None:
    profile = custom_profile() if custom else default_profile()
    validator = SubmissionValidator(profile, channel)  # type: ignore[arg-type]
    fields = data.draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=8, unique=True))
    raw = {field: data.draw(st.sampled_from(VALUES[field])) for field in ["phone", *fields]}
    assert_same(raw, profile, validator)


HEADERS = ["客户姓名", "联系方式", "贷款类型", "贷款金额(万元)", "城市", "授权同意", "备注", "无关列"]
ROWS: list[list[Any]] = [
    ["张三", 13816204573.0, "房产抵押贷", 50.0, "上海", True, "希望下午联系", None],
    ["李四", "139 1620 4573", "mortgage", "80万", "广州", "是", None, None],
    ["王五", 13816204573.0, "个人信用贷", 30.0, "上海", None, None, None],  # repeats the first phone
    ["赵六", "12345", "房产抵押贷", 50.0, "上海", None, None, None],  # bad phone
    [None, 15016204573.0, "房产抵押贷", 50.0, "上海", None, None, None],  # no name
    ["钱七", 15116204573.0, "不存在的贷款", 1.0, "深圳", None, None, None],  # unknown option
    ["孙八", 15216204573.0, "车辆抵押贷", "很多", "深圳", None, None, None],  # amount not a number
    ["周九", 15316204573.0, "车辆抵押贷", 200000.0, "深圳", None, None, None],  # amount over the maximum
    ["吴十", 15716204573.0, "车辆抵押贷", 0.0, "深圳", None, None, None],  # amount zero
    ["x" * 51, 15816204573.0, None, None, "深圳", None, None, None],  # name too long
    ["郑一", 15916204573.0, None, None, "x" * 21, None, None, None],  # city too long
    ["冯二", 18216204573.0, None, None, None, 1.0, "x" * 501, None],  # remark too long
    ["陈三", 18316204573.0, None, None, None, 1, None, None],  # 1 after 1.0 and True in the same column
    ["褚四", 18416204573.0, None, None, None, "1", None, None],
    ["卫一", 18516204573.0, None, True, None, None, True, None],  # True, 1.0 and 1 convert differently
    ["卫二", 18616204573.0, None, 1.0, None, None, 1.0, None],
    ["卫三", 18816204573.0, None, 1, None, None, 1, None],
    [None, None, None, None, None, None, "  ", None],  # blank
    [None, None, None, None, None, None, None, "只有无关列"],  # not blank: rejected
    ["卫五", "1.8716204573E10", "企业经营贷", "1,000", "成都", "否", "=cmd()", None],
    ["蒋六", datetime(2026, 11, 28, 10, 0), None, None, None, None, None, None],  # a date as phone
    ["沈七", 18716204573.0],  # a short row (CSV)
    ["韩八", 18716204573.0, "房产抵押贷", 50.0, "上海", "maybe", None, None],  # repeat, and bad consent
]


def reference(rows: list[tuple[int, list[Any]]], profile: LeadProfile, required: list[str],
              reader: RowReader) -> tuple[list[tuple[int, LeadSubmission]], ImportTally]:
    """What an import does with plain validate_submission, row by row."""
    tally = ImportTally()
    leads: list[tuple[int, LeadSubmission]] = []
    seen: dict[str, int] = {}
    for row_number, row in rows:
        tally.processed += 1
        if is_blank(row):
            continue
        tally.rows += 1
        raw = reader.raw(row)
        problems = {name: "必填" for name in required if name not in raw}
        submission = None
        try:
            submission = validate_submission(raw, profile, "import")
        except ValidationFailed as exc:
            problems.update(exc.fields)
        if problems or submission is None:
            tally.rejected.append((row_number, reason_text(problems, profile), reader.original(row)))
            continue
        if submission.phone in seen:
            tally.duplicates.append((row_number, seen[submission.phone], reader.original(row)))
            continue
        seen[submission.phone] = row_number
        tally.new += 1
        leads.append((row_number, submission))
    return leads, tally


@pytest.mark.parametrize("with_custom", [False, True])
def test_import_rows_give_the_leads_and_errors_of_validate_submission(with_custom: bool) -> None:
    profile = custom_profile() if with_custom else default_profile()
    policy = default_import_policy()
    headers = [*HEADERS, "房产面积", "客户等级"] if with_custom else HEADERS
    rows = [row + ([80.0, "A级"] if index % 3 else ["", "C级"]) if with_custom and len(row) == len(HEADERS) else row
            for index, row in enumerate(ROWS)]
    columns = find_columns([headers], header_lookup(profile, policy, None))
    assert columns is not None
    numbered = list(enumerate(rows * 3, start=2))  # every value again, from the memo
    tally = ImportTally()
    fast = list(new_leads(iter(numbered), columns, profile, policy.required_fields, tally))
    reader = RowReader(columns, profile, SubmissionValidator(profile, "import"))
    slow, expected = reference(numbered, profile, policy.required_fields, reader)
    assert [(number, outcome(lambda s=sub: s)) for number, sub in fast] == \
        [(number, outcome(lambda s=sub: s)) for number, sub in slow]
    assert tally == expected
    assert expected.rejected and expected.duplicates and expected.new


@PROPS
@given(st.one_of(st.text(max_size=30), st.text("１２Ａａ张 \u3000\tx", max_size=8)))
def test_the_clean_shortcut_gives_what_clean_text_gives(text: str) -> None:
    assert lead_module._clean_value(text) == (lead_module.clean_text(text) or None)
