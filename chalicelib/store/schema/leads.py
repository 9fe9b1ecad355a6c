"""Leads and their history: the lead item, its indexes (lists, sweeps, pool, erasure) and its events."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.schema.base import ALL, KEYS, PREFIX, _Meta, _Table, index

LeadsByDay = index(
    "by_day_keys", "day", "created_at", KEYS,
    doc="""Admin lists and exports by date: one partition per Asia/Shanghai day. Keys only (the leads are
    read by BatchGetItem), so no update of a lead rewrites it: written once per lead.""")


LeadsByOwner = index(
    "by_owner_keys", "owner", "created_at", KEYS,
    doc="""A rep's leads, newest first. Keys only (a page is one query, then one BatchGetItem): no
    update of a lead rewrites it unless the owner changes (was `by_owner` with every attribute,
    rewritten on every update, two units for a lead over 1 KB).""")


LeadsInPool = index(
    "by_pool", "pool_key", "created_at", ALL,
    doc="""The pool, newest first, one partition per region (sparse: only pooled leads carry pool_key).""")


LeadsByClock = index(
    "by_clock_keys", "clock_shard", "clock_at", KEYS,
    doc="""Owned leads by the next moment the sweep must look at them (sparse, sharded): the earlier
    of the first-contact deadline (`sla_at`, reclaim) and the no-activity deadline (`idle_at`), so one
    index entry per owned lead where there were two (`by_sla_keys`, `by_idle_keys`): one write unit
    less per assignment. Keys only: the sweep reads the few due leads by BatchGetItem.""")


# The two sweep indexes `by_clock_keys` replaced (2026-12-04): a store that still has them holds
# leads keyed under them only, which `store/leads.migrate_clocks` keys again (local start, deploy).
RETIRED_SWEEP_INDEXES = frozenset({"by_sla_keys", "by_idle_keys"})

# Indexes dropped with nothing to move (local start, deploy): `by_team_keys` (2026-12-04), a team's
# list now merged from its members' `by_owner_keys` (`store/leads.query_owners`).
RETIRED_INDEXES = frozenset({"by_team_keys"})


LeadsByPhone = index(
    "by_phone", "phone", "created_at", KEYS,
    doc="""Every lead of one person (PIPL: find and erase all of a person's data). Keys only, so it is
    written once per lead, not on every update.""")


class LeadModel(_Table):
    class Meta(_Meta):
        table_name = f"{PREFIX}leads"
        stream_view_type = "NEW_AND_OLD_IMAGES"

    lead_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=1)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    day = UnicodeAttribute()
    phone = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    loan_type = UnicodeAttribute(null=True)
    amount = NumberAttribute(null=True)
    purpose = UnicodeAttribute(null=True)
    credit_status = UnicodeAttribute(null=True)
    source = UnicodeAttribute()
    channel = UnicodeAttribute()
    owner = UnicodeAttribute(null=True)
    team = UnicodeAttribute(null=True)
    next_follow_up = UnicodeAttribute(null=True)
    city = UnicodeAttribute(null=True)
    province = UnicodeAttribute(null=True)
    region = UnicodeAttribute(null=True)
    customer_type = UnicodeAttribute(null=True)
    consent = MapAttribute[str, Any](null=True)
    partner_id = UnicodeAttribute(null=True)
    campaign = UnicodeAttribute(null=True)
    utm = MapAttribute[str, Any](null=True)
    page_url = UnicodeAttribute(null=True)
    referrer = UnicodeAttribute(null=True)  # the page that linked to a hosted form
    form_id = UnicodeAttribute(null=True)  # the hosted form it was submitted on (/f/<form_id>)
    remark = UnicodeAttribute(null=True)
    duplicate_of = UnicodeAttribute(null=True)
    duplicate_at = UnicodeAttribute(null=True)  # when the stream merged it into duplicate_of (its history entry)
    custom = MapAttribute[str, Any](null=True)
    spam_flags = ListAttribute[str](null=True)
    invalid_reasons = ListAttribute[str](null=True)
    invalid_at = UnicodeAttribute(null=True)  # when cleaning made it invalid (its history entry, with the reasons)
    created_by = UnicodeAttribute(null=True)
    client_ip = UnicodeAttribute(null=True)
    route = MapAttribute[str, Any](null=True)
    previous_leads = ListAttribute[str](null=True)  # closed leads of the same phone, oldest first
    merged_leads = ListAttribute[str](null=True)  # leads merged into this one by hand
    merge_snapshot = MapAttribute[str, Any](null=True)  # what unmerge restores on a merged lead
    pool_key = UnicodeAttribute(null=True)  # set only while in the pool: the by_pool partition
    assigned_at = UnicodeAttribute(null=True)
    priority = UnicodeAttribute(null=True)
    tags = ListAttribute[str](null=True)
    first_contact_at = UnicodeAttribute(null=True)  # stops the first-contact SLA clock
    last_activity_at = UnicodeAttribute(null=True)
    last_activity_type = UnicodeAttribute(null=True)
    sla_at = UnicodeAttribute(null=True)  # first-contact deadline: set only while that clock runs
    idle_at = UnicodeAttribute(null=True)  # no-activity deadline, while someone owns the lead (moved lazily)
    clock_shard = UnicodeAttribute(null=True)  # by_clock_keys: set only while a clock runs
    clock_at = UnicodeAttribute(null=True)  # the earlier of sla_at and idle_at
    won_amount = NumberAttribute(null=True)
    score = NumberAttribute(null=True)  # 0–100 (domain/scoring.py), written when the stream places the lead
    score_band = UnicodeAttribute(null=True)  # high / medium / low
    score_reasons = ListAttribute[str](null=True)  # Chinese, per factor: 房产抵押贷 +12
    score_basis = UnicodeAttribute(null=True)  # model / prior
    score_version = NumberAttribute(null=True)  # the model's (or the prior's) document version
    score_probability = NumberAttribute(null=True)  # calibrated win probability (model only)
    won_date = UnicodeAttribute(null=True)
    close_reason = UnicodeAttribute(null=True)
    import_id = UnicodeAttribute(null=True)  # the import job a lead came from, with its row number
    import_row = NumberAttribute(null=True)
    intent_at = UnicodeAttribute(null=True)  # first time it reached intent/qualifying/won (the funnel's 意向)
    activity_count = NumberAttribute(null=True)  # activities logged on it (the leaderboard's 跟进次数)
    answered_calls = NumberAttribute(null=True)  # calls the customer picked up (the engagement score)
    materials_sent = NumberAttribute(null=True)  # 资料已发送 activities (the engagement score)
    # Attribution that survives changes of hands (domain/analytics.py): who first received the lead,
    # who made the first contact, who logged how many activities, whom it was reclaimed from.
    first_owner = UnicodeAttribute(null=True)
    first_team = UnicodeAttribute(null=True)
    first_contact_by = UnicodeAttribute(null=True)
    first_contact_team = UnicodeAttribute(null=True)
    activity_by = MapAttribute[str, Any](null=True)  # "<team>/<user>" → activities logged
    reclaimed_from = ListAttribute[str](null=True)  # "<team>/<user>", one entry per SLA reclaim
    idempotency_key = UnicodeAttribute(null=True)  # the client key it was captured under (erase finds it)
    expires_at = TTLAttribute(null=True)  # retention: set when the lead becomes invalid or lost

    by_day = LeadsByDay()
    by_owner = LeadsByOwner()
    by_pool = LeadsInPool()
    by_clock = LeadsByClock()
    by_phone = LeadsByPhone()

class LeadEventModel(_Table):
    """A lead's history, activities and tasks, newest first (sort key starts with the time)."""

    class Meta(_Meta):
        table_name = f"{PREFIX}lead_events"

    lead_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    from_status = UnicodeAttribute(null=True)
    to_status = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    activity_type = UnicodeAttribute(null=True)
    channel = UnicodeAttribute(null=True)
    related_lead = UnicodeAttribute(null=True)
    detail = MapAttribute[str, Any](null=True)
    outcome = UnicodeAttribute(null=True)
    content = UnicodeAttribute(null=True)
    duration_s = NumberAttribute(null=True)
    next_step = UnicodeAttribute(null=True)
