"""Activities and status changes: what a rep records and how the lead's lifecycle moves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.lifecycle import REOPENABLE, STATUS_LABELS, TRANSITIONS, check_transition
from chalicelib.errors import Conflict, ValidationFailed

ActivityType = Literal["call", "sms", "wechat", "email", "visit", "note", "materials_sent"]
ACTIVITY_LABELS = {"call": "电话", "sms": "短信", "wechat": "微信", "email": "邮件", "visit": "面谈/上门",
                   "note": "备注", "materials_sent": "资料已发送", "re_inquiry": "再次咨询"}
# Statuses a rep sets by hand; the pool, assignment and de-duplication have their own paths.
MANUAL_ORDER = ("contacted", "observing", "intent", "qualifying", "won", "lost", "invalid")
MANUAL_TARGETS = frozenset(MANUAL_ORDER)


def manual_targets(status: str, role: str | None = None) -> list[str]:
    """The statuses a lead in `status` may be set to by hand (the lead page's 变更状态 offers these and
    no other: the pool and assignment are moves of their own, but for a closed lead a supervisor or an
    admin puts back in the pool, `REOPENABLE`), working ones first."""
    allowed = TRANSITIONS.get(status, frozenset())
    reopen = ["pool"] if status in REOPENABLE and role in ("admin", "supervisor") else []
    return [target for target in MANUAL_ORDER if target in allowed] + reopen


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    type: ActivityType
    outcome: str | None = Field(default=None, max_length=100)
    content: str | None = Field(default=None, max_length=2000)
    duration_s: int | None = Field(default=None, ge=0, le=24 * 3600)
    next_step: str | None = Field(default=None, max_length=500)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    status: str
    version: int = Field(ge=1)
    reason: str | None = Field(default=None, max_length=500)
    won_amount: float | None = Field(default=None, gt=0)
    won_date: date | None = None


def check_status_change(lead: Mapping[str, Any], change: StatusChange) -> None:
    """Refuse, with a Chinese message per field, what the lifecycle or the form does not allow."""
    errors: dict[str, str] = {}
    if change.status == "won":
        if change.won_amount is None:
            errors["won_amount"] = "签约放款须填写放款金额（万元）"
        if change.won_date is None:
            errors["won_date"] = "签约放款须填写放款日期"
    if change.status in ("lost", "invalid") and not change.reason:
        errors["reason"] = f"变更为「{STATUS_LABELS[change.status]}」须填写原因"
    if errors:
        raise ValidationFailed(fields=errors)
    if change.status not in MANUAL_TARGETS:
        raise ValidationFailed(fields={"status": "此状态不能手工设置（公海、分配请用领取/释放/分配）"})
    check_version(lead, change.version)
    check_transition(lead["status"], change.status)


def check_version(lead: Mapping[str, Any], version: int) -> None:
    """The version the change was made against is the lead's still, else a Chinese 409."""
    if lead["version"] != version:
        raise Conflict("线索已被他人修改，请刷新后重试", fields={"version": str(lead["version"])},
                       code="STALE_VERSION")
