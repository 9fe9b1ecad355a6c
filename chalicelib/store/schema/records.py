"""Configuration documents, import jobs, dashboard counters and the audit trail."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.schema.base import ALL, PREFIX, _Meta, _Table, index


class ConfigModel(_Table):
    """Versioned configuration documents (lead profile, rules, policies). Version 0 is the head:
    it names the current version and carries a copy of its body (store/config.py)."""

    class Meta(_Meta):
        table_name = f"{PREFIX}config"

    name = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    current = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    author = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)  # why this version was published (shown in the version list)

ImportsByUploader = index(
    "by_uploader", "uploaded_by", "created_at", ALL,
    doc="""A user's (or a partner's, `partner:<id>`) import jobs, newest first.""")


ImportsByTeam = index("by_team", "team", "created_at", ALL)


ImportsByMonth = index(
    "by_month", "month", "created_at", ALL,
    doc="""Every import job of a month (Asia/Shanghai), for admins.""")


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
