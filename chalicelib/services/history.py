"""A lead's history as people read it: its stored entries (activities, status and ownership moves,
merges, edits), and the entry of its one move out of `new` rebuilt from what the lead keeps, where
that move wrote no item (routing to an owner or to the pool, a merge into the phone's active lead,
cleaning's refusal): one write unit or more less per lead, the same words on the page."""

from __future__ import annotations

from chalicelib.domain.records import HistoryEntry, Lead, RouteRecord
from chalicelib.domain.routing import history_reason
from chalicelib.services import routing
from chalicelib.store import leads


def duplicate_entry(lead: Lead) -> HistoryEntry | None:
    """The history entry of a submission the stream merged into its phone's active lead, rebuilt:
    the lead keeps when and into which lead (`duplicate_at`, `duplicate_of`; store/placement.py)."""
    if lead.get("status") != "duplicate" or not lead.get("duplicate_at") or lead.get("merge_snapshot"):
        return None  # not such a submission (a lead merged by hand has its own entries)
    active = str(lead.get("duplicate_of"))
    return {"kind": "status", "at": str(lead["duplicate_at"]), "actor": "system", "from_status": "new",
            "to_status": "duplicate", "reason": f"与 {active} 为同一客户，已合并", "related_lead": active}


def pool_entry(lead: Lead) -> HistoryEntry | None:
    """The history entry of a lead routing left in the pool by one update, rebuilt: such a lead keeps
    its route with the reason (store/placement.py `settle`)."""
    record: RouteRecord = lead.get("route") or {}
    if record.get("status") != "pool" or "reason" not in record or "decided_at" not in record:
        return None
    return {"kind": "status", "at": str(record["decided_at"]), "actor": "system", "from_status": "new",
            "to_status": "pool", "reason": history_reason(str(record["reason"]), lead.get("previous_leads")),
            "detail": {"kind": "route", "to_owner": None, "to_team": None}}


def invalid_entry(lead: Lead) -> HistoryEntry | None:
    """The history entry of a lead cleaning refused, rebuilt: it keeps when and why (`invalid_at`,
    `invalid_reasons`, never cleared by a later move)."""
    if not lead.get("invalid_at"):
        return None
    return {"kind": "status", "at": str(lead["invalid_at"]), "actor": "system", "from_status": "new",
            "to_status": "invalid", "reason": "；".join(lead.get("invalid_reasons") or [])}


def of_lead(lead: Lead, limit: int = 50) -> list[HistoryEntry]:
    """The lead's history, newest first, at most `limit` entries: those stored and the entry of its
    one move out of `new` when the lead keeps that move itself (`routing_entry`, `duplicate_entry`,
    `pool_entry`, `invalid_entry`; a lead moved before these changes has it stored, found among the
    others)."""
    entries = leads.history(lead["lead_id"], limit)
    if any(e.get("kind") == "status" and e.get("from_status") == "new" for e in entries):
        return entries  # stored (a move with an entry of its own, or one made before it was rebuilt)
    entry = routing.routing_entry(lead) or duplicate_entry(lead) or pool_entry(lead) or invalid_entry(lead)
    if entry is None:
        return entries
    if len(entries) >= limit and str(entries[-1].get("at") or "") > str(entry["at"]):
        return entries  # the routing is older than this page of the history
    return sorted([*entries, entry], key=lambda e: str(e.get("at") or ""), reverse=True)[:limit]
