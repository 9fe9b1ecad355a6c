"""Applying ownership changes: the lead, its history, the reps' load counters, caps and cooldowns,
all in one DynamoDB transaction; and a stream batch's routed leads reserved on their reps' loads
(`reserve`, `settle`), which the placement group writes one by one (`store/placement.place_group`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib import metrics
from chalicelib.domain.access import OWNED
from chalicelib.domain.ownership import Caps, Notice, OwnershipChange
from chalicelib.domain.records import Member, UserChanges
from chalicelib.domain.timeutil import beijing, parse_iso
from chalicelib.errors import Conflict
from chalicelib.store.aws_errors import ConditionFailed, aws_errors, conditional
from chalicelib.store.connection import batch_get, transaction_connection
from chalicelib.store.leads import clock_actions, read_many
from chalicelib.store.schema import LeadEventModel, LeadModel, NotificationModel, PhoneKeyModel, RepLoadModel, UserModel


def lead_actions(change: OwnershipChange) -> list[Action]:
    """The lead's side of the change (status, owner, team, pool partition)."""
    actions: list[Action] = [LeadModel.status.set(change.new_status), LeadModel.updated_at.set(change.at),
                             LeadModel.version.add(1)]
    for attribute, value in ((LeadModel.owner, change.new_owner), (LeadModel.team, change.new_team),
                             (LeadModel.pool_key, change.pool_key)):
        actions.append(attribute.set(value) if value else attribute.remove())
    if change.new_owner and (change.new_owner != change.expected_owner or change.kind == "route"):
        actions.append(LeadModel.assigned_at.set(change.at))
    # The first-contact clock runs only while the lead is `assigned` to someone who has not called;
    # the idle clock while someone owns it. A change of hands starts both afresh.
    owned = bool(change.new_owner)
    actions += clock_actions(change.lead_id, change.sla_at, change.idle_at if owned else None,
                             change.alert_at if owned else None)
    first_owner, first_team = change.first_receiver
    if first_owner:  # kept from the first time: the dashboard's attribution (domain/analytics.py)
        actions.append(LeadModel.first_owner.set(LeadModel.first_owner | first_owner))
        if first_team:
            actions.append(LeadModel.first_team.set(LeadModel.first_team | first_team))
    if change.kind == "reclaim" and change.expected_owner:
        entry = f"{change.expected_team or ''}/{change.expected_owner}"
        actions.append(LeadModel.reclaimed_from.set((LeadModel.reclaimed_from | []).append([entry])))
    for name, value in change.extra.items():
        attribute = getattr(LeadModel, name)
        actions.append(attribute.set(value) if value is not None else attribute.remove())
    return actions


def lead_condition(change: OwnershipChange) -> Condition:
    owner: Condition = (LeadModel.owner == change.expected_owner if change.expected_owner
                        else LeadModel.owner.does_not_exist())
    status: Condition = LeadModel.status == change.expected_status
    combined: Condition = status & owner
    return combined


def _bounded_add(tx: TransactWrite, user: str, key: str, cap: int | None, expires: Any = None) -> None:
    actions: list[Action] = [RepLoadModel.n.add(1)]
    if expires is not None:
        actions.append(RepLoadModel.expires_at.set(expires))
    condition = None
    if cap is not None:
        condition = RepLoadModel.n.does_not_exist() | (RepLoadModel.n < cap)
    tx.update(RepLoadModel(user, key), actions=actions, condition=condition)


# A rep's load is one item, `open`: `n` leads held, and an attribute per Shanghai day counting the
# leads received that day (`assigned#<day>`), so receiving a lead is one write bounded by both caps
# (was two items, `open` and `assigned#<day>`, two writes of a transaction each). Receiving one
# removes the attributes of the days before, so the item stays small.
LOAD = "open"
STALE_DAYS = 31  # a rep away longer than this keeps one stale day attribute (a few bytes) until the next


def day_attribute(day: str) -> str:
    return f"assigned#{day}"


def _days_before(day: str) -> list[str]:
    """The day attributes a load update removes: the STALE_DAYS days before `day`."""
    return [day_attribute((date.fromisoformat(day) - timedelta(days=n)).isoformat()) for n in range(1, STALE_DAYS + 1)]


