"""Import jobs: state, lease, checkpoints, and the lists an import page shows."""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.domain.records import ImportJob
from chalicelib.plain import plain
from chalicelib.store.aws_errors import ConditionFailed, aws_errors, conditional
from chalicelib.store.schema import ImportJobModel

_MAPS = ("counts", "progress", "columns", "chunk", "error")


def to_job(row: ImportJobModel) -> ImportJob:
    """An imports-table item as an import job record."""
    data: dict[str, object] = {}
    for name in ImportJobModel.get_attributes():
        value = getattr(row, name)
        if value is None:
            continue
        data[name] = plain(value.as_dict()) if name in _MAPS else plain(value)
    return data  # type: ignore[return-value]  # the model's attributes are the record's keys


def to_item(job: ImportJob) -> ImportJobModel:
    return ImportJobModel(**job)


def create(job: ImportJob) -> bool:
    """Write a new job; False when a job with this id already exists (a second delivery)."""
    return conditional(lambda: to_item(job).save(condition=ImportJobModel.import_id.does_not_exist()))


def get(import_id: str) -> ImportJob | None:
    try:
        with aws_errors():
            return to_job(ImportJobModel.get(import_id, consistent_read=True))
    except ImportJobModel.DoesNotExist:
        return None


def _update(import_id: str, actions: list[Action], condition: Condition | None = None) -> ImportJob | None:
    """Apply the update; None when its condition does not hold."""
    row = ImportJobModel(import_id)
    try:
        with aws_errors():
            row.update(actions=actions, condition=condition)
        return to_job(row)
    except ConditionFailed:
        return None


def take_lease(import_id: str, etag: str, now_s: int, lease_s: int, at: str) -> ImportJob | None:
    """Start or resume the job for this object, unless another run holds it, it has finished, or
    it is already bound to another version of the object."""
    job = ImportJobModel
    condition = (job.status.is_in("queued", "running")
                 & (job.lease_until.does_not_exist() | (job.lease_until < now_s))
                 & (job.object_etag.does_not_exist() | (job.object_etag == etag)))
    return _update(import_id, [
        job.status.set("running"), job.lease_until.set(now_s + lease_s), job.object_etag.set(etag),
        job.started_at.set(job.started_at | at), job.updated_at.set(at), job.runs.add(1),
    ], condition)


def begin_chunk(import_id: str, written: int, chunk: dict[str, int | str]) -> bool:
    """Reserve the numbers of the next chunk, only if nobody moved the checkpoint meanwhile."""
    job = ImportJobModel
    return _update(import_id, [job.chunk.set(chunk)], job.written == written) is not None


def end_chunk(import_id: str, written: int, progress: dict[str, int], lease_until: int, at: str) -> None:
    job = ImportJobModel
    _update(import_id, [job.written.set(written), job.chunk.remove(), job.progress.set(progress),
                        job.lease_until.set(lease_until), job.updated_at.set(at)])


def release(import_id: str, progress: dict[str, int], at: str) -> None:
    """Give the job back to whoever continues it (the next invocation)."""
    job = ImportJobModel
    _update(import_id, [job.lease_until.set(0), job.progress.set(progress), job.updated_at.set(at)])


def finish(import_id: str, status: str, at: str, counts: dict[str, int] | None = None,
           progress: dict[str, int] | None = None, error: dict[str, str] | None = None,
           columns: dict[str, object] | None = None, report_key: str | None = None) -> None:
    job = ImportJobModel
    actions: list[Action] = [job.status.set(status), job.finished_at.set(at), job.updated_at.set(at),
                             job.lease_until.remove(), job.chunk.remove()]
    if counts is not None:
        actions.append(job.counts.set(counts))
    if progress is not None:
        actions.append(job.progress.set(progress))
    if error is not None:
        actions.append(job.error.set(error))
    if columns is not None:
        actions.append(job.columns.set(columns))
    if report_key:
        actions.append(job.report_key.set(report_key))
    _update(import_id, actions, job.status.is_in("queued", "running"))


def open_jobs(month: str) -> list[ImportJob]:
    """The month's jobs still `queued` or `running` (the by_month index, filtered)."""
    job = ImportJobModel
    with aws_errors():
        rows = job.by_month.query(month, filter_condition=job.status.is_in("queued", "running"))
        return [to_job(row) for row in rows]


def fail_stalled(import_id: str, updated_at: str, at: str, error: dict[str, str]) -> bool:
    """Fail a job nobody moved since `updated_at`; False when a run moved it meanwhile."""
    job = ImportJobModel
    return _update(import_id, [job.status.set("failed"), job.finished_at.set(at), job.updated_at.set(at),
                               job.lease_until.remove(), job.chunk.remove(), job.error.set(error)],
                   job.status.is_in("queued", "running") & (job.updated_at == updated_at)) is not None


def recent(index: str, partition: str, limit: int) -> list[ImportJob]:
    idx = {"by_uploader": ImportJobModel.by_uploader, "by_team": ImportJobModel.by_team,
           "by_month": ImportJobModel.by_month}[index]
    with aws_errors():
        return [to_job(row) for row in idx.query(partition, scan_index_forward=False, limit=limit)]
