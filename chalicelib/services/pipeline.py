"""The lead stream as a pipeline: what happens to a lead after capture (SPEC.md, "The flow").

    a batch of stream records
      → parse        each record's images, once, into lead records
      → per record (a failed one is reported alone, as Powertools' BatchProcessor would)
          INSERT of a `new` lead:
            count      the submission against the IP/phone burst windows
            clean      normalise; not a lead → `invalid` with every reason
            dedup      the phone's active lead? → `duplicate`, merged into it (re-inquiry)
            route      score, then the rule set: team and rep, or the pool
            place      claim the phone, place the lead, write its history (race-free); a lead
                       routed to a rep waits to be placed with the batch's others (placing.py)
          MODIFY: follow up  a routed lead's placement: the rep's notice (one per rep for the
                       leads placed together, written at the batch's end);
                       SOP tasks for the change; a closed lead gives its phone up
          REMOVE: purge  what still names the lead (retention TTL, erasure)
          events       `lead.captured` / `lead.assigned` / `lead.status_changed` on the bus
      → aggregates   the dashboard counters, each record once however the batch is cut

Every step is conditional and keyed on the stream record, so a replay changes nothing.

Records are taken as they come, not as the table's current view type promises: a MODIFY without
`OldImage` (a NEW_IMAGE or KEYS_ONLY view, a replay tool that drops it) is an unknown change, never
a change (no `lead.assigned` / `lead.status_changed`, no dashboard delta); a REMOVE without images
still purges what is keyed on the lead id; a record without `ApproximateCreationDateTime` takes the
time of its batch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from chalicelib import metrics
from chalicelib.domain.cleaning import Cleaned, clean_lead, differences, fillable
from chalicelib.domain.lifecycle import ACTIVE, CLOSED
from chalicelib.domain.ownership import Assigned, Notice, OwnershipChange, pool_key
from chalicelib.domain.records import Activity, EventDetail, JsonObject, Lead, RouteRecord
from chalicelib.domain.routing import history_reason
from chalicelib.domain.timeutil import iso_utc, parse_iso
from chalicelib.geo import home_of
from chalicelib.observability import logger
from chalicelib.plain import from_dynamodb
from chalicelib.services import capture_guard, handoff, names, placing, routing, scoring, sop
from chalicelib.services.aggregates import Change, on_lead_batch
from chalicelib.services.privacy import retention_expiry
from chalicelib.store import config, directory, leads, phone_keys, placement
from chalicelib.store.phone_keys import PhoneKey
from chalicelib.store.placement import Outcome

MAX_ATTEMPTS = 8
# A lead still `new` this long after it was captured will not be placed by the stream any more: its
# record is older than the mappings' MaximumRecordAgeInSeconds (6 h, infra/package.py), so it was
# given up to the failure queue. A later submission of its phone takes the phone over from it.
STALE_CLAIM = timedelta(hours=7)


class Contention(RuntimeError):
    """The phone item kept changing: let the stream deliver the record again."""


class BatchResponse(TypedDict):
    batchItemFailures: list[dict[str, str]]


@dataclass(frozen=True)
class LeadRecord:
    """One stream record, parsed once: its images as lead records."""

    event_id: str
    sequence: str
    kind: str  # INSERT, MODIFY, REMOVE
    at: str
    keys: Lead
    old_image: Lead | None  # as the record has them, whatever its kind
    new_image: Lead | None

    @property
    def old(self) -> Lead | None:
        return self.old_image if self.kind != "INSERT" else None

    @property
    def new(self) -> Lead | None:
        return self.new_image if self.kind != "REMOVE" else None


# --- the batch --------------------------------------------------------------------------------------

@dataclass
class _Together:
    """The batch's 新分配 of leads placed together (`route.group`), per rep and group: one write at
    the batch's end (`placement.notify_together`) where each lead wrote one; a write that fails
    fails the records it was for (the stream delivers them again, and the union names each once)."""

    waiting: dict[tuple[str, str], tuple[list[Assigned], str, list[str], list[JsonObject]]] = field(
        default_factory=dict)

    def add(self, owner: str, group: str, lead: Assigned, why: str, sla_at: str | None, record: JsonObject) -> None:
        leads, _, deadlines, records = self.waiting.setdefault((owner, group), ([], why, [], []))
        leads.append(lead)
        deadlines.extend([sla_at] if sla_at else [])
        records.append(record)

    def flush(self, fail: Callable[[JsonObject], None]) -> None:
        for (owner, group), (placed, why, deadlines, records) in self.waiting.items():
            try:
                placement.notify_together(owner, group, placed, why, min(deadlines) if deadlines else None)
            except Exception:  # noqa: BLE001 - those records alone
                for record in records:
                    fail(record)
        self.waiting.clear()


_TOGETHER: ContextVar[_Together | None] = ContextVar("together", default=None)


def run(event: JsonObject, context: object) -> BatchResponse:
    """A batch of lead stream records (the Lambda event, as AWS sends it): each record through its
    stages, then the dashboard counters, once.

    Partial batch failure as Powertools' BatchProcessor reports it for a DynamoDB stream: a record
    that raises is reported by its sequence number and the others go on; when every record failed,
    BatchProcessingError (the invocation fails, the stream retries and bisects). Written out here
    because importing the batch utility builds Powertools' parser models for every event source
    (SQS, Kinesis, Kafka...) once pydantic is loaded: more than `import boto3` on a cold start."""
    records: list[JsonObject] = event["Records"]
    batch_at = _batch_at(records)
    parsed: dict[str, LeadRecord] = {}
    failed: dict[str, Any] = {}  # sequence number → the error, each failed record once

    def fail(record: JsonObject) -> None:
        logger.debug("record failed", extra={"error": type(sys.exc_info()[1]).__name__})
        failed.setdefault(str((record.get("dynamodb") or {}).get("SequenceNumber")), sys.exc_info())

    def place_held(waiting: list[placing.Waiting]) -> None:
        """The batch's routed leads held back so far, placed together; those refused (a cap, a lead
        moved meanwhile) each placed again on its own (its record handled as if alone); what follows
        a placement after it."""
        try:
            refused = {p.change.lead_id for p in placement.place_group([w.placement for w in waiting])}
        except Exception:  # noqa: BLE001 - each of these records fails, the stream retries (placed ones: `already`)
            for w in waiting:
                fail(w.record)
            return
        for w in waiting:
            try:
                if w.placement.change.lead_id not in refused:
                    for step in w.after:
                        step()
                else:
                    with placing.alone():
                        handle_record(w.record, batch_at, parsed)
            except Exception:  # noqa: BLE001 - that record alone
                fail(w.record)

    together = _Together()
    token = _TOGETHER.set(together)
    try:
        with placing.grouping(place_held) as group:
            for record in records:
                try:
                    handle_record(record, batch_at, parsed)
                except Exception:  # noqa: BLE001 - whatever a record raises fails that record alone
                    fail(record)
            group.flush()
        together.flush(fail)
    finally:
        _TOGETHER.reset(token)
        logger.thread_safe_remove_keys(["correlation_id", "lead_id"])  # per thread: see observability
    order = {str((r.get("dynamodb") or {}).get("SequenceNumber")): i for i, r in enumerate(records)}
    failures = [{"itemIdentifier": seq} for seq in sorted(failed, key=lambda seq: order.get(seq, 0))]
    errors = list(failed.values())
    if records and len(errors) == len(records):
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        raise BatchProcessingError(
            msg=f"All records failed processing. {len(errors)} individual errors logged separately below.",
            child_exceptions=errors)
    return count_for_dashboard(records, parsed, failures, batch_at)


def handle_record(record: JsonObject, batch_at: str, parsed: dict[str, LeadRecord]) -> None:
    """One record through its stages (`record`: as the stream delivers it)."""
    change = parse(record, batch_at)
    parsed[change.sequence] = change
    logger.thread_safe_append_keys(correlation_id=change.event_id, lead_id=change.keys.get("lead_id"))
    if change.kind == "INSERT":
        image = change.new or {}
        if "lead_id" not in image or "phone" not in image:
            raise ValueError("lead image without lead_id or phone")
        outcome = process_new_lead(image, change.event_id, change.at)

        def placed() -> None:
            logger.info("lead cleaned", extra={"outcome": outcome, "lead_id": image["lead_id"]})
            metrics.lead_outcome(outcome, image.get("source"))
            publish_events(None, image, change.at)

        group = placing.current()
        if group is not None and group.holds(image["lead_id"]):  # placed with its batch's others
            group.waiting_for(image["lead_id"], record).after.append(placed)
        else:
            placed()
    elif change.kind == "MODIFY" and change.old is not None and change.new is not None:
        routed = record_routing(change.old, change.new, record)
        if follow_up(change.old, change.new, change.at) or routed:
            logger.info("lead change handled")
        publish_events(change.old, change.new, change.at)
    elif change.kind == "MODIFY":  # what changed is unknown: acting on it would invent a change
        logger.warning("lead modified without both images: change unknown, not acted on",
                       extra={"old_image": change.old is not None, "new_image": change.new is not None})
    elif change.kind == "REMOVE":  # retention TTL or an erasure: purge whatever still names the lead
        from chalicelib.services.privacy import purge_expired

        gone = change.old or change.keys  # a view without images: the keys are all there is
        if "lead_id" not in gone:
            raise ValueError("removed lead without lead_id")
        purge_expired(gone)
        logger.info("removed lead purged", extra={"from_image": change.old is not None})


def parse(record: JsonObject, batch_at: str) -> LeadRecord:
    """The record's images as lead records (Powertools' DynamoDB deserialiser, `plain` turns Decimals
    into numbers), and its own time (epoch seconds, may carry milliseconds), else its batch's."""
    stream = record["dynamodb"]
    old = _image(stream.get("OldImage"))
    new = _image(stream.get("NewImage"))
    return LeadRecord(str(record.get("eventID")), str(stream["SequenceNumber"]), str(record.get("eventName")),
                      _at(record) or batch_at, _image(stream.get("Keys")) or {}, old, new)


