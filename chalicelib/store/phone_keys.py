"""The phone uniqueness item: which lead is the phone's active lead, and its closed leads.

Each function is one conditional write (or transaction); it reports what happened instead of
raising on a lost race, so the caller can read again and retry."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.store.aws_errors import aws_errors, conditional
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import LeadModel, PhoneKeyModel


@dataclass(frozen=True)
class PhoneKey:
    phone: str
    active_lead: str | None
    history: list[str]


def get_phone_key(phone: str) -> PhoneKey | None:
    try:
        with aws_errors():
            row = PhoneKeyModel.get(phone, consistent_read=True)
    except PhoneKeyModel.DoesNotExist:
        return None
    return PhoneKey(row.phone, row.active_lead, list(row.history or []))


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
    return conditional(lambda: PhoneKeyModel(phone).update(actions=actions, condition=condition))


def take_over_phone(phone: str, stale_id: str, lead_id: str, at: str) -> bool:
    """Move the phone's claim from a lead that never left `new` (its record given up by the stream)
    to `lead_id`. One transaction: only while the stale lead is still `new` and still holds it."""
    def write() -> None:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.condition_check(LeadModel, stale_id, condition=LeadModel.status == "new")
            tx.update(PhoneKeyModel(phone), actions=[PhoneKeyModel.active_lead.set(lead_id),
                                                      PhoneKeyModel.updated_at.set(at)],
                      condition=PhoneKeyModel.active_lead == stale_id)

    return conditional(write)


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
