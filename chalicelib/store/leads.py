"""Lead persistence: the only module that reads or writes lead items and their history."""

from __future__ import annotations

import base64
import heapq
import itertools
import json
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain import analytics
from chalicelib.domain.records import HistoryEntry, JsonObject, Lead, PageKey
from chalicelib.errors import BadRequest, Conflict, StoreUnavailable
from chalicelib.plain import from_dynamodb, plain
from chalicelib.store.aws_errors import ConditionFailed, aws_errors, conditional
from chalicelib.store.connection import BATCH_KEYS, batch_get, transaction_connection
from chalicelib.store.schema import IdempotencyModel, LeadEventModel, LeadModel

_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class IdempotencyClaim:
    key: str
    request_hash: str
    created_at: str
    expires_at_epoch: int


@dataclass(frozen=True)
class LeadPage:
    items: list[Lead]
    cursor: str | None


def to_item(lead: Lead) -> LeadModel:
    """A lead record as the leads table stores it (`utm_*` fields in one `utm` map)."""
    data = {k: v for k, v in lead.items() if k not in _UTM and v is not None}
    utm = {k: v for k, v in lead.items() if k in _UTM and v}
    if utm:
        data["utm"] = utm
    return LeadModel(**data)  # type: ignore[arg-type]  # keys are the model's attributes (Lead)


def to_lead(model: LeadModel) -> Lead:
    """A leads-table item as a lead record: every attribute that is set, `utm` spread out."""
    data: dict[str, object] = {}
    for name in LeadModel.get_attributes():
        value = getattr(model, name)
        if value is None:
            continue
        if name == "utm":
            data.update(value.as_dict())
        elif isinstance(value, datetime):  # the retention TTL
            data[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, MapAttribute):
            data[name] = _plain_map(value)
        else:
            data[name] = plain(value)
    consent = data.get("consent")
    if isinstance(consent, dict):
        data["consent"] = full_consent(consent, data)
    return data  # type: ignore[return-value]  # the attributes are the record's keys (tests/test_records)


def full_consent(consent: dict[str, Any], lead: Mapping[str, Any]) -> dict[str, Any]:
    """The consent as recorded: since 2026-12 the lead keeps its time and page once, as its own
    `created_at` and `page_url` (`on_page`: given on that page); a consent stored whole before is as
    it was."""
    out = {k: v for k, v in consent.items() if k != "on_page"}
    if "at" not in out and lead.get("created_at"):
        out["at"] = lead["created_at"]
    if consent.get("on_page") and lead.get("page_url") and "page_url" not in out:
        out["page_url"] = lead["page_url"]
    return out


def set_actions(fields: Lead) -> list[Action]:
    """Updates that set (or, for None, remove) lead attributes."""
    actions: list[Action] = []
    for name, value in fields.items():
        attribute = getattr(LeadModel, name)
        actions.append(attribute.set(value) if value is not None else attribute.remove())
    return actions


def insert(lead: Lead, claim: IdempotencyClaim | None) -> tuple[str, bool]:
    """Write a new lead. Returns (lead_id, created). With an Idempotency-Key already used for the
    same request, returns the first lead's id and writes nothing; for a different request, 409.

    The key is claimed first (conditional put) and names the lead number; then the lead is written
    (conditional put). A retry after a failure between the two finds the claim and writes the lead
    under the claimed number: two single-item writes, no transaction (which would cost double)."""
    model = to_item(lead)
    if claim is None:
        try:
            _put_new(model)
        except _Exists as exc:  # lead numbers are reserved in blocks: never reused
            raise StoreUnavailable() from exc
        return model.lead_id, True
    model.idempotency_key = claim.key  # so erasing the person finds the key item too
    record = IdempotencyModel(claim.key, lead_id=model.lead_id, request_hash=claim.request_hash,
                              created_at=claim.created_at,
                              expires_at=datetime.fromtimestamp(claim.expires_at_epoch, tz=UTC))
    if not conditional(lambda: record.save(condition=IdempotencyModel.key.does_not_exist())):
        first = _replay(claim)
        if existing([first]):
            return first, False
        model.lead_id = first  # the first request claimed the key but its lead was never written
    try:
        _put_new(model)
    except _Exists:  # a concurrent retry of the same request wrote it meanwhile
        return model.lead_id, False
    return model.lead_id, True