def _image(attributes: JsonObject | None) -> Lead | None:
    """DynamoDB JSON as plain values; None for a missing or empty image (as Powertools' record has it)."""
    if not attributes:
        return None
    lead: Lead = {name: from_dynamodb(value) for name, value in attributes.items()}  # type: ignore[assignment]
    return lead


# --- INSERT: count → clean → dedup → route → place ---------------------------------------------------

def process_new_lead(image: Lead, event_id: str, at: str) -> str:
    """Returns what became of the lead: invalid, duplicate, pool, assigned, or already."""
    if image.get("status") != "new":
        return "already"
    rules = config.cleaning_rules()
    ip_burst = capture_guard.count_submission(image, rules.burst, at)  # count
    cleaned = clean_lead(image, rules, config.lead_profile(), home_of, ip_burst=ip_burst)  # clean
    if not cleaned.valid:
        return reject(image, cleaned, at)
    lead: Lead = {**image, **cleaned.updates}
    for _ in range(MAX_ATTEMPTS):
        key = phone_keys.get_phone_key(lead["phone"])  # dedup
        if key is not None and key.active_lead and key.active_lead != lead["lead_id"]:
            group = placing.current()
            if group is not None and group.holds(key.active_lead):
                group.flush()  # merge into the lead as placed (its owner is told of the re-inquiry)
                continue
            outcome, result = merge_into(lead, key.active_lead, cleaned.updates, at), "duplicate"
        else:
            outcome, result = route_and_place(lead, key, cleaned.updates, event_id, at)
        if outcome in (Outcome.DONE, Outcome.HELD):
            return result
        if outcome is Outcome.ALREADY:
            return "already"
    raise Contention(f"phone item of {lead['lead_id']} kept changing")


