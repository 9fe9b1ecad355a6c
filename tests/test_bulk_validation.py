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
from chalicelib.domain import sheet_rows
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

pytestmark = pytest.mark.unit

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
              reader: RowReader) -> tuple[list[tuple[int, LeadSubmission, int, int]], ImportTally]:
    """What an import does with plain validate_submission, row by row: each new lead with the
    tally's processed and new counts when it is handed over (the checkpoint an import run keeps)."""
    tally = ImportTally()
    leads: list[tuple[int, LeadSubmission, int, int]] = []
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
        leads.append((row_number, submission, tally.processed, tally.new))
    return leads, tally


def assert_import_matches(numbered: list[tuple[int, list[Any]]], headers: list[str], profile: LeadProfile,
                          required: list[str] | None = None) -> ImportTally:
    """new_leads over `numbered` hands over the leads, at the same checkpoints, and tallies the
    rejected rows (reasons, original cells) and repeats of the row-by-row reference."""
    policy = default_import_policy()
    required = policy.required_fields if required is None else required
    columns = find_columns([headers], header_lookup(profile, policy, None))
    assert columns is not None
    tally = ImportTally()
    fast = [(number, outcome(lambda s=sub: s), tally.processed, tally.new)
            for number, sub in new_leads(iter(numbered), columns, profile, required, tally)]
    reader = RowReader(columns, profile, SubmissionValidator(profile, "import"))
    slow, expected = reference(numbered, profile, required, reader)
    assert fast == [(number, outcome(lambda s=sub: s), processed, new) for number, sub, processed, new in slow]
    assert tally == expected
    return expected


@pytest.mark.parametrize("block", [1, 7, sheet_rows.BLOCK_ROWS])
@pytest.mark.parametrize("with_custom", [False, True])
def test_import_rows_give_the_leads_and_errors_of_validate_submission(
        with_custom: bool, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheet_rows, "BLOCK_ROWS", block)
    profile = custom_profile() if with_custom else default_profile()
    headers = [*HEADERS, "房产面积", "客户等级"] if with_custom else HEADERS
    rows = [row + ([80.0, "A级"] if index % 3 else ["", "C级"]) if with_custom and len(row) == len(HEADERS) else row
            for index, row in enumerate(ROWS)]
    expected = assert_import_matches(list(enumerate(rows * 3, start=2)), headers, profile)  # again, from the memo
    assert expected.rejected and expected.duplicates and expected.new


# Cells as spreadsheets and CSV files give them, good and bad, for every importable column.
CELLS: dict[str, list[Any]] = {
    "客户姓名": ["张三", " 李四 ", "Ｚｈａｎｇ", "客户 12", "x" * 50, "x" * 51, "", "  ", None, 12.0, True,
             datetime(2026, 1, 2)],
    "联系方式": [13816204573.0, 15016204573.0, 1.3916204573e10, 19999999999.0, 10000000000.0, 12345678901.0,
             99999999999.0, 13816204573.5, -13816204573.0, 1e11, float("nan"), float("inf"), 12345.0,
             "13816204573", " 13916204573 ", "139 1620 4573", "+86 13816204573", "１３８１６２０４５７３",
             "13816204573.0", "1.3816204573E10", "010-62345678", "01062345678", "12345", "abc", "", None, 0.0,
             True, datetime(2026, 11, 28, 10, 0), 13816204573, 15116204573],
    "贷款类型": ["房产抵押贷", "mortgage", "个人信用贷", "停用贷", "不存在", "", None, 3.0, True],
    "贷款金额(万元)": [50.0, 50, 1.0, 1, True, 0.0, -3.0, "80万", "1,000", "很多", 200000.0, 499.5, 501.0, "", None],
    "资金用途": ["企业经营周转", "other", "nope", None],
    "征信情况": ["良好,无逾期", "good", "bad", None, ""],
    "城市": ["上海", " 广州 ", "x" * 21, None, 5.0],
    "客户画像": ["企业主", "老板", None],
    "授权同意": [True, False, "是", "否", "maybe", 1.0, 0.0, 1, "1", None],
    "活动": ["2026双十一", "x" * 101, None],
    "备注": ["希望下午联系", "x" * 501, "=cmd()", 1.0, True, None, "  "],
    "无关列": [None, "只有无关列"],
    "房产面积": [80.0, "120.5", "大", "", None],
    "客户等级": ["A级", "B级", "C级", None],
}


