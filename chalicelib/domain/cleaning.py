"""Cleaning a captured lead: normalise, place it on the map, and find what makes it not a lead.

Pure: the rules come in as data, the phone's home location through a lookup function (the
phonenumbers geocoder in production, loaded lazily by the caller), burst counts from the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from chalicelib.domain.lead import clean_text
from chalicelib.domain.phone import normalise_cn_phone
from chalicelib.domain.records import Lead
from chalicelib.rules.cleaning import CleaningRules
from chalicelib.rules.profile import OPTION_FIELDS, LeadProfile

_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")
TEXT_FIELDS = ("name", "city", "province", "campaign", "remark")

REASONS = {
    "honeypot": "命中蜜罐字段（疑似机器人提交）",
    "test_phone": "测试号码",
    "blocked_phone": "号码在黑名单中",
    "repeated_digits": "号码含过长的重复数字（疑似虚假号码）",
    "sequential_digits": "号码含过长的连续数字（疑似虚假号码）",
    "test_name": "测试姓名",
    "ip_burst": "同一 IP 短时间内提交过多（疑似刷量）",
}


@dataclass(frozen=True)
class Place:
    city: str | None
    province: str | None
    region: str | None


@dataclass
class Cleaned:
    updates: Lead = field(default_factory=lambda: Lead())
    reasons: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons


def _bare(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def place_of_city(raw: str | None, rules: CleaningRules) -> Place | None:
    """上海市 / 上海 / 沪 / 广州市天河区 / 广东 → city, province, region."""
    if not raw:
        return None
    text = clean_text(raw).replace(" ", "")
    key = rules.city_aliases.get(text.lower(), rules.city_aliases.get(text, text))
    for candidate in (key, _bare(key)):
        if candidate in rules.city_provinces:
            province = rules.city_provinces[candidate]
            return Place(candidate, province, rules.province_regions[province])
    for city, province in rules.city_provinces.items():  # 广州市天河区, 苏州工业园区
        if key.startswith(city):
            return Place(city, province, rules.province_regions[province])
    province = _bare(key)
    if province in rules.province_regions:
        return Place(None, province, rules.province_regions[province])
    return None


def place_of_description(description: str, rules: CleaningRules) -> Place | None:
    """The geocoder's 江苏省连云港市 / 上海市 → city, province, region."""
    text = description.strip()
    for province in sorted(rules.province_regions, key=len, reverse=True):
        if text.startswith(province):
            rest = text[len(province):]
            for suffix in _SUFFIXES:
                if rest.startswith(suffix):
                    rest = rest[len(suffix):]
                    break
            city = _bare(rest) if rest else (province if province in rules.city_provinces else None)
            return Place(city or None, province, rules.province_regions[province])
    return None


def _longest_run(digits: str, step: int) -> int:
    best = run = 1
    for before, after in zip(digits, digits[1:], strict=False):
        run = run + 1 if int(after) - int(before) == step else 1
        best = max(best, run)
    return best


def phone_reasons(e164: str, rules: CleaningRules) -> list[str]:
    national = e164.removeprefix("+86")
    reasons = []
    if e164 in rules.test_phones:
        reasons.append(REASONS["test_phone"])
    if e164 in rules.phone_blocklist:
        reasons.append(REASONS["blocked_phone"])
    if _longest_run(national, 0) >= rules.min_repeated_digits:
        reasons.append(REASONS["repeated_digits"])
    if max(_longest_run(national, 1), _longest_run(national, -1)) >= rules.min_sequential_digits:
        reasons.append(REASONS["sequential_digits"])
    return reasons


def name_reasons(name: str | None, rules: CleaningRules) -> list[str]:
    if not name:
        return []
    lowered = name.lower().replace(" ", "")
    tests = {t.lower() for t in rules.test_names}
    if lowered in tests or re.fullmatch(r"(.)\1{2,}", lowered) or re.fullmatch(r"[\d\W_]+", lowered):
        return [REASONS["test_name"]]
    return []


def clean_lead(lead: Mapping[str, Any], rules: CleaningRules, profile: LeadProfile,
               home_of: Callable[[str], str | None], ip_burst: bool = False) -> Cleaned:
    """What to change on a `new` lead and, if it is not a lead, every reason why."""
    result = Cleaned()
    updates = cast(dict[str, object], result.updates)  # fields named by the lists below: lead fields
    for text_field in TEXT_FIELDS:
        value = lead.get(text_field)
        if isinstance(value, str) and clean_text(value) != value:
            updates[text_field] = clean_text(value) or None
    phone: str | None
    try:
        phone = normalise_cn_phone(lead.get("phone", ""))
    except ValueError as exc:
        result.reasons.append(f"号码无效：{exc}")
        phone = None
    if phone and phone != lead.get("phone"):
        result.updates["phone"] = phone
    if phone:
        result.reasons += phone_reasons(phone, rules)
    name: str | None = result.updates.get("name", lead.get("name"))
    if name and len(name) > rules.name_max_length:
        result.reasons.append(f"姓名超过 {rules.name_max_length} 个字符")
    result.reasons += name_reasons(name, rules)
    amount = lead.get("amount")
    if amount is not None and not 0 < float(amount) <= profile.amount_max:
        result.reasons.append(f"贷款金额须在 0–{profile.amount_max:g} 万元之间")
    for option in OPTION_FIELDS:
        value = lead.get(option)
        if value is not None and value not in profile.option_values(option):
            result.reasons.append(f"{option} 的取值 {value} 不在选项列表中")
    if "honeypot" in (lead.get("spam_flags") or []):
        result.reasons.append(REASONS["honeypot"])
    if ip_burst:
        result.reasons.append(REASONS["ip_burst"])
    place = place_of_city(result.updates.get("city", lead.get("city")), rules) or place_of_city(
        lead.get("province"), rules)
    if place is None and phone:
        description = home_of(phone)
        place = place_of_description(description, rules) if description else None
    if place is not None:
        for key in ("city", "province", "region"):
            value = getattr(place, key)
            if value and value != lead.get(key):
                updates[key] = value
    return result


COMPARED = ("name", "loan_type", "amount", "purpose", "credit_status", "city", "province", "customer_type",
            "campaign", "remark", "page_url", "partner_id")


def differences(active: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Fields the new inquiry states differently from the active lead (shown on the 再次咨询)."""
    out: dict[str, dict[str, Any]] = {}
    for key in COMPARED:
        new = incoming.get(key)
        if new is not None and new != active.get(key):
            out[key] = {"before": active.get(key), "after": new}
    return out


def fillable(active: Mapping[str, Any], incoming: Mapping[str, Any]) -> Lead:
    """Fields the active lead lacks and the new inquiry has. Never what is already there."""
    return {k: incoming[k] for k in COMPARED if incoming.get(k) is not None and active.get(k) is None}  # type: ignore[return-value]  # COMPARED are lead fields
