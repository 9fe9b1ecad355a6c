"""The lead profile: canonical fields with their Chinese labels, and validation of a submission.

Validation is pure: it takes the raw mapping a channel received and the `LeadProfile`
configuration, and returns a clean `LeadSubmission` or raises `ValidationFailed` with a Chinese
message per field. Option values and custom fields come from the profile, not from enums.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.domain.phone import normalise_cn_phone, plain_cn_mobile
from chalicelib.domain.records import Lead, lead_fields
from chalicelib.errors import ValidationFailed
from chalicelib.rules.messages import pydantic_message
from chalicelib.rules.profile import OPTION_FIELDS, Channel, CustomField, LeadProfile, choice_list

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
# Characters nobody can see in a name or remark: C0/C1 controls (tab and line breaks are spaces
# here) and the bidi controls that reorder what is shown (U+202E turns `txt.exe` into `exe.txt`).
# The API refuses them with a reason; every other channel (partner batches, imported files) loses
# them here, so no stored text holds them.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def has_invisible(value: str) -> bool:
    return _INVISIBLE.search(value) is not None


@lru_cache(maxsize=4096)
def _clean_str(value: str) -> str:
    if not unicodedata.is_normalized("NFKC", value):
        value = unicodedata.normalize("NFKC", value)
    return _SPACES.sub(" ", _INVISIBLE.sub("", value)).strip()


def _clean_value(value: Any) -> Any:
    """A submitted value as every field sees it: text cleaned, empty text treated as absent."""
    if isinstance(value, str):
        if value.isalnum() and unicodedata.is_normalized("NFKC", value):
            return value  # what _clean_str returns for it (no whitespace), without filling its cache
        value = _clean_str(value)
        return None if value == "" else value
    return value


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
        return {key: _clean_value(value) for key, value in data.items()}

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_cn_phone(value)

    @property
    def honeypot_filled(self) -> bool:
        return bool(self.website)


_MESSAGES = {"bool_type": "应为是/否", "bool_parsing": "应为是/否（true/false）"}  # a form's yes/no


def _message(error: Any) -> str:
    return pydantic_message(error, _MESSAGES)


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
    defaults = profile.channel_sources.get(channel) or []
    source = (lead.source if lead is not None else None) or (defaults[0] if defaults else None)
    errors.update(_check_custom(custom, profile, source))
    if lead is not None:
        errors.update(_check_profile(lead, profile, channel))
    if errors:
        raise ValidationFailed(fields=errors)
    assert lead is not None
    lead.custom = _coerce_custom(custom, profile)
    if lead.source is None:
        lead.source = profile.channel_sources[channel][0]
    return lead


REJECTED: Any = object()  # a field value the model refuses
_UNSEEN = object()
_MEMO_LIMIT = 4096


def _field_validators() -> dict[str, Any] | None:
    """Each model field's own pydantic-core validator, cut out of LeadSubmission's compiled schema
    with the model's config (`str_max_length`...), field validators (the phone) included.

    Valid only while the model's validation is per field: a model is its fields, each validated
    alone by its schema, after the one `mode="before"` validator (`_clean`, value by value). Any
    other shape (a model validator after, aliases, private attributes, another default factory)
    returns None and `SubmissionValidator` then always runs `validate_submission`."""
    from pydantic_core import SchemaValidator

    schema: Any = LeadSubmission.__pydantic_core_schema__
    decorators = LeadSubmission.__pydantic_decorators__
    before = schema.get("schema", {})
    fields_schema = before.get("schema", {})
    if (schema.get("type") != "model" or before.get("type") != "function-before"
            or fields_schema.get("type") != "model-fields" or set(decorators.model_validators) != {"_clean"}
            or decorators.validators or decorators.root_validators or fields_schema.get("computed_fields")
            or LeadSubmission.__private_attributes__ or LeadSubmission.__pydantic_post_init__):
        return None
    validators: dict[str, Any] = {}
    for name, info in LeadSubmission.model_fields.items():
        if info.alias or info.validation_alias or (info.default_factory is not None and name != "custom"):
            return None
        if name != "custom":
            validators[name] = SchemaValidator(fields_schema["fields"][name]["schema"], schema.get("config"))
    return validators


_FIELD_VALIDATORS = _field_validators()


def _field_schema(name: str) -> Any:
    """The field's pydantic-core schema, as `_field_validators` compiled it."""
    return LeadSubmission.__pydantic_core_schema__["schema"]["schema"]["fields"][name]["schema"]