class _Exists(Exception):
    pass


def _put_new(model: LeadModel) -> None:
    if not conditional(lambda: model.save(condition=LeadModel.lead_id.does_not_exist())):
        raise _Exists()


def insert_batch(batch: list[Lead]) -> None:
    """Write new leads in BatchWriteItem requests of 25 (pynamodb retries unprocessed items).
    Unconditional: callers write only lead numbers they reserved and checked with `existing`."""
    with aws_errors(), LeadModel.batch_write() as writer:
        for lead in batch:
            writer.save(to_item(lead))


def existing(lead_ids: list[str]) -> set[str]:
    """Which of these lead numbers are already written (BatchGetItem, keys only)."""
    with aws_errors():
        return {row.lead_id for row in LeadModel.batch_get(lead_ids, attributes_to_get=["lead_id"])}


def names(lead_ids: set[str]) -> dict[str, str | None]:
    """The customers' names of some leads, in batch reads (task lists and alerts show names)."""
    if not lead_ids:
        return {}
    with aws_errors():
        return {row.lead_id: row.name for row in LeadModel.batch_get(sorted(lead_ids),
                                                                     attributes_to_get=["lead_id", "name"])}


def _replay(claim: IdempotencyClaim) -> str:
    with aws_errors():
        first = IdempotencyModel.get(claim.key, consistent_read=True)
    if first.request_hash != claim.request_hash:
        raise Conflict("该 Idempotency-Key 已用于另一份不同的提交", code="IDEMPOTENCY_KEY_REUSED")
    return first.lead_id


def get(lead_id: str, consistent: bool = False) -> Lead | None:
    try:
        with aws_errors():
            return to_lead(LeadModel.get(lead_id, consistent_read=consistent))
    except LeadModel.DoesNotExist:
        return None


