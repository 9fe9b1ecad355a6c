"""The phone uniqueness item and the transactions that make de-duplication race-free.

Each function is one conditional write or transaction; it reports what happened instead of raising
on a lost race, so the caller can read again and retry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pynamodb.exceptions import GetError, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.lifecycle import ACTIVE
from chalicelib.domain.ownership import Notice, OwnershipChange
from chalicelib.errors import StoreUnavailable
from chalicelib.store import ownership
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import ImportJobModel, LeadEventModel, LeadModel, NotificationModel, PhoneKeyModel


class Outcome(Enum):
    DONE = "done"
    ALREADY = "already"  # the lead had left `new`: a replay, nothing to do
    RACE = "race"  # the phone item or the active lead changed underneath: read again


@dataclass(frozen=True)
class PhoneKey:
    phone: str
    active_lead: str | None
    history: list[str]


def get_phone_key(phone: str) -> PhoneKey | None:
    try:
        row = PhoneKeyModel.get(phone, consistent_read=True)
    except PhoneKeyModel.DoesNotExist:
        return None
    except GetError as exc:
        raise StoreUnavailable() from exc
    return PhoneKey(row.phone, row.active_lead, list(row.history or []))


def _set_actions(fields: dict[str, Any]) -> list[Action]:
    actions: list[Action] = []
    for name, value in fields.items():
        attribute = getattr(LeadModel, name)
        actions.append(attribute.set(value) if value is not None else attribute.remove())
    return actions


def _status_update(lead_id: str, target: str, at: str, fields: dict[str, Any]) -> tuple[LeadModel, list[Action]]:
    actions = [LeadModel.status.set(target), LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    return LeadModel(lead_id), actions + _set_actions(fields)


def _history(lead_id: str, at: str, event_key: str, before: str, after: str, reason: str,
             related: str | None = None, detail: dict[str, Any] | None = None) -> LeadEventModel:
    return LeadEventModel(lead_id, f"{at}#status#{event_key}", kind="status", at=at, actor="system",
                          from_status=before, to_status=after, reason=reason, related_lead=related, detail=detail)


def _outcome(exc: TransactWriteError, lead_id: str) -> Outcome:
    """Why a transaction was cancelled. pynamodb groups items by kind, so reasons are not in call
    order: read the lead instead (one read, only on the unhappy path)."""
    codes = {r.code for r in exc.cancellation_reasons or [] if r is not None}
    if not codes & {"ConditionalCheckFailed", "TransactionConflict"}:
        raise StoreUnavailable() from exc
    return _status_outcome(lead_id)


def _status_outcome(lead_id: str) -> Outcome:
    try:
        status = LeadModel.get(lead_id, consistent_read=True, attributes_to_get=["status"]).status
    except (LeadModel.DoesNotExist, GetError) as error:
        raise StoreUnavailable() from error
    return Outcome.ALREADY if status != "new" else Outcome.RACE


def _notice_item(notice: Notice, at: str, key: str, lead_id: str) -> NotificationModel:
    item = ownership.notice_item(notice, at, lead_id)
    item.sk = f"{at}#{notice.kind}#{key}"
    return item


def claim_phone(phone: str, lead_id: str, at: str) -> bool:
    """Make the lead the phone's active lead, unless another lead is (False). Claiming again is a no-op.
    One conditional write, not a transaction with the lead's placement: a duplicate that finds the
    claimed lead still `new` merges into it all the same (`new` is an active status)."""
    return _update_phone_key(phone, [PhoneKeyModel.active_lead.set(lead_id), PhoneKeyModel.updated_at.set(at)],
                             PhoneKeyModel.active_lead.does_not_exist() | (PhoneKeyModel.active_lead == lead_id))


def drop_claim(phone: str, lead_id: str) -> None:
    """Undo a claim of a lead that turned out not to be active (moved by hand before the stream came)."""
    _update_phone_key(phone, [PhoneKeyModel.active_lead.remove()], PhoneKeyModel.active_lead == lead_id)


def _update_phone_key(phone: str, actions: list[Action], condition: Condition) -> bool:
    """One conditional update of the phone item: False when its condition does not hold."""
    try:
        PhoneKeyModel(phone).update(actions=actions, condition=condition)
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StoreUnavailable() from exc


def take_over_phone(phone: str, stale_id: str, lead_id: str, at: str) -> bool:
    """Move the phone's claim from a lead that never left `new` (its record given up by the stream)
    to `lead_id`. One transaction: only while the stale lead is still `new` and still holds it."""
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.condition_check(LeadModel, stale_id, condition=LeadModel.status == "new")
            tx.update(PhoneKeyModel(phone), actions=[PhoneKeyModel.active_lead.set(lead_id),
                                                      PhoneKeyModel.updated_at.set(at)],
                      condition=PhoneKeyModel.active_lead == stale_id)
        return True
    except TransactWriteError as exc:
        if exc.cause_response_code == "TransactionCanceledException":
            return False
        raise StoreUnavailable() from exc


def place(change: OwnershipChange, fields: dict[str, Any], notices: list[Notice]) -> Outcome:
    """Place a `new` lead (pool or an owner): the lead, and in one transaction with it only what must
    not happen without it (the owner's load counters, bounded by the caps; a supervisor's notice).
    A pooled lead is one conditional update. RACE: still `new` but a cap was hit meanwhile."""
    lead_id, at = change.lead_id, change.at
    actions = ownership.lead_actions(change) + _set_actions(fields)
    condition = ownership.lead_condition(change)
    try:
        if change.new_owner or change.expected_owner or notices:
            with TransactWrite(connection=transaction_connection()) as tx:
                tx.update(LeadModel(lead_id), actions=actions, condition=condition)
                ownership.add_load_ops(tx, change)
                for notice in notices:
                    tx.save(_notice_item(notice, at, lead_id, lead_id), condition=NotificationModel.sk.does_not_exist())
        else:
            LeadModel(lead_id).update(actions=actions, condition=condition)
        return Outcome.DONE
    except TransactWriteError as exc:
        return _outcome(exc, lead_id)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise StoreUnavailable() from exc
        return _status_outcome(lead_id)


def record_status(lead_id: str, at: str, event_key: str, before: str, after: str, reason: str,
                  detail: dict[str, Any] | None = None) -> None:
    """The history entry of a status change already made, keyed on the event: written once however
    often the event is handled (a replay writes it if a crash came between the change and this)."""
    try:
        _history(lead_id, at, event_key, before, after, reason, detail=detail).save(
            condition=LeadEventModel.sk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise StoreUnavailable() from exc


def mark_duplicate(lead_id: str, active_id: str, phone: str, at: str, event_key: str,
                   fields: dict[str, Any], fill: dict[str, Any], activity: dict[str, Any],
                   notice: Notice | None, import_id: str | None = None) -> Outcome:
    """Merge a new submission into the phone's active lead: the submission becomes `duplicate`,
    the active lead gets a 再次咨询 activity, its empty fields filled (never overwritten), and its
    owner a notification; an imported submission counts on its import job as a repeat of an existing
    lead. All or nothing, keyed on the submission, so a replay adds nothing."""
    model, actions = _status_update(lead_id, "duplicate", at, {**fields, "duplicate_of": active_id})
    fills: list[Action] = [getattr(LeadModel, k).set(getattr(LeadModel, k) | v) for k, v in fill.items()]
    fills += [LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.condition_check(PhoneKeyModel, phone, condition=PhoneKeyModel.active_lead == active_id)
            tx.update(model, actions=actions, condition=LeadModel.status == "new")
            tx.save(_history(lead_id, at, event_key, "new", "duplicate", f"与 {active_id} 为同一客户，已合并",
                             related=active_id), condition=LeadEventModel.sk.does_not_exist())
            tx.update(LeadModel(active_id), actions=fills, condition=LeadModel.status.is_in(*ACTIVE))
            tx.save(LeadEventModel(active_id, f"{at}#activity#{lead_id}", kind="activity", at=at, actor="system",
                                   activity_type="re_inquiry", related_lead=lead_id, **activity),
                    condition=LeadEventModel.sk.does_not_exist())
            if notice is not None:
                tx.save(_notice_item(notice, at, lead_id, active_id), condition=NotificationModel.sk.does_not_exist())
            if import_id:
                tx.update(ImportJobModel(import_id), actions=[ImportJobModel.existing_duplicate.add(1)])
        return Outcome.DONE
    except TransactWriteError as exc:
        return _outcome(exc, lead_id)


def release_phone(phone: str, lead_id: str, at: str) -> bool:
    """A closed lead gives up its phone: the next inquiry starts a new lead linked to it."""
    key = get_phone_key(phone)
    if key is None or key.active_lead != lead_id:
        return False
    # Only the active lead can release, so the history read above cannot change before this write.
    return _update_phone_key(phone, [PhoneKeyModel.active_lead.remove(),
                                     PhoneKeyModel.history.set([*(i for i in key.history if i != lead_id), lead_id]),
                                     PhoneKeyModel.updated_at.set(at)],
                             PhoneKeyModel.active_lead == lead_id)


def merge(source: dict[str, Any], target: dict[str, Any], at: str, actor: str, reason: str,
          phone_was_active: bool) -> bool:
    """Fold `source` into `target` by hand. False when either changed since they were read."""
    snapshot = {"status": source["status"], "phone_was_active": phone_was_active, "merged_at": at,
                "merged_by": actor}
    source_model, source_actions = _status_update(source["lead_id"], "duplicate", at,
                                                  {"duplicate_of": target["lead_id"], "merge_snapshot": snapshot})
    merged = [*(target.get("merged_leads") or []), source["lead_id"]]
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(source_model, actions=source_actions,
                      condition=(LeadModel.version == source["version"]) & (LeadModel.status == source["status"]))
            tx.update(LeadModel(target["lead_id"]), condition=LeadModel.version == target["version"],
                      actions=[LeadModel.merged_leads.set(merged), LeadModel.updated_at.set(at),
                               LeadModel.version.add(1)])
            for lead_id, text in ((source["lead_id"], f"手工合并到 {target['lead_id']}：{reason}"),
                                  (target["lead_id"], f"合并了线索 {source['lead_id']}：{reason}")):
                tx.save(LeadEventModel(lead_id, f"{at}#merge#{source['lead_id']}", kind="merge", at=at, actor=actor,
                                       reason=text, related_lead=target["lead_id"] if lead_id == source["lead_id"]
                                       else source["lead_id"]), condition=LeadEventModel.sk.does_not_exist())
            if phone_was_active:  # the second number now leads to the kept lead too
                tx.update(PhoneKeyModel(source["phone"]), actions=[PhoneKeyModel.active_lead.set(target["lead_id"])],
                          condition=PhoneKeyModel.active_lead == source["lead_id"])
        return True
    except TransactWriteError as exc:
        if exc.cause_response_code == "TransactionCanceledException":
            return False
        raise StoreUnavailable() from exc


def unmerge(source: dict[str, Any], target: dict[str, Any], at: str, actor: str, reason: str) -> bool:
    """Undo a manual merge: both leads as they were (plus the two history entries)."""
    snapshot = source["merge_snapshot"]
    remaining = [i for i in target.get("merged_leads") or [] if i != source["lead_id"]]
    source_model, source_actions = _status_update(source["lead_id"], snapshot["status"], at,
                                                  {"duplicate_of": None, "merge_snapshot": None})
    target_actions: list[Action] = [LeadModel.merged_leads.set(remaining) if remaining
                                    else LeadModel.merged_leads.remove(),
                                    LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(source_model, actions=source_actions,
                      condition=(LeadModel.version == source["version"]) & LeadModel.merge_snapshot.exists())
            tx.update(LeadModel(target["lead_id"]), actions=target_actions,
                      condition=LeadModel.version == target["version"])
            for lead_id in (source["lead_id"], target["lead_id"]):
                tx.save(LeadEventModel(lead_id, f"{at}#unmerge#{source['lead_id']}", kind="unmerge", at=at,
                                       actor=actor, reason=f"撤销合并：{reason}",
                                       related_lead=target["lead_id"] if lead_id == source["lead_id"]
                                       else source["lead_id"]), condition=LeadEventModel.sk.does_not_exist())
            if snapshot.get("phone_was_active"):
                tx.update(PhoneKeyModel(source["phone"]), actions=[PhoneKeyModel.active_lead.set(source["lead_id"])],
                          condition=PhoneKeyModel.active_lead == target["lead_id"])
        return True
    except TransactWriteError as exc:
        if exc.cause_response_code == "TransactionCanceledException":
            return False
        raise StoreUnavailable() from exc