def _phone_is_normalised_text() -> bool:
    """Whether the model validates `phone` as exactly: any text (the model's `str_max_length`
    aside, no constraint or transformation of text), then `_phone` (normalise_cn_phone). Then an
    11-digit ASCII text, which `_clean` leaves as it is, validates to normalise_cn_phone(text),
    and `SubmissionValidator.plain_mobile` may give it without the compiled validator. (The
    last check reads `_phone`'s code: it calls normalise_cn_phone and nothing else.)"""
    schema: Any = LeadSubmission.__pydantic_core_schema__
    config = schema.get("config") or {}
    phone = (_FIELD_VALIDATORS is not None
             and schema["schema"]["schema"]["fields"]["phone"]["schema"])
    allowed_config = {"title", "extra_fields_behavior", "str_max_length"}
    field_validators = LeadSubmission.__pydantic_decorators__.field_validators
    return bool(phone == {"type": "function-after", "schema": {"type": "str"},
                          "function": {"type": "no-info", "function": LeadSubmission._phone}}
                and set(config) <= allowed_config and config.get("str_max_length", 11) >= 11
                and list(field_validators) == ["_phone"] and field_validators["_phone"].info.mode == "after"
                and getattr(LeadSubmission._phone, "__func__", None) is not None
                and LeadSubmission._phone.__func__.__code__.co_names == ("normalise_cn_phone",))  # type: ignore[attr-defined]


_PHONE_IS_NORMALISED_TEXT = _phone_is_normalised_text()
_REQUIRED = tuple(name for name, info in LeadSubmission.model_fields.items() if info.is_required())
# every field in the model's order (a required one is always given before this is used)
_DEFAULTS = {name: None if info.is_required() else info.default for name, info in LeadSubmission.model_fields.items()}
_set = object.__setattr__
_ASSIGNED = frozenset({"custom", "source"})  # set by validate_submission after the model's validation
_SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """`_set(obj, name, value)` for one of BaseModel's slots: its descriptor's own setter."""
    descriptor = BaseModel.__dict__.get(name)
    if type(descriptor).__name__ in ("member_descriptor", "getset_descriptor"):
        setter: Callable[[Any, Any], None] = descriptor.__set__  # type: ignore[union-attr]
        return setter
    return lambda obj, value: _set(obj, name, value)


