"""The lead profile: canonical fields with their Chinese labels, and validation of a submission.

Validation is pure: it takes the raw mapping a channel received and the `LeadProfile`
configuration, and returns a clean `LeadSubmission` or raises `ValidationFailed` with a Chinese
message per field. Option values and custom fields come from the profile, not from enums.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.domain.phone import normalise_cn_phone
from chalicelib.errors import ValidationFailed
from chalicelib.rules.profile import OPTION_FIELDS, Channel, LeadProfile

FIELD_LABELS: dict[str, str] = {
    "lead_id": "线索ID",
    "name": "客户姓名",
    "phone": "联系方式",
    "loan_type": "贷款类型",
    "amount": "贷款金额(万元)",
    "purpose": "资金用途",
    "credit_status": "征信情况",
    "source": "线索来源",
    "status": "当前状态",
    "owner": "负责人",
    "team": "所属团队",
    "created_at": "创建时间",
    "next_follow_up": "下次跟进",
    "city": "城市",
    "province": "省份",
    "region": "大区",
    "customer_type": "客户画像",
    "consent": "授权同意",
    "consent_version": "授权文本版本",
    "partner_id": "合作方",
    "campaign": "活动",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
    "page_url": "来源页面",
    "remark": "备注",
    "duplicate_of": "重复于",
    "custom": "自定义字段",
}

HONEYPOT_FIELD = "website"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def _clean_str(value: str) -> str:
    if not unicodedata.is_normalized("NFKC", value):
        value = unicodedata.normalize("NFKC", value)
    return _SPACES.sub(" ", value).strip()


def clean_text(value: Any) -> Any:
    """Trim, full-width → half-width (NFKC), collapse runs of spaces. Cached: option labels,
    cities and campaigns repeat on every row of an imported file."""
    if isinstance(value, str):
        return _clean_str(value)
    return value


class LeadSubmission(BaseModel):
    """What any channel may submit. System fields (status, owner, lead_id...) are not here, so
    `extra="forbid"` refuses them: no mass assignment."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    name: str | None = Field(default=None, min_length=1, max_length=50)
    phone: str
    loan_type: str | None = None
    amount: float | None = Field(default=None, gt=0)
    purpose: str | None = None
    credit_status: str | None = None
    source: str | None = None
    city: str | None = Field(default=None, max_length=20)
    province: str | None = Field(default=None, max_length=20)
    customer_type: str | None = None
    consent: bool | None = None
    consent_version: str | None = Field(default=None, max_length=20)
    campaign: str | None = Field(default=None, max_length=100)
    utm_source: str | None = Field(default=None, max_length=100)
    utm_medium: str | None = Field(default=None, max_length=100)
    utm_campaign: str | None = Field(default=None, max_length=100)
    utm_term: str | None = Field(default=None, max_length=100)
    utm_content: str | None = Field(default=None, max_length=100)
    page_url: str | None = Field(default=None, max_length=2000)
    remark: str | None = Field(default=None, max_length=500)
    website: str | None = Field(default=None, max_length=2000)  # honeypot: humans never see it
    custom: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        """Every text cleaned the same way, an empty one treated as absent (one call per lead)."""
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = clean_text(value)
                if value == "":
                    value = None
            cleaned[key] = value
        return cleaned

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_cn_phone(value)

    @property
    def honeypot_filled(self) -> bool:
        return bool(self.website)


_PYDANTIC_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "未知字段",
    "string_type": "应为文本",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限数字",
    "bool_type": "应为是/否",
    "bool_parsing": "应为是/否（true/false）",
    "dict_type": "应为对象",
    "greater_than": "必须大于 {gt}",
    "string_too_short": "不能为空",
    "string_too_long": "长度不能超过 {max_length} 个字符",
}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    template = _PYDANTIC_MESSAGES.get(kind, "格式无效")
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return template


