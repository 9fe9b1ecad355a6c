"""File imports as jobs: a presigned upload, then one run (or several) per uploaded object.

Object keys say who brought the file:
- `imports/uploads/<import_id>/<filename>`: uploaded through `POST /api/imports` (the job exists);
- `imports/partners/<partner_id>/<any name>`: dropped by a partner (the job is created here, its id
  derived from the key and ETag, so the same object delivered twice is one job).

A run parses and validates the whole file (cheap, deterministic), then writes the file's new leads
in chunks from the job's checkpoint on. Each chunk's lead numbers are reserved and recorded in the
job before the chunk is written, so a run that dies mid-chunk is resumed with the same numbers and
writes only what is missing: every row becomes at most one lead. A run that nears the Lambda
deadline hands over to a continuation event. Rows become `new` leads; cleaning, de-duplication
across the whole database and routing happen on the lead stream, as for every channel.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain, islice
from typing import Any
from urllib.parse import unquote_plus

from chalicelib import metrics
from chalicelib.domain.access import Principal
from chalicelib.domain.lead import FIELD_LABELS, LeadSubmission, build_lead
from chalicelib.domain.lead_number import format_lead_id
from chalicelib.domain.records import ImportJob, JsonObject, JsonView, Lead
from chalicelib.domain.sheet_rows import (
    HEADER_SCAN_ROWS,
    Columns,
    ImportTally,
    find_columns,
    header_lookup,
    new_leads,
)
from chalicelib.domain.timeutil import iso_utc, parse_iso, shanghai_day
from chalicelib.errors import BadRequest, DomainError, Forbidden, NotFound, StoreUnavailable
from chalicelib.observability import logger
from chalicelib.rules.imports import ImportPolicy
from chalicelib.rules.profile import OPTION_FIELDS, LeadProfile, default_profile
from chalicelib.services import names
from chalicelib.settings import get_settings
from chalicelib.store import config, directory, files, import_jobs, leads, sequences

UPLOADS = "imports/uploads/"
PARTNER_DROPS = "imports/partners/"
COSTS_FOLDER = "costs/"  # `imports/uploads/<import_id>/costs/<filename>`: a spend sheet (services/costs.py)
CHUNK_ROWS = 500
LEASE_S = 300
HANDOVER_MS = 90_000  # stop and hand over when less than this is left of the invocation
STALLED_MINUTES = 30  # a queued or running job with no progress for this long is failed by the sweep
CONTINUE_SOURCE = "loanleads.imports"
CONTINUE_TYPE = "Import Continued"
_FILENAME = re.compile(r"^[^/\\\x00-\x1f]{1,120}\.(xlsx|xls|csv)$", re.IGNORECASE)


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    size: int
    event_time: datetime


class _LostLease(Exception):
    """Another run moved the checkpoint: this one stops without writing."""


# -- the API side ------------------------------------------------------------------------------------

def start_upload(who: Principal, body: JsonObject, at: datetime) -> JsonView:
    filename = unicodedata.normalize("NFKC", str(body.get("filename") or "")).strip()
    if not _FILENAME.match(filename):
        raise BadRequest("文件名无效：须为 .xlsx、.xls 或 .csv 文件", fields={"filename": "无效的文件名"})
    kind = body.get("kind") or "leads"
    if kind not in ("leads", "costs"):
        raise BadRequest("导入类型只能是线索（leads）或投放成本（costs）", fields={"kind": "无效"})
    if kind == "costs" and who.role != "admin":
        raise Forbidden("只有管理员可以导入投放成本")
    created_at = iso_utc(at)
    import_id = f"I{shanghai_day(at):%Y%m%d}{secrets.token_hex(5)}"
    key = f"{UPLOADS}{import_id}/{COSTS_FOLDER if kind == 'costs' else ''}{filename}"
    import_jobs.create(_new_job(import_id, filename, key, who.user_id, who.team, None, at))
    expires = 900
    return {"import_id": import_id, "upload_url": files.upload_url(key, expires), "object_key": key,
            "expires_in": expires, "status": "queued", "created_at": created_at}


def _new_job(import_id: str, filename: str, key: str, uploaded_by: str, team: str | None,
             partner_id: str | None, at: datetime) -> ImportJob:
    stamp = iso_utc(at)
    return {"import_id": import_id, "status": "queued", "filename": filename, "object_key": key,
            "uploaded_by": uploaded_by, "team": team, "partner_id": partner_id,
            "month": f"{shanghai_day(at):%Y-%m}", "created_at": stamp, "updated_at": stamp}


def _readable(who: Principal, job: ImportJob) -> bool:
    if who.role == "admin":
        return True
    if who.role == "supervisor":
        return job.get("team") is not None and job.get("team") == who.team
    return bool(job["uploaded_by"] == who.user_id)


def job_view(job: ImportJob) -> JsonView:
    counts = {"rows": 0, "imported": 0, "duplicate": 0, "rejected": 0, **(job.get("counts") or {})}
    # `imported` is the leads the file created; the stream then merges those that repeat a lead
    # which existed before into it: `new` + `existing_duplicate` = `imported` (what the leads show).
    counts["existing_duplicate"] = int(job.get("existing_duplicate") or 0)
    counts["new"] = max(0, int(counts["imported"]) - counts["existing_duplicate"])
    view: JsonView = {
        "import_id": job["import_id"], "status": job["status"], "filename": job["filename"],
        "uploaded_by": job["uploaded_by"], "uploaded_by_name": names.user(str(job["uploaded_by"])),
        "partner_id": job.get("partner_id"), "partner_name": names.partner(job.get("partner_id")) or None,
        "created_at": job["created_at"], "started_at": job.get("started_at"),
        "finished_at": job.get("finished_at"), "counts": counts,
        "progress": job.get("progress") or {"processed": 0, "total": 0},
        "columns": job.get("columns"), "error": job.get("error"), "error_report_url": None,
    }
    if report_key := job.get("report_key"):
        view["error_report_url"] = files.download_url(report_key, f"导入错误报告_{job['import_id']}.xlsx")
    return view


def get_job(who: Principal, import_id: str) -> JsonView:
    job = import_jobs.get(import_id)
    if job is None or not _readable(who, job):
        raise NotFound("导入任务不存在或无权查看")
    return job_view(job)


def list_jobs(who: Principal, today: date, limit: int = 20) -> JsonView:
    if who.role == "admin":
        months = [f"{today:%Y-%m}", f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"]
        rows = [row for month in months for row in import_jobs.recent("by_month", month, limit)][:limit]
    elif who.role == "supervisor" and who.team:
        rows = import_jobs.recent("by_team", who.team, limit)
    else:
        rows = import_jobs.recent("by_uploader", who.user_id, limit)
    return {"items": [job_view(row) for row in rows]}


# -- the template --------------------------------------------------------------------------------------

TEMPLATE_FIELDS = ("name", "phone", "loan_type", "amount", "purpose", "credit_status", "city",
                   "customer_type", "campaign", "remark")
_EXAMPLE: Lead = {"name": "张三", "phone": "13816204573", "amount": 50, "city": "上海",
                  "campaign": "2024春季活动", "remark": "客户希望下午联系"}


def template_url(who: Principal) -> JsonView:
    """The current profile's template (built once per profile version, kept in the bucket)."""
    from chalicelib.spreadsheets import TemplateColumn, template

    profile, version = config.document("lead_profile", LeadProfile, default_profile)
    key = f"templates/lead-import-v{version}.xlsx"
    filename = "线索导入模板.xlsx"
    if not files.exists(key):
        columns = [_template_column(name, profile) for name in TEMPLATE_FIELDS]
        for spec in profile.custom_fields:
            choices = [item.label for item in spec.options if item.active]
            if spec.type == "multi":  # several values in one cell: no drop-down (it would refuse them)
                columns.append(TemplateColumn(spec.label, "、".join(choices[:2]), (), spec.required,
                                              f"多选，用“、”分隔，可选：{'、'.join(choices)}"))
                continue
            columns.append(TemplateColumn(spec.label, None, choices, spec.required,
                                          {"date": "日期，如 2024-05-20", "number": "数字"}.get(spec.type, "")))
        files.write(key, template(columns))
    return {"url": files.download_url(key, filename), "filename": filename}