@PROPS
@given(st.data(), st.booleans(), st.sampled_from([1, 3, 50]))
def test_any_file_gives_the_leads_and_errors_of_validate_submission(data: Any, with_custom: bool, block: int) -> None:
    profile = custom_profile() if with_custom else default_profile()
    names = [name for name in CELLS if with_custom or name not in ("房产面积", "客户等级")]
    headers = ["联系方式", *data.draw(st.lists(st.sampled_from([n for n in names if n != "联系方式"]), min_size=1,
                                                         unique=True))]
    rows = data.draw(st.lists(st.lists(st.integers(0, 40), min_size=len(headers), max_size=len(headers)),
                              max_size=60))
    numbered = []
    for number, picks in enumerate(rows, start=2):
        row = [CELLS[header][pick % len(CELLS[header])] for header, pick in zip(headers, picks, strict=True)]
        numbered.append((number, row[:data.draw(st.integers(1, len(row)))] if number % 7 == 0 else row))  # short
    required = data.draw(st.sampled_from([["phone"], ["name", "phone"], ["phone", "city"]]))
    original_block = sheet_rows.BLOCK_ROWS
    sheet_rows.BLOCK_ROWS = block
    try:
        assert_import_matches(numbered, headers, profile, required)
    finally:
        sheet_rows.BLOCK_ROWS = original_block


def test_a_file_of_good_rows_is_assembled_without_validate_submission(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is live: a file whose every row fills every column well never runs the model's
    whole validation, and a file with a required custom field always does (assembler refuses)."""
    profile = default_profile()
    calls: list[int] = []
    original = lead_module.validate_submission
    monkeypatch.setattr(lead_module, "validate_submission", lambda *args: calls.append(1) or original(*args))
    assert lead_module._PHONE_IS_NORMALISED_TEXT  # the phone column's own fast path is live too
    rows = [["客户一", 13816204573.0, "房产抵押贷", 50.0, "上海", True, "希望下午联系", None],
            ["客户二", "15016204573", "个人信用贷", 30.0, "广州", "是", "x", "无关"]]
    assert_import_matches(list(enumerate(rows * 600, start=2)), HEADERS, profile)
    validator = SubmissionValidator(profile, "import")
    assert validator.assembler(["name", "phone"]) is not None
    assert validator.assembler(["name"]) is None  # the phone is needed
    assert validator.assembler(["phone", "phone"]) is None
    assert SubmissionValidator(custom_profile(), "import").assembler(["phone"]) is None  # required custom field
    assert SubmissionValidator(profile, "public").assembler(["phone"]) is None  # the public consent is needed


@PROPS
@given(st.lists(st.one_of(st.sampled_from(CELLS["联系方式"]), st.floats(1e10, 1e11), st.integers(10**10, 10**11 - 1),
                          st.from_regex(r"\s?1[0-9]{10}\s?", fullmatch=True), st.text("0123456789１ +-", max_size=14)),
                max_size=40))
def test_the_phone_column_gives_what_each_cell_gives(cells: list[Any]) -> None:
    profile = default_profile()
    validator = SubmissionValidator(profile, "import")
    columns = find_columns([["客户姓名", "联系方式"]], header_lookup(profile, default_import_policy(), None))
    assert columns is not None
    reader = RowReader(columns, profile, validator)
    outcomes, irregular = reader.outcomes([["客户", cell] for cell in cells])
    convert = sheet_rows._phone
    for index, (cell, values) in enumerate(zip(cells, outcomes, strict=True)):
        value = convert(cell) if cell not in (None, "") else None
        expected = sheet_rows._ABSENT if value is None else validator.check("phone", value)
        assert values[1] == expected, cell
        assert (index in irregular) == (expected is lead_module.REJECTED or expected is sheet_rows._ABSENT), cell


@PROPS
@given(st.one_of(st.text(max_size=30), st.text("１２Ａａ张 \u3000\tx", max_size=8)))
def test_the_clean_shortcut_gives_what_clean_text_gives(text: str) -> None:
    assert lead_module._clean_value(text) == (lead_module.clean_text(text) or None)


def test_without_the_phone_fast_path_the_import_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the model's phone validation is no longer text → normalise_cn_phone (the guard in
    lead.py says so), the phone column is validated cell by cell by the compiled validator."""
    monkeypatch.setattr(lead_module, "_PHONE_IS_NORMALISED_TEXT", False)
    assert SubmissionValidator(default_profile(), "import").plain_mobile is None
    rows = [[f"客户{index}", cell, "房产抵押贷", 50.0, "上海", None, None, None]
            for index, cell in enumerate(CELLS["联系方式"])]
    assert_import_matches(list(enumerate(rows * 2, start=2)), HEADERS, default_profile())
