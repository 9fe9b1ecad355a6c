"""What capture and the lead stream write beside the lead: the phone's active lead, burst and rate
windows, client Idempotency-Keys, lead-number blocks."""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute

from chalicelib.store.schema.base import PREFIX, _Meta, _Table


class PhoneKeyModel(_Table):
    """One item per normalised phone: the person's active lead, if any, and their closed leads.
    Written only under conditions, so two channels racing on one phone have one winner."""

    class Meta(_Meta):
        table_name = f"{PREFIX}phone_keys"

    phone = UnicodeAttribute(hash_key=True)
    active_lead = UnicodeAttribute(null=True)
    history = ListAttribute[str](null=True)
    updated_at = UnicodeAttribute(null=True)


class CounterModel(_Table):
    """Burst windows: the set of leads seen per phone or IP in one window. A set, so a replayed
    stream record is counted once; expires by TTL."""

    class Meta(_Meta):
        table_name = f"{PREFIX}counters"

    key = UnicodeAttribute(hash_key=True)
    members = UnicodeSetAttribute(null=True)
    n = NumberAttribute(null=True)  # rate windows (requests per key, IP or hashed phone)
    expires_at = TTLAttribute(null=True)


class IdempotencyModel(_Table):
    """One item per client Idempotency-Key (scoped by channel/partner); expires by TTL."""

    class Meta(_Meta):
        table_name = f"{PREFIX}idempotency"

    key = UnicodeAttribute(hash_key=True)
    lead_id = UnicodeAttribute()
    request_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute()


class SequenceModel(_Table):
    """Per-day lead-number counters, advanced a block at a time."""

    class Meta(_Meta):
        table_name = f"{PREFIX}sequences"

    name = UnicodeAttribute(hash_key=True)
    last = NumberAttribute(default=0)