def reject(image: Lead, cleaned: Cleaned, at: str) -> str:
    """Not a lead: `invalid`, with every reason, kept until its retention ends."""
    moved = leads.reject_new(image["lead_id"], at, {**cleaned.updates, "invalid_reasons": cleaned.reasons,
                                                     "invalid_at": at, "expires_at": retention_expiry("invalid", at)})
    return "invalid" if moved else "already"


def route_and_place(lead: Lead, key: PhoneKey | None, updates: Lead, event_id: str, at: str) -> tuple[Outcome, str]:
    """Route the lead (scored first, so rules can test `score`; re-inquiries count the phone's closed
    leads), then place it as the phone's active lead."""
    lead_id = lead["lead_id"]
    score = scoring.score_fields({**lead, "previous_leads": key.history if key is not None else None})
    lead = {**lead, **score}
    route = routing.route(lead, parse_iso(at))
    record: RouteRecord = {**route.record, "status": route.status}
    fields: Lead = {**updates, **score, "route": record}
    if record.get("priority"):
        fields["priority"] = record["priority"]
    if record.get("tags"):
        fields["tags"] = record["tags"]
    if key is not None and key.history:
        fields["previous_leads"] = key.history
    clocks = sop.assignment_clocks(at) if route.status == "assigned" else None
    if clocks is not None:
        fields["next_follow_up"] = clocks.first_follow_up
    reason = _routing_reason(record, fields.get("previous_leads"))
    change = OwnershipChange("route", lead_id, at, "system", reason, expected_status="new",
                             expected_owner=lead.get("owner"), new_status=route.status, new_owner=route.owner,
                             new_team=route.team, pool_key=pool_key(lead) if route.status == "pool" else None,
                             caps=route.caps, sla_at=clocks.sla_at if clocks else None,
                             idle_at=clocks.idle_at if clocks else None,
                             alert_at=clocks.first_follow_up if clocks else None, expected_team=lead.get("team"))
    notices: list[Notice] = []
    supervisor = directory.supervisor_of(route.unstaffed_team) if route.unstaffed_team else None
    if supervisor:
        notices.append(Notice(supervisor, "unstaffed", f"无人可分配：{handoff.customer(lead)}",
                              f"客户 {handoff.customer(lead)}（线索 {lead_id}）命中{names.team(route.unstaffed_team)}，"
                              "但无在岗且未满额的销售，已进入公海，请安排处理。", lead.get("name")))
    # A lead routed to an owner: the owner's notice follows from the stream's record of its placement
    # (`record_routing`), one write unit instead of two in its transaction; its history entry is
    # rebuilt from the lead when its history is read (`history.of_lead`).
    newly_claimed = key is None or key.active_lead != lead_id
    group = placing.current()  # within a batch, a routed lead is placed with the batch's others
    outcome = placement.settle(lead["phone"], change, fields, notices, event_id, reason,
                               _placed(route.owner, route.team), hold=group.add if group else None)  # place
    if outcome is Outcome.ALREADY:
        _finish_replay(lead_id, lead["phone"], newly_claimed)
    return outcome, route.status


