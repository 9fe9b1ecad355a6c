"""The records that cross the layers: what the store reads and writes, what services work on.

Leads, tasks, history entries, import jobs, inbox messages and audit entries are `TypedDict`s:
at run time they stay plain dicts (JSON views, stream images and older code keep working), while
mypy checks every key. `total=False` where the table's attributes are optional: a key that is
absent means "not set", as in DynamoDB. Small fixed-shape records are frozen dataclasses.
See docs/architecture.md, "Typed records".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

# A JSON object a service hands to a handler to serialise: its values are only narrowed, never
# assumed (`object`, not `Any`).
JsonView = dict[str, object]
# Arbitrary JSON as received, before it is validated into a record (a request body, a decoded
# pagination cursor, a configuration document).
JsonObject = dict[str, Any]


class RouteRecord(TypedDict, total=False):
    """Where routing sent a lead and why, stored on the lead as `route`."""

    decided_at: str
    rule_id: str | None
    version: int
    reason: str
    strategy: str | None
    priority: str
    tags: list[str]
    status: str
    group: str  # placed in one transaction with these others (`placement.together`): one 新分配 per rep


class Lead(TypedDict, total=False):
    """A lead as stored (the leads table), `utm` spread into its `utm_*` fields.

    Also the shape of a partial lead (changes to apply, a stream image): every key optional."""

    lead_id: str
    version: int
    status: str
    created_at: str
    updated_at: str
    day: str
    phone: str
    name: str
    loan_type: str
    amount: float
    purpose: str
    credit_status: str
    source: str
    channel: str
    owner: str | None
    team: str | None
    next_follow_up: str | None
    city: str
    province: str
    region: str
    customer_type: str
    consent: dict[str, Any]
    partner_id: str
    campaign: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    page_url: str
    referrer: str
    form_id: str
    remark: str
    duplicate_of: str | None
    duplicate_at: str | None
    custom: dict[str, Any]
    spam_flags: list[str]
    invalid_reasons: list[str]
    invalid_at: str | None
    created_by: str
    client_ip: str
    route: RouteRecord
    previous_leads: list[str] | None
    merged_leads: list[str]
    merge_snapshot: dict[str, Any] | None
    pool_key: str | None
    assigned_at: str | None
    priority: str
    tags: list[str]
    first_contact_at: str
    last_activity_at: str
    last_activity_type: str
    sla_at: str | None
    idle_at: str | None
    clock_shard: str | None
    clock_at: str | None
    won_amount: float | None
    score: float
    score_band: str
    score_reasons: list[str]
    score_basis: str
    score_version: int
    score_probability: float | None
    won_date: str | None
    close_reason: str | None
    import_id: str
    import_row: int
    intent_at: str
    activity_count: int
    answered_calls: int  # calls the customer picked up (the engagement score)
    materials_sent: int  # 资料已发送 activities (the engagement score)
    first_owner: str
    first_team: str | None
    first_contact_by: str
    first_contact_team: str | None
    activity_by: dict[str, int]
    reclaimed_from: list[str]
    idempotency_key: str
    expires_at: datetime | str | None  # written as a time (the TTL), read back as ISO text


class LeadView(Lead, total=False):
    """A lead as a person may see it (phone masked or not), with labels for every code."""

    phone_masked: bool
    phone_display: str
    labels: dict[str, str]
    custom_fields: list[JsonObject]
    owner_name: str | None
    team_label: str | None
    can: dict[str, bool]
    statuses: list[str]  # what 变更状态 may set it to (the lead page only)
    history: list[JsonObject]
    tasks: list[JsonObject]
    merged_history: list[JsonObject]


class LeadPageView(TypedDict):
    """A page of lead views, and where the next page starts (None: the last page)."""

    items: list[LeadView]
    cursor: str | None


class HistoryEntry(TypedDict, total=False):
    """One entry of a lead's history (status change, activity, merge, ...), newest first."""

    kind: str
    at: str
    actor: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    activity_type: str | None
    channel: str | None
    related_lead: str | None
    detail: dict[str, Any] | None
    outcome: str | None
    content: str | None
    duration_s: float | None
    next_step: str | None


class Activity(TypedDict, total=False):
    """The fields of an activity entry a service hands to the store (merged into a HistoryEntry)."""

    channel: str
    reason: str
    detail: dict[str, Any]
    activity_type: str
    outcome: str | None
    content: str | None
    duration_s: float | None
    next_step: str | None


class Task(TypedDict):
    lead_id: str
    task_id: str
    title: str
    rule_id: str | None
    owner: str
    team: str | None
    due_at: str
    status: str
    stage: str | None
    alert_at: str | None
    created_at: str
    done_at: str | None
    lead_name: NotRequired[str | None]  # the customer, read for an alert's text (not stored)


# A domain event's detail on the bus: ids, codes and times only, no personal data.
EventDetail = dict[str, str | None]


