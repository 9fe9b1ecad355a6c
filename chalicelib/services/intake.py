"""The lead stream's work on a captured lead: clean it, then de-duplicate it on the phone, race-free.

INSERT of a `new` lead → `invalid` (with every reason), or the phone's active lead (placed in the
pool or with its owner), or a `duplicate` merged into the phone's active lead. MODIFY into a closed
status → the lead gives its phone up, so the person's next inquiry starts a new lead.
Every step is conditional and keyed on the stream record, so a replay changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from chalicelib.domain.cleaning import clean_lead, differences, fillable
from chalicelib.domain.lifecycle import ACTIVE, CLOSED
from chalicelib.domain.ownership import Notice, OwnershipChange, pool_key
from chalicelib.domain.timeutil import parse_iso
from chalicelib.geo import home_of
from chalicelib.services import capture_guard, handoff, names, routing, scoring, sop
from chalicelib.services.privacy import retention_expiry
from chalicelib.store import config, counters, dedup, directory, leads

MAX_ATTEMPTS = 8
# A lead still `new` this long after it was captured will not be placed by the stream any more: its
# record is older than the mappings' MaximumRecordAgeInSeconds (6 h, infra/package.py), so it was
# given up to the failure queue. A later submission of its phone takes the phone over from it.
STALE_CLAIM = timedelta(hours=7)


class Contention(RuntimeError):
    """The phone item kept changing: let the stream deliver the record again."""


def process_new_lead(image: dict[str, Any], event_id: str, at: str) -> str:
    """Returns what became of the lead: invalid, duplicate, pool, assigned, or already."""
    if image.get("status") != "new":
        return "already"
    lead_id = image["lead_id"]
    rules, profile = config.cleaning_rules(), config.lead_profile()
    ip_burst = capture_guard.count_submission(image, rules.burst, at)
    cleaned = clean_lead(image, rules, profile, home_of, ip_burst=ip_burst)
    if not cleaned.valid:
        moved = leads.move_status(lead_id, "new", "invalid", at, "system", "；".join(cleaned.reasons), event_id,
                                  {**cleaned.updates, "invalid_reasons": cleaned.reasons,
                                   "expires_at": retention_expiry("invalid", at)})
        return "invalid" if moved else "already"
    lead = {**image, **cleaned.updates}
    phone = lead["phone"]
    for _ in range(MAX_ATTEMPTS):
        key = dedup.get_phone_key(phone)
        if key is not None and key.active_lead and key.active_lead != lead_id:
            outcome = _merge_into(lead, key.active_lead, cleaned.updates, event_id, at)
            result = "duplicate"
        else:
            outcome, result = _activate(lead, key, cleaned.updates, event_id, at)
        if outcome is dedup.Outcome.DONE:
            return result
        if outcome is dedup.Outcome.ALREADY:
            return "already"
    raise Contention(f"phone item of {lead_id} kept changing")


def _activate(lead: dict[str, Any], key: dedup.PhoneKey | None, updates: dict[str, Any], event_id: str,
              at: str) -> tuple[dedup.Outcome, str]:
    """Claim the phone, then place the lead, then write its history: three writes, each conditional,
    in this order so that a crash between them is finished by the stream's retry of the record."""
    lead_id, phone = lead["lead_id"], lead["phone"]
    # Scored before routing, so rules can test `score`; re-inquiries count the phone's closed leads.
    score = scoring.score_fields({**lead, "previous_leads": key.history if key is not None else None})
    lead = {**lead, **score}
    route = routing.route(lead, parse_iso(at))
    record = {**route.record, "status": route.status}
    fields: dict[str, Any] = {**updates, **score, "route": record}
    if record.get("priority"):
        fields["priority"] = record["priority"]
    if record.get("tags"):
        fields["tags"] = record["tags"]
    if key is not None and key.history:
        fields["previous_leads"] = key.history
    if route.status == "assigned":
        fields["next_follow_up"] = sop.first_follow_up(at)
    reason = _routing_reason(record, fields.get("previous_leads"))
    change = OwnershipChange("route", lead_id, at, "system", reason, expected_status="new",
                             expected_owner=lead.get("owner"), new_status=route.status, new_owner=route.owner,
                             new_team=route.team, pool_key=pool_key(lead) if route.status == "pool" else None,
                             caps=route.caps, sla_at=sop.sla_deadline(at) if route.status == "assigned" else None,
                             idle_at=sop.idle_deadline(at) if route.status == "assigned" else None,
                             expected_team=lead.get("team"))
    notices: list[Notice] = []
    supervisor = directory.supervisor_of(route.unstaffed_team) if route.unstaffed_team else None
    if supervisor:
        notices.append(Notice(supervisor, "unstaffed", f"无人可分配：{handoff.customer(lead)}",
                              f"客户 {handoff.customer(lead)}（线索 {lead_id}）命中{names.team(route.unstaffed_team)}，"
                              "但无在岗且未满额的销售，已进入公海，请安排处理。", lead.get("name")))
    if route.owner and lead.get("created_by") != route.owner:  # a rep's own entry needs no message
        notices += handoff.notices(change, lead, why=_why(route.record, route.team))
    newly_claimed = key is None or key.active_lead != lead_id
    if not dedup.claim_phone(phone, lead_id, at):
        return dedup.Outcome.RACE, route.status
    outcome = dedup.place(change, fields, notices)
    if outcome is dedup.Outcome.DONE:
        dedup.record_status(lead_id, at, event_id, "new", route.status, reason, _placed(route.owner, route.team))
    elif outcome is dedup.Outcome.ALREADY:
        _finish_replay(lead_id, phone, at, event_id, newly_claimed)
    return outcome, route.status


