"""SOP policies as data: which event creates which task when, the first-contact reclaim, escalation."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.rules.statuses import STATUS_LABELS

_ACTIVITIES = ("call", "sms", "wechat", "email", "visit", "note", "materials_sent")


def _check_trigger(value: str) -> str:
    kind, _, arg = value.partition(":")
    ok = (value in ("assigned", "first_contact") or (kind == "activity" and arg in _ACTIVITIES)
          or (kind == "status" and arg in STATUS_LABELS))
    if not ok or not re.fullmatch(r"[a-z_:]+", value):
        raise ValueError(f"未知触发条件：{value}（可用 assigned、first_contact、activity:<类型>、status:<状态>）")
    return value


class TaskRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    on: str  # assigned | first_contact | activity:<type> | status:<status>
    title: str = Field(min_length=1, max_length=50)
    due_minutes: int = Field(ge=1, le=60 * 24 * 90)
    # Count the due time in business hours (the routing calendar's): 2 h after a Friday 17:30
    # assignment is Monday 10:30, not Friday 19:30.
    business_hours: bool = False

    @field_validator("on")
    @classmethod
    def _trigger(cls, value: str) -> str:
        return _check_trigger(value)


class ReminderRule(BaseModel):
    """提醒: a message to the lead's owner `delay_minutes` after the trigger, in the inbox, once per
    lead and rule; no task is created."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    on: str
    text: str = Field(min_length=1, max_length=100)
    delay_minutes: int = Field(ge=1, le=60 * 24 * 90)
    business_hours: bool = False

    @field_validator("on")
    @classmethod
    def _trigger(cls, value: str) -> str:
        return _check_trigger(value)


class SopPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    tasks: list[TaskRule] = Field(default_factory=list)
    reminders: list[ReminderRule] = Field(default_factory=list, max_length=50)
    reclaim_uncontacted_minutes: int | None = Field(default=1440, ge=10, le=60 * 24 * 30)
    # "no activity for N minutes" on a lead someone owns → the task `no_activity_task`
    no_activity_minutes: int | None = Field(default=7 * 24 * 60, ge=60, le=60 * 24 * 90)
    no_activity_task: str = Field(default="长时间未跟进，请联系客户", min_length=1, max_length=50)
    no_activity_due_minutes: int = Field(default=24 * 60, ge=1, le=60 * 24 * 30)
    escalate_overdue_after_minutes: int = Field(default=60, ge=0, le=60 * 24 * 30)
    # A lead changing hands: its open tasks move to the new owner ("move"), or are cancelled and the
    # tasks of its current status created for the new owner ("recreate").
    on_handoff: Literal["move", "recreate"] = "move"

    @field_validator("tasks")
    @classmethod
    def _unique(cls, value: list[TaskRule]) -> list[TaskRule]:
        ids = [rule.id for rule in value]
        if len(ids) != len(set(ids)):
            raise ValueError("任务规则标识重复")
        return value

    @field_validator("reminders")
    @classmethod
    def _unique_reminders(cls, value: list[ReminderRule]) -> list[ReminderRule]:
        ids = [rule.id for rule in value]
        if len(ids) != len(set(ids)):
            raise ValueError("提醒规则标识重复")
        return value

    def rules_for(self, trigger: str) -> list[TaskRule]:
        return [rule for rule in self.tasks if rule.on == trigger]

    def reminders_for(self, trigger: str) -> list[ReminderRule]:
        return [rule for rule in self.reminders if rule.on == trigger]


@lru_cache(maxsize=1)
def default_sop_policy() -> SopPolicy:
    path = Path(__file__).with_name("defaults") / "sop.json"
    return SopPolicy.model_validate(json.loads(path.read_text(encoding="utf-8")))
