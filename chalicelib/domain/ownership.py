"""The one ownership state machine: every way a lead gets, changes or loses its owner.

Routing, a supervisor's assignment, a rep's claim, release, reassignment, transfer, the SLA
reclaim and a closed lead put back in the pool (reopen) all become an `OwnershipChange`; the store
applies it in one transaction with the caps, the load counters, the cooldown, the phone's claim
(reopen) and the history. No path can skip any of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from chalicelib.domain.lifecycle import REOPENABLE
from chalicelib.domain.sop import pending_alert
from chalicelib.domain.timeutil import beijing, iso_utc, parse_iso, shanghai_day
from chalicelib.errors import Conflict, Forbidden

Kind = Literal["route", "assign", "claim", "release", "reassign", "transfer", "reclaim", "reopen"]
OWNED = frozenset({"assigned", "contacted", "observing", "intent", "qualifying"})
LABELS = {"route": "规则分配", "assign": "主管分配", "claim": "从公海领取", "release": "释放回公海",
          "reassign": "重新分配", "transfer": "转移到其他团队", "reclaim": "超时收回公海",
          "reopen": "重新放回公海"}


@dataclass(frozen=True)
class Notice:
    """One inbox message: written in the same transaction as what it tells of."""

    user_id: str
    kind: str
    title: str
    body: str
    lead_name: str | None = None


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
    alert_at: str | None = None  # the due time of the tasks its assignment made (`sop.pending_alert`)
    claim_phone: str | None = None  # a closed lead reopened: it takes its phone back (refused if held)
    extra: dict[str, Any] = field(default_factory=dict)
    expected_team: str | None = None

    @property
    def first_receiver(self) -> tuple[str | None, str | None]:
        """Who first received the lead, if this change may be that moment (the store keeps the first)."""
        if self.expected_owner:  # owned already (entered by its rep, or before receivers were recorded)
            same = self.new_owner == self.expected_owner
            return self.expected_owner, self.expected_team or (self.new_team if same else None)
        return (self.new_owner, self.new_team) if self.new_owner else (None, None)

    @property
    def day(self) -> str:
        return shanghai_day(parse_iso(self.at)).isoformat()

    @property
    def history_reason(self) -> str:
        return f"{LABELS[self.kind]}：{self.reason}" if self.reason else LABELS[self.kind]


def pool_key(lead: Mapping[str, Any]) -> str:
    return str(lead.get("region") or "未知")


def plan(kind: Kind, lead: Mapping[str, Any], *, actor: str, at: str, reason: str = "",
         to_owner: str | None = None, to_team: str | None = None, caps: Caps = Caps(),
         cooldown_hours: int = 0, sla_at: str | None = None, idle_at: str | None = None) -> OwnershipChange:
    """Check the move is legal for the lead as it is now; raise a Chinese 409 if not."""
    status, owner = lead["status"], lead.get("owner")
    common: dict[str, Any] = {"lead_id": lead["lead_id"], "at": at, "actor": actor, "reason": reason,
                              "expected_status": status, "expected_owner": owner, "expected_team": lead.get("team")}
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
        # the tasks move with the lead: the clock still wakes the sweep when its first task is due
        return OwnershipChange(kind, new_status=status, new_owner=to_owner, new_team=to_team, pool_key=None,
                               caps=caps, sla_at=sla_at if status == "assigned" else None, idle_at=idle_at,
                               alert_at=pending_alert(lead), **common)
    if kind == "reopen":
        # A lost lead, or one made invalid (a real customer a rule flagged), back to the pool: its
        # retention ends and it takes its phone back, which another active lead of the phone refuses.
        if status not in REOPENABLE:
            raise Conflict("只有已流失或无效的线索可以重新放回公海", code="NOT_REOPENABLE")
        return OwnershipChange(kind, new_status="pool", new_owner=None, new_team=None, pool_key=pool_key(lead),
                               claim_phone=str(lead["phone"]), extra={"expires_at": None, "close_reason": None},
                               **common)
    raise ValueError(kind)


@dataclass(frozen=True)
class Audience:
    """What the messages of a change need to know beyond the change: names, not ids."""

    customer: str  # the customer's name (or 未留姓名)
    summary: str  # e.g. 房产抵押贷 · 80 万元
    name_of: Callable[[str | None], str]  # user id → display name
    team_of: Callable[[str | None], str]  # team id → label
    supervisor: str | None = None  # of the team the lead leaves (reclaims are theirs to know)
    why: str = ""  # a routed lead's reason


@dataclass(frozen=True)
class Assigned:
    """One lead of a 新分配 message: its number, its customer's name and summary (e.g. 房贷 · 50 万元)."""

    lead_id: str
    customer: str
    summary: str = ""

    def about(self) -> str:
        return f"{self.customer}（{self.summary}，线索 {self.lead_id}）" if self.summary \
            else f"{self.customer}（线索 {self.lead_id}）"