_STRATEGIES = {"round_robin": "轮流分配", "least_loaded": "最少持有优先", "weighted": "按权重分配"}


def _why(route: routing.Route) -> str:
    """The routing reason as a rep reads it: the rule's name and the team, no codes."""
    how = _STRATEGIES.get(str(route.record.get("strategy")), "")
    return "".join([f"命中分配规则「{route.rule_name}」" if route.rule_name else "按分配规则",
                    f"，分配至{names.team(route.team)}" if route.team else "", f"（{how}）" if how else ""])


def _placed(owner: str | None, team: str | None) -> JsonObject:
    """The routing history entry says where the lead went (the dashboard's first receiver)."""
    return {"kind": "route", "to_owner": owner, "to_team": team}


def _routing_reason(record: RouteRecord, previous: list[str] | None) -> str:
    return history_reason(str(record.get("reason") or ""), previous)


def _finish_replay(lead_id: str, phone: str, newly_claimed: bool) -> None:
    """The lead left `new` before this delivery placed it (placed by an earlier delivery of this
    record: its history entry is rebuilt from the lead, or was written with it). Now in a status
    that does not hold the phone (closed since, or moved by hand before the stream came): give back
    the claim this delivery just made."""
    current = leads.get(lead_id, consistent=True)
    if newly_claimed and (current is None or current["status"] not in ACTIVE):
        phone_keys.drop_claim(phone, lead_id)


