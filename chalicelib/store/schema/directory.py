"""People and partners: users, their load counters, teams, partners and their API keys."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.schema.base import ALL, PREFIX, _Meta, _Table, index

UsersByTeam = index("by_team", "team", "user_id", ALL)


UsersByRole = index(
    "by_role", "role", "user_id", ALL,
    doc="""The directory page: every user of a role (three partitions, read only by admins).""")


class UserModel(_Table):
    class Meta(_Meta):
        table_name = f"{PREFIX}users"

    user_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    team = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    on_duty = BooleanAttribute(default=True)
    daily_cap = NumberAttribute(default=50)
    max_open = NumberAttribute(default=200)
    by_team = UsersByTeam()
    by_role = UsersByRole()


class RepLoadModel(_Table):
    """A rep's load, per rep (no shared hot item). The item `open`: `n` leads held, and an attribute
    per Shanghai day, `assigned#2024-05-20`, the leads received that day (store/ownership.py: one
    write bounded by both caps; items `assigned#<day>` of their own until 2026-12, expiring in 3
    days). Items `claims#<day>`: leads claimed that day; `cooldown#<lead>`: keep a rep from
    re-claiming a lead they released or lost, until `until`."""

    class Meta(_Meta):
        table_name = f"{PREFIX}rep_load"

    user_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    n = NumberAttribute(default=0)
    until = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class TeamModel(_Table):
    class Meta(_Meta):
        table_name = f"{PREFIX}teams"

    team_id = UnicodeAttribute(hash_key=True)
    label = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    supervisor = UnicodeAttribute(null=True)
    webhook_url = UnicodeAttribute(null=True)  # optional team robot (企业微信 / 钉钉)
    webhook_kind = UnicodeAttribute(null=True)


class PartnerModel(_Table):
    class Meta(_Meta):
        table_name = f"{PREFIX}partners"

    partner_id = UnicodeAttribute(hash_key=True)
    label = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    rate_per_minute = NumberAttribute(null=True)  # app-level limit per key; the stage default when unset


ApiKeysByPartner = index("by_partner", "partner_id", "created_at", ALL)


class ApiKeyModel(_Table):
    """Partner API keys, stored only as SHA-256 hashes; the key decides `partner_id`."""

    class Meta(_Meta):
        table_name = f"{PREFIX}api_keys"

    key_hash = UnicodeAttribute(hash_key=True)
    partner_id = UnicodeAttribute()
    key_prefix = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    created_at = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)
    by_partner = ApiKeysByPartner()