class SubmissionValidator:
    """`validate_submission` for many submissions under one profile and channel (an import's rows).

    The same rules, not a copy of them. A submission's model validation is the validation of each
    of its fields alone (`_clean`, then that field's own compiled pydantic validator) and each
    profile rule reads one field, so `field` gives one field's outcome under both and memoises it
    by value (an import's 贷款类型 or 城市 column repeats a few values). The custom fields are
    checked on every submission, as in validate_submission. A submission with a field refused,
    unknown or missing goes through `validate_submission` itself: what `validate` accepts equals
    what validate_submission returns, and what it refuses is refused by validate_submission, with
    the same errors."""

    def __init__(self, profile: LeadProfile, channel: Channel) -> None:
        self.profile = profile
        self.channel = channel
        self._memo: dict[str, dict[Any, Any]] = {name: {} for name in _FIELD_VALIDATORS or {}}
        self._custom_keys = frozenset(spec.key for spec in profile.custom_fields)
        # fields a submission cannot leave out: the model's required ones, and those the profile
        # refuses when absent (the consent on the public channel)
        self._needed = (*_REQUIRED, *sorted(
            name for name in PROFILE_RULE_FIELDS if not _profile_allows(name, None, profile, channel)))
        self._default_source: str | None = (profile.channel_sources.get(channel) or [None])[0]  # type: ignore[list-item]
        # `check("phone", digits)` for 11 ASCII digits that are a mobile number (None for other
        # text: run `check` then): the function the model's phone validation runs first, without
        # the compiled validator around it (an import's phone column, where every value differs).
        self.plain_mobile: Callable[[str], str | None] | None = plain_cn_mobile if _PHONE_IS_NORMALISED_TEXT else None

    def field(self, name: str, value: Any) -> Any:
        """`name`'s validated value, REJECTED when the model or the profile refuses it (or `name`
        is not a field)."""
        memo = self._memo.get(name)
        if memo is None:
            return REJECTED
        try:
            key = value if type(value) is str else (type(value), value)  # 1, 1.0 and True differ
            outcome = memo.get(key, _UNSEEN)
        except TypeError:  # unhashable: a list or an object where text was expected
            return self.check(name, value)
        if outcome is _UNSEEN:
            outcome = self.check(name, value)
            if len(memo) < _MEMO_LIMIT:
                memo[key] = outcome
        return outcome

    def check(self, name: str, value: Any) -> Any:
        """`field` without the memo, for columns whose every value differs (names, phones)."""
        return self.checker(name)(value)

    def checker(self, name: str) -> Callable[[Any], Any]:
        """`check` for one field, looked up once."""
        validator = (_FIELD_VALIDATORS or {}).get(name)
        if validator is None:
            return lambda value: REJECTED
        validate, is_normalized = validator.validate_python, unicodedata.is_normalized
        profile, channel = self.profile, self.channel
        ruled = name in PROFILE_RULE_FIELDS

        def check(value: Any) -> Any:
            if isinstance(value, str) and not (value.isalnum() and is_normalized("NFKC", value)):
                value = _clean_value(value)  # (an alphanumeric normalised text is clean already)
            try:
                outcome = validate(value)
            except ValidationError:
                return REJECTED
            if ruled and not _profile_allows(name, outcome, profile, channel):
                return REJECTED
            return outcome

        return check

    def column_checker(self, name: str) -> Callable[[list[Any]], list[Any]]:
        """`check` of each of many values of one field (an import's column of names): one call of
        the field's own compiled validator, wrapped in a list, for all of them, each cleaned as
        `check` cleans it; `check` of each when one of them is refused (for which)."""
        check = self.checker(name)
        schema = (_FIELD_VALIDATORS or {}).get(name) and _field_schema(name)
        if schema is None:
            return lambda values: list(map(check, values))
        from pydantic_core import SchemaValidator

        validate = SchemaValidator({"type": "list", "items_schema": schema},
                                   LeadSubmission.__pydantic_core_schema__.get("config")).validate_python
        is_normalized, profile, channel = unicodedata.is_normalized, self.profile, self.channel
        ruled = name in PROFILE_RULE_FIELDS

        def check_all(values: list[Any]) -> list[Any]:
            cleaned = [value if type(value) is str and value.isalnum() and is_normalized("NFKC", value)
                       else _clean_value(value) for value in values]  # check's cleaning
            try:
                outcomes: list[Any] = validate(cleaned)
            except ValidationError:
                return list(map(check, values))
            if ruled:
                return [outcome if _profile_allows(name, outcome, profile, channel) else REJECTED
                        for outcome in outcomes]
            return outcomes

        return check_all

    def assembler(self, names: Sequence[str]) -> Callable[[Sequence[Any]], LeadSubmission] | None:
        """`accept` for many submissions that each give every field of `names` an accepted value
        (`field`'s outcome, neither REJECTED nor None) and no custom field: `assemble(values)`, with
        the outcomes in the order of `names`, is `accept(dict(zip(names, values)), {})`, its checks
        done once. None when `accept` would refuse such submissions or needs to look at each (a
        needed field not among `names`, a custom field named like one of them, required custom
        fields, no default source): call `accept` then."""
        if _FIELD_VALIDATORS is None:
            return None
        given = frozenset(names)
        if (len(given) != len(names) or not given <= _FIELD_VALIDATORS.keys() or not given.issuperset(self._needed)
                or self._custom_keys & given or (self._custom_keys and self.profile.any_custom_required)
                or ("source" not in given and self._default_source is None)):
            return None
        base = {**_DEFAULTS, "source": self._default_source}  # a given source (never None) replaces it
        fields_set = given | _ASSIGNED
        new, model = LeadSubmission.__new__, LeadSubmission
        set_dict, set_fields, set_extra, set_private = map(_slot_setter, _SLOTS)

        def assemble(values: Sequence[Any]) -> LeadSubmission:
            state = base.copy()
            state.update(zip(names, values, strict=False))  # (as many values as names)
            state["custom"] = {}
            lead = new(model)
            set_dict(lead, state)
            set_fields(lead, set(fields_set))
            set_extra(lead, None)
            set_private(lead, None)
            return lead

        return assemble

    def validate(self, raw: dict[str, Any]) -> LeadSubmission:
        """validate_submission(raw, profile, channel)."""
        lead = None
        custom_in = raw.get("custom")
        if _FIELD_VALIDATORS is not None and (custom_in is None or isinstance(custom_in, dict)):
            custom: dict[str, Any] = dict(custom_in) if custom_in else {}
            fields: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "custom":
                    continue
                if self._custom_keys and self.profile.custom_field(key) is not None:
                    custom[key] = value  # a custom field sent flat, as HTML forms do
                else:
                    fields[key] = self.field(key, value)
            lead = self.accept(fields, custom)
        return lead if lead is not None else validate_submission(raw, self.profile, self.channel)

    def accept(self, fields: dict[str, Any], custom: dict[str, Any]) -> LeadSubmission | None:
        """The submission validate_submission returns for the raw mapping whose fields gave
        `fields` (`field(key, value)` of each) and whose custom fields are `custom`; None when
        validate_submission may refuse it (run it then, for its errors)."""
        if not all(map(fields.__contains__, self._needed)):
            return None
        if REJECTED in fields.values():  # (validated values are text, numbers, bools and None)
            return None
        if self._custom_keys:
            if self._custom_keys & fields.keys():
                return None  # a custom field named like a model field: validate_submission sorts it out
            if _check_custom(custom, self.profile, fields.get("source") or self._default_source):
                return None
        elif custom:
            return None  # custom fields the profile does not have
        # What model_construct does (without its loop over aliases and defaults), then what
        # validate_submission assigns: the coerced custom fields and the channel's default source.
        values = {**_DEFAULTS, **fields, "custom": _coerce_custom(custom, self.profile) if custom else {}}
        if values["source"] is None:
            if self._default_source is None:
                return None  # a channel without sources: validate_submission fails on it
            values["source"] = self._default_source
        lead = LeadSubmission.__new__(LeadSubmission)
        _set(lead, "__dict__", values)
        _set(lead, "__pydantic_fields_set__", fields.keys() | _ASSIGNED)
        _set(lead, "__pydantic_extra__", None)
        _set(lead, "__pydantic_private__", None)
        return lead