def _template_column(name: str, profile: LeadProfile) -> Any:
    from chalicelib.spreadsheets import TemplateColumn

    choices: list[str] = []
    example = _EXAMPLE.get(name)
    if name in OPTION_FIELDS:
        choices = [item.label for item in profile.options[name] if item.active]
        example = choices[0] if choices else None
    notes = {"phone": "必填：中国大陆手机或固话，如 13816204573", "amount": f"单位万元，0–{profile.amount_max:g}"}
    return TemplateColumn(FIELD_LABELS[name], example, choices, name == "phone", notes.get(name, ""))


# -- the run -------------------------------------------------------------------------------------------

def screen(bucket: str | None, obj: StoredObject) -> str | None:
    """Why an "Object Created" event is not an import (None when it is): another bucket of the
    account, a key outside `imports/`, a folder the S3 console created (a 0-byte key ending in `/`),
    or an empty object dropped by a partner (an empty upload still fails its job with a reason)."""
    if bucket != get_settings().import_bucket:
        return "foreign bucket"
    if not obj.key.startswith("imports/"):
        return "outside imports/"
    if obj.key.endswith("/"):
        return "folder marker"
    if obj.size <= 0 and not obj.key.startswith(UPLOADS):
        return "empty object"
    return None


def key_candidates(key: str) -> list[str]:
    """The object's key as sent, then its `unquote_plus` form. S3's classic notifications always
    URL-encode keys (`red flower.jpg` → `red+flower.jpg`, UTF-8 bytes → `%E6%96%87`), and tools that
    relay or replay them (and some EventBridge consumers) pass that form on, while EventBridge's own
    "Object Created" events carry the key as stored. A real key may itself contain `+` or `%`, so
    the key as sent is always tried first."""
    decoded = unquote_plus(key)
    return [key] if decoded == key else [key, decoded]


