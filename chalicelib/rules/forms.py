"""Hosted forms as configuration: one versioned document (`forms`) holding every form of the org
and the short channel codes of tracking links. Admins change it through the API (PUT
/api/admin/config/forms); the defaults (`defaults/forms.json`) ship the demo org's `demo`
(官网表单) and `calc` (贷款计算器)."""

from __future__ import annotations

import json
import re
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Lead profile fields a customer may fill in on a hosted form (custom fields too, by key).
FORM_FIELDS = ("name", "phone", "loan_type", "amount", "purpose", "credit_status", "city", "customer_type",
               "remark")
_FORM_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


class FormField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    label: str | None = Field(default=None, max_length=30)  # the profile's label when absent
    required: bool = False
    placeholder: str | None = Field(default=None, max_length=50)


class CalcDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: float = Field(default=100, gt=0, le=100000)  # 万元
    years: int = Field(default=30, ge=1, le=40)
    rate: float = Field(default=3.5, ge=0, le=36)  # % a year


class HostedForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form_id: str = Field(pattern=_FORM_ID)
    kind: Literal["form", "calc"] = "form"
    title: str = Field(min_length=1, max_length=40)
    intro: str = Field(default="", max_length=300)
    fields: list[FormField] = Field(min_length=1, max_length=15)
    consent_text: str = Field(min_length=1, max_length=3000)
    consent_version: str = Field(min_length=1, max_length=20)
    source: str = "website_form"
    campaign: str | None = Field(default=None, max_length=100)
    thank_you_text: str = Field(default="提交成功！我们的顾问将在工作时间尽快与您联系。", min_length=1, max_length=300)
    redirect_to: str | None = Field(default=None, max_length=500)
    active: bool = True
    calc: CalcDefaults = Field(default_factory=CalcDefaults)
    # An arithmetic question before submitting: never, always, or once the form's views today pass
    # `spike_views_per_day` (a flood of bots opening the page); no third-party captcha service.
    challenge: Literal["off", "spike", "always"] = "spike"
    spike_views_per_day: int = Field(default=5000, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _check(self) -> HostedForm:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("表单字段重复")
        phone = [f for f in self.fields if f.name == "phone"]
        if not phone or not phone[0].required:
            raise ValueError("表单必须包含必填的联系方式（phone）")
        if self.redirect_to and not self.redirect_to.startswith(("https://", "http://")):
            raise ValueError("跳转地址须为 http(s) 地址")
        return self


class FormCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    forms: list[HostedForm] = Field(default_factory=list, max_length=200)
    # short channel code of a tracking link (`c=`) → lead source; utm_source values map the same way
    channel_codes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> FormCatalog:
        ids = [form.form_id for form in self.forms]
        if len(ids) != len(set(ids)):
            raise ValueError("表单标识重复")
        bad = [code for code in self.channel_codes if not _CODE.match(code)]
        if bad:
            raise ValueError(f"渠道代码无效: {', '.join(bad)}")
        return self

    @cached_property
    def _by_id(self) -> dict[str, HostedForm]:
        return {form.form_id: form for form in self.forms}

    def form(self, form_id: str) -> HostedForm | None:
        return self._by_id.get(form_id)

    def source_for(self, code: str | None, utm_source: str | None, allowed: set[str]) -> str | None:
        """The lead source a tracking link names: its channel code first, then its utm_source (a
        code or a source itself); None when it names none the public channel allows."""
        for raw in (code, utm_source):
            if not raw:
                continue
            value = self.channel_codes.get(raw.strip(), self.channel_codes.get(raw.strip().lower(), raw.strip()))
            if value in allowed:
                return value
        return None


@lru_cache(maxsize=1)
def default_forms() -> FormCatalog:
    path = Path(__file__).with_name("defaults") / "forms.json"
    return FormCatalog.model_validate(json.loads(path.read_text(encoding="utf-8")))