def receive(tx: TransactWrite, user: str, day: str, caps: Caps, count: int = 1) -> None:
    """The rep receives `count` leads on `day`: one update of their load item, refused unless all
    `count` fit under both caps (a stream batch's placements to one rep share it: store/placement.py)."""
    today = Path([day_attribute(day)])
    actions: list[Action] = [RepLoadModel.n.add(count), today.add(count)]
    actions += [Path([name]).remove() for name in _days_before(day)]
    conditions: list[Condition] = []
    if caps.max_open is not None:
        conditions.append(RepLoadModel.n.does_not_exist() | (RepLoadModel.n <= caps.max_open - count))
    if caps.daily is not None:
        conditions.append(today.does_not_exist() | (today <= caps.daily - count))
    condition = None
    for part in conditions:
        condition = part if condition is None else condition & part
    tx.update(RepLoadModel(user, LOAD), actions=actions, condition=condition)


# A placement group's leads are written one by one, not in a transaction with their reps' loads (a
# transaction writes each item twice: one write unit more per lead). Each rep's load takes them first,
# in one update bounded by the caps that also records them, `r#<day>#<group>` → {t: when (this
# machine's clock), ids: the leads}; once the leads are written it goes, giving back those that were
# not (`settle`). A container that died in between leaves it behind: whoever reads the load item
# (routing, the directory page) and finds one older than any function runs gives back the leads the
# group did not place (`_repair`). Until then the rep looks busier than they are, never less busy,
# so the caps hold throughout.
RESERVED = "r#"
_log = logging.getLogger(__name__)
STALE_RESERVATION_S = 900  # longer than any function runs (the lead stream's timeout: 300 s)


def _reservation(day: str, group: str) -> str:
    return f"{RESERVED}{day}#{group}"


def reserve(user: str, day: str, caps: Caps, group: str, lead_ids: Sequence[str]) -> str | None:
    """The rep is to receive these leads of a placement group on `day`: one update of their load item
    adding them to their held and day's counts, refused unless all fit under both caps, recording
    the reservation until `settle`. "new": reserved now (a lead an earlier, settled attempt placed
    is counted there, not here); "earlier": by an attempt before of the same group for the same
    leads, not settled (it counts the leads that attempt placed); None: a cap refused, or that group
    reserved other leads (an attempt that decided otherwise, given back by `_repair`)."""
    count, name = len(lead_ids), _reservation(day, group)
    names = {"#n": "n", "#d": day_attribute(day), "#r": name}
    values: dict[str, Any] = {":c": {"N": str(count)},
                              ":r": {"M": {"t": {"N": str(int(time.time()))}, "ids": {"SS": sorted(lead_ids)}}}}
    earlier = _days_before(day)
    names.update({f"#e{i}": attribute for i, attribute in enumerate(earlier)})
    condition = ["attribute_not_exists(#r)"]
    if caps.max_open is not None:
        condition.append("(attribute_not_exists(#n) OR #n <= :open)")
        values[":open"] = {"N": str(caps.max_open - count)}
    if caps.daily is not None:
        condition.append("(attribute_not_exists(#d) OR #d <= :daily)")
        values[":daily"] = {"N": str(caps.daily - count)}
    client = transaction_connection().client
    if conditional(lambda: client.update_item(
            TableName=RepLoadModel.Meta.table_name, Key={"user_id": {"S": user}, "key": {"S": LOAD}},
            UpdateExpression="ADD #n :c, #d :c SET #r = :r REMOVE " + ", ".join(f"#e{i}" for i in range(len(earlier))),
            ConditionExpression=" AND ".join(condition), ExpressionAttributeNames=names,
            ExpressionAttributeValues=values)):
        return "new"
    with aws_errors():
        item = client.get_item(TableName=RepLoadModel.Meta.table_name, ConsistentRead=True,
                               Key={"user_id": {"S": user}, "key": {"S": LOAD}}).get("Item", {})
    held = item.get(name, {}).get("M", {}).get("ids", {}).get("SS")
    return "earlier" if held is not None and sorted(held) == sorted(lead_ids) else None


