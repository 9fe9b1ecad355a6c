"""Tasks: created from SOP rules or by hand, found by lead, by owner, and by when they are due."""

from __future__ import annotations

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.ownership import Notice
from chalicelib.domain.records import Task
from chalicelib.domain.sop import SHARDS, NewTask, shard_of
from chalicelib.errors import Conflict, NotFound
from chalicelib.store.aws_errors import ConditionFailed, aws_errors, conditional
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import LeadModel, NotificationModel, TaskModel


def to_task(row: TaskModel) -> Task:
    """A tasks-table item as a task record."""
    return {"lead_id": row.lead_id, "task_id": row.task_id, "title": row.title, "rule_id": row.rule_id,
            "owner": row.owner, "team": row.team, "due_at": row.due_at, "status": row.status, "stage": row.stage,
            "alert_at": row.alert_at, "created_at": row.created_at, "done_at": row.done_at}


def create(lead_id: str, task: NewTask, team: str | None, at: str, alert: bool = True) -> bool:
    """Idempotent: the task id comes from the trigger, so a replay finds it there already. Without
    `alert`, the task is not in the sweep's `by_alert` index (two write units less over its life): the
    lead's own clock wakes the sweep at its due time (`sop.pending_alert`), which then keys it there."""
    row = TaskModel(lead_id, task.task_id, title=task.title, rule_id=task.rule_id, owner=task.owner, team=team,
                    due_at=task.due_at, stage="due", created_at=at)
    if alert:
        row.alert_shard, row.alert_at = shard_of(lead_id + task.task_id), task.due_at
    return conditional(lambda: row.save(condition=TaskModel.task_id.does_not_exist()))


# A 提醒 (SOP reminder) waits in the tasks table beside the lead's tasks, found by the same due index,
# but it is no task: status "reminder" (then "reminded" or "dropped"), stage "remind"; task lists,
# 下次跟进 and task moves never see it.
REMINDER = "reminder"


def create_reminder(lead_id: str, reminder: NewTask, team: str | None, at: str) -> bool:
    """Once per lead and rule: the id is the rule's, so a replay or a second trigger finds it there."""
    row = TaskModel(lead_id, reminder.task_id, title=reminder.title, rule_id=reminder.rule_id,
                    owner=reminder.owner, team=team, due_at=reminder.due_at, status=REMINDER, stage="remind",
                    alert_shard=shard_of(lead_id + reminder.task_id), alert_at=reminder.due_at, created_at=at)
    return conditional(lambda: row.save(condition=TaskModel.task_id.does_not_exist()))


def deliver_reminder(reminder: Task, notice: Notice | None, at: str) -> bool:
    """Send a due reminder to the inbox (or drop it, without a notice), once: both or neither."""
    def write() -> None:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(TaskModel(reminder["lead_id"], reminder["task_id"]),
                      actions=[TaskModel.status.set("reminded" if notice else "dropped"), TaskModel.done_at.set(at),
                               TaskModel.stage.remove(), TaskModel.alert_shard.remove(), TaskModel.alert_at.remove()],
                      condition=(TaskModel.status == REMINDER) & (TaskModel.stage == "remind"))
            if notice is not None:
                sk = f"{at}#{notice.kind}#{reminder['lead_id']}#{reminder['task_id']}"
                tx.save(NotificationModel(notice.user_id, sk,
                                          kind=notice.kind, title=notice.title, body=notice.body,
                                          lead_id=reminder["lead_id"], lead_name=notice.lead_name, created_at=at),
                        condition=NotificationModel.sk.does_not_exist())

    return conditional(write)


def of_lead(lead_id: str) -> list[Task]:
    """The lead's tasks (not its reminders)."""
    with aws_errors():
        return [to_task(row) for row in TaskModel.query(lead_id) if not row.task_id.startswith("remind-")]


def close(lead_id: str, task_id: str, status: str, at: str) -> bool:
    return conditional(lambda: TaskModel(lead_id, task_id).update(
        actions=[TaskModel.status.set(status), TaskModel.done_at.set(at), TaskModel.stage.remove(),
                 TaskModel.alert_shard.remove(), TaskModel.alert_at.remove()],
        condition=TaskModel.status == "open"))


def move(lead_id: str, task_id: str, from_owner: str, to_owner: str, team: str | None) -> bool:
    """Hand an open task to the lead's new owner; False when it was closed or moved meanwhile."""
    actions: list[Action] = [TaskModel.owner.set(to_owner),
                             TaskModel.team.set(team) if team else TaskModel.team.remove()]
    return conditional(lambda: TaskModel(lead_id, task_id).update(
        actions=actions, condition=(TaskModel.status == "open") & (TaskModel.owner == from_owner)))


