"""Pure domain rules: phones, lifecycle, lead numbers, the profile as data, custom fields."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.domain.lead import validate_submission
from chalicelib.domain.lead_number import LEAD_ID, BlockAllocator, TurnBlocks, format_lead_id
from chalicelib.domain.lifecycle import STATUS_LABELS, TRANSITIONS, check_transition
from chalicelib.domain.phone import display_phone, mask_phone, normalise_cn_phone
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.errors import Conflict, ValidationFailed
from chalicelib.rules.profile import LeadProfile, default_profile

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("raw", ["13812345678", "138 1234 5678", "+86 13812345678", "0086-138-1234-5678",
                                 "13812345678.0", "１３８１２３４５６７８", " 138-1234-5678 "])
def test_phone_forms_normalise_to_e164(raw: str) -> None:
    assert normalise_cn_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["12345", "", "abc", "1381234567", "+12025550143", "99999999999"])
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_cn_phone(raw)


def test_landline_and_masks() -> None:
    assert normalise_cn_phone("021-6234 5678") == "+862162345678"
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("+862162345678") == "021****5678"
    assert mask_phone("+867552345678") == "0755****5678"


def test_phones_read_as_people_write_them_masked_alike() -> None:
    assert display_phone("+8613816204573") == "138 1620 4573"
    assert display_phone("+862162345678") == "021-6234 5678"
    assert display_phone("+8675582345678") == "0755-8234 5678"
    assert display_phone(mask_phone("+8613816204573")) == "138 **** 4573"
    assert display_phone(mask_phone("+862162345678")) == "021-**** 5678"
    assert display_phone(mask_phone("+8675582345678")) == "0755-**** 5678"


def test_the_error_report_keeps_numbers_numeric_and_text_inert() -> None:
    import io

    from openpyxl import load_workbook

    from chalicelib.spreadsheets import error_report

    data = error_report(["姓名", "手机号", "金额", "备注"],
                        [(2, "手机号无效", ["=cmd|' /C calc'!A0", "12345", "-5", "+1"]),
                         (3, "金额应为数字", ["张三", "13812345678", "1.5", "-"]),
                         (4, "金额应为数字", ["李四", "0755123", "007", "@SUM(A1)"])], [])
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2, values_only=True))
    assert rows[0] == (2, "手机号无效", "'=cmd|' /C calc'!A0", 12345, -5, "'+1")
    assert rows[1] == (3, "金额应为数字", "张三", "13812345678", 1.5, "'-")
    assert rows[2] == (4, "金额应为数字", "李四", "0755123", "007", "'@SUM(A1)")


def test_every_status_has_a_label_and_transitions() -> None:
    assert set(TRANSITIONS) == set(STATUS_LABELS)
    check_transition("new", "pool")
    check_transition("intent", "won")
    with pytest.raises(Conflict) as err:
        check_transition("won", "pool")
    assert "签约放款" in err.value.message and err.value.code == "ILLEGAL_TRANSITION"
    with pytest.raises(Conflict):
        check_transition("duplicate", "assigned")


def test_lead_number_format_and_shanghai_day() -> None:
    late_utc = datetime(2024, 5, 19, 17, 30, tzinfo=UTC)  # 01:30 on the 20th in Shanghai
    assert shanghai_day(late_utc) == date(2024, 5, 20)
    assert format_lead_id(date(2024, 5, 20), 1) == "L20240520001"
    assert format_lead_id(date(2024, 5, 20), 12345) == "L2024052012345"
    assert LEAD_ID.match("L20240520001")
    assert iso_utc(late_utc) == "2024-05-19T17:30:00.000Z"


def test_block_allocator_reserves_once_per_block_and_never_repeats() -> None:
    counter = {"value": 0, "calls": 0}
    lock = threading.Lock()

    def reserve(day_key: str, size: int) -> int:
        with lock:
            counter["value"] += size
            counter["calls"] += 1
            return counter["value"]

    # Two containers sharing one counter, many threads each.
    containers = [BlockAllocator(reserve, 50), BlockAllocator(reserve, 50)]
    seen: list[int] = []

    def work(alloc: BlockAllocator) -> None:
        for _ in range(100):
            seen.append(alloc.next(date(2024, 5, 20)))

    threads = [threading.Thread(target=work, args=(c,)) for c in containers for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 600 and len(set(seen)) == 600
    assert counter["calls"] <= 14  # 600 numbers, blocks of 50: the counter is no hot item


def test_round_robin_turns_come_in_blocks_and_stay_fair_across_containers() -> None:
    """A team's turns: one counter write per block of 16, never a turn twice; one container's turns
    are consecutive (its leads go round the reps exactly); containers taking turns at once, and a
    container gone with turns left, keep every rep within a block's worth of leads of the others."""
    counter = {"value": 0, "calls": 0}

    def reserve(name: str, size: int) -> int:
        assert name == "rr#sh_mortgage"
        counter["value"] += size
        counter["calls"] += 1
        return counter["value"]

    alone = TurnBlocks(reserve, 16)
    assert [alone.next("rr#sh_mortgage") for _ in range(20)] == list(range(20))
    assert counter["calls"] == 2
    containers = [alone, TurnBlocks(reserve, 16), TurnBlocks(reserve, 16)]
    turns = [containers[n % 3 if n < 500 else 1].next("rr#sh_mortgage") for n in range(1000)]  # one goes at 500
    assert len(set(turns)) == 1000 and not set(turns) & set(range(20))
    assert counter["calls"] <= 2 + 1000 // 16 + 3
    for reps in (2, 3, 4, 5, 8):
        received = [sum(1 for t in turns if t % reps == r) for r in range(reps)]
        assert max(received) - min(received) <= 16, (reps, received)


