"""Erasing a person (PIPL) and purging what a deleted lead leaves behind. Every read is a key
read or a Query on a key the lead names (no Scan); every delete is idempotent."""

from __future__ import annotations

from collections import Counter

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.records import Lead
from chalicelib.errors import Conflict
from chalicelib.store import counters
from chalicelib.store.aws_errors import ConditionFailed, aws_errors
from chalicelib.store.connection import transaction_connection
from chalicelib.store.inbox import assigned_of
from chalicelib.store.leads import get, set_actions
from chalicelib.store.ownership import held_moves
from chalicelib.store.schema import (
    AuditModel,
    CounterModel,
    IdempotencyModel,
    LeadEventModel,
    LeadModel,
    NotificationModel,
    PhoneKeyModel,
    RepLoadModel,
    TaskModel,
)


def lead_ids_of_phone(phone: str) -> list[str]:
    """Every lead ever captured with this normalised phone (the keys-only `by_phone` index)."""
    with aws_errors():
        return [row.lead_id for row in LeadModel.by_phone.query(phone)]


def people_involved(lead_id: str) -> tuple[set[str], set[str]]:
    """(users, teams) a lead's history names: whose inboxes and load items may mention it."""
    users: set[str] = set()
    teams: set[str] = set()
    for row in LeadEventModel.query(lead_id):
        users.add(row.actor)
        detail = row.detail.as_dict() if row.detail is not None else {}
        users.update(str(v) for k, v in detail.items() if k in ("from_owner", "to_owner") and v)
        if detail.get("to_team"):
            teams.add(str(detail["to_team"]))
    users.discard("system")
    return users, teams


def update_lead(lead_id: str, version: int, changes: Lead, at: str, actor: str,
                before: Lead, after: Lead, fields: list[str] | None = None) -> None:
    """Edit a lead's fields and record the audit item (before/after) and the history entry (which
    fields, no values: the values stay in the audit) in one transaction."""
    actions: list[Action] = [LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    actions += set_actions(changes)
    try:
        with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
            tx.update(LeadModel(lead_id), actions=actions, condition=LeadModel.version == version)
            tx.save(AuditModel(f"lead#{lead_id}", f"{at}#edit#{version}", at=at, actor=actor, action="lead.edit",
                               before=before or None, after=after or None),
                    condition=AuditModel.sk.does_not_exist())
            tx.save(LeadEventModel(lead_id, f"{at}#edit#{version}", kind="edit", at=at, actor=actor,
                                   detail={"fields": fields or sorted(changes)}),
                    condition=LeadEventModel.sk.does_not_exist())
    except ConditionFailed as exc:
        raise Conflict("线索已被他人修改，请刷新后重试", code="STALE_VERSION") from exc


def purge_lead(lead: Lead, users: set[str], window_keys: list[tuple[str, bool]]) -> Counter[str]:
    """Delete a lead and everything that names it: history, tasks, audit items, its idempotency
    record, notifications and cooldowns of the users involved, burst-window entries. Returns the
    number of items removed (or edited) per table."""
    lead_id = lead["lead_id"]
    removed: Counter[str] = Counter()
    with aws_errors():
        for model, rows in ((LeadEventModel, LeadEventModel.query(lead_id)),
                            (TaskModel, TaskModel.query(lead_id)),
                            (AuditModel, AuditModel.query(f"lead#{lead_id}"))):
            for row in rows:
                row.delete()
                removed[model.Meta.table_name] += 1
        if lead.get("idempotency_key"):
            IdempotencyModel(lead["idempotency_key"]).delete()
            removed[IdempotencyModel.Meta.table_name] += 1
        for user in users:
            mentions = (NotificationModel.lead_id == lead_id) | NotificationModel.sk.contains(lead_id) \
                | NotificationModel.lead_ids.contains(lead_id)
            for note in NotificationModel.query(user, filter_condition=mentions):
                _forget(note, lead_id)
                removed[NotificationModel.Meta.table_name] += 1
            RepLoadModel(user, f"cooldown#{lead_id}").delete()
        for key, whole in window_keys:  # a phone's window holds only this person's leads: whole
            if counters.drop(key) if whole else counters.forget(key, lead_id):
                removed[CounterModel.Meta.table_name] += 1
        _delete_lead(lead)
        removed[LeadModel.Meta.table_name] += 1
    return removed


def _forget(note: NotificationModel, lead_id: str) -> None:
    """A message without the lead: a 新分配 of several leads (`placement.notify_together`) loses its
    entry and keeps the others; any other message naming it is deleted."""
    others = (note.lead_ids or set()) - {lead_id}
    if not others:
        note.delete()
        return
    entries = {entry for entry in note.leads or () if assigned_of(entry).lead_id == lead_id}
    actions: list[Action] = [NotificationModel.lead_ids.delete({lead_id})]
    if entries:
        actions.append(NotificationModel.leads.delete(entries))
    note.update(actions=actions)


def _delete_lead(lead: Lead) -> None:
    """The lead, gone; one a rep held in a working status leaves their held count with it (once:
    the delete is conditional on the lead as read, which a lead changed meanwhile is read again for)."""
    current: Lead | None = lead
    for _ in range(5):
        if current is None:
            return  # deleted meanwhile (the REMOVE record's purge, or a second erasure)
        owner, status = current.get("owner"), str(current.get("status"))

        def write(owner: str | None = owner, status: str = status) -> None:
            with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
                tx.delete(LeadModel(lead["lead_id"]), condition=LeadModel.status == status)
                held_moves(tx, owner, status, "erased")

        try:
            write()
            return
        except ConditionFailed:
            current = get(lead["lead_id"], consistent=True)
    raise Conflict("线索正在被修改，请稍后重试")


def delete_phone_key(phone: str) -> int:
    with aws_errors():
        PhoneKeyModel(phone).delete()
    return 1


def forget_in_phone_key(phone: str, lead_id: str) -> None:
    """A lead that expired (retention TTL) leaves its phone's list of closed leads."""
    try:
        row = PhoneKeyModel.get(phone, consistent_read=True)
    except PhoneKeyModel.DoesNotExist:
        return
    history = [x for x in (row.history or []) if x != lead_id]
    if history == list(row.history or []) and row.active_lead != lead_id:
        return
    if not history and row.active_lead in (None, lead_id):
        row.delete()
        return
    row.history = history
    if row.active_lead == lead_id:
        row.active_lead = None
    row.save()

