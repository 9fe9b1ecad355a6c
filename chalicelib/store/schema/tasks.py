"""Follow-up tasks and the in-app inbox."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UnicodeSetAttribute

from chalicelib.store.schema.base import ALL, PREFIX, _Meta, _Table, index

TasksByOwner = index("by_owner", "owner", "due_at", ALL)


TasksToAlert = index(
    "by_alert", "alert_shard", "alert_at", ALL,
    doc="""Open tasks by the next moment the sweep must look at them (sparse, sharded): the sweep
    reads only what is due, whatever the number of open tasks.""")


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


class NotificationModel(_Table):
    """A user's in-app inbox, newest first."""

    class Meta(_Meta):
        table_name = f"{PREFIX}notifications"

    user_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    title = UnicodeAttribute(null=True)  # none on a message of leads placed together: written when read
    body = UnicodeAttribute(null=True)
    lead_id = UnicodeAttribute(null=True)
    lead_name = UnicodeAttribute(null=True)  # the customer, as the message was written (erased with the lead)
    created_at = UnicodeAttribute()
    read = BooleanAttribute(default=False)
    # The 新分配 of leads one routing placed together with a rep (`placement.notify_together`): each
    # placement's record adds its lead to the sets, so however the stream batches those records the
    # rep gets one message; its words are written when read (`ownership.assigned_words`).
    lead_ids = UnicodeSetAttribute(null=True)
    leads = UnicodeSetAttribute(null=True)  # "<lead_id>\t<customer>\t<summary>" each (erased with the lead)
    why = UnicodeAttribute(null=True)  # the routing reason, as the first record gave it
    sla_at = UnicodeAttribute(null=True)  # the first-contact deadline, as the first record gave it