def settle(user: str, day: str, group: str, unplaced: int) -> bool:
    """A placement group's leads are written: its reservation on the rep's load item goes, and the
    `unplaced` of them (refused meanwhile) leave the rep's counts. Once only: False when it was
    settled already (by an attempt before, or by `_repair`)."""
    names = {"#r": _reservation(day, group)}
    expression = "REMOVE #r"
    values: dict[str, Any] = {}
    if unplaced:
        names.update({"#n": "n", "#d": day_attribute(day)})
        values[":less"] = {"N": str(-unplaced)}
        expression += " ADD #n :less, #d :less"
    return conditional(lambda: transaction_connection().client.update_item(
        TableName=RepLoadModel.Meta.table_name, Key={"user_id": {"S": user}, "key": {"S": LOAD}},
        UpdateExpression=expression, ConditionExpression="attribute_exists(#r)", ExpressionAttributeNames=names,
        **({"ExpressionAttributeValues": values} if values else {})))


def placed_by(group: str, user: str, lead_ids: Iterable[str]) -> set[str]:
    """Which of these leads a placement group placed with `user` (their route keeps the group, and
    `first_owner` the rep it went to): read strongly consistent."""
    keys = [{"lead_id": {"S": lead_id}} for lead_id in dict.fromkeys(lead_ids)]
    with aws_errors():
        found = batch_get(LeadModel.Meta.table_name, keys, ConsistentRead=True,
                          ProjectionExpression="lead_id, #route, first_owner",
                          ExpressionAttributeNames={"#route": "route"}) if keys else []
    return {item["lead_id"]["S"] for item in found
            if item.get("route", {}).get("M", {}).get("group", {}).get("S") == group
            and item.get("first_owner", {}).get("S") == user}


def _repair(user: str, item: dict[str, Any], now_s: float) -> bool:
    """Give back what reservations older than any function runs hold for leads their group did not
    place (its container died before `settle`). True when one was settled. (A replay's reservation
    left this way keeps the leads an earlier, settled attempt of its group placed: counted twice,
    the rep busier than they are until `recount_held`, never less busy.)"""
    repaired = False
    for name, value in item.items():
        if not name.startswith(RESERVED):
            continue
        held = value.get("M", {})
        if now_s - int(held.get("t", {}).get("N", 0)) < STALE_RESERVATION_S:
            continue
        day, _, group = name[len(RESERVED):].partition("#")
        ids = held.get("ids", {}).get("SS", [])
        unplaced = len(ids) - len(placed_by(group, user, ids))
        if settle(user, day, group, unplaced):
            repaired = True
            _log.warning("a placement's reservation left by a stopped function given back",
                         extra={"user": user, "group": group, "leads": len(ids), "unplaced": unplaced})
    return repaired


def only_receives(change: OwnershipChange) -> bool:
    """Whether the change's load side is its new owner receiving it, nothing else (a routed lead)."""
    return (change.kind == "route" and change.new_owner is not None and not change.check_cooldown
            and change.expected_owner in (None, change.new_owner))


def add_load_ops(tx: TransactWrite, change: OwnershipChange) -> None:
    """The reps' side: counters (bounded by the caps), cooldowns."""
    expires = parse_iso(change.at) + timedelta(days=3)
    # A routed lead counts for its owner even when the owner entered it (owner set at capture).
    if change.new_owner and (change.new_owner != change.expected_owner or change.kind == "route"):
        receive(tx, change.new_owner, change.day, change.caps)
    if change.kind == "claim":
        _bounded_add(tx, change.actor, f"claims#{change.day}", change.caps.claims_per_day, expires)
    if change.check_cooldown:
        tx.condition_check(RepLoadModel, change.actor, f"cooldown#{change.lead_id}",
                           condition=RepLoadModel.until.does_not_exist() | (RepLoadModel.until < change.at))
    # a closed lead (reopened) left its owner's held count when it closed (`held_moves`)
    if change.expected_owner and change.expected_owner != change.new_owner and change.expected_status in OWNED:
        tx.update(RepLoadModel(change.expected_owner, LOAD), actions=[RepLoadModel.n.add(-1)])
        if change.cooldown_until:
            tx.update(RepLoadModel(change.expected_owner, f"cooldown#{change.lead_id}"),
                      actions=[RepLoadModel.until.set(change.cooldown_until),
                               RepLoadModel.expires_at.set(parse_iso(change.cooldown_until))])