def object_created(obj: StoredObject, remaining_ms: Callable[[], int], now_s: Callable[[], float],
                   continue_later: Callable[[JsonView], None]) -> JsonView:
    """Run (or resume) the import of one uploaded object. Safe to deliver any number of times."""
    job = _job_for(obj)
    if job is None:
        return {"ignored": obj.key}
    obj = StoredObject(str(job["object_key"]), obj.etag, obj.size, obj.event_time)
    import_id = job["import_id"]
    at = iso_utc(obj.event_time)
    running = import_jobs.take_lease(import_id, obj.etag, int(now_s()), LEASE_S, at)
    if running is None:
        return {"import_id": import_id, "skipped": "already running, finished or bound to another file"}
    try:
        finished = _run(running, obj, remaining_ms, now_s)
    except DomainError as exc:
        if isinstance(exc, StoreUnavailable):
            import_jobs.release(import_id, running.get("progress") or {}, at)
            raise  # transient: the invocation is retried and resumes from the checkpoint
        import_jobs.finish(import_id, "failed", _stamp(now_s), error={"code": exc.code, "message": exc.message})
        logger.info("import rejected", extra={"import_id": import_id, "code": exc.code})
        metrics.count(metrics.IMPORT_FAILED, reason=exc.code)
        _archive(obj.key)
        return {"import_id": import_id, "status": "failed"}
    except _LostLease:
        return {"import_id": import_id, "skipped": "another run took over"}
    except Exception:
        logger.exception("import failed", extra={"import_id": import_id})
        import_jobs.finish(import_id, "failed", _stamp(now_s),
                           error={"code": "INTERNAL_ERROR", "message": "导入时发生内部错误，请联系管理员"})
        metrics.count(metrics.IMPORT_FAILED, reason="INTERNAL_ERROR")
        return {"import_id": import_id, "status": "failed"}
    if not finished:
        continue_later({"import_id": import_id, "key": obj.key, "etag": obj.etag, "size": obj.size})
        return {"import_id": import_id, "status": "continued"}
    return {"import_id": import_id, "status": "done"}


