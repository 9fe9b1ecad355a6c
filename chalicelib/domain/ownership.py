"""The one ownership state machine: every way a lead gets, changes or loses its owner.

Routing, a supervisor's assignment, a rep's claim, release, reassignment, transfer and the SLA
reclaim all become an `OwnershipChange`; the store applies it in one transaction with the caps,
the load counters, the cooldown and the history. No path can skip any of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from chalicelib.domain.timeutil import iso_utc, parse_iso, shanghai_day
from chalicelib.errors import Conflict, Forbidden

Kind = Literal["route", "assign", "claim", "release", "reassign", "transfer", "reclaim"]
OWNED = frozenset({"assigned", "contacted", "observing", "intent", "qualifying"})
LABELS = {"route": "规则分配", "assign": "主管分配", "claim": "从公海领取", "release": "释放回公海",
          "reassign": "重新分配", "transfer": "转移到其他团队", "reclaim": "超时收回公海"}


@dataclass(frozen=True)
class Caps:
    """Limits of the rep who receives the lead (None: not enforced on this path)."""

    max_open: int | None = None
    daily: int | None = None
    claims_per_day: int | None = None


@dataclass(frozen=True)
class OwnershipChange:
    kind: Kind
    lead_id: str
    at: str
    actor: str
    reason: str
    expected_status: str
    expected_owner: str | None
    new_status: str
    new_owner: str | None
    new_team: str | None
    pool_key: str | None
    caps: Caps = Caps()
    cooldown_until: str | None = None  # the previous owner may not claim it back before this
    check_cooldown: bool = False
    sla_at: str | None = None  # first-contact deadline, when the lead becomes `assigned`
    idle_at: str | None = None  # "no activity" deadline, while someone owns the lead
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def day(self) -> str:
        return shanghai_day(parse_iso(self.at)).isoformat()

    @property
    def history_reason(self) -> str:
        return f"{LABELS[self.kind]}：{self.reason}" if self.reason else LABELS[self.kind]


def pool_key(lead: dict[str, Any]) -> str:
    return str(lead.get("region") or "未知")


def plan(kind: Kind, lead: dict[str, Any], *, actor: str, at: str, reason: str = "",
         to_owner: str | None = None, to_team: str | None = None, caps: Caps = Caps(),
         cooldown_hours: int = 0, sla_at: str | None = None, idle_at: str | None = None) -> OwnershipChange:
    """Check the move is legal for the lead as it is now; raise a Chinese 409 if not."""
    status, owner = lead["status"], lead.get("owner")
    common: dict[str, Any] = {"lead_id": lead["lead_id"], "at": at, "actor": actor, "reason": reason,
                              "expected_status": status, "expected_owner": owner}
    until = iso_utc(parse_iso(at) + timedelta(hours=cooldown_hours)) if cooldown_hours and owner else None
    if kind in ("route", "assign"):
        if status not in ("new", "pool") or owner and status == "pool":
            raise Conflict("只能分配新线索或公海中的线索", code="NOT_ASSIGNABLE")
        return OwnershipChange(kind, new_status="assigned", new_owner=to_owner, new_team=to_team, pool_key=None,
                               caps=caps, sla_at=sla_at, idle_at=idle_at, **common)
    if kind == "claim":
        if status != "pool" or owner:
            raise Conflict("该线索已不在公海中（可能已被他人领取）", code="NOT_IN_POOL")
        return OwnershipChange(kind, new_status="assigned", new_owner=actor, new_team=to_team, pool_key=None,
                               caps=caps, check_cooldown=True, sla_at=sla_at, idle_at=idle_at, **common)
    if kind in ("release", "reclaim"):
        if status not in OWNED:
            raise Conflict("该线索当前不能退回公海", code="NOT_RELEASABLE")
        if kind == "release" and owner != actor:
            raise Forbidden("只能释放自己负责的线索")
        return OwnershipChange(kind, new_status="pool", new_owner=None, new_team=None, pool_key=pool_key(lead),
                               cooldown_until=until, **common)
    if kind in ("reassign", "transfer"):
        if status not in OWNED:
            raise Conflict("只能重新分配跟进中的线索", code="NOT_REASSIGNABLE")
        if to_owner == owner:
            raise Conflict("新负责人与当前负责人相同", code="SAME_OWNER")
        return OwnershipChange(kind, new_status=status, new_owner=to_owner, new_team=to_team, pool_key=None,
                               caps=caps, sla_at=sla_at if status == "assigned" else None, idle_at=idle_at, **common)
    raise ValueError(kind)