def record_routing(old: Lead, new: Lead, record: JsonObject | None = None) -> bool:
    """A lead routing placed with an owner (its record of leaving `new`): the owner's 新分配 notice, in
    the words routing gave it (`routing.explain`: the rule set's version that decided), once however
    often the record comes (store/placement.py); leads placed together (`route.group`) share one
    message per rep, added to at the batch's end (`_Together`). Its routing history entry is not an
    item: the lead keeps the decision, and its history shows it from there (`history.of_lead`)."""
    if old.get("status") != "new" or old.get("route") or "reason" in (new.get("route") or {}):
        return False  # not a placement, or one that kept its reason (pooled: no notice)
    route = routing.explain(new)
    if route is None or new.get("created_by") == route.owner:  # a rep's own entry needs no message
        return False
    lead_id, at = new["lead_id"], str(route.record["decided_at"])
    group = (new.get("route") or {}).get("group")
    if group and route.owner:
        lead = Assigned(lead_id, handoff.customer(new), handoff.summary(new))
        batch = _TOGETHER.get()
        if batch is not None and record is not None:
            batch.add(route.owner, str(group), lead, _why(route), new.get("sla_at"), record)
            return True
        return placement.notify_together(route.owner, str(group), [lead], _why(route), new.get("sla_at"))
    change = OwnershipChange("route", lead_id, at, "system", route.reason, expected_status="new",
                             expected_owner=old.get("owner"), new_status="assigned", new_owner=route.owner,
                             new_team=route.team, pool_key=None, sla_at=new.get("sla_at"),
                             expected_team=old.get("team"))
    return placement.notify_routed(lead_id, at, handoff.notices(change, new, why=_why(route))) > 0


def merge_into(lead: Lead, active_id: str, updates: Lead, at: str) -> Outcome:
    """The phone has an active lead: this submission becomes its `duplicate` (a 再次咨询 on it)."""
    active = leads.get(active_id)
    if active is None or active["status"] in CLOSED:
        # The phone item points at a lead that is gone or closed: free it and read again.
        phone_keys.release_phone(lead["phone"], active_id, at)
        return Outcome.RACE
    if active["status"] == "new" and parse_iso(at) - parse_iso(active["created_at"]) > STALE_CLAIM:
        # Claimed, then its delivery failed for good: this submission becomes the active lead (the
        # stale one, should its record be redriven, then merges into it).
        phone_keys.take_over_phone(lead["phone"], active_id, lead["lead_id"], at)
        return Outcome.RACE
    quiet = capture_guard.count_repeat(lead, active, config.cleaning_rules().burst, at)
    source_label = config.lead_profile().option_label("source", lead["source"])
    activity: Activity = {"channel": lead["source"], "reason": f"客户通过「{source_label}」再次咨询",
                          "detail": {"lead_id": lead["lead_id"], "captured_at": lead["created_at"],
                                     "differences": differences(active, lead)}}
    notice = None
    if active.get("owner") and not quiet:  # a burst from one phone notifies once per window
        notice = Notice(str(active.get("owner")), "re_inquiry", f"客户再次咨询：{handoff.customer(active)}",
                        f"您负责的客户 {handoff.customer(active)}（线索 {active_id}）通过「{source_label}」再次咨询，"
                        "请及时跟进。", active.get("name"))
    fill = fillable(active, lead)
    if fill:  # shown in the re-inquiry's history entry: which empty fields it filled
        activity["detail"]["filled"] = fill
    fields: Lead = {**updates}
    if quiet:
        fields["spam_flags"] = sorted({*(lead.get("spam_flags") or []), "phone_burst"})
    return placement.mark_duplicate(lead["lead_id"], active_id, lead["phone"], at, fields,
                                    fill, activity, notice, import_id=lead.get("import_id"),
                                    check_phone=active["status"] == "new" or bool(active.get("merged_leads")))


