"""Routing rules as data: the document admins edit (defaults ship in `defaults/routing.json`).

A `RuleSet` holds ordered rules (first match wins) and a business-hours calendar. This module is
its schema: pydantic checks the shape and `load_rule_set` turns shape errors into rule-named
Chinese messages. The meaning (fields, operators, value types, reachability, actions) is checked
when the engine, `chalicelib.domain.routing.compile_rules`, compiles the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    ValidationError,
    model_validator,
)

from chalicelib.rules.messages import pydantic_message

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPS = ("eq", "ne", "in", "not_in", "range", "prefix", "exists")
CUSTOM_PREFIX = "custom."

# Fields a rule may always test, whatever the caller's `known_fields`: what cleaning fills in and
# what the channels carry. Identity and free text (name, phone, remark) are deliberately absent.
ROUTABLE_FIELDS = frozenset({
    "city", "province", "region", "loan_type", "amount", "purpose", "credit_status", "source",
    "customer_type", "partner_id", "campaign", "channel", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "score", "score_band",
})
STRATEGY_LABELS = {"round_robin": "轮流分配", "least_loaded": "最少持有优先", "weighted": "按权重分配"}
PRIORITY_LABELS = {"high": "高", "normal": "普通", "low": "低"}

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
CONDITION_SHAPE = ("条件应为 {field, op, value}、{all: [...]}、{any: [...]}、{not: 条件} "
                    "或 {business_hours: true/false} 之一")



# --- the document -------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)


class FieldCondition(_Strict):
    """A test of one lead field. `op` and `value` are checked by `compile_rules`, which knows the
    allowed fields and can name the rule in its error, rather than by a pydantic union error."""

    field: str
    op: str
    value: Any


class AllCondition(_Strict):
    all_: list[Condition] = Field(alias="all")


class AnyCondition(_Strict):
    any_: list[Condition] = Field(alias="any")


class NotCondition(_Strict):
    not_: Condition = Field(alias="not")


class BusinessHoursCondition(_Strict):
    business_hours: StrictBool


def _condition_kind(value: Any) -> str | None:
    # Pick the union member by its key, so a bad condition gets one clear error instead of one
    # per member of the union.
    if isinstance(value, dict):
        return next((key for key in ("field", "all", "any", "not", "business_hours") if key in value), None)
    return _CONDITION_TAGS.get(type(value))


Condition = Annotated[
    Annotated[FieldCondition, Tag("field")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[BusinessHoursCondition, Tag("business_hours")],
    Discriminator(_condition_kind, custom_error_type="condition_shape", custom_error_message=CONDITION_SHAPE),
]
_CONDITION_TAGS: dict[type, str] = {FieldCondition: "field", AllCondition: "all", AnyCondition: "any",
                                    NotCondition: "not", BusinessHoursCondition: "business_hours"}
for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()


class Action(_Strict):
    type: Literal["assign_team", "assign_rep", "pool"]
    team: str | None = None
    strategy: Literal["round_robin", "least_loaded", "weighted"] | None = None
    weights: dict[str, int] = Field(default_factory=dict)
    rep: str | None = None
    priority: Literal["high", "normal", "low"] = "normal"
    tags: list[str] = Field(default_factory=list)


class Rule(_Strict):
    id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=40)
    enabled: bool = True
    when: Condition | None = None
    action: Action


class Calendar(_Strict):
    """Business hours in Asia/Shanghai. A holiday is closed all day; a workday (调休, a weekend day
    made a working day) is open with Monday's hours. Both are data, updated each year."""

    timezone: Literal["Asia/Shanghai"] = "Asia/Shanghai"
    hours: dict[Weekday, tuple[str, str]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Calendar:
        for day, (start, end) in self.hours.items():
            if not (_HHMM.match(start) and _HHMM.match(end)):
                raise ValueError(f"{day} 的时间应为 HH:MM 格式")
            if start >= end:
                raise ValueError(f"{day} 的开始时间应早于结束时间")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"日期不能既是节假日又是调休工作日：{'、'.join(map(str, both))}")
        weekdays = sorted(day for day in self.workdays if day.weekday() < 5)
        if weekdays:
            raise ValueError(f"调休工作日应为周六或周日：{'、'.join(map(str, weekdays))}")
        if self.workdays and "mon" not in self.hours:
            raise ValueError("设置了调休工作日时需要周一的工作时间")
        return self


class RuleSet(_Strict):
    version: int = Field(ge=1)
    rules: list[Rule]
    calendar: Calendar = Field(default_factory=Calendar)


class RuleSetInvalid(ValueError):
    """Every problem of a rule set, keyed by the rule it is in (`rules[2] (r3)`) or `calendar`."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("规则集无效：" + "；".join(f"{key}：{msg}" for key, msg in errors.items()))


@lru_cache(maxsize=1)
def default_rule_set() -> RuleSet:
    path = Path(__file__).with_name("defaults") / "routing.json"
    return RuleSet.model_validate(json.loads(path.read_text(encoding="utf-8")))


def routable_fields(custom_keys: Iterable[str] = ()) -> set[str]:
    """The `known_fields` for `compile_rules`: the routable lead fields plus configured custom fields."""
    return set(ROUTABLE_FIELDS) | {CUSTOM_PREFIX + key for key in custom_keys}


def rule_key(index: int, rule_id: Any) -> str:
    return f"rules[{index}] ({rule_id})"


def load_rule_set(data: Any) -> RuleSet:
    """Parse a rule-set document; shape errors become a RuleSetInvalid keyed by rule, in Chinese."""
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raw_rules = data.get("rules") if isinstance(data, dict) else None
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            loc = list(error["loc"])
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                index = loc[1]
                raw = raw_rules[index] if isinstance(raw_rules, list) and index < len(raw_rules) else None
                key = rule_key(index, raw.get("id") if isinstance(raw, dict) else None)
                loc = loc[2:]
            else:
                key = str(loc[0]) if loc else "body"
                loc = loc[1:]
            path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
            message = _pydantic_message(error)
            errors.setdefault(key, []).append(f"{path}：{message}" if path else message)
        raise RuleSetInvalid({key: "；".join(msgs) for key, msgs in errors.items()}) from exc


def _pydantic_message(error: Any) -> str:
    return pydantic_message(error, {"condition_shape": CONDITION_SHAPE})