def test_sequence_blocks_in_dynamodb_are_disjoint(aws: None) -> None:
    from chalicelib.store.sequences import reserve_block

    ends = [reserve_block("20240520", 200) for _ in range(3)]
    assert ends == [200, 400, 600]
    assert reserve_block("20240521", 200) == 200


def profile_with_custom() -> LeadProfile:
    data: dict[str, Any] = default_profile().model_dump()
    data["custom_fields"] = [
        {"key": "house_area", "label": "房产面积", "type": "number"},
        {"key": "wechat_id", "label": "微信号", "type": "text", "max_length": 20, "required": True},
        {"key": "channel_level", "label": "渠道等级", "type": "option",
         "options": [{"value": "a", "label": "A级"}, {"value": "b", "label": "B级"}]},
        {"key": "visit_date", "label": "到访日期", "type": "date"},
    ]
    return LeadProfile.model_validate(data)


def test_custom_fields_are_validated_from_configuration() -> None:
    profile = profile_with_custom()
    ok = validate_submission({"phone": "13812345678", "house_area": "120.5", "wechat_id": "zs_01",
                              "custom": {"channel_level": "a", "visit_date": "2024-05-20"}}, profile, "partner")
    assert ok.custom == {"house_area": 120.5, "wechat_id": "zs_01", "channel_level": "a", "visit_date": "2024-05-20"}
    with pytest.raises(ValidationFailed) as err:
        validate_submission({"phone": "13812345678", "house_area": "大", "channel_level": "z",
                             "visit_date": "20/05/2024", "custom": {"nope": 1}}, profile, "partner")
    assert set(err.value.fields) == {"custom.house_area", "custom.channel_level", "custom.visit_date",
                                     "custom.nope", "custom.wechat_id"}


def test_option_lists_are_data_not_enums() -> None:
    data: dict[str, Any] = default_profile().model_dump()
    data["options"]["loan_type"].append({"value": "education_loan", "label": "助学贷"})
    profile = LeadProfile.model_validate(data)
    assert validate_submission({"phone": "13812345678", "loan_type": "education_loan"}, profile, "partner")
    with pytest.raises(ValidationFailed):
        validate_submission({"phone": "13812345678", "loan_type": "education_loan"}, default_profile(), "partner")


def test_a_broken_profile_is_refused() -> None:
    data: dict[str, Any] = default_profile().model_dump()
    data["channel_sources"]["public"].append("carrier_pigeon")
    with pytest.raises(ValueError):
        LeadProfile.model_validate(data)


def test_mobile_fast_path_agrees_with_phonenumbers() -> None:
    """The plain-mobile shortcut in normalise_cn_phone must give exactly phonenumbers' answer."""
    import random

    import phonenumbers

    def slow(text: str) -> str | None:
        try:
            number = phonenumbers.parse(text, "CN")
        except phonenumbers.NumberParseException:
            return None
        if number.country_code != 86 or not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def fast(text: str) -> str | None:
        try:
            return normalise_cn_phone(text)
        except ValueError:
            return None

    rng = random.Random(7)
    for _ in range(20000):
        national = "1" + "".join(rng.choice("0123456789") for _ in range(10))
        for text in (national, "+86" + national, "86" + national):
            assert fast(text) == slow(text), text


def test_the_copied_mobile_pattern_is_phonenumbers_own() -> None:
    """domain/phone.py keeps phonenumbers' CN mobile pattern as text (so a plain mobile needs no import of
    phonenumbers): an upgrade that changes the metadata fails here."""
    import phonenumbers

    from chalicelib.domain.phone import CN_MOBILE_PATTERN

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None and metadata.mobile is not None
    assert metadata.mobile.national_number_pattern == CN_MOBILE_PATTERN


def test_mobiles_display_as_phonenumbers_formats_them() -> None:
    """display_phone writes a mobile's 3-4-4 groups itself: the same text as phonenumbers' national
    format, for every five-digit prefix of the mobile pattern."""
    import phonenumbers

    from chalicelib.domain.phone import _CN_MOBILE

    checked = 0
    for prefix in range(10000, 20000):
        digits = f"{prefix}987654"
        if not _CN_MOBILE.fullmatch(digits):
            continue
        national = phonenumbers.format_number(phonenumbers.parse("+86" + digits, "CN"),
                                              phonenumbers.PhoneNumberFormat.NATIONAL)
        assert display_phone("+86" + digits) == national
        checked += 1
    assert checked > 4000
