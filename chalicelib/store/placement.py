"""Where a new lead goes, race-free: placed (pool or an owner) as the phone's active lead, or
merged into the phone's active lead as a `duplicate` (a re-inquiry).

Each function is one conditional write or transaction; it reports what happened instead of raising
on a lost race, so the caller can read again and retry."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.lifecycle import ACTIVE
from chalicelib.domain.ownership import Assigned, Notice, OwnershipChange
from chalicelib.domain.records import Activity, JsonObject, Lead
from chalicelib.domain.timeutil import iso_utc, parse_iso
from chalicelib.errors import StoreUnavailable
from chalicelib.store import ownership, phone_keys
from chalicelib.store.aws_errors import ConditionFailed, aws_errors, conditional
from chalicelib.store.connection import transaction_connection
from chalicelib.store.inbox import assigned_entry
from chalicelib.store.leads import set_actions
from chalicelib.store.schema import ImportJobModel, LeadEventModel, LeadModel, NotificationModel, PhoneKeyModel


class Outcome(Enum):
    DONE = "done"
    ALREADY = "already"  # the lead had left `new`: a replay, nothing to do
    RACE = "race"  # the phone item or the active lead changed underneath: read again
    HELD = "held"  # phone claimed, placement handed to the batch's group (services/placing.py)


def status_update(lead_id: str, target: str, at: str, fields: Lead) -> tuple[LeadModel, list[Action]]:
    actions = [LeadModel.status.set(target), LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    return LeadModel(lead_id), actions + set_actions(fields)


def _history(lead_id: str, at: str, event_key: str, before: str, after: str, reason: str,
             related: str | None = None, detail: JsonObject | None = None) -> LeadEventModel:
    return LeadEventModel(lead_id, f"{at}#status#{event_key}", kind="status", at=at, actor="system",
                          from_status=before, to_status=after, reason=reason, related_lead=related, detail=detail)


def _refused(failed: ConditionFailed) -> ConditionFailed:
    """A condition or a conflict cancelled the write (the caller reads again or places otherwise);
    a transaction cancelled for any other reason (throttling, a validation) is StoreUnavailable."""
    if failed.aws_code == "TransactionCanceledException" and not failed.reasons & {"ConditionalCheckFailed",
                                                                                 "TransactionConflict"}:
        raise StoreUnavailable() from failed
    return failed


def _outcome(failed: ConditionFailed, lead_id: str) -> Outcome:
    """Why a transaction was cancelled. pynamodb groups items by kind, so reasons are not in call
    order: read the lead instead (one read, only on the unhappy path)."""
    _refused(failed)
    return _status_outcome(lead_id)


def _status_outcome(lead_id: str) -> Outcome:
    try:
        with aws_errors():
            status = LeadModel.get(lead_id, consistent_read=True, attributes_to_get=["status"]).status
    except LeadModel.DoesNotExist as error:
        raise StoreUnavailable() from error
    return Outcome.ALREADY if status != "new" else Outcome.RACE


def _notice_item(notice: Notice, at: str, key: str, lead_id: str) -> NotificationModel:
    item = ownership.notice_item(notice, at, lead_id)
    item.sk = f"{at}#{notice.kind}#{key}"
    return item


def settle(phone: str, change: OwnershipChange, fields: Lead, notices: list[Notice], event_key: str,
           reason: str, detail: JsonObject, hold: Callable[[Placement], None] | None = None) -> Outcome:
    """Claim the phone, then place the lead: in that order, each conditional, so that a crash between
    them is finished by the stream's retry of the record. A lead routed to an owner is placed alone
    (its load with it): its owner's notice follows from the stream's record of the placement
    (`record_routing`) and its history entry is rebuilt from the lead when read (`history.of_lead`),
    so `notices` are only the others' (none). With `hold`, such a lead is handed to it instead of
    placed (HELD: its batch places it with others). A pooled lead is one update, its entry rebuilt
    too; a placement that takes a lead from its owner, or tells someone (an unstaffed team's
    supervisor), writes its entry in its transaction. RACE: another lead holds the phone, or a cap
    was hit meanwhile. ALREADY: the lead left `new`."""
    if not phone_keys.claim_phone(phone, change.lead_id, change.at):
        return Outcome.RACE
    if ownership.only_receives(change) and not notices:
        if hold is not None:
            hold(Placement(change, without_reason(fields)))
            return Outcome.HELD
        return place(change, without_reason(fields), [])
    if not (change.new_owner or change.expected_owner or notices):
        # Pooled by one conditional update: the lead keeps its route with the reason (it fits 1 KB),
        # and its history entry is rebuilt from it when read (`history.of_lead`), no item of its own.
        return place(change, fields, [])
    entry = _history(change.lead_id, change.at, event_key, "new", change.new_status, reason, detail=detail)
    return place(change, fields, notices, entry)


def place(change: OwnershipChange, fields: Lead, notices: list[Notice],
          entry: LeadEventModel | None = None) -> Outcome:
    """Place a `new` lead (pool or an owner): the lead, and in one transaction with it only what must
    not happen without it (the owner's load, bounded by the caps; the notices; the history entry,
    which then alone keeps the routing reason). A pooled lead is one conditional update (the reason
    kept on the lead: its history entry is rebuilt from it, `history.of_lead`).
    RACE: still `new` but a cap was hit meanwhile."""
    lead_id = change.lead_id
    transaction = bool(change.new_owner or change.expected_owner or notices)
    if transaction and entry is not None:
        fields = without_reason(fields)
    actions = ownership.lead_actions(change) + set_actions(fields)
    condition = ownership.lead_condition(change)
    try:
        with aws_errors():
            if transaction:
                with TransactWrite(connection=transaction_connection()) as tx:
                    _add_placement(tx, change, actions, notices, entry)
                    ownership.add_load_ops(tx, change)
            else:
                LeadModel(lead_id).update(actions=actions, condition=condition)
        return Outcome.DONE
    except ConditionFailed as failed:
        return _outcome(failed, lead_id)


def _add_placement(tx: TransactWrite, change: OwnershipChange, actions: list[Action], notices: Sequence[Notice],
                   entry: LeadEventModel | None) -> None:
    """A placed lead's side of a transaction: the lead (still as the change expects it), the notices
    and the history entry, each written once however often the record is handled."""
    tx.update(LeadModel(change.lead_id), actions=actions, condition=ownership.lead_condition(change))
    for notice in notices:
        tx.save(_notice_item(notice, change.at, change.lead_id, change.lead_id),
                condition=NotificationModel.sk.does_not_exist())
    if entry is not None:
        tx.save(entry, condition=LeadEventModel.sk.does_not_exist())


@dataclass(frozen=True)
class Placement:
    """One routed lead's placement (its fields without the routing reason), held back to be written
    with others of its stream batch."""

    change: OwnershipChange
    fields: Lead


def place_group(placements: Sequence[Placement]) -> list[Placement]:
    """Place routed leads together, without a transaction (which would write each lead twice): each
    rep's load takes all the leads they receive here in one update, bounded by the caps for all of
    them, that also records them (`ownership.reserve`); then each lead is written as `place` writes
    it (conditional on still being `new` and unowned), keyed on the group (`route.group`: its 新分配
    is one message per rep, `notify_together`); then the reservation goes, giving back the leads
    refused meanwhile (`ownership.settle`). Returns the placements not made (a rep's caps refused
    them, or the lead moved): the caller places each on its own. A container that dies in between
    leaves a reservation the next read of the rep's load gives back for the leads the group did not
    place (`ownership.loads`), so the caps hold throughout and a lead is counted once."""
    received: dict[tuple[str, str], list[Placement]] = {}
    for placement in placements:
        change = placement.change
        if not ownership.only_receives(change):
            raise ValueError(f"{change.lead_id}: not a routed placement")
        received.setdefault((str(change.new_owner), change.day), []).append(placement)
    group = together(placements)
    refused: list[Placement] = []
    for (user, day), mine in received.items():
        caps, ids = mine[0].change.caps, [p.change.lead_id for p in mine]
        reserved = None if any(cap is not None and len(mine) > cap for cap in (caps.max_open, caps.daily)) \
            else ownership.reserve(user, day, caps, group, ids)
        if reserved is None:  # more than the caps allow (or another attempt's reservation): one by one
            refused += mine
            continue
        written: list[str] = []
        failed: list[Placement] = []
        for placement in mine:
            try:
                ok = _write_placed(placement, group)
            except Exception:
                _settle_if_known(user, day, group, ids, written, placement.change.lead_id, reserved)
                raise
            if ok:
                written.append(placement.change.lead_id)
            else:
                failed.append(placement)
        if reserved == "earlier":  # the attempt before placed some of them: counted by this reservation
            placed_before = ownership.placed_by(group, user, [p.change.lead_id for p in failed]) if failed else set()
            failed = [p for p in failed if p.change.lead_id not in placed_before]
        ownership.settle(user, day, group, len(failed))
        refused += failed
    return refused


def _write_placed(placement: Placement, group: str) -> bool:
    """One lead of a placement group, as `place` writes a lead: False when it left `new` or got an
    owner meanwhile."""
    change, fields = placement.change, placement.fields
    if fields.get("route"):
        fields = {**fields, "route": {**fields["route"], "group": group}}
    actions = ownership.lead_actions(change) + set_actions(fields)
    return conditional(lambda: LeadModel(change.lead_id).update(actions=actions,
                                                                condition=ownership.lead_condition(change)))


def _settle_if_known(user: str, day: str, group: str, ids: list[str], written: list[str], unknown: str,
                     reserved: str) -> None:
    """A lead's write failed (the store unavailable): settle the reservation by what the leads say now,
    if the store answers (else the next read of the rep's load does, once it is old enough): those
    written count, the refused and those not tried do not (placed, if at all, by an earlier attempt
    that counted them), the one whose write failed as the lead says."""
    with contextlib.suppress(StoreUnavailable):
        if reserved == "earlier":
            placed = len(ownership.placed_by(group, user, ids))
        else:
            placed = len(written) + len(ownership.placed_by(group, user, [unknown]))
        ownership.settle(user, day, group, len(ids) - placed)


def together(placements: Sequence[Placement]) -> str:
    """The key of leads placed in one transaction (`route.group` on each): its earliest moment and a
    digest of the leads, the same for every record of them, so their 新分配 is one message per rep
    (`notify_together`). No lead number in it: the message outlives an erased lead's entry."""
    ids = "|".join(sorted(p.change.lead_id for p in placements))
    millis = int(parse_iso(min(p.change.at for p in placements)).timestamp() * 1000)
    return f"{millis:x}-{hashlib.sha256(ids.encode()).hexdigest()[:8]}"  # a few bytes: the lead stays under 1 KB


def notify_together(owner: str, group: str, leads: Iterable[Assigned], why: str, sla_at: str | None) -> bool:
    """Add leads placed together (`route.group`) to their rep's one 新分配 message, from their
    placements' stream records: a set union keyed on the rep and the group, so records handled in
    any batches, any number of times, make one message naming each lead once, read again only when
    it names a lead it did not (a record handled again writes nothing). About one write unit per rep
    and group where each lead wrote one. Its words are written when read (`ownership.assigned_words`)."""
    millis, _, digest = group.partition("-")
    at = iso_utc(datetime.fromtimestamp(int(millis, 16) / 1000, tz=UTC))
    leads = list(leads)
    ids = {lead.lead_id for lead in leads}
    entries = set(map(assigned_entry, leads))
    new = [~NotificationModel.lead_ids.contains(lead_id) for lead_id in sorted(ids)]
    condition = new[0]
    for more in new[1:]:
        condition = condition | more
    actions: list[Action] = [NotificationModel.kind.set("assigned"), NotificationModel.read.set(False),
                             NotificationModel.created_at.set(NotificationModel.created_at | at),
                             NotificationModel.lead_ids.add(ids), NotificationModel.leads.add(entries),
                             NotificationModel.why.set(NotificationModel.why | why)]
    if sla_at:
        actions.append(NotificationModel.sla_at.set(NotificationModel.sla_at | sla_at))
    item = NotificationModel(owner, f"{at}#assigned#{digest}")
    return conditional(lambda: item.update(actions=actions, condition=condition))


def without_reason(fields: Lead) -> Lead:
    """The lead's fields without the routing reason (rebuilt from the rule set's version that decided,
    `routing.first_route`, or kept on the history entry written with the lead), so the placed lead
    stays under 1 KB: one write unit, not two, for this and every later write of it."""
    route = fields.get("route")
    if not route or "reason" not in route:
        return fields
    # and without `status`: a lead keeps a route without reason only when routing gave it an owner
    kept = {k: v for k, v in route.items() if k != "reason" and not (k == "status" and v == "assigned")}
    return {**fields, "route": kept}  # type: ignore[typeddict-item]  # a RouteRecord without its reason


def notify_routed(lead_id: str, at: str, notices: Sequence[Notice]) -> int:
    """A routed lead's notices, after its placement (written from the stream's record of it): each
    keyed on the placement (the key a placement's own transaction gave them before, too), so a record
    handled again writes nothing twice; one write unit each (two inside the placement's transaction).
    Returns the items written."""
    written = 0
    for notice in notices:
        item = _notice_item(notice, at, lead_id, lead_id)
        written += int(conditional(lambda item=item: item.save(  # type: ignore[misc]
            condition=NotificationModel.sk.does_not_exist())))
    return written


def mark_duplicate(lead_id: str, active_id: str, phone: str, at: str, fields: Lead, fill: Lead, activity: Activity,
                   notice: Notice | None, import_id: str | None = None, check_phone: bool = True) -> Outcome:
    """Merge a new submission into the phone's active lead: the submission becomes `duplicate`,
    the active lead gets a 再次咨询 activity, its empty fields filled (never overwritten), and its
    owner a notification; an imported submission counts on its import job as a repeat of an existing
    lead. All or nothing, keyed on the submission, so a replay adds nothing. The submission keeps
    when and into which lead it was merged (`duplicate_at`, `duplicate_of`): its history entry is
    rebuilt from them (`history.of_lead`), no item of its own (two write units less).

    The active lead must still be active (not closed: a closed lead gives its phone up). The phone's
    item is checked too only with `check_phone` (the caller's: the active lead is `new`, whose claim a
    newer lead may take over, or has leads merged into it by hand, whose claims an unmerge moves
    back): otherwise a phone's claim leaves an active lead only when that lead closes (its status),
    so the lead's own condition holds for both (two write units less)."""
    model, actions = status_update(lead_id, "duplicate", at, {**fields, "duplicate_of": active_id,
                                                                "duplicate_at": at})
    fills: list[Action] = [getattr(LeadModel, k).set(getattr(LeadModel, k) | v) for k, v in fill.items()]
    fills += [LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    try:
        with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
            if check_phone:
                tx.condition_check(PhoneKeyModel, phone, condition=PhoneKeyModel.active_lead == active_id)
            tx.update(model, actions=actions, condition=LeadModel.status == "new")
            tx.update(LeadModel(active_id), actions=fills, condition=LeadModel.status.is_in(*ACTIVE))
            tx.save(LeadEventModel(active_id, f"{at}#activity#{lead_id}", kind="activity", at=at, actor="system",
                                   activity_type="re_inquiry", related_lead=lead_id, **activity),
                    condition=LeadEventModel.sk.does_not_exist())
            if notice is not None:
                tx.save(_notice_item(notice, at, lead_id, active_id), condition=NotificationModel.sk.does_not_exist())
            if import_id:
                tx.update(ImportJobModel(import_id), actions=[ImportJobModel.existing_duplicate.add(1)])
        return Outcome.DONE
    except ConditionFailed as failed:
        return _outcome(failed, lead_id)