def _drop_id(key: str, etag: str) -> str:
    return "D" + hashlib.sha256(f"{key}\n{etag}".encode()).hexdigest()[:24]


def _job_for(obj: StoredObject) -> ImportJob | None:
    """The object's job (created for a partner drop); its `object_key` is the key as stored."""
    candidates = key_candidates(obj.key)
    if obj.key.startswith(UPLOADS):
        import_id = obj.key[len(UPLOADS):].split("/", 1)[0]
        job = import_jobs.get(import_id)
        if job is None or job["object_key"] not in candidates:
            logger.warning("upload without a job", extra={"import_id": import_id})
            return None
        return job
    for key in candidates:  # a job of an earlier delivery (the file may be archived by now)
        job = import_jobs.get(_drop_id(key, obj.etag))
        if job is not None:
            return job
    stored = next((key for key in candidates if files.exists(key)), None)
    if stored is None:
        logger.warning("object created but not found under any form of its key", extra={"key": obj.key})
        return None
    obj = StoredObject(stored, obj.etag, obj.size, obj.event_time)
    import_id = _drop_id(obj.key, obj.etag)
    partner_id = obj.key[len(PARTNER_DROPS):].split("/", 1)[0] if obj.key.startswith(PARTNER_DROPS) else ""
    filename = obj.key.rsplit("/", 1)[-1] or obj.key
    fresh = _new_job(import_id, filename[:120], obj.key, f"partner:{partner_id}" if partner_id else "system",
                     None, partner_id or None, obj.event_time)
    if import_jobs.create(fresh):
        problem = ("文件路径不符合约定：合作方文件须放在 imports/partners/<合作方ID>/ 下" if not partner_id
                   else None if directory.partner_active(partner_id) else f"未知或已停用的合作方：{partner_id}")
        if problem:
            import_jobs.finish(import_id, "failed", iso_utc(obj.event_time),
                               error={"code": "UNKNOWN_SOURCE", "message": problem})
            metrics.count(metrics.IMPORT_FAILED, reason="UNKNOWN_SOURCE")
            _archive(obj.key)
            return None
        return fresh
    return import_jobs.get(import_id)


@dataclass(frozen=True)
class OpenedFile:
    columns: Columns
    total: int  # data rows after the header, blank ones included
    rows: Iterator[tuple[int, list[Any]]]  # (spreadsheet row number, cells)


def open_file(data: bytes, filename: str, policy: ImportPolicy, profile: LeadProfile,
              partner_id: str | None) -> OpenedFile:
    """Check, read and find the header of a file; FileRejected says why it cannot be imported."""
    from chalicelib.spreadsheets import FileRejected, check_safe, file_kind, read_sheet

    kind = file_kind(data, filename)
    check_safe(data, kind, policy)
    sheet = read_sheet(data, kind)
    head = list(islice(sheet.rows, HEADER_SCAN_ROWS))
    columns = find_columns(head, header_lookup(profile, policy, partner_id))
    if columns is None:
        raise FileRejected("未找到表头：表头行须包含“联系方式”（或“手机号”）列及至少一个其他字段，如“客户姓名”")
    total = max(sheet.total_rows - columns.header_row - 1, 0)
    if total > policy.max_rows:
        raise FileRejected(f"文件共 {total} 行，超过单次导入上限 {policy.max_rows} 行，请拆分后再导入")
    rows = chain(head[columns.header_row + 1:], sheet.rows)
    # spreadsheet row numbers start at 1; the first data row follows the header
    return OpenedFile(columns, total, enumerate(rows, start=columns.header_row + 2))