def held_moves(tx: TransactWrite, owner: str | None, before: str, after: str) -> None:
    """A lead changing status in its owner's hands: out of a working status (closed: won, lost,
    invalid; or merged into another lead) it no longer counts among the leads they hold (`open`, the
    count `max_open` bounds); back into one (an unmerge), it counts again. Before 2026-12-04 a closed
    lead stayed counted, so a rep who had closed `max_open` leads received none (`recount_held`)."""
    if not owner or (before in OWNED) == (after in OWNED):
        return
    tx.update(RepLoadModel(owner, LOAD), actions=[RepLoadModel.n.add(-1 if before in OWNED else 1)])


HELD_LAYOUT = ("_layout", "held")  # the rep_load item saying the held counts were recounted


def recount_held(users: Iterable[str]) -> int:
    """Each user's held count set to the leads they own in a working status, once per store (offline:
    `local` on start, `infra.ops loads` on AWS; a Query and a batch read of each user's leads;
    `users` is iterated only when the store was not recounted yet). Conditional on the count as
    read, so a lead received meanwhile makes it count again. Returns the users whose count changed;
    0 when the store was recounted before."""
    try:
        RepLoadModel.get(*HELD_LAYOUT, consistent_read=True)
        return 0
    except RepLoadModel.DoesNotExist:
        pass
    changed = 0
    for user in users:
        for _ in range(5):
            before = counter(user, LOAD).n
            ids = [row.lead_id for row in LeadModel.by_owner.query(user)]
            held = sum(1 for lead in read_many(ids) if lead.get("owner") == user and lead.get("status") in OWNED)
            if held == before:
                break
            unchanged = (RepLoadModel.n.does_not_exist() | (RepLoadModel.n == 0)) if not before \
                else RepLoadModel.n == before
            try:
                with aws_errors():
                    RepLoadModel(user, LOAD).update(actions=[RepLoadModel.n.set(held)], condition=unchanged)
                changed += 1
                break
            except ConditionFailed:
                continue  # a lead received or given up meanwhile: count again
    RepLoadModel(*HELD_LAYOUT).save()
    return changed


def history_item(change: OwnershipChange) -> LeadEventModel:
    return LeadEventModel(change.lead_id, f"{change.at}#owner#{change.kind}#{change.new_owner or '-'}",
                          kind="ownership", at=change.at, actor=change.actor, from_status=change.expected_status,
                          to_status=change.new_status, reason=change.history_reason,
                          detail={"kind": change.kind, "from_owner": change.expected_owner,
                                  "from_team": change.expected_team, "to_owner": change.new_owner,
                                  "to_team": change.new_team})


def notice_item(notice: Notice, at: str, lead_id: str) -> NotificationModel:
    return NotificationModel(notice.user_id, f"{at}#{notice.kind}#{lead_id}", kind=notice.kind, title=notice.title,
                             body=notice.body, lead_id=lead_id, lead_name=notice.lead_name, created_at=at)


def apply(change: OwnershipChange, notices: Sequence[Notice] = ()) -> None:
    """Apply one change with the messages it sends, all or nothing; a refused condition becomes a
    precise Chinese 409."""
    try:
        with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
            tx.update(LeadModel(change.lead_id), actions=lead_actions(change), condition=lead_condition(change))
            tx.save(history_item(change), condition=LeadEventModel.sk.does_not_exist())
            add_load_ops(tx, change)
            if change.claim_phone:  # the phone's one active lead (uniqueness), as the stream claims it
                claim: list[Action] = [PhoneKeyModel.active_lead.set(change.lead_id),
                                       PhoneKeyModel.updated_at.set(change.at)]
                tx.update(PhoneKeyModel(change.claim_phone), actions=claim,
                          condition=PhoneKeyModel.active_lead.does_not_exist()
                          | (PhoneKeyModel.active_lead == change.lead_id))
            for notice in notices:
                tx.save(notice_item(notice, change.at, change.lead_id), condition=NotificationModel.sk.does_not_exist())
    except ConditionFailed as exc:
        raise explain_refusal(change) from exc
    metrics.ownership_change(change.kind)  # every move but routing (counted by the stream) passes here