def _check_profile(lead: LeadSubmission, profile: LeadProfile, channel: Channel) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field in OPTION_FIELDS:
        if (problem := _option_problem(field, getattr(lead, field), profile)) is not None:
            errors[field] = problem
    for field in ("source", "amount", "consent"):
        if field not in errors and (problem := _rule_problem(field, getattr(lead, field), profile, channel)):
            errors[field] = problem
    return errors


# Every profile rule reads one field: a submission passes them when each of its fields does.
PROFILE_RULE_FIELDS = frozenset({*OPTION_FIELDS, "source", "amount", "consent"})


def _option_problem(field: str, value: Any, profile: LeadProfile) -> str | None:
    if value is not None and value not in profile.option_values(field):
        allowed = "、".join(f"{item.value}({item.label})" for item in profile.options[field] if item.active)
        return f"无效的选项值，可选：{allowed}"
    return None


def _rule_problem(field: str, value: Any, profile: LeadProfile, channel: Channel) -> str | None:
    if field == "source" and value is not None:
        allowed_sources = profile.channel_sources.get(channel, [])
        if value not in allowed_sources:
            return f"此渠道的来源只能是：{'、'.join(allowed_sources)}"
    if field == "amount" and value is not None and value > profile.amount_max:
        return f"贷款金额不能超过 {profile.amount_max:g} 万元"
    if field == "consent" and channel == "public" and value is not True:
        return "须同意个人信息授权条款"
    return None