def _run(job: ImportJob, obj: StoredObject, remaining_ms: Callable[[], int], now_s: Callable[[], float]) -> bool:
    """One invocation's share of the job; True when the job is done."""
    from chalicelib.spreadsheets import FileRejected

    policy = config.import_policy()
    profile = config.lead_profile()
    data = files.read(obj.key, int(policy.max_file_mb * 1024 * 1024))
    if data is None:
        raise FileRejected(f"文件过大，上限为 {policy.max_file_mb:g} MB")
    if obj.key.startswith(f"{UPLOADS}{job['import_id']}/{COSTS_FOLDER}"):
        return _run_costs(job, obj, data, policy, now_s)
    opened = open_file(data, job["filename"], policy, profile, job.get("partner_id"))
    del data
    writer = _ChunkWriter(job, profile, opened.total, now_s)
    tally = ImportTally()
    for row_number, submission in new_leads(opened.rows, opened.columns, profile, policy.required_fields, tally):
        if writer.take(tally.new, row_number, submission, tally.processed) and remaining_ms() < HANDOVER_MS:
            import_jobs.release(job["import_id"], writer.progress(tally.processed), _stamp(now_s))
            return False
    writer.flush(tally.processed)
    columns = opened.columns
    report_key = _report(job["import_id"], columns.headers, tally) if tally.rejected or tally.duplicates else None
    counts = tally.counts()
    import_jobs.finish(job["import_id"], "done", _stamp(now_s), counts=counts,
                       progress=writer.progress(tally.processed),
                       columns={"mapped": columns.mapped(), "ignored": columns.ignored}, report_key=report_key)
    logger.info("import done", extra={"import_id": job["import_id"], **counts})
    for outcome in ("imported", "duplicate", "rejected"):
        metrics.count(metrics.IMPORT_ROWS, counts[outcome], outcome=outcome)
    _archive(obj.key)
    return True


def _run_costs(job: ImportJob, obj: StoredObject, data: bytes, policy: ImportPolicy,
               now_s: Callable[[], float]) -> bool:
    """A spend sheet: small (one row per channel and day at most), read and saved in one run; saving
    the same rows again replaces the amounts, so a second delivery changes nothing."""
    from chalicelib.services import costs
    from chalicelib.spreadsheets import check_safe, file_kind, read_sheet

    kind = file_kind(data, job["filename"])
    check_safe(data, kind, policy)
    header, rows = costs.sheet_rows(read_sheet(data, kind).rows)
    costs.save(entry for _, entry, _, _ in rows if entry is not None)
    tally = ImportTally(rows=len(rows), processed=len(rows), new=sum(1 for r in rows if r[1] is not None))
    tally.rejected = [(number, "；".join(f"{costs.FIELD_LABELS.get(k, k)}：{v}" for k, v in errors.items()), cells)
                      for number, entry, errors, cells in rows if entry is None]
    report_key = _report(job["import_id"], header, tally) if tally.rejected else None
    import_jobs.finish(job["import_id"], "done", _stamp(now_s), counts=tally.counts(),
                       progress={"processed": len(rows), "total": len(rows)}, report_key=report_key)
    _archive(obj.key)
    return True


