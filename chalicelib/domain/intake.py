"""Where a freshly captured lead goes when the lead stream first sees it.

The walking skeleton's rule: spam flags make it invalid, a lead entered by its owner is assigned,
everything else lands in the pool. The cleaning/dedup and routing capabilities replace this body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SPAM_REASONS = {"honeypot": "命中蜜罐字段（疑似机器人提交）"}


@dataclass(frozen=True)
class Placement:
    status: str
    reason: str
    set_fields: dict[str, Any] = field(default_factory=dict)


def place_new_lead(lead: dict[str, Any]) -> Placement:
    flags = lead.get("spam_flags") or []
    if flags:
        reasons = [SPAM_REASONS.get(flag, flag) for flag in flags]
        return Placement("invalid", "；".join(reasons), {"invalid_reasons": reasons})
    if lead.get("owner"):
        return Placement("assigned", "录入人即负责人")
    return Placement("pool", "未匹配分配规则，进入公海")