_STRATEGIES = {"round_robin": "轮流分配", "least_loaded": "最少持有优先", "weighted": "按权重分配"}


def _why(record: dict[str, Any], team: str | None) -> str:
    """The routing reason as a rep reads it: the rule's name and the team, no codes."""
    rule = re.search(r"命中规则「([^」]+)」", str(record.get("reason") or ""))
    how = _STRATEGIES.get(str(record.get("strategy")), "")
    return "".join([f"命中分配规则「{rule.group(1)}」" if rule else "按分配规则",
                    f"，分配至{names.team(team)}" if team else "", f"（{how}）" if how else ""])


def _placed(owner: str | None, team: str | None) -> dict[str, Any]:
    """The routing history entry says where the lead went (the dashboard's first receiver)."""
    return {"kind": "route", "to_owner": owner, "to_team": team}


def _routing_reason(record: dict[str, Any], previous: list[str] | None) -> str:
    reason = str(record.get("reason") or "")
    return reason + (f"（该号码曾有线索 {'、'.join(previous)}）" if previous else "")


def _finish_replay(lead_id: str, phone: str, at: str, event_id: str, newly_claimed: bool) -> None:
    """The lead left `new` before this delivery placed it. Placed by an earlier delivery of this
    record (its route is on the lead): make sure its history entry exists. Now in a status that does
    not hold the phone (closed since, or moved by hand before the stream came): give back the claim
    this delivery just made."""
    current = leads.get(lead_id, consistent=True)
    if newly_claimed and (current is None or current["status"] not in ACTIVE):
        dedup.drop_claim(phone, lead_id)
    if current is not None and current.get("route"):
        record = current["route"]
        dedup.record_status(lead_id, at, event_id, "new", str(record.get("status") or current["status"]),
                            _routing_reason(record, current.get("previous_leads")),
                            _placed(current.get("first_owner") or current.get("owner"),
                                    current.get("first_team") or current.get("team")))


