"""A change of hands, applied with the messages it sends: the one way every path (routing, assign,
reassign, transfer, claim, release, reclaim) moves a lead. Tasks follow on the lead stream
(services/sop.on_lead_change)."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.ownership import Audience, Notice, OwnershipChange, messages
from chalicelib.domain.records import Lead
from chalicelib.services import names, sop
from chalicelib.store import config, directory, ownership


def customer(lead: Lead) -> str:
    return str(lead.get("name") or "未留姓名的客户")


def summary(lead: Lead) -> str:
    profile = config.lead_profile()
    parts = [profile.option_label("loan_type", lead["loan_type"]) if lead.get("loan_type") else "",
             f"{float(lead['amount']):g} 万元" if lead.get("amount") else ""]
    return " · ".join(p for p in parts if p)


def notices(change: OwnershipChange, lead: Lead, why: str = "") -> list[Notice]:
    supervisor = None
    if change.kind == "reclaim" and change.expected_team:
        supervisor = directory.supervisor_of(change.expected_team)
    return messages(change, Audience(customer(lead), summary(lead), names.user, names.team, supervisor, why))


def apply(change: OwnershipChange, lead: Lead) -> None:
    ownership.apply(with_follow_up(change), notices(change, lead))


def with_follow_up(change: OwnershipChange) -> OwnershipChange:
    """下次跟进 as the change leaves it, written with it (the stream confirms it from the tasks): none
    in the pool; a fresh assignment's first task; otherwise the lead's tasks move with it, unchanged."""
    if change.new_status == "pool":
        return replace(change, extra={**change.extra, "next_follow_up": None})
    if change.expected_status in ("new", "pool") and change.new_status == "assigned":
        first = sop.first_follow_up(change.at)  # its first task's alert: the lead's clock (`sop.pending_alert`)
        return replace(change, alert_at=first, extra={**change.extra, "next_follow_up": first})
    return change