# --- MODIFY: follow up -----------------------------------------------------------------------------

def follow_up(old: Lead, new: Lead, at: str) -> bool:
    """A lead entering a closed status releases its phone (idempotent: conditional on the item);
    every change may call for SOP tasks; engagement signals rescore the lead."""
    changed = sop.on_lead_change(old, new, at) > 0
    changed = scoring.rescore(old, new) or changed
    if new.get("status") in CLOSED and old.get("status") not in CLOSED and new.get("phone"):
        changed = phone_keys.release_phone(new["phone"], new["lead_id"], at) or changed
    return changed


# --- events and aggregates -------------------------------------------------------------------------

def lead_events(old: Lead | None, new: Lead, at: str) -> list[tuple[str, EventDetail]]:
    """The domain events one stream record stands for (ids, codes and times only: no personal data)."""
    base: EventDetail = {"lead_id": new["lead_id"], "at": at}
    if old is None:
        return [("lead.captured", {**base, "source": new.get("source"), "channel": new.get("channel"),
                                   "partner_id": new.get("partner_id"), "created_at": new.get("created_at")})]
    out: list[tuple[str, EventDetail]] = []
    if new.get("owner") and (new.get("owner") != old.get("owner") or old.get("status") == "new"):
        out.append(("lead.assigned", {**base, "owner": new.get("owner"), "team": new.get("team"),
                                      "rule_id": (new.get("route") or {}).get("rule_id")}))
    if new.get("status") != old.get("status"):
        out.append(("lead.status_changed", {**base, "from": old.get("status"), "to": new.get("status")}))
    return out


def publish_events(old: Lead | None, new: Lead, at: str) -> None:
    from chalicelib.outbound import publish

    publish(list(lead_events(old, new, at)))


def count_for_dashboard(raw: list[JsonObject], parsed: dict[str, LeadRecord], failures: list[dict[str, str]],
                        batch_at: str) -> BatchResponse:
    """Dashboard counters for the records before the first failed one (a retry starts there), once.
    Each record as the per-record stage parsed it (parsed here only if that stage did not)."""
    failed = {f["itemIdentifier"] for f in failures}
    done: list[Change] = []
    for item in raw:
        if item["dynamodb"]["SequenceNumber"] in failed:
            break
        record = parsed.get(item["dynamodb"]["SequenceNumber"]) or parse(item, batch_at)
        old, new = record.old_image, record.new_image
        # A lead's contribution moves by new − old: without the image a record's kind needs, the
        # delta would count a modified lead again (or not remove a removed one). Left for
        # `make aggregates` to repair, with a warning.
        needs = {"INSERT": new is not None, "MODIFY": old is not None and new is not None,
                 "REMOVE": old is not None}
        if not needs.get(record.kind, False):
            logger.warning("record without the images the dashboard needs: not counted",
                           extra={"event_name": record.kind})
            old = new = None
        done.append(Change(record.event_id, int(record.sequence), old, new))
    try:
        on_lead_batch(done, batch_at)
    except Exception:
        # Nothing of this batch is counted (the marker commits with the counters): deliver again from
        # its first counted record; records before it were counted by an earlier delivery.
        logger.exception("dashboard counters not applied; the batch is delivered again")
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in raw]}
    return {"batchItemFailures": failures}


def _at(record: JsonObject) -> str | None:
    """The record's own time, when the stream gave it one (epoch seconds, may carry milliseconds)."""
    value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    try:
        return iso_utc(datetime.fromtimestamp(float(value), tz=UTC)) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _batch_at(records: list[JsonObject]) -> str:
    """The time of the batch: its latest record time; the clock only for a batch that has none
    (read here at the edge, like an API request's time without requestTimeEpoch)."""
    times = [at for at in map(_at, records) if at is not None]
    return max(times) if times else iso_utc(datetime.now(UTC))
