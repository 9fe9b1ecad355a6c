"""Reading leads within the caller's scope, and moving a new lead on from the stream."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import cast

from chalicelib.domain.access import Principal, can_read_lead, permissions, sees_full_phone
from chalicelib.domain.followup import manual_targets
from chalicelib.domain.lifecycle import STATUS_LABELS
from chalicelib.domain.phone import display_phone, mask_phone
from chalicelib.domain.records import JsonObject, Lead, LeadPageView, LeadView
from chalicelib.domain.routing import route_reason
from chalicelib.domain.scoring import BAND_LABELS
from chalicelib.domain.timeutil import day_bounds_utc
from chalicelib.errors import BadRequest, Forbidden, NotFound
from chalicelib.rules.profile import OPTION_FIELDS
from chalicelib.services import history, names, routing
from chalicelib.store import config, leads, ownership, tasks

_HIDDEN = ("client_ip", "ip_rank", "day", "spam_flags")  # ip_rank: on leads captured before 2026-11-29
MAX_RANGE_DAYS = 366
# Filters beyond status/owner/source: what the dashboard's drill-downs ask for. A value of `_none`
# means the field is absent; `stage` is one of the funnel stages (valid, intent, won, first_contact).
EXTRA_FILTERS = ("partner_id", "loan_type", "region", "province", "customer_type", "stage", "first_team",
                 "first_owner", "score_band", "form_id", "campaign", "purpose", "credit_status", "city")
# The dashboard's teams and reps are those that first received a lead (it may have changed hands since).
_RECEIVED = ("first_team", "first_owner")
# The report builder's drills beyond EXTRA_FILTERS: `custom.<key>=<option code>` (the profile's option
# fields) and `<field>_not=a,b,...` for a top-N dimension's 其他 row (the leads whose field is none of
# these; `_none` among them: the field is set).
NOT_FILTERS = ("city_not", "campaign_not")
CUSTOM_PREFIX = "custom."
STAGES = ("valid", "intent", "won", "first_contact")


def lead_view(lead: Lead, who: Principal) -> LeadView:
    view = cast(LeadView, {k: v for k, v in lead.items() if k not in _HIDDEN})
    if not sees_full_phone(who, lead.get("owner"), lead.get("team")):
        view["phone"] = mask_phone(lead["phone"])
        view["phone_masked"] = True
    else:
        view["phone_masked"] = False
    view["phone_display"] = display_phone(view.get("phone") or "")
    profile = config.lead_profile()
    labels = {f: profile.option_label(f, str(value)) for f in OPTION_FIELDS if (value := lead.get(f))}
    labels["status"] = STATUS_LABELS.get(lead["status"], lead["status"])
    if band := lead.get("score_band"):
        labels["score_band"] = BAND_LABELS.get(band, band)
        labels["score_basis"] = "历史模型" if lead.get("score_basis") == "model" else "先验权重"
    if channel := lead.get("channel"):
        labels["channel"] = names.channel(channel)
    if partner := lead.get("partner_id"):
        labels["partner"] = names.partner(partner)
    consent = lead.get("consent")
    if isinstance(consent, dict) and consent.get("channel"):
        labels["consent_channel"] = names.source(str(consent["channel"]))
    view["labels"] = labels
    # A custom field only some roles see (the profile's `visible_to`) is left out for the others.
    hidden = {spec.key for spec in profile.custom_fields if spec.visible_to and who.role not in spec.visible_to}
    if hidden and isinstance(lead.get("custom"), dict):
        view["custom"] = {k: v for k, v in lead["custom"].items() if k not in hidden}
    view["custom_fields"] = names.custom_fields(view.get("custom"), hidden)
    view["owner_name"] = names.user(lead.get("owner")) or None
    view["team_label"] = names.team(lead.get("team")) or None
    view["can"] = permissions(who, lead)
    return view


def _named_event(entry: Mapping[str, object]) -> JsonObject:
    event: JsonObject = {**entry, "actor_name": names.user(str(entry.get("actor") or "") or None)}
    if event.get("kind") == "activity":
        event["activity_label"] = names.activity(event.get("activity_type"))
        if event.get("channel"):
            event["channel_label"] = names.source(event["channel"])
    detail = event.get("detail")
    if event.get("kind") == "edit" and isinstance(detail, dict):
        event["fields_labels"] = [names.field(str(k)) for k in detail.get("fields") or []]
    if isinstance(detail, dict) and isinstance(detail.get("filled"), dict):
        # A repeat inquiry filled the lead's empty fields: which, with what (never overwritten).
        event["filled"] = [{"field": k, "label": names.field(k), "text": names.value(k, v)}
                           for k, v in sorted(detail["filled"].items())]
    if isinstance(detail, dict):
        event["detail"] = {**detail, "from_owner_name": names.user(detail.get("from_owner")) or None,
                           "to_owner_name": names.user(detail.get("to_owner")) or None,
                           "to_team_label": names.team(detail.get("to_team")) or None}
    return event


def get_lead(lead_id: str, who: Principal) -> LeadView:
    lead = leads.get(lead_id)
    # Out of scope answers like missing: a rep cannot probe which lead numbers exist.
    if lead is None or not can_read_lead(who, lead.get("owner"), lead.get("team"), lead["status"]):
        raise NotFound("线索不存在或无权查看")
    view = lead_view(lead, who)
    view["statuses"] = manual_targets(lead["status"], who.role) if view["can"]["work"] else []
    entries = history.of_lead(lead)
    view["history"] = [_named_event(event) for event in entries]
    route = lead.get("route")
    if isinstance(route, dict) and "reason" not in route and (
            entry := leads.routing_entry(lead, entries) or routing.routing_entry(lead)):
        # A placed lead keeps no routing reason (under 1 KB): its history entry has it (store/placement.py).
        view["route"] = {**route, "reason": route_reason(str(entry.get("reason") or ""), lead.get("previous_leads"))}
    view["tasks"] = [{**task, "owner_name": names.user(task["owner"])} for task in tasks.of_lead(lead_id)]
    # A lead merged by hand keeps both histories: the kept lead shows the merged ones' too.
    merged = [{**event, "lead_id": other} for other in lead.get("merged_leads") or []
              for event in history.of_lead(leads.get(other) or {"lead_id": other})]
    if merged:
        view["merged_history"] = sorted((_named_event(event) for event in merged), key=lambda event: event["at"],
                                        reverse=True)
    return view


_AHEAD = 8  # partitions probed at once for a lead (store/leads.holding)


def _days(first: date, last: date) -> list[tuple[str, str]]:
    return [("by_day", (last - timedelta(days=n)).isoformat()) for n in range((last - first).days + 1)]


def list_leads(who: Principal, *, today: date, status: str | None = None, owner: str | None = None,
               source: str | None = None, date_from: date | None = None, date_to: date | None = None,
               limit: int = 20, cursor: str | None = None, team: str | None = None,
               extra: dict[str, str] | None = None, sort: str | None = None) -> LeadPageView:
    check_sort(sort)
    last = date_to or today
    first = date_from or (last - timedelta(days=29))
    if first > last or (last - first).days >= MAX_RANGE_DAYS:
        raise BadRequest("日期范围无效（最长 366 天）", fields={"from": "无效", "to": "无效"})
    if status is not None and status not in STATUS_LABELS:
        raise BadRequest("未知状态", fields={"status": "无效的状态"})
    start, end = day_bounds_utc(first, last)
    if extra and extra.get("stage") and extra["stage"] not in STAGES:
        raise BadRequest("未知的漏斗阶段", fields={"stage": "可选 valid、intent、won、first_contact"})
    filters = {k: v for k, v in {"status": status, "source": source, **(extra or {})}.items()
               if v and k in ("status", "source", *EXTRA_FILTERS)}
    filters.update(drill_filters(who, extra or {}))
    state = leads.decode_cursor(cursor) if cursor else {}
    if who.role == "rep":
        if owner not in (None, who.user_id):
            raise Forbidden("只能查看自己的线索")
        if team:
            filters["team"] = team
        partitions = [("by_owner", who.user_id)]
    elif who.role == "supervisor":
        if who.team is None:
            raise Forbidden("未加入任何团队")
        if team not in (None, who.team):
            raise Forbidden("只能查看本团队的线索")
        if owner:
            filters["owner"] = owner
        if any(k in filters for k in _RECEIVED):  # the team's leads wherever they are now (pool included)
            if filters.get("first_team", who.team) != who.team:
                raise Forbidden("只能查看本团队的线索")
            filters["first_team"] = who.team
            partitions = _days(first, last)
        elif owner:  # one member's leads: their own partition, this team's only
            filters["team"] = who.team
            partitions = [("by_owner", owner)]
        else:
            partitions = [("by_team", who.team)]
    elif owner:
        if team:
            filters["team"] = team
        partitions = [("by_owner", owner)]
    elif team:
        partitions = [("by_team", team)]
    else:
        partitions = _days(first, last)
    position = int(state.get("p", 0))
    last_key = state.get("k")
    items: list[Lead] = []
    members = {team: [member["user_id"] for member in ownership.team_members(team)]
               for index, team in partitions if index == "by_team"}
    while position < len(partitions) and len(items) < limit:
        index, partition = partitions[position]
        if index == "by_team":  # the team's members' leads, merged newest first
            page, last_key = leads.query_owners(members[partition], start, end, {**filters, "team": partition},
                                                limit - len(items), last_key)
        else:
            page, last_key = leads.query_partition(index, partition, start, end, filters, limit - len(items),
                                                   last_key)
        items.extend(page)
        if last_key is None:
            position += 1
            while len(items) < limit and position + 1 < len(partitions):  # walking on: past empty days at once
                ahead = [name for _, name in partitions[position:position + _AHEAD]]
                held = leads.holding(index, ahead, start, end)
                if True in held:
                    position += held.index(True)
                    break
                position += len(ahead)
    more = position < len(partitions)
    next_cursor = leads.encode_cursor({"p": position, "k": last_key}) if more else None
    return {"items": [lead_view(item, who) for item in by_score(items, sort)], "cursor": next_cursor}


def is_drill_param(name: str) -> bool:
    """A query parameter `drill_filters` reads (the handler passes them on with EXTRA_FILTERS)."""
    return name in NOT_FILTERS or name.startswith(CUSTOM_PREFIX)


def drill_filters(who: Principal, params: Mapping[str, str]) -> dict[str, str]:
    """The custom-field and 其他 filters of a report drill, checked against the lead profile."""
    out: dict[str, str] = {}
    profile = config.lead_profile()
    for name, value in params.items():
        if not value or not is_drill_param(name):
            continue
        if name in NOT_FILTERS:
            if not [v for v in value.split(",") if v]:
                raise BadRequest("排除的取值不能为空", fields={name: "至少一个取值"})
            out[name] = value
            continue
        spec = profile.custom_field(name[len(CUSTOM_PREFIX):])
        if spec is None or spec.type != "option":
            raise BadRequest("未知的自定义字段", fields={name: "线索档案中没有这个选项字段"})
        if spec.visible_to and who.role not in spec.visible_to:
            raise Forbidden(f"无权按“{spec.label}”筛选")
        if value != leads.NONE and value not in {o.value for o in spec.options}:
            raise BadRequest(f"“{spec.label}”没有这个选项", fields={name: "无效的选项"})
        out[name] = value
    return out


SORTS = ("created", "score")


def check_sort(sort: str | None) -> None:
    if sort is not None and sort not in SORTS:
        raise BadRequest("未知的排序方式", fields={"sort": "可选 created（最新在前）、score（评分高在前）"})


def by_score(items: list[Lead], sort: str | None) -> list[Lead]:
    """sort=score orders the page read (newest first by the index) by score, highest first, then
    newest; unscored leads (captured before scoring existed) last. Pages stay pages of the index."""
    if sort != "score":
        return items
    def key(lead: Lead) -> tuple[float, tuple[int, ...], str]:
        score = lead.get("score")
        return (-float(score) if score is not None else 1.0, _descending(lead.get("created_at") or ""),
                lead["lead_id"])
    return sorted(items, key=key)


def _descending(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)