def validate_submission(raw: dict[str, Any], profile: LeadProfile, channel: Channel) -> LeadSubmission:
    """Validate one submission for a channel; ValidationFailed lists every bad field."""
    data = dict(raw)
    errors: dict[str, str] = {}
    # Custom fields may arrive flat (HTML forms) or nested under "custom" (JSON).
    custom_in = data.pop("custom", None)
    custom: dict[str, Any] = {}
    if custom_in is not None and not isinstance(custom_in, dict):
        errors["custom"] = "应为对象"
    elif custom_in:
        custom.update(custom_in)
    if profile.custom_fields:
        for key in [k for k in data if profile.custom_field(k) is not None]:
            custom[key] = data.pop(key)
    try:
        lead = LeadSubmission.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "body"
            errors.setdefault(field, _message(error))
        lead = None
    errors.update(_check_custom(custom, profile))
    if lead is not None:
        errors.update(_check_profile(lead, profile, channel))
    if errors:
        raise ValidationFailed(fields=errors)
    assert lead is not None
    lead.custom = _coerce_custom(custom, profile)
    if lead.source is None:
        lead.source = profile.channel_sources[channel][0]
    return lead


def _check_profile(lead: LeadSubmission, profile: LeadProfile, channel: Channel) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field in OPTION_FIELDS:
        value = getattr(lead, field)
        if value is not None and value not in profile.option_values(field):
            allowed = "、".join(f"{item.value}({item.label})" for item in profile.options[field] if item.active)
            errors[field] = f"无效的选项值，可选：{allowed}"
    allowed_sources = profile.channel_sources.get(channel, [])
    if lead.source is not None and "source" not in errors and lead.source not in allowed_sources:
        errors["source"] = f"此渠道的来源只能是：{'、'.join(allowed_sources)}"
    if lead.amount is not None and lead.amount > profile.amount_max:
        errors["amount"] = f"贷款金额不能超过 {profile.amount_max:g} 万元"
    if channel == "public" and lead.consent is not True:
        errors["consent"] = "须同意个人信息授权条款"
    return errors


def _check_custom(custom: dict[str, Any], profile: LeadProfile) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, value in custom.items():
        spec = profile.custom_field(key)
        name = f"custom.{key}"
        if spec is None:
            errors[name] = "未知的自定义字段"
            continue
        value = clean_text(value)
        if value in (None, ""):
            continue
        if spec.type == "text" and (not isinstance(value, str) or len(value) > spec.max_length):
            errors[name] = f"应为不超过 {spec.max_length} 个字符的文本"
        elif spec.type == "number":
            try:
                float(value)
            except (TypeError, ValueError):
                errors[name] = "应为数字"
        elif spec.type == "option" and value not in {o.value for o in spec.options if o.active}:
            errors[name] = "无效的选项值"
        elif spec.type == "date":
            try:
                date.fromisoformat(str(value))
            except ValueError:
                errors[name] = "应为日期（YYYY-MM-DD）"
    for spec in profile.custom_fields:
        if spec.required and clean_text(custom.get(spec.key)) in (None, ""):
            errors[f"custom.{spec.key}"] = "必填"
    return errors


def _coerce_custom(custom: dict[str, Any], profile: LeadProfile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in custom.items():
        value = clean_text(value)
        if value in (None, ""):
            continue
        spec = profile.custom_field(key)
        out[key] = float(value) if spec is not None and spec.type == "number" else str(value)
    return out


def build_lead(sub: LeadSubmission, *, lead_id: str, channel: Channel, created_at: str, day: str,
               profile: LeadProfile, partner_id: str | None = None, owner: str | None = None,
               team: str | None = None, created_by: str | None = None,
               client_ip: str | None = None) -> dict[str, Any]:
    """The `new` lead item for a validated submission. Nothing here decides where it goes next."""
    fields = sub.model_dump(exclude={"website", "consent", "consent_version"}, exclude_none=True)
    lead: dict[str, Any] = {
        **fields,
        "lead_id": lead_id,
        "status": "new",
        "channel": channel,
        "created_at": created_at,
        "updated_at": created_at,
        "day": day,
        "version": 1,
        "partner_id": partner_id,
        "owner": owner,
        "team": team,
        "created_by": created_by,
        "client_ip": client_ip,
    }
    if not lead.get("custom"):
        lead.pop("custom", None)
    if sub.consent is not None:
        lead["consent"] = {
            "granted": sub.consent,
            "at": created_at,
            "channel": sub.source or channel,
            "text_version": sub.consent_version or profile.consent_text_version,
        }
        if sub.page_url:
            lead["consent"]["page_url"] = sub.page_url
    if sub.honeypot_filled:
        lead["spam_flags"] = ["honeypot"]
    return {k: v for k, v in lead.items() if v is not None}
