"""Activities and hand-made status changes, each one transaction with the lead's history."""

from __future__ import annotations

import uuid

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.lifecycle import CLOSED
from chalicelib.domain.records import Activity, Lead
from chalicelib.domain.scoring import ANSWERED_OUTCOMES
from chalicelib.domain.sop import pending_alert
from chalicelib.errors import Conflict
from chalicelib.store.aws_errors import ConditionFailed, aws_errors
from chalicelib.store.connection import transaction_connection
from chalicelib.store.leads import clock_actions
from chalicelib.store.ownership import held_moves
from chalicelib.store.schema import LeadEventModel, LeadModel


def log_activity(lead: Lead, activity: Activity, actor: str, at: str, contact: bool,
                 idle_at: str | None = None) -> str:
    """Record an activity. A contact by the owner stamps first contact (stopping the SLA clock) and
    moves an `assigned` lead to `contacted`, in the same transaction."""
    event_id = uuid.uuid4().hex[:12]
    actions: list[Action] = [LeadModel.last_activity_at.set(at), LeadModel.updated_at.set(at),
                             LeadModel.version.add(1), LeadModel.activity_count.add(1)]
    moves = contact and lead["status"] == "assigned"
    actions.append(LeadModel.last_activity_type.set(activity["activity_type"]))
    if activity["activity_type"] == "call" and activity.get("outcome") in ANSWERED_OUTCOMES:
        actions.append(LeadModel.answered_calls.add(1))  # engagement signals: the stream rescores the lead
    elif activity["activity_type"] == "materials_sent":
        actions.append(LeadModel.materials_sent.add(1))
    # The idle clock is not moved by each activity (which would rewrite the sweep's index every
    # time): the sweep moves it when it comes due, from `last_activity_at`. A first contact stops the
    # first-contact clock; an owned lead without an idle clock gets one.
    sla = None if contact else lead.get("sla_at")
    idle = lead.get("idle_at") or (idle_at if lead.get("owner") and lead["status"] not in CLOSED else None)
    if (sla, idle) != (lead.get("sla_at"), lead.get("idle_at")):
        # a contact is what the assignment's tasks asked for (the stream closes them): their alert goes too
        actions += clock_actions(lead["lead_id"], sla, idle, None if contact else pending_alert(lead))
    # Who logged it, with the team they worked it for: the dashboard counts an activity for its author
    # (the version condition below makes the read-modify-write of the map safe).
    author = f"{lead.get('team') or ''}/{actor}"
    counts = {k: int(v) for k, v in (lead.get("activity_by") or {}).items()}
    actions.append(LeadModel.activity_by.set({**counts, author: counts.get(author, 0) + 1}))
    if contact:
        actions += [LeadModel.first_contact_at.set(LeadModel.first_contact_at | at),
                    LeadModel.first_contact_by.set(LeadModel.first_contact_by | actor)]
        if lead.get("team"):
            actions.append(LeadModel.first_contact_team.set(LeadModel.first_contact_team | lead["team"]))
    if moves:
        actions.append(LeadModel.status.set("contacted"))
    try:
        with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
            tx.update(LeadModel(lead["lead_id"]), actions=actions,
                      condition=(LeadModel.status == lead["status"]) & (LeadModel.version == lead["version"]))
            tx.save(LeadEventModel(lead["lead_id"], f"{at}#activity#{event_id}", kind="activity", at=at,
                                   actor=actor, **activity))
            if moves:
                tx.save(LeadEventModel(lead["lead_id"], f"{at}#status#{event_id}", kind="status", at=at, actor=actor,
                                       from_status="assigned", to_status="contacted", reason="首次联系客户"))
    except ConditionFailed as exc:
        raise Conflict("线索已被他人修改，请刷新后重试") from exc
    return event_id


def set_status(lead: Lead, target: str, version: int, actor: str, at: str, reason: str | None,
               fields: Lead) -> None:
    actions: list[Action] = [LeadModel.status.set(target), LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    # Out of `assigned` by hand: the first-contact clock stops; closed: the idle clock too.
    closed = target in CLOSED
    actions += clock_actions(lead["lead_id"], None, None if closed else lead.get("idle_at"),
                             None if closed else pending_alert(lead))
    actions += [getattr(LeadModel, k).set(v) for k, v in fields.items() if v is not None]
    if "expires_at" not in fields:  # retention runs only while a lead stays invalid or lost
        actions.append(LeadModel.expires_at.remove())
    if target in ("intent", "qualifying", "won"):  # the funnel's 意向: reached once, kept on the way back
        actions.append(LeadModel.intent_at.set(LeadModel.intent_at | at))
    try:
        with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
            tx.update(LeadModel(lead["lead_id"]), actions=actions,
                      condition=(LeadModel.version == version) & (LeadModel.status == lead["status"]))
            held_moves(tx, lead.get("owner"), lead["status"], target)
            tx.save(LeadEventModel(lead["lead_id"], f"{at}#status#{uuid.uuid4().hex[:12]}", kind="status", at=at,
                                   actor=actor, from_status=lead["status"], to_status=target, reason=reason))
    except ConditionFailed as exc:
        current = LeadModel.get(lead["lead_id"], consistent_read=True)
        raise Conflict("线索已被他人修改，请刷新后重试", fields={"version": str(int(current.version))},
                       code="STALE_VERSION") from exc
