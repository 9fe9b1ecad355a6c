"""The lead profile as configuration data: option lists, custom fields, bounds.

Admins change it through the API (versioned in the config table); the defaults ship in
`defaults/lead_profile.json`. Domain validation takes a `LeadProfile`, never a hard-coded enum.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OPTION_FIELDS = ("loan_type", "purpose", "credit_status", "source", "customer_type")
Channel = Literal["public", "partner", "manual", "import"]
CHOICE_TYPES = ("option", "multi")
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


_CHOICE_SEPARATORS = re.compile(r"[、,，;；]")


def choice_list(raw: object) -> list[str] | None:
    """A multi-choice value as a list of distinct values in order: a list of strings, or one string
    "A、B" / "A,B"; [] when empty; None when it is neither."""
    if raw is None:
        return []
    if isinstance(raw, str):
        parts: list[object] = list(_CHOICE_SEPARATORS.split(raw))
    elif isinstance(raw, (list, tuple)):
        parts = list(raw)
    else:
        return None
    out: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            return None
        text = " ".join(part.split())
        if text and text not in out:
            out.append(text)
    return out


class OptionItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=30)
    active: bool = True


class CustomField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    label: str = Field(min_length=1, max_length=30)
    # option: one code; multi: a list of codes (多选)
    type: Literal["text", "number", "option", "multi", "date"]
    required: bool = False
    # Required only for leads from these sources (e.g. 官网表单), optional elsewhere.
    required_sources: list[str] = Field(default_factory=list)
    # Who sees the field on a lead (empty: everyone).
    visible_to: list[Literal["admin", "supervisor", "rep"]] = Field(default_factory=list)
    max_length: int = Field(default=200, ge=1, le=2000)
    options: list[OptionItem] = Field(default_factory=list, max_length=50)
    # multi: at most this many values on one lead
    max_choices: int = Field(default=10, ge=1, le=50)

    @model_validator(mode="after")
    def _check(self) -> CustomField:
        if not _KEY.match(self.key):
            raise ValueError(f"自定义字段标识无效: {self.key}")
        if self.type in CHOICE_TYPES and not self.options:
            raise ValueError(f"选项类型的自定义字段 {self.key} 需要至少一个选项")
        values = [item.value for item in self.options]
        if len(values) != len(set(values)):
            raise ValueError(f"自定义字段「{self.label}」的选项标识重复")
        return self

    @property
    def multi(self) -> bool:
        return self.type == "multi"

    def label_of(self, value: str) -> str:
        return next((o.label for o in self.options if o.value == value), value)


class LeadProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    amount_max: float = Field(default=100000, gt=0)
    consent_text_version: str = "2024-01"
    options: dict[str, list[OptionItem]]
    channel_sources: dict[str, list[str]]
    custom_fields: list[CustomField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> LeadProfile:
        missing = [name for name in OPTION_FIELDS if not self.options.get(name)]
        if missing:
            raise ValueError(f"缺少选项列表: {', '.join(missing)}")
        sources = {item.value for item in self.options["source"]}
        for channel, allowed in self.channel_sources.items():
            unknown = set(allowed) - sources
            if unknown:
                raise ValueError(f"渠道 {channel} 引用了未知来源: {', '.join(sorted(unknown))}")
        for field in self.custom_fields:
            unknown = set(field.required_sources) - sources
            if unknown:
                raise ValueError(f"自定义字段「{field.label}」的必填来源未知: {', '.join(sorted(unknown))}")
        keys = [field.key for field in self.custom_fields]
        if len(keys) != len(set(keys)):
            raise ValueError("自定义字段标识重复")
        return self

    # Computed once per profile (a plain instance attribute after the first use): validation asks
    # these for every lead, and for every row of a 100,000-row file.
    @cached_property
    def _option_sets(self) -> dict[str, set[str]]:
        return {name: {item.value for item in items if item.active} for name, items in self.options.items()}

    @cached_property
    def _custom_by_key(self) -> dict[str, CustomField]:
        return {field.key: field for field in self.custom_fields}

    def option_values(self, field: str) -> set[str]:
        return self._option_sets.get(field, set())

    def option_label(self, field: str, value: str) -> str:
        for item in self.options.get(field, []):
            if item.value == value:
                return item.label
        return value

    def custom_field(self, key: str) -> CustomField | None:
        return self._custom_by_key.get(key)

    def custom_required(self, spec: CustomField, source: str | None) -> bool:
        """Whether a lead from `source` must fill in `spec`."""
        return spec.required or (source is not None and source in spec.required_sources)

    def keeping(self, held: Mapping[str, object], custom: Mapping[str, object]) -> LeadProfile:
        """This profile with the retired options a lead already holds (`held`: its fields, `custom`:
        its custom values) active again, so editing the lead does not fail on a value it was given
        before the option was retired. New leads still cannot take them."""
        def revive(items: list[OptionItem], values: set[str]) -> list[OptionItem]:
            return [item.model_copy(update={"active": True}) if item.value in values else item for item in items]

        options = {name: revive(items, {str(held[name])}) if isinstance(held.get(name), str) else items
                   for name, items in self.options.items()}
        fields = [spec.model_copy(update={"options": revive(spec.options, set(choice_list(custom[spec.key]) or []))})
                  if spec.options and custom.get(spec.key) is not None else spec for spec in self.custom_fields]
        if options == self.options and fields == self.custom_fields:
            return self
        # A new instance, not model_copy: that would carry over the option sets cached on this one.
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).model_construct(**{**values, "options": options, "custom_fields": fields})

    @cached_property
    def any_custom_required(self) -> bool:
        return any(spec.required or spec.required_sources for spec in self.custom_fields)


@lru_cache(maxsize=1)
def default_profile() -> LeadProfile:
    path = Path(__file__).with_name("defaults") / "lead_profile.json"
    return LeadProfile.model_validate(json.loads(path.read_text(encoding="utf-8")))