def move_status(lead_id: str, expected: str, target: str, at: str, actor: str, reason: str,
                event_key: str, set_fields: Lead | None = None) -> bool:
    """Conditionally move a lead from `expected` to `target` and record it in its history, in one
    transaction keyed on `event_key` (e.g. the stream eventID). False when the lead is no longer in
    `expected` or the event was already applied: replays change nothing."""
    actions: list[Action] = [LeadModel.status.set(target), LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    actions += set_actions(set_fields or {})
    history = LeadEventModel(lead_id, f"{at}#status#{event_key}", kind="status", at=at, actor=actor,
                             from_status=expected, to_status=target, reason=reason)
    try:
        with aws_errors(), TransactWrite(connection=transaction_connection()) as tx:
            tx.update(LeadModel(lead_id), actions=actions,
                      condition=LeadModel.status == expected)
            tx.save(history, condition=LeadEventModel.sk.does_not_exist())
        return True
    except ConditionFailed as exc:
        if "ConditionalCheckFailed" in exc.reasons:
            return False
        raise StoreUnavailable() from exc


def reject_new(lead_id: str, at: str, fields: Lead) -> bool:
    """A `new` lead cleaning refused: `invalid`, with `fields` (its reasons and `invalid_at`, which its
    history entry is rebuilt from, `history.invalid_entry`), one conditional update, no history item
    (three write units less than the transaction of `move_status`). False when it already left `new`."""
    actions: list[Action] = [LeadModel.status.set("invalid"), LeadModel.updated_at.set(at), LeadModel.version.add(1)]
    return conditional(lambda: LeadModel(lead_id).update(actions=actions + set_actions(fields),
                                                          condition=LeadModel.status == "new"))


def to_entry(row: LeadEventModel) -> HistoryEntry:
    """A history item as a history entry (without its keys)."""
    item = {k: v for k, v in row.attribute_values.items() if k not in ("lead_id", "sk", "detail")}
    if row.detail is not None:
        item["detail"] = _plain_map(row.detail.as_dict())
    return item  # type: ignore[return-value]  # the model's attributes are the entry's keys


def history(lead_id: str, limit: int = 50) -> list[HistoryEntry]:
    rows = LeadEventModel.query(lead_id, scan_index_forward=False, limit=limit)
    return [to_entry(row) for row in rows]


def routing_entry(lead: Lead, entries: list[HistoryEntry]) -> HistoryEntry | None:
    """The history entry of the lead's routing (its one move out of `new`, at `route.decided_at`):
    among `entries` (the newest, already read), else read by its key (a lead with a long history)."""
    for entry in entries:
        if entry.get("kind") == "status" and entry.get("from_status") == "new":
            return entry
    at = (lead.get("route") or {}).get("decided_at")
    if not at:
        return None
    with aws_errors():
        rows = LeadEventModel.query(lead["lead_id"], LeadEventModel.sk.startswith(f"{at}#status#"), limit=1)
        return next((to_entry(row) for row in rows), None)


def _plain_map(value: Any) -> Any:
    if isinstance(value, MapAttribute):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: _plain_map(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_map(v) for v in value]
    return plain(value)


def encode_cursor(state: JsonObject) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> JsonObject:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("分页游标无效", fields={"cursor": "无效"}) from exc
    if not isinstance(state, dict):
        raise BadRequest("分页游标无效", fields={"cursor": "无效"})
    return state


def query_partition(index: str, partition: str, start: str, end: str, filters: dict[str, str],
                    limit: int, last_key: PageKey | None) -> tuple[list[Lead], PageKey | None]:
    """Newest-first page of one index partition between two created_at bounds, `filters` applied
    (a page may hold fewer than `limit` leads: go on from the returned key)."""
    idx = _list_index(index)
    if index != "by_day":  # a lead read whole that changed hands since its index entry: not this list's
        filters = {index.removeprefix("by_"): partition, **filters}
    return _query_keys(idx, partition, start, end, filters, limit, last_key)


def _query_keys(idx: Any, partition: str, start: str, end: str, filters: dict[str, str], limit: int,
                last_key: PageKey | None) -> tuple[list[Lead], PageKey | None]:
    """The list indexes hold keys only (so no lead update rewrites them): a page of keys, then the
    leads in one BatchGetItem, filtered here (a filtered page may come back short)."""
    ids, last_key = _keys_page(idx, partition, start, end, limit, last_key)
    found = read_many(ids)
    found.sort(key=lambda lead: (lead["created_at"], lead["lead_id"]), reverse=True)
    return [lead for lead in found if matches(lead, filters)], last_key


def holding(index: str, partitions: list[str], start: str, end: str) -> list[bool]:
    """Which of these partitions of an index hold a lead between the bounds: one key each, the
    queries at once (a list walking back over quiet days, an export's last days, wait for one
    round trip, not one per day)."""
    idx = _list_index(index)
    with aws_errors():
        return list(_pool().map(lambda partition: bool(_keys_page(idx, partition, start, end, 1, None)[0]),
                                partitions))


def query_owners(owners: list[str], start: str, end: str, filters: dict[str, str], limit: int,
                 state: object) -> tuple[list[Lead], dict[str, list[str] | None] | None]:
    """Newest-first page of the leads some owners hold between two created_at bounds: a team's
    list, its members' `by_owner_keys` partitions merged by `created_at` (there is no index keyed on
    the team: a placement writes one index entry less). Each partition is read from where the last
    page left it, at most `limit` keys, all at once; the newest `limit` of them are this page.
    `state` (None to start): per owner, the last key taken ([created_at, lead_id]; null once its
    partition is exhausted; absent, not read yet). Returns the leads, `filters` applied (a page may
    come back short: go on from the state), and the next state (None at the end)."""
    left = _owners_state(state)
    reading = [owner for owner in dict.fromkeys(owners) if left.get(owner, []) is not None]

    def read(owner: str) -> tuple[list[tuple[str, str]], PageKey | None]:
        after = left.get(owner)
        key = {"lead_id": {"S": after[1]}, "owner": {"S": owner}, "created_at": {"S": after[0]}} if after else None
        return _index_page(LeadModel.by_owner, owner, start, end, limit, key)

    with aws_errors():
        pages = dict(zip(reading, _pool().map(read, reading), strict=True))
    merged = heapq.merge(*([(created, lead_id, owner) for created, lead_id in rows]
                           for owner, (rows, _) in pages.items()), reverse=True)
    taken = list(itertools.islice(merged, limit))
    after = {owner: left[owner] for owner in owners if owner in left}
    for owner, (rows, more) in pages.items():
        mine = [[created, lead_id] for created, lead_id, who in taken if who == owner]
        if len(mine) == len(rows) and more is None:
            after[owner] = None  # exhausted
        elif mine:
            after[owner] = mine[-1]
    listed = {lead_id: owner for _, lead_id, owner in taken}
    found = [lead for lead in read_many(list(listed)) if lead.get("owner") == listed[lead["lead_id"]]]
    found.sort(key=lambda lead: (lead["created_at"], lead["lead_id"]), reverse=True)
    done = all(after.get(owner, []) is None for owner in reading)
    return [lead for lead in found if matches(lead, filters)], None if done else after


def _owners_state(state: object) -> dict[str, list[str] | None]:
    """A merged list's cursor state as `query_owners` wrote it (a tampered one: 400)."""
    if state is None:
        return {}
    if isinstance(state, dict) and all(
            isinstance(owner, str) and (at is None or (isinstance(at, list) and len(at) == 2
                                                       and all(isinstance(x, str) and x for x in at)))
            for owner, at in state.items()):
        return state
    raise BadRequest("分页游标无效", fields={"cursor": "无效"})


def _list_index(name: str) -> Any:
    """The keys-only index a list reads (`by_day`, `by_owner`)."""
    return {"by_day": LeadModel.by_day, "by_owner": LeadModel.by_owner}[name]


def _keys_page(idx: Any, partition: str, start: str, end: str, limit: int,
               last_key: PageKey | None) -> tuple[list[str], PageKey | None]:
    """Up to `limit` lead ids of a keys-only index partition, newest first, and where to go on from."""
    rows, last_key = _index_page(idx, partition, start, end, limit, last_key)
    return [lead_id for _, lead_id in rows], last_key


def _index_page(idx: Any, partition: str, start: str, end: str, limit: int,
                last_key: PageKey | None) -> tuple[list[tuple[str, str]], PageKey | None]:
    """Up to `limit` (created_at, lead id) of a keys-only index partition, newest first, and where to
    go on from (the low-level client's answer as it is: a page of 500 keys as models cost more than
    the query)."""
    query = {"TableName": LeadModel.Meta.table_name, "IndexName": idx.Meta.index_name,
             "KeyConditionExpression": "#p = :p AND #c BETWEEN :a AND :b", "ScanIndexForward": False,
             "ExpressionAttributeNames": {"#p": idx._hash_key_attribute().attr_name, "#c": "created_at"},
             "ExpressionAttributeValues": {":p": {"S": partition}, ":a": {"S": start}, ":b": {"S": end}}}
    rows: list[tuple[str, str]] = []
    with aws_errors():
        while len(rows) < limit:  # more than one request only when a page stops at 1 MB
            page = transaction_connection().client.query(
                **query, Limit=limit - len(rows), **({"ExclusiveStartKey": last_key} if last_key else {}))
            rows += [(item["created_at"]["S"], item["lead_id"]["S"]) for item in page.get("Items", [])]
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                break
    return rows, last_key


def read_many(ids: list[str]) -> list[Lead]:
    """Leads by id, in no particular order; a missing id is left out. Beyond one request's 100 keys
    the requests go out in parallel (an export's page of 500 is five requests at once, not in turn).
    Read with the low-level client and `lead_of_item`: a list page or an export reads hundreds of
    leads, and building a model of each cost more than the read itself."""
    if len(ids) <= BATCH_KEYS:
        return _batch_read(ids) if ids else []
    chunks = [ids[i:i + BATCH_KEYS] for i in range(0, len(ids), BATCH_KEYS)]
    with aws_errors():
        return [lead for part in _pool().map(read_many, chunks) for lead in part]


def _batch_read(ids: list[str]) -> list[Lead]:
    keys = [{"lead_id": {"S": lead_id}} for lead_id in ids]
    return [lead_of_item(item) for item in batch_get(LeadModel.Meta.table_name, keys)]


@lru_cache(maxsize=1)
def _attribute_names() -> Mapping[str, str]:
    """The table's attribute names → the model's (and the record's) names."""
    return {attribute.attr_name: name for name, attribute in LeadModel.get_attributes().items()}


@lru_cache(maxsize=1)
def _defaults() -> Mapping[str, Any]:
    """What the model gives an attribute the item does not hold (`version`: 1)."""
    return {name: attribute.default for name, attribute in LeadModel.get_attributes().items()
            if attribute.default is not None}


def lead_of_item(item: Mapping[str, Mapping[str, Any]]) -> Lead:
    """A leads-table item as the low-level client reads it, as `to_lead` gives it from the model:
    the model's attributes that are set, numbers plain, `utm` spread out, the retention TTL as a time."""
    names = _attribute_names()
    data: dict[str, object] = {name: default() if callable(default) else default
                               for name, default in _defaults().items()}
    for attr_name, stored in item.items():
        name = names.get(attr_name)
        if name is None:
            continue
        value = from_dynamodb(stored)
        if value is None:
            continue
        if name == "utm":
            data.update(value)
        elif name == "expires_at":
            data[name] = datetime.fromtimestamp(int(stored["N"]), UTC).isoformat().replace("+00:00", "Z")
        else:
            data[name] = value
    consent = data.get("consent")
    if isinstance(consent, dict):
        data["consent"] = full_consent(consent, data)
    return data  # type: ignore[return-value]  # the attributes are the record's keys (tests/test_records)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=5, thread_name_prefix="batch-get")


NONE = "_none"  # a filter value meaning "the lead has no such field" (the dashboard's 未知 / 未分配)
_NOT_VALID = ("invalid", "duplicate")
_INTENT = ("intent", "qualifying", "won")


def _stage(stage: str) -> Condition:
    """The dashboard's funnel stages as conditions (the same rules as domain/analytics.py)."""
    valid: Condition = ~LeadModel.status.is_in(*_NOT_VALID)
    if stage == "valid":
        return valid
    if stage == "intent":
        reached: Condition = LeadModel.intent_at.exists() | LeadModel.status.is_in(*_INTENT)
        both: Condition = valid & reached
        return both
    if stage == "won":
        won: Condition = LeadModel.status == "won"
        return won
    return LeadModel.first_contact_at.exists()  # first_contact


def filter_condition(filters: dict[str, str]) -> Condition | None:
    condition: Condition | None = None
    for name, value in filters.items():
        if name == "stage":
            clause = _stage(value)
        elif value == NONE:
            clause = getattr(LeadModel, name).does_not_exist()
        else:
            clause = getattr(LeadModel, name) == value
        condition = clause if condition is None else condition & clause
    return condition


def matches(lead: Lead, filters: dict[str, str]) -> bool:
    """`filter_condition` evaluated on a lead already read (the same rules)."""
    for name, value in filters.items():
        if name == "stage":
            reached = {"valid": analytics.is_valid, "intent": analytics.reached_intent, "won": analytics.is_won,
                       "first_contact": lambda image: image.get("first_contact_at") is not None}[value]
            if not reached(lead):
                return False
        elif name.endswith("_not"):  # none of these values (`_none`: the field is set)
            if _field(lead, name.removesuffix("_not")) in value.split(","):
                return False
        elif _field(lead, name) != value:
            return False
    return True


def _field(lead: Lead, name: str) -> str:
    """A lead's value as the filters name it (`custom.<key>` inside `custom`), NONE when absent."""
    if name.startswith("custom."):
        custom = lead.get("custom")
        raw = custom.get(name[len("custom."):]) if isinstance(custom, dict) else None
    else:
        raw = lead.get(name)
    return NONE if raw is None or raw == "" else str(raw)


def query_pool(partition: str, after: str, before: str, filters: dict[str, str], min_amount: float | None,
               max_amount: float | None, limit: int) -> list[Lead]:
    """One region's pooled leads with after <= created_at <= before, newest first."""
    return list(_pool_leads(partition, after, before, _pool_condition(filters, min_amount, max_amount), limit, limit))


def pool_leads(partition: str, before: str, filters: dict[str, str], page: int) -> Iterator[Lead]:
    """Every pooled lead of one region created before `before`, newest first, read `page` at a time
    (an export of the pool merges the regions' as they come: each lead read once)."""
    return _pool_leads(partition, "0", before, _pool_condition(filters, None, None), page)


def _pool_leads(partition: str, after: str, before: str, condition: Condition | None, page: int,
                total: int | None = None) -> Iterator[Lead]:
    """Pages of up to `page` leads (at most `total` in all); a filtered page may come back short: go
    on from where it stopped."""
    last_key: PageKey | None = None
    given = 0
    while total is None or given < total:
        found, last_key = _pool_page(partition, after, before, condition,
                                     page if total is None else min(page, total - given), last_key)
        yield from found
        given += len(found)
        if not last_key:
            return


def _pool_condition(filters: dict[str, str], min_amount: float | None, max_amount: float | None) -> Condition | None:
    condition = filter_condition(filters)
    for clause in ([LeadModel.amount >= min_amount] if min_amount is not None else []) + \
                  ([LeadModel.amount <= max_amount] if max_amount is not None else []):
        condition = clause if condition is None else condition & clause
    return condition


def _pool_page(partition: str, after: str, before: str, condition: Condition | None, limit: int,
               last_key: PageKey | None) -> tuple[list[Lead], PageKey | None]:
    """One request's pooled leads (the index holds whole leads: taken from the answer by
    `lead_of_item`, no model built per lead) and where to go on from."""
    with aws_errors():
        answer = LeadModel._get_connection().query(
            partition, range_key_condition=LeadModel.created_at.between(after, before), filter_condition=condition,
            index_name=LeadModel.by_pool.Meta.index_name, scan_index_forward=False, limit=limit,
            exclusive_start_key=last_key)
    return [lead_of_item(item) for item in answer.get("Items", [])], answer.get("LastEvaluatedKey")


def clock_actions(lead_id: str, sla_at: str | None, idle_at: str | None, alert_at: str | None = None) -> list[Action]:
    """Set (or remove) a lead's two clocks and its one entry in the sweep's index, keyed on the
    earliest of them and `alert_at` (the due time of its assignment's tasks, `sop.pending_alert`)."""
    from chalicelib.domain.sop import next_clock, shard_of  # not on the capture path: the SOP rules' models

    clock = next_clock(sla_at, idle_at, alert_at)
    actions: list[Action] = []
    for attribute, value in ((LeadModel.sla_at, sla_at), (LeadModel.idle_at, idle_at), (LeadModel.clock_at, clock),
                             (LeadModel.clock_shard, shard_of(lead_id) if clock else None)):
        actions.append(attribute.set(value) if value else attribute.remove())
    return actions


def clock_due(shard: str, now: str, limit: int = 500) -> list[Lead]:
    """Owned leads one of whose clocks (first contact, no activity) came due, oldest first: a sparse,
    keys-only index, so only those are read, then the leads themselves. One whose clock moved past
    `now` (or went) since the index was written is left."""
    with aws_errors():
        ids = [row.lead_id for row in LeadModel.by_clock.query(shard, LeadModel.clock_at <= now, limit=limit)]
        found = read_many(ids)
    order = {lead_id: n for n, lead_id in enumerate(ids)}
    due = [lead for lead in found if lead.get("clock_at") and str(lead.get("clock_at")) <= now]
    return sorted(due, key=lambda lead: order[lead["lead_id"]])


def set_clocks(lead: Lead, sla_at: str | None, idle_at: str | None, alert_at: str | None = None) -> bool:
    """Move a lead's clocks once per deadline that came due: conditional on the index key the sweep
    found, so the same tick twice (or two sweeps at once) moves them once."""
    actions = clock_actions(lead["lead_id"], sla_at, idle_at, alert_at)
    return conditional(lambda: LeadModel(lead["lead_id"]).update(
        actions=actions, condition=LeadModel.clock_at == lead.get("clock_at")))


def set_score(lead_id: str, fields: Lead, signals: Mapping[str, object]) -> bool:
    """Write a new score, only while the lead's engagement signals are still those it was computed
    from (a replayed or overtaken stream record changes nothing) and only if it differs."""
    condition: Condition | None = None
    for name, value in signals.items():
        attribute = getattr(LeadModel, name)
        part = attribute.does_not_exist() if value is None else attribute == value
        condition = part if condition is None else condition & part
    changed = (LeadModel.score_reasons.does_not_exist() | (LeadModel.score != fields["score"])
               | (LeadModel.score_reasons != fields["score_reasons"])
               | (LeadModel.score_version != fields["score_version"])
               | (LeadModel.score_basis != fields["score_basis"]))
    condition = changed if condition is None else condition & changed
    actions: list[Action] = [getattr(LeadModel, k).set(v) for k, v in fields.items()]
    if "score_probability" not in fields:
        actions.append(LeadModel.score_probability.remove())
    try:
        with aws_errors():
            LeadModel(lead_id).update(actions=actions, condition=condition & LeadModel.lead_id.exists())
        return True
    except ConditionFailed:
        return False


def migrate_clocks() -> int:
    """Leads written before the sweep's one index (`by_clock_keys`; their clocks were keyed in
    `by_sla_keys` and `by_idle_keys` through `sla_shard` / `idle_shard`) keyed in it, the old keys
    removed. Offline, once per store (a Scan: `local` on start, `infra.ops clocks` on AWS);
    conditional on each lead's version, so a lead changed meanwhile (and keyed by that change) is
    left as it is. Returns the leads moved."""
    from pynamodb.expressions.operand import Path

    moved = 0
    for lead in scan_all():
        sla_at, idle_at = lead.get("sla_at"), lead.get("idle_at")
        if not (sla_at or idle_at) or lead.get("clock_shard"):  # keyed in the one index already
            continue
        actions = [*clock_actions(lead["lead_id"], sla_at, idle_at), Path("sla_shard").remove(),
                   Path("idle_shard").remove()]
        moved += conditional(partial(LeadModel(lead["lead_id"]).update, actions=actions,
                                     condition=LeadModel.version == lead["version"]))
    return moved


def scan_all() -> Iterator[Lead]:
    """Every lead. A Scan: only for offline ops (the aggregates rebuild), never a request path."""
    try:
        for row in LeadModel.scan():
            yield to_lead(row)
    except Exception as exc:  # pynamodb's ScanError and botocore's errors alike
        raise StoreUnavailable() from exc