class ImportCounts(TypedDict, total=False):
    rows: int
    imported: int
    duplicate: int
    rejected: int


class ImportJob(TypedDict, total=False):
    """An import job as stored (the imports table)."""

    import_id: str
    status: str
    filename: str
    object_key: str
    object_etag: str
    uploaded_by: str
    team: str | None
    partner_id: str | None
    month: str
    created_at: str
    updated_at: str
    started_at: str
    finished_at: str
    counts: dict[str, int]
    progress: dict[str, int]
    columns: dict[str, Any]
    written: int
    chunk: dict[str, Any]
    lease_until: int
    runs: int
    report_key: str
    error: dict[str, str]
    existing_duplicate: int


class Message(TypedDict):
    """One message of a user's in-app inbox."""

    id: str
    kind: str
    title: str
    body: str | None
    lead_id: str | None
    lead_name: str | None
    created_at: str
    read: bool
    leads: NotRequired[list[JsonObject]]  # a 新分配 of several leads: each {lead_id, name}


class AuditEntry(TypedDict, total=False):
    at: str
    actor: str
    action: str
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


class Member(TypedDict):
    """A user as routing and the pool see them: role, duty and caps (the users table)."""

    user_id: str
    name: str
    role: str
    team: str | None
    active: bool
    on_duty: bool
    daily_cap: int
    max_open: int


class UserChanges(TypedDict, total=False):
    on_duty: bool
    daily_cap: int
    max_open: int
    active: bool
    name: str
    team: str | None
    role: str


def lead_fields(values: Mapping[str, object]) -> Lead:
    """Lead fields named at run time (an edit's keys, checked against the editable fields before)."""
    return cast(Lead, dict(values))


# A DynamoDB key where a page of a query stopped (pynamodb's last_evaluated_key), opaque to callers.
PageKey = dict[str, dict[str, Any]]


# -- the report builder (services/reports.py, boards.py, costs.py) ------------------------------------

class CardQueryRecord(TypedDict, total=False):
    """What a card asks: measures × dimensions × filters (its range is the card's)."""

    measures: list[str]
    dimensions: list[str]
    filters: dict[str, str | list[str]]


# A card on a board: a query, a chart type and a relative range ("from"/"to": a custom range's days).
Card = TypedDict("Card", {"card_id": str, "title": str, "chart": str, "range": str, "from": str | None,
                          "to": str | None, "width": int, "query": CardQueryRecord}, total=False)


class Board(TypedDict, total=False):
    """A board as stored (the aggregates table, `board#...`; store/reports.py), or a ready one."""

    board_id: str
    owner: str
    team: str | None
    ready: bool
    name: str
    visibility: str
    weekly: bool
    cards: list[Card]
    updated_at: str


class BoardView(Board, total=False):
    """A board as a user sees it: whether they may edit it, whether it is their home, labels."""

    editable: bool
    home: bool
    visibility_label: str
    owner_label: str


class Labelled(TypedDict):
    """A code and its Chinese label (a measure, a dimension, a range, a chart type)."""

    key: str
    label: str


# A measure's figure: a count, a rate, an amount, a median; None where it has no value (no cost spent).
Figure = float | int | None
# The lead list's filters (GET /api/leads parameters) behind one figure; None: the list cannot filter so.
Drill = dict[str, str] | None
# One row of a report: `<time>`/`<time>_label`, `<dimension>`/`<dimension>_label` (keys named by the
# card's dimensions), one figure per measure and `drill` (measure → Drill). Values are narrowed by key.
ReportRow = dict[str, object]


class ReportScope(TypedDict):
    team: str | None
    label: str


PreviousPeriod = TypedDict("PreviousPeriod", {"from": str, "to": str, "total": dict[str, Figure]})

# A card's answer: its rows, the total and the drill of each measure, the items it read.
ReportResult = TypedDict("ReportResult", {
    "from": str, "to": str, "measures": list[Labelled], "dimensions": list[Labelled], "scope": ReportScope,
    "rows": list[ReportRow], "total": dict[str, Figure], "drill": dict[str, Drill], "items_read": int,
    "previous": NotRequired[PreviousPeriod], "overdue_at": NotRequired[str],
    "products": NotRequired[list[Labelled]]})  # the loan types a card is narrowed to


class SpendEntryView(TypedDict, total=False):
    """One spend entry as entered (a day's or a month's), with labels."""

    source: str
    source_label: str
    campaign: str | None
    partner_id: str | None
    partner_label: str | None
    month: str
    day: str
    amount: float


class PartnerPriceView(TypedDict):
    """A partner's price per valid lead."""

    partner_id: str
    partner_label: str
    price_per_valid: float


class ItemOutcome(TypedDict):
    """What became of one item of a batch: saved, or rejected with the reason per field (Chinese)."""

    index: int
    status: str
    errors: NotRequired[dict[str, str]]