def fail_stalled(now: datetime) -> int:
    """Jobs that will never finish by themselves end `failed` with a reason the admin reads: an
    upload whose file never arrived, or a run that stopped (its invocation died and the event was
    given up) with no progress for STALLED_MINUTES. Reads this month's and last month's open jobs
    through the by_month index (a handful a day), never a Scan."""
    cutoff = iso_utc(now - timedelta(minutes=STALLED_MINUTES))
    today = shanghai_day(now)
    months = [f"{today:%Y-%m}", f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"]
    failed = 0
    for job in (job for month in months for job in import_jobs.open_jobs(month)):
        if str(job["updated_at"]) >= cutoff or int(job.get("lease_until") or 0) > now.timestamp():
            continue
        message = (f"超过 {STALLED_MINUTES} 分钟未收到上传的文件，导入已取消，请重新上传"
                   if job["status"] == "queued"
                   else f"导入已中断（超过 {STALLED_MINUTES} 分钟没有进展），已导入的行已保存；请联系管理员")
        if import_jobs.fail_stalled(job["import_id"], str(job["updated_at"]), iso_utc(now),
                             {"code": "STALLED", "message": message}):
            failed += 1
            logger.warning("stalled import failed", extra={"import_id": job["import_id"], "was": job["status"]})
            metrics.count(metrics.IMPORT_FAILED, reason="STALLED")
    return failed


def _archive(key: str) -> None:
    """The processed file leaves `imports/` for `processed/`, which expires by lifecycle: customer
    data in partner files is not kept longer than the audit window. A re-delivery finds the job
    finished and never needs the file again."""
    try:
        files.move(key, "processed/" + key.removeprefix("imports/"))
    except StoreUnavailable:
        logger.warning("processed import not archived", extra={"key": key})


def _stamp(now_s: Callable[[], float]) -> str:
    """Job bookkeeping times (started, finished) are the run's own clock, injected by the handler."""
    return iso_utc(datetime.fromtimestamp(now_s(), tz=UTC))


def _report(import_id: str, headers: list[str], found: ImportTally) -> str:
    from chalicelib.spreadsheets import error_report

    key = f"reports/{import_id}.xlsx"
    files.write(key, error_report(headers, found.rejected, found.duplicates))
    return key


class _ChunkWriter:
    """Writes the file's new leads from the job's checkpoint on, a chunk at a time."""

    def __init__(self, job: ImportJob, profile: LeadProfile, total: int, now_s: Callable[[], float]) -> None:
        self.job = job
        self.profile = profile
        self.total = total
        self.now_s = now_s
        self.written = int(job.get("written") or 0)
        self.pending = job.get("chunk") if (job.get("chunk") or {}).get("first") == self.written else None
        received = parse_iso(job["started_at"])
        self.created_at = iso_utc(received)
        self.day = shanghai_day(received)
        self.buffer: list[tuple[int, LeadSubmission]] = []

    def progress(self, processed: int) -> dict[str, int]:
        return {"processed": min(processed, self.total), "total": self.total}

    def take(self, ordinal: int, row_number: int, submission: LeadSubmission, processed: int) -> bool:
        """Queue the file's `ordinal`-th new lead; True when a chunk was written."""
        if ordinal <= self.written:
            return False  # written by an earlier run
        self.buffer.append((row_number, submission))
        target = int(self.pending["count"]) if self.pending else CHUNK_ROWS
        if len(self.buffer) < target:
            return False
        self._write(processed)
        return True

    def flush(self, processed: int) -> None:
        if self.buffer:
            self._write(processed)

    def _write(self, processed: int) -> None:
        import_id = self.job["import_id"]
        count = len(self.buffer)
        if self.pending:  # a run died inside this chunk: same numbers, write what is missing
            last, day_key = int(self.pending["last_seq"]), str(self.pending["day"])
        else:
            day_key = f"{self.day:%Y%m%d}"
            last = sequences.reserve_block(day_key, count)
            chunk: dict[str, int | str] = {"first": self.written, "count": count, "day": day_key, "last_seq": last}
            if not import_jobs.begin_chunk(import_id, self.written, chunk):
                raise _LostLease()
        day = datetime.strptime(day_key, "%Y%m%d").date()
        ids = [format_lead_id(day, last - count + 1 + offset) for offset in range(count)]
        present = leads.existing(ids) if self.pending else set()
        batch = []
        for lead_id, (row_number, submission) in zip(ids, self.buffer, strict=True):
            if lead_id in present:
                continue
            lead = build_lead(submission, lead_id=lead_id, channel="import", created_at=self.created_at,
                              day=day.isoformat(), profile=self.profile, partner_id=self.job.get("partner_id"),
                              created_by=self._creator())
            lead["import_id"], lead["import_row"] = import_id, row_number
            batch.append(lead)
        leads.insert_batch(batch)
        self.written += count
        self.pending = None
        self.buffer = []
        import_jobs.end_chunk(import_id, self.written, self.progress(processed), int(self.now_s()) + LEASE_S,
                              _stamp(self.now_s))

    def _creator(self) -> str | None:
        uploader = str(self.job["uploaded_by"])
        return None if uploader.startswith("partner:") or uploader == "system" else uploader