def refresh_next_follow_up(lead_id: str) -> str | None:
    """下次跟进 = the earliest due open task, kept on the lead (lists, exports, sorting). Read back
    strongly consistent after the task writes, written only when it differs; the version is not
    bumped (an editor's form stays valid)."""
    for _ in range(5):  # a concurrent refresh changed it between our read and write: read again
        try:
            with aws_errors():
                return _refresh(lead_id)
        except LeadModel.DoesNotExist:
            return None  # erased meanwhile
        except ConditionFailed:
            continue
    return None


def _refresh(lead_id: str) -> str | None:
    """One read of the open tasks and the lead, one conditional write when they differ."""
    due = [row.due_at for row in TaskModel.query(lead_id, consistent_read=True,
                                                  filter_condition=TaskModel.status == "open",
                                                  attributes_to_get=["due_at", "status"])]
    earliest = min(due) if due else None
    seen = LeadModel.get(lead_id, consistent_read=True,
                         attributes_to_get=["lead_id", "next_follow_up"]).next_follow_up
    if seen == earliest:
        return earliest
    action = LeadModel.next_follow_up.set(earliest) if earliest else LeadModel.next_follow_up.remove()
    unchanged = LeadModel.next_follow_up == seen if seen else LeadModel.next_follow_up.does_not_exist()
    LeadModel(lead_id).update(actions=[action], condition=LeadModel.lead_id.exists() & unchanged)
    return earliest


def get(lead_id: str, task_id: str) -> Task:
    try:
        return to_task(TaskModel.get(lead_id, task_id))
    except TaskModel.DoesNotExist as exc:
        raise NotFound("任务不存在") from exc


def snooze(lead_id: str, task_id: str, until: str) -> None:
    try:
        with aws_errors():
            TaskModel(lead_id, task_id).update(
                actions=[TaskModel.due_at.set(until), TaskModel.stage.set("due"), TaskModel.alert_at.set(until),
                         TaskModel.alert_shard.set(shard_of(lead_id + task_id))],
                condition=TaskModel.status == "open")
    except ConditionFailed as exc:
        raise Conflict("任务已完成或已取消", code="TASK_CLOSED") from exc


def of_owner(owner: str, start: str, end: str) -> list[Task]:
    with aws_errors():
        rows = TaskModel.by_owner.query(owner, TaskModel.due_at.between(start, end),
                                        filter_condition=TaskModel.status == "open")
        return [to_task(row) for row in rows]


def open_past_due(owner: str, since: str, now: str) -> int:
    """How many of one owner's open tasks fell due between `since` and `now`: one Query of the
    owner's `by_owner` partition over that window (a COUNT), never the other owners' tasks."""
    with aws_errors():
        return int(TaskModel.by_owner.count(owner, TaskModel.due_at.between(since, now),
                                            filter_condition=TaskModel.status == "open"))


def needing_alert(now: str, limit: int = 500) -> list[Task]:
    """Open tasks whose next alert is due: reads only those (a sparse index), never the rest."""
    out: list[Task] = []
    with aws_errors():
        for shard in range(SHARDS):
            out += [to_task(r) for r in TaskModel.by_alert.query(f"s{shard}", TaskModel.alert_at <= now, limit=limit)]
    return out


def advance_alert(task: Task, next_stage: str | None, next_alert: str | None, notice: Notice | None,
                  at: str) -> bool:
    """Move a task to its next alert stage and tell someone, once: both or neither."""
    actions: list[Action]
    if next_stage and next_alert:
        actions = [TaskModel.stage.set(next_stage), TaskModel.alert_at.set(next_alert),
                   TaskModel.alert_shard.set(shard_of(task["lead_id"] + task["task_id"]))]
    else:
        actions = [TaskModel.stage.remove(), TaskModel.alert_shard.remove(), TaskModel.alert_at.remove()]
    # A task the lead's clock alerted (`create` without `alert`) has no alert moment of its own yet.
    alerted = TaskModel.alert_at == task["alert_at"] if task.get("alert_at") else TaskModel.alert_at.does_not_exist()

    def write() -> None:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.update(TaskModel(task["lead_id"], task["task_id"]), actions=actions,
                      condition=(TaskModel.stage == task["stage"]) & alerted & (TaskModel.status == "open"))
            if notice is not None:
                tx.save(NotificationModel(notice.user_id, f"{at}#{notice.kind}#{task['lead_id']}#{task['task_id']}",
                                          kind=notice.kind, title=notice.title, body=notice.body,
                                          lead_id=task["lead_id"], lead_name=notice.lead_name, created_at=at),
                        condition=NotificationModel.sk.does_not_exist())

    return conditional(write)
