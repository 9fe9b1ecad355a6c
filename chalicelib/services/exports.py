"""Export a filtered lead list to .xlsx: the caller's scope and masking, safe against formulas.

The rows are exactly what `GET /api/leads` returns for the same filters (same scope rules, same
masking: a rep sees the full phone only of leads they own), paged through to the export cap. The
file goes to the bucket and the caller gets a short-lived download link: API Gateway's payload limit
and binary handling stay out of the way, and big exports cost the API function no memory twice.
"""

from __future__ import annotations

import itertools
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access import Principal
from chalicelib.domain.lead import FIELD_LABELS
from chalicelib.domain.records import JsonObject, JsonView, LeadPageView, LeadView
from chalicelib.domain.timeutil import iso_utc, parse_iso, shanghai_day
from chalicelib.errors import BadRequest
from chalicelib.rules.profile import CHOICE_TYPES, OPTION_FIELDS, CustomField, LeadProfile
from chalicelib.services import leads as lead_service
from chalicelib.services import names, pool
from chalicelib.store import config, files

if TYPE_CHECKING:
    from chalicelib.spreadsheets import ExportColumn

EXPORT_MAX_ROWS = 50_000
_PAGE = 500
_COLUMNS = ("lead_id", "name", "phone", "status", "loan_type", "amount", "purpose", "credit_status", "source",
            "customer_type", "city", "province", "region", "owner", "team", "partner_id", "campaign",
            "created_at", "next_follow_up", "remark")
_TIMES = ("created_at", "next_follow_up")


def _shanghai(value: str | None) -> str | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo

    return parse_iso(value).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def export_leads(who: Principal, at: datetime, filters: JsonObject, scope: str = "leads") -> JsonView:
    """`scope=leads`: the lead list with `GET /api/leads` filters; `scope=pool`: the pool with its
    region / loan_type filters (what a rep may see of leads they do not own, masked). Rows go into
    the workbook on disk as each page is read: memory stays flat up to the export cap."""
    if scope not in ("leads", "pool"):
        raise BadRequest("scope 只能是 leads 或 pool", fields={"scope": "无效"})
    profile = config.lead_profile()
    views = _views(who, at, filters, scope)
    stamp = iso_utc(at).replace(":", "").replace("-", "")[:15]
    key = f"exports/{who.user_id}/{stamp}-{secrets.token_hex(4)}.xlsx"
    filename = f"线索导出_{shanghai_day(at):%Y%m%d}.xlsx"
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        path = os.path.join(folder, "leads.xlsx")
        rows = write_workbook(path, itertools.islice(views, EXPORT_MAX_ROWS), profile, who.role)
        truncated = next(views, None) is not None
        files.upload(key, path)
    return {"url": files.download_url(key, filename), "filename": filename, "rows": rows,
            "truncated": truncated, "max_rows": EXPORT_MAX_ROWS}


def _views(who: Principal, at: datetime, filters: JsonObject, scope: str) -> Iterator[LeadView]:
    """The list's views page after page (each page one index query and its leads' batch reads). The
    next page is read while this one's rows go into the workbook: the reads wait on DynamoDB, the
    workbook on this CPU, so an export takes about the longer of the two, not their sum. The pool's
    regions are merged as they are read (`pool.export_pool`)."""
    if scope == "pool":
        yield from pool.export_pool(who, at, region=filters.get("region"), loan_type=filters.get("loan_type"),
                                    page=_PAGE)
        return

    def page(cursor: str | None) -> LeadPageView:
        return lead_service.list_leads(who, today=shanghai_day(at), limit=_PAGE, cursor=cursor, **filters)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-read") as ahead:
        current = page(None)
        while True:
            following = ahead.submit(page, current["cursor"]) if current["cursor"] else None
            yield from current["items"]
            if following is None:
                return
            current = following.result()


def _phone_cell(value: str | None) -> str | None:
    """Full numbers as Chinese users write them (13812345678, 02162345678); masked ones as shown."""
    if value and value.startswith("+86"):
        national = value[3:]
        return national if national.startswith("1") else "0" + national
    return value


def workbook(views: Iterable[LeadView], profile: LeadProfile, role: str | None = None) -> bytes:
    """The .xlsx of lead views (already scoped and masked by the lead service), in memory."""
    from chalicelib.spreadsheets import export

    columns, specs = _columns(profile, role)
    return export(columns, (_row(lead, specs) for lead in views))


def write_workbook(path: str, views: Iterable[LeadView], profile: LeadProfile, role: str | None = None) -> int:
    """The same workbook written to `path` row by row as the views come; answers the rows written."""
    from chalicelib.spreadsheets import export_to

    columns, specs = _columns(profile, role)
    return export_to(path, columns, (_row(lead, specs) for lead in views))


def _columns(profile: LeadProfile, role: str | None) -> tuple[list[ExportColumn], list[CustomField]]:
    """The fixed columns, then custom fields in the profile's order, without those the role may not see."""
    from chalicelib.spreadsheets import ExportColumn

    specs = [spec for spec in profile.custom_fields if not (role and spec.visible_to and role not in spec.visible_to)]
    columns = [ExportColumn(FIELD_LABELS[name], "number" if name == "amount" else "text") for name in _COLUMNS]
    columns += [ExportColumn(spec.label, "number" if spec.type == "number" else "text") for spec in specs]
    return columns, specs


def _row(lead: LeadView, specs: list[CustomField]) -> list[Any]:
    labels = lead.get("labels", {})
    row: list[Any] = []
    for name in _COLUMNS:
        value: Any = lead.get(name)  # a lead field named by the column list
        if name in OPTION_FIELDS or name == "status":
            value = labels.get(name, value)
        elif name in _TIMES:
            value = _shanghai(value)
        elif name == "phone":
            value = _phone_cell(value)
        elif name in ("owner", "team"):  # people read names, not ids
            value = lead.get("owner_name" if name == "owner" else "team_label") or value
        elif name == "partner_id" and value:
            value = labels.get("partner") or value
        row.append(value)
    custom = lead.get("custom") or {}
    row.extend(names.value(spec.key, custom[spec.key]) if spec.type in CHOICE_TYPES and custom.get(spec.key)
               else custom.get(spec.key) for spec in specs)
    return row