def _profile_allows(field: str, value: Any, profile: LeadProfile, channel: Channel) -> bool:
    """Whether the profile's rules let `field` (a validated value, None when absent) pass."""
    if field not in PROFILE_RULE_FIELDS:
        return True
    if field in OPTION_FIELDS and _option_problem(field, value, profile) is not None:
        return False
    return _rule_problem(field, value, profile, channel) is None


def _check_custom(custom: dict[str, Any], profile: LeadProfile, source: str | None = None) -> dict[str, str]:
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
        elif spec.type == "multi":
            if (problem := _multi_problem(spec, value)) is not None:
                errors[name] = problem
        elif spec.type == "date":
            try:
                date.fromisoformat(str(value))
            except ValueError:
                errors[name] = "应为日期（YYYY-MM-DD）"
    for spec in profile.custom_fields:
        if profile.custom_required(spec, source) and _blank(custom.get(spec.key)):
            errors[f"custom.{spec.key}"] = f"请填写{spec.label}（必填）"
    return errors


def _blank(value: Any) -> bool:
    value = clean_text(value)
    return value in (None, "") or (isinstance(value, list) and not choice_list(value))


def _multi_problem(spec: CustomField, value: Any) -> str | None:
    """A multi-choice value: a list of the field's active codes (or "A、B" / "A,B"), at most
    `max_choices` of them. The message names the field and what it offers."""
    chosen = choice_list(value)
    if chosen is None:
        return f"{spec.label}应为选项列表"
    active = {o.value for o in spec.options if o.active}
    unknown = [v for v in chosen if v not in active]
    if unknown:
        offered = "、".join(f"{o.value}({o.label})" for o in spec.options if o.active)
        return f"{spec.label}包含无效的选项：{'、'.join(unknown)}（可选：{offered}）"
    if len(chosen) > spec.max_choices:
        return f"{spec.label}最多选择 {spec.max_choices} 项"
    return None


def _coerce_custom(custom: dict[str, Any], profile: LeadProfile) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in custom.items():
        spec = profile.custom_field(key)
        if spec is not None and spec.type == "multi":
            if chosen := choice_list(value):
                out[key] = chosen
            continue
        value = clean_text(value)
        if value in (None, ""):
            continue
        out[key] = float(value) if spec is not None and spec.type == "number" else str(value)
    return out


def build_lead(sub: LeadSubmission, *, lead_id: str, channel: Channel, created_at: str, day: str,
               profile: LeadProfile, partner_id: str | None = None, owner: str | None = None,
               team: str | None = None, created_by: str | None = None,
               client_ip: str | None = None) -> Lead:
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
        # Given when the lead was captured (`at`: its created_at), on its page (`page_url`): stored
        # once, on the lead, and read back into the consent (store/leads.py, `to_lead`).
        lead["consent"] = {
            "granted": sub.consent,
            "channel": sub.source or channel,
            "text_version": sub.consent_version or profile.consent_text_version,
        }
        if sub.page_url:
            lead["consent"]["on_page"] = True
    if sub.honeypot_filled:
        lead["spam_flags"] = ["honeypot"]
    return lead_fields({k: v for k, v in lead.items() if v is not None})