SHOWN = 10  # customers a 新分配 message names before 等


def assigned_words(leads: list[Assigned], why: str, sla_at: str | None) -> tuple[str, str]:
    """The title and body of a 新分配 message: one lead as every change of hands tells it; the leads
    one routing placed together with the same rep, as one message (a 2,000-row import round-robined
    to ten reps is ten messages, not 2,000), the first `SHOWN` named. `sla_at`: the first-contact
    deadline (the earliest, for several)."""
    leads = sorted(leads, key=lambda lead: lead.lead_id)
    if len(leads) == 1:
        deadline = f"请在 {beijing(sla_at)} 前首次联系。" if sla_at else "请及时跟进。"
        return f"新分配：{leads[0].customer}", f"客户 {leads[0].about()} 已分配给您（{why}）。{deadline}"
    named = "、".join(lead.about() for lead in leads[:SHOWN])
    more = f" 等 {len(leads)} 位客户" if len(leads) > SHOWN else f"（共 {len(leads)} 位）"
    deadline = f"请在 {beijing(sla_at)} 前逐一首次联系。" if sla_at else "请及时逐一跟进。"
    return (f"新分配 {len(leads)} 位客户",
            f"客户 {named}{more}已分配给您（{why}）。{deadline}")


def messages(change: OwnershipChange, who: Audience) -> list[Notice]:
    """Everyone who must know of one change of hands, once: the new owner (新分配), the previous owner
    (已转交 / 已收回) and, for a reclaim, the supervisor. Nobody is told of what they did themselves."""
    out: list[Notice] = []
    lead, name = change.lead_id, who.customer
    about = Assigned(lead, name, who.summary).about()
    actor = who.name_of(change.actor)
    reason = f"，原因：{change.reason}" if change.reason else ""
    new, old = change.new_owner, change.expected_owner
    if new and new != old and new != change.actor:
        why = who.why if change.kind == "route" else f"{actor}{LABELS[change.kind]}{reason}"
        title, body = assigned_words([Assigned(lead, name, who.summary)], why, change.sla_at)
        out.append(Notice(new, "assigned", title, body, name))
    if old and old != new and old != change.actor and change.kind != "reopen":  # a closed lead: nobody's work
        if change.kind == "reclaim":
            out.append(Notice(old, "reclaimed", f"已收回：{name}",
                              f"您负责的客户 {about} 分配后未在规定时间内首次联系，"
                              f"已于 {beijing(change.at)} 收回公海。", name))
        else:
            to = f"转交给 {who.name_of(new)}（{who.team_of(change.new_team)}）" if new else "退回公海"
            out.append(Notice(old, "handed_over", f"已转交：{name}",
                              f"您负责的客户 {about} 已由 {actor} {to}{reason}。您在该线索上的待办已转给新负责人。",
                              name))
    if change.kind == "reclaim" and who.supervisor and who.supervisor not in (old, change.actor):
        out.append(Notice(who.supervisor, "reclaimed", f"线索已收回公海：{name}",
                          f"{who.name_of(old)} 在分配后未按时首次联系客户 {about}，"
                          f"已于 {beijing(change.at)} 自动收回公海，可在公海池重新分配。", name))
    return out