def explain_refusal(change: OwnershipChange) -> Conflict:
    """Which condition refused the change, read back on the unhappy path only."""
    lead = LeadModel.get(change.lead_id, consistent_read=True)
    if lead.status != change.expected_status or (lead.owner or None) != change.expected_owner:
        if change.kind == "claim":
            return Conflict("该线索已被他人领取", code="ALREADY_CLAIMED")
        return Conflict("线索已被他人修改，请刷新后重试")
    if change.claim_phone:
        try:
            other = PhoneKeyModel.get(change.claim_phone, consistent_read=True).active_lead
        except PhoneKeyModel.DoesNotExist:
            other = None
        if other and other != change.lead_id:
            return Conflict(f"该客户已有在跟进的线索 {other}，请在该线索上跟进", code="PHONE_IN_USE")
    if change.check_cooldown:
        cooldown = counter(change.actor, f"cooldown#{change.lead_id}")
        if cooldown.until and cooldown.until >= change.at:
            return Conflict(f"您释放或被收回的线索在 {beijing(cooldown.until)} 之前不能再次领取", code="CLAIM_COOLDOWN")
    owner = change.new_owner or change.actor
    held, today = loads([owner], change.day, consistent=True)[owner]
    if change.caps.max_open is not None and held >= change.caps.max_open:
        return Conflict(f"持有线索已达上限（{change.caps.max_open} 条）", code="MAX_OPEN_REACHED")
    if change.caps.daily is not None and today >= change.caps.daily:
        return Conflict(f"今日分配已达上限（{change.caps.daily} 条）", code="DAILY_CAP_REACHED")
    if change.kind == "claim" and change.caps.claims_per_day is not None and \
            counter(change.actor, f"claims#{change.day}").n >= change.caps.claims_per_day:
        return Conflict(f"今日领取已达上限（{change.caps.claims_per_day} 条）", code="CLAIM_CAP_REACHED")
    return Conflict("操作冲突，请重试")


class Load:
    def __init__(self, count: int = 0, until: str | None = None) -> None:
        self.n = count
        self.until = until


def counter(user: str, key: str) -> Load:
    try:
        with aws_errors():
            row = RepLoadModel.get(user, key, consistent_read=True)
    except RepLoadModel.DoesNotExist:
        return Load()
    return Load(int(row.n or 0), row.until)


def loads(users: list[str], day: str, consistent: bool = False) -> dict[str, tuple[int, int]]:
    """(open, assigned on `day`) per rep: their load items, in one batch read (whole: a reservation a
    dead container left is given back here, and the item read again)."""
    keys = [{"user_id": {"S": u}, "key": {"S": LOAD}} for u in dict.fromkeys(users)]
    found = {item["user_id"]["S"]: item for item in batch_get(RepLoadModel.Meta.table_name, keys,
                                                              ConsistentRead=consistent)}
    now = time.time()
    if any([_repair(user, item, now) for user, item in found.items()]):
        return loads(users, day, consistent=True)

    def number(item: dict[str, Any], name: str) -> int:
        return int(item.get(name, {}).get("N", 0))

    return {u: (number(found.get(u, {}), "n"), number(found.get(u, {}), day_attribute(day))) for u in users}


def to_member(row: UserModel) -> Member:
    """A users-table item as routing and the pool see it (role, duty, caps)."""
    return {"user_id": row.user_id, "name": row.name, "role": row.role, "team": row.team, "active": bool(row.active),
            "on_duty": bool(row.on_duty), "daily_cap": int(row.daily_cap), "max_open": int(row.max_open)}


def team_members(team: str) -> list[Member]:
    with aws_errors():
        return [to_member(r) for r in UserModel.by_team.query(team)]


def user_record(user_id: str) -> Member | None:
    try:
        with aws_errors():
            return to_member(UserModel.get(user_id))
    except UserModel.DoesNotExist:
        return None


def update_user(user_id: str, changes: UserChanges) -> None:
    actions: list[Action] = [getattr(UserModel, name).set(value) for name, value in changes.items()]
    UserModel(user_id).update(actions=actions, condition=UserModel.user_id.exists())
