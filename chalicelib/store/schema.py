"""The one declaration of every table: pynamodb models, their keys, indexes, streams and TTLs.

`table_definitions()` turns them into CreateTable requests; the local stack and the tests create
tables from it, and `infra/tables.yaml` is generated from it (`make infra`) and checked against it
by a test, so the three cannot drift.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.settings import get_settings

PREFIX = get_settings().table_prefix
_SHARING = threading.Lock()  # threads of one container (local stack, imports) make connections at once


class _Meta:
    billing_mode = "PAY_PER_REQUEST"


class _Table(Model):
    """A model whose requests go through the container's one pynamodb connection (one botocore
    session and client), not one per model: pynamodb makes a session per model, and each session
    parses botocore's endpoint and service data again, ~0.15 s per table on a cold container's
    first request (pynamodb/PynamoDB#1245)."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        if cls._connection is not None and cls._connection.table_name == cls.Meta.table_name:
            return cls._connection
        with _SHARING:
            made = cls._connection is None or cls._connection.table_name != cls.Meta.table_name
            table = super()._get_connection()
            if made:
                from chalicelib.store.connection import transaction_connection

                shared = transaction_connection()
                # already there when this model's connection was reset and the shared one was not
                with contextlib.suppress(ValueError):
                    shared.add_meta_table(table.get_meta_table())
                table.connection = shared
            return table


class LeadsByDay(GlobalSecondaryIndex["LeadModel"]):
    """Admin lists and exports by date: one partition per Asia/Shanghai day. Keys only (the leads are
    read by BatchGetItem), so no update of a lead rewrites it: written once per lead."""

    class Meta:
        index_name = "by_day_keys"  # was `by_day` with every attribute: a projection change is a new index
        projection = KeysOnlyProjection()

    day = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class LeadsByOwner(GlobalSecondaryIndex["LeadModel"]):
    """A rep's leads, newest first."""

    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class LeadsByTeam(GlobalSecondaryIndex["LeadModel"]):
    """A supervisor's team, newest first."""

    class Meta:
        index_name = "by_team"
        projection = AllProjection()

    team = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class LeadsInPool(GlobalSecondaryIndex["LeadModel"]):
    """The pool, newest first, one partition per region (sparse: only pooled leads carry pool_key)."""

    class Meta:
        index_name = "by_pool"
        projection = AllProjection()

    pool_key = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class LeadsBySla(GlobalSecondaryIndex["LeadModel"]):
    """Assigned leads not yet contacted, by their first-contact deadline (sparse, sharded). Keys
    only: the sweep reads the few due leads by BatchGetItem, and a write of a lead over 1 KB costs
    this index one unit, not two (was `by_sla` with every attribute)."""

    class Meta:
        index_name = "by_sla_keys"
        projection = KeysOnlyProjection()

    sla_shard = UnicodeAttribute(hash_key=True)
    sla_at = UnicodeAttribute(range_key=True)


class LeadsByIdle(GlobalSecondaryIndex["LeadModel"]):
    """Owned leads by the moment they count as untouched ("no activity for N days"); sparse. Keys
    only, read as `by_sla_keys` is (was `by_idle` with every attribute)."""

    class Meta:
        index_name = "by_idle_keys"
        projection = KeysOnlyProjection()

    idle_shard = UnicodeAttribute(hash_key=True)
    idle_at = UnicodeAttribute(range_key=True)


class LeadsByPhone(GlobalSecondaryIndex["LeadModel"]):
    """Every lead of one person (PIPL: find and erase all of a person's data). Keys only, so it is
    written once per lead, not on every update."""

    class Meta:
        index_name = "by_phone"
        projection = KeysOnlyProjection()

    phone = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


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
    custom = MapAttribute[str, Any](null=True)
    spam_flags = ListAttribute[str](null=True)
    invalid_reasons = ListAttribute[str](null=True)
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
    sla_shard = UnicodeAttribute(null=True)  # set only while the first-contact clock runs
    sla_at = UnicodeAttribute(null=True)
    idle_shard = UnicodeAttribute(null=True)  # set only while someone owns the lead
    idle_at = UnicodeAttribute(null=True)
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
    by_team = LeadsByTeam()
    by_pool = LeadsInPool()
    by_sla = LeadsBySla()
    by_idle = LeadsByIdle()
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


class TasksByOwner(GlobalSecondaryIndex["TaskModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


class TasksToAlert(GlobalSecondaryIndex["TaskModel"]):
    """Open tasks by the next moment the sweep must look at them (sparse, sharded): the sweep
    reads only what is due, whatever the number of open tasks."""

    class Meta:
        index_name = "by_alert"
        projection = AllProjection()

    alert_shard = UnicodeAttribute(hash_key=True)
    alert_at = UnicodeAttribute(range_key=True)


class TaskModel(_Table):
    class Meta(_Meta):
        table_name = f"{PREFIX}tasks"

    lead_id = UnicodeAttribute(hash_key=True)
    task_id = UnicodeAttribute(range_key=True)
    title = UnicodeAttribute()
    rule_id = UnicodeAttribute(null=True)
    owner = UnicodeAttribute()
    team = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute()
    status = UnicodeAttribute(default="open")  # open, done, cancelled
    stage = UnicodeAttribute(null=True)  # due (owner not yet told), overdue (supervisor not yet told)
    alert_shard = UnicodeAttribute(null=True)
    alert_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    done_at = UnicodeAttribute(null=True)

    by_owner = TasksByOwner()
    by_alert = TasksToAlert()


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


class NotificationModel(_Table):
    """A user's in-app inbox, newest first."""

    class Meta(_Meta):
        table_name = f"{PREFIX}notifications"

    user_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute(null=True)
    lead_id = UnicodeAttribute(null=True)
    lead_name = UnicodeAttribute(null=True)  # the customer, as the message was written (erased with the lead)
    created_at = UnicodeAttribute()
    read = BooleanAttribute(default=False)


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


class UsersByTeam(GlobalSecondaryIndex["UserModel"]):
    class Meta:
        index_name = "by_team"
        projection = AllProjection()

    team = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)


class UsersByRole(GlobalSecondaryIndex["UserModel"]):
    """The directory page: every user of a role (three partitions, read only by admins)."""

    class Meta:
        index_name = "by_role"
        projection = AllProjection()

    role = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)


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
    """A rep's load, per rep (no shared hot item): `open` leads held, and per Shanghai day the
    leads assigned (`assigned#2024-05-20`) and claimed (`claims#...`); `cooldown#<lead>` items
    keep a rep from re-claiming a lead they released or lost, until `until`."""

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


class ApiKeysByPartner(GlobalSecondaryIndex["ApiKeyModel"]):
    class Meta:
        index_name = "by_partner"
        projection = AllProjection()

    partner_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


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


class ConfigModel(_Table):
    """Versioned configuration documents (lead profile, rules, policies). Version 0 is the head:
    it names the current version."""

    class Meta(_Meta):
        table_name = f"{PREFIX}config"

    name = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    current = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    author = UnicodeAttribute(null=True)


class ImportsByUploader(GlobalSecondaryIndex["ImportJobModel"]):
    """A user's (or a partner's, `partner:<id>`) import jobs, newest first."""

    class Meta:
        index_name = "by_uploader"
        projection = AllProjection()

    uploaded_by = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ImportsByTeam(GlobalSecondaryIndex["ImportJobModel"]):
    class Meta:
        index_name = "by_team"
        projection = AllProjection()

    team = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ImportsByMonth(GlobalSecondaryIndex["ImportJobModel"]):
    """Every import job of a month (Asia/Shanghai), for admins."""

    class Meta:
        index_name = "by_month"
        projection = AllProjection()

    month = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ImportJobModel(_Table):
    """An import of one file: its state, counts and the checkpoint a resumed run continues from.

    `written` counts the file's new leads already written; `chunk` holds the lead numbers reserved
    for the chunk being written, so a run that dies mid-chunk is resumed with the same numbers
    (and no duplicates). `lease_until` keeps a second delivery of the same object from running
    beside the first."""

    class Meta(_Meta):
        table_name = f"{PREFIX}imports"

    import_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()  # queued | running | done | failed
    filename = UnicodeAttribute()
    object_key = UnicodeAttribute()
    object_etag = UnicodeAttribute(null=True)
    uploaded_by = UnicodeAttribute()
    team = UnicodeAttribute(null=True)
    partner_id = UnicodeAttribute(null=True)
    month = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    counts = MapAttribute[str, Any](null=True)  # rows, imported, duplicate, rejected
    progress = MapAttribute[str, Any](null=True)  # processed, total
    columns = MapAttribute[str, Any](null=True)  # mapped {header: field}, ignored [header]
    written = NumberAttribute(default=0)
    chunk = MapAttribute[str, Any](null=True)  # first, count, day, last_seq
    lease_until = NumberAttribute(null=True)
    runs = NumberAttribute(default=0)
    report_key = UnicodeAttribute(null=True)
    error = MapAttribute[str, Any](null=True)  # code, message
    # The job's leads the stream then merged into a lead that existed before the import (counted in
    # the transaction that merges each, so exactly once).
    existing_duplicate = NumberAttribute(null=True)

    by_uploader = ImportsByUploader()
    by_team = ImportsByTeam()
    by_month = ImportsByMonth()


class AggregateModel(_Table):
    """Dashboard counters maintained from the lead stream: one item per scope (`all` or
    `team:<id>`) × Shanghai day × shard (`pk`) × dimension (`sk`); the counters are attributes
    named `<value>|<metric>` (see domain/analytics.py), so pynamodb declares only the keys. Items
    `batch#<eventID>` mark how far a stream batch starting at that record was applied (`seq`,
    expiring after the stream's retention)."""

    class Meta(_Meta):
        table_name = f"{PREFIX}aggregates"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires_at = TTLAttribute(null=True)
class AuditModel(_Table):
    """Who changed or looked at what: one item per write or reveal, per entity (`lead#L...`,
    `partner#...`, `user#...`, `team#...`, `erasure#...`), oldest first by `sk` (time + id)."""

    class Meta(_Meta):
        table_name = f"{PREFIX}audit"

    entity = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    before = MapAttribute[str, Any](null=True)
    after = MapAttribute[str, Any](null=True)


MODELS: tuple[type[Model], ...] = (
    LeadModel,
    LeadEventModel,
    PhoneKeyModel,
    TaskModel,
    CounterModel,
    NotificationModel,
    IdempotencyModel,
    SequenceModel,
    UserModel,
    RepLoadModel,
    TeamModel,
    PartnerModel,
    ApiKeyModel,
    ConfigModel,
    ImportJobModel,
    AggregateModel,
    AuditModel,
)


def logical_name(model: type[Model]) -> str:
    """`loanleads-local-lead_events` → `lead_events` (the stage-independent name)."""
    return model.Meta.table_name[len(PREFIX):]


def _keys(key_schema: list[dict[str, str]]) -> list[dict[str, str]]:
    keys = [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema]
    return sorted(keys, key=lambda k: k["KeyType"])  # HASH before RANGE


def table_definition(model: type[Model]) -> dict[str, Any]:
    """CreateTable parameters (boto3 / CloudFormation property names) for one model."""
    schema: Any = model._get_schema()
    definition: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _keys(schema["key_schema"]),
    }
    attributes = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    indexes = []
    for index in schema["global_secondary_indexes"]:
        indexes.append({
            "IndexName": index["index_name"],
            "KeySchema": _keys(index["key_schema"]),
            "Projection": {"ProjectionType": index["projection"]["ProjectionType"]},
        })
    definition["AttributeDefinitions"] = [
        {"AttributeName": name, "AttributeType": kind} for name, kind in sorted(attributes.items())
    ]
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    ttl = [attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)]
    if ttl:
        definition["TimeToLiveAttribute"] = ttl[0]
    return definition


def table_definitions() -> list[dict[str, Any]]:
    return [table_definition(model) for model in MODELS]
