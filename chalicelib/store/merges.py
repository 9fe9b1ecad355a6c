"""Merging two leads by hand, and undoing it: each one transaction, conditional on both leads'
versions, so a lead changed since it was read is never merged on stale data."""

from __future__ import annotations

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.records import Lead
from chalicelib.store.aws_errors import conditional
from chalicelib.store.connection import transaction_connection
from chalicelib.store.ownership import held_moves
from chalicelib.store.placement import status_update
from chalicelib.store.schema import LeadEventModel, LeadModel, PhoneKeyModel


def merge(source: Lead, target: Lead, at: str, actor: str, reason: str, phone_was_active: bool) -> bool:
    """Fold `source` into `target` by hand. False when either changed since they were read."""
    snapshot = {"status": source["status"], "phone_was_active": phone_was_active, "merged_at": at,
                "merged_by": actor}
    source_model, source_actions = status_update(source["lead_id"], "duplicate", at,
                                                 {"duplicate_of": target["lead_id"], "merge_snapshot": snapshot})
    merged = [*(target.get("merged_leads") or []), source["lead_id"]]

    def write() -> None:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(source_model, actions=source_actions,
                      condition=(LeadModel.version == source["version"]) & (LeadModel.status == source["status"]))
            held_moves(tx, source.get("owner"), source["status"], "duplicate")
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

    return conditional(write)


def unmerge(source: Lead, target: Lead, at: str, actor: str, reason: str) -> bool:
    """Undo a manual merge: both leads as they were (plus the two history entries)."""
    snapshot = source.get("merge_snapshot") or {}
    remaining = [i for i in target.get("merged_leads") or [] if i != source["lead_id"]]
    source_model, source_actions = status_update(source["lead_id"], snapshot["status"], at,
                                                 {"duplicate_of": None, "merge_snapshot": None})
    target_actions: list[Action] = [LeadModel.merged_leads.set(remaining) if remaining
                                    else LeadModel.merged_leads.remove(),
                                    LeadModel.updated_at.set(at), LeadModel.version.add(1)]

    def write() -> None:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(source_model, actions=source_actions,
                      condition=(LeadModel.version == source["version"]) & LeadModel.merge_snapshot.exists())
            held_moves(tx, source.get("owner"), "duplicate", snapshot["status"])
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

    return conditional(write)
