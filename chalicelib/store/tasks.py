"""Tasks: created from SOP rules or by hand, found by lead, by owner, and by when they are due."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError, QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.sop import SHARDS, NewTask, shard_of
from chalicelib.errors import Conflict, NotFound, StoreUnavailable
from chalicelib.store.connection import transaction_connection
from chalicelib.store.dedup import Notice
from chalicelib.store.schema import NotificationModel, TaskModel


def _view(row: TaskModel) -> dict[str, Any]:
    return {"lead_id": row.lead_id, "task_id": row.task_id, "title": row.title, "rule_id": row.rule_id,
            "owner": row.owner, "team": row.team, "due_at": row.due_at, "status": row.status, "stage": row.stage,
            "alert_at": row.alert_at, "created_at": row.created_at, "done_at": row.done_at}


def create(lead_id: str, task: NewTask, team: str | None, at: str) -> bool:
    """Idempotent: the task id comes from the trigger, so a replay finds it there already."""
    row = TaskModel(lead_id, task.task_id, title=task.title, rule_id=task.rule_id, owner=task.owner, team=team,
                    due_at=task.due_at, stage="due", alert_shard=shard_of(lead_id + task.task_id),
                    alert_at=task.due_at, created_at=at)
    try:
        row.save(condition=TaskModel.task_id.does_not_exist())
        return True
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StoreUnavailable() from exc


def of_lead(lead_id: str) -> list[dict[str, Any]]:
    try:
        return [_view(row) for row in TaskModel.query(lead_id)]
    except QueryError as exc:
        raise StoreUnavailable() from exc


def close(lead_id: str, task_id: str, status: str, at: str) -> bool:
    try:
        TaskModel(lead_id, task_id).update(
            actions=[TaskModel.status.set(status), TaskModel.done_at.set(at), TaskModel.stage.remove(),
                     TaskModel.alert_shard.remove(), TaskModel.alert_at.remove()],
            condition=TaskModel.status == "open")
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StoreUnavailable() from exc


def get(lead_id: str, task_id: str) -> dict[str, Any]:
    try:
        return _view(TaskModel.get(lead_id, task_id))
    except TaskModel.DoesNotExist as exc:
        raise NotFound("任务不存在") from exc


def snooze(lead_id: str, task_id: str, until: str) -> None:
    try:
        TaskModel(lead_id, task_id).update(
            actions=[TaskModel.due_at.set(until), TaskModel.stage.set("due"), TaskModel.alert_at.set(until),
                     TaskModel.alert_shard.set(shard_of(lead_id + task_id))],
            condition=TaskModel.status == "open")
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("任务已完成或已取消", code="TASK_CLOSED") from exc
        raise StoreUnavailable() from exc


def of_owner(owner: str, start: str, end: str) -> list[dict[str, Any]]:
    try:
        rows = TaskModel.by_owner.query(owner, TaskModel.due_at.between(start, end),
                                        filter_condition=TaskModel.status == "open")
        return [_view(row) for row in rows]
    except QueryError as exc:
        raise StoreUnavailable() from exc


def needing_alert(now: str, limit: int = 500) -> list[dict[str, Any]]:
    """Open tasks whose next alert is due: reads only those (a sparse index), never the rest."""
    out: list[dict[str, Any]] = []
    try:
        for shard in range(SHARDS):
            out += [_view(r) for r in TaskModel.by_alert.query(f"s{shard}", TaskModel.alert_at <= now, limit=limit)]
    except QueryError as exc:
        raise StoreUnavailable() from exc
    return out


def advance_alert(task: dict[str, Any], next_stage: str | None, next_alert: str | None, notice: Notice | None,
                  at: str) -> bool:
    """Move a task to its next alert stage and tell someone, once: both or neither."""
    actions: list[Action]
    if next_stage and next_alert:
        actions = [TaskModel.stage.set(next_stage), TaskModel.alert_at.set(next_alert)]
    else:
        actions = [TaskModel.stage.remove(), TaskModel.alert_shard.remove(), TaskModel.alert_at.remove()]
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(TaskModel(task["lead_id"], task["task_id"]), actions=actions,
                      condition=(TaskModel.stage == task["stage"]) & (TaskModel.alert_at == task["alert_at"])
                      & (TaskModel.status == "open"))
            if notice is not None:
                tx.save(NotificationModel(notice.user_id, f"{at}#{notice.kind}#{task['lead_id']}#{task['task_id']}",
                                          kind=notice.kind, title=notice.title, body=notice.body,
                                          lead_id=task["lead_id"], created_at=at),
                        condition=NotificationModel.sk.does_not_exist())
        return True
    except TransactWriteError as exc:
        if exc.cause_response_code == "TransactionCanceledException":
            return False
        raise StoreUnavailable() from exc