def _phone_burst(lead: dict[str, Any], active: dict[str, Any]) -> bool:
    """More than `phone_max` leads of one phone within the window. Counted only when a submission
    repeats the phone (with the active lead, when it came in the same window), so the first lead of
    a phone, the usual case, writes no counter."""
    burst = config.cleaning_rules().burst
    key, expires = counters.window_key("phone", lead["phone"], lead["created_at"], burst.phone_window_s)
    same_window = counters.window_key("phone", lead["phone"], active["created_at"], burst.phone_window_s)[0] == key
    count = counters.count_in_window(key, lead["lead_id"], burst.phone_max + 1, expires,
                                     also=frozenset({active["lead_id"]} if same_window else ()))
    return count > burst.phone_max


def _merge_into(lead: dict[str, Any], active_id: str, updates: dict[str, Any], event_id: str,
                at: str) -> dedup.Outcome:
    active = leads.get(active_id)
    if active is None or active["status"] in CLOSED:
        # The phone item points at a lead that is gone or closed: free it and read again.
        dedup.release_phone(lead["phone"], active_id, at)
        return dedup.Outcome.RACE
    if active["status"] == "new" and parse_iso(at) - parse_iso(active["created_at"]) > STALE_CLAIM:
        # Claimed, then its delivery failed for good: this submission becomes the active lead (the
        # stale one, should its record be redriven, then merges into it).
        dedup.take_over_phone(lead["phone"], active_id, lead["lead_id"], at)
        return dedup.Outcome.RACE
    capture_guard.count_repeat(lead, active, at)
    quiet = _phone_burst(lead, active)
    profile = config.lead_profile()
    source_label = profile.option_label("source", lead["source"])
    activity = {"channel": lead["source"], "reason": f"客户通过「{source_label}」再次咨询",
                "detail": {"lead_id": lead["lead_id"], "captured_at": lead["created_at"],
                           "differences": differences(active, lead)}}
    notice = None
    if active.get("owner") and not quiet:  # a burst from one phone notifies once per window
        notice = Notice(active["owner"], "re_inquiry", f"客户再次咨询：{handoff.customer(active)}",
                        f"您负责的客户 {handoff.customer(active)}（线索 {active_id}）通过「{source_label}」再次咨询，"
                        "请及时跟进。", active.get("name"))
    fill = fillable(active, lead)
    if fill:  # shown in the re-inquiry's history entry: which empty fields it filled
        activity["detail"]["filled"] = fill
    fields = {**updates}
    if quiet:
        fields["spam_flags"] = sorted({*(lead.get("spam_flags") or []), "phone_burst"})
    return dedup.mark_duplicate(lead["lead_id"], active_id, lead["phone"], at, event_id, fields,
                                fill, activity, notice, import_id=lead.get("import_id"))


def lead_events(old: dict[str, Any] | None, new: dict[str, Any], at: str) -> list[tuple[str, dict[str, Any]]]:
    """The domain events one stream record stands for (ids, codes and times only: no personal data)."""
    base = {"lead_id": new["lead_id"], "at": at}
    if old is None:
        return [("lead.captured", {**base, "source": new.get("source"), "channel": new.get("channel"),
                                   "partner_id": new.get("partner_id"), "created_at": new.get("created_at")})]
    out: list[tuple[str, dict[str, Any]]] = []
    if new.get("owner") and (new.get("owner") != old.get("owner") or old.get("status") == "new"):
        out.append(("lead.assigned", {**base, "owner": new["owner"], "team": new.get("team"),
                                      "rule_id": (new.get("route") or {}).get("rule_id")}))
    if new.get("status") != old.get("status"):
        out.append(("lead.status_changed", {**base, "from": old.get("status"), "to": new.get("status")}))
    return out


def process_lead_change(old: dict[str, Any], new: dict[str, Any], at: str) -> bool:
    """A lead entering a closed status releases its phone (idempotent: conditional on the item);
    every change may call for SOP tasks; engagement signals rescore the lead."""
    changed = sop.on_lead_change(old, new, at) > 0
    changed = scoring.rescore(old, new) or changed
    if new.get("status") in CLOSED and old.get("status") not in CLOSED and new.get("phone"):
        changed = dedup.release_phone(new["phone"], new["lead_id"], at) or changed
    return changed
