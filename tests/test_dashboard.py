"""The dashboard: counters kept from the lead stream equal the figures computed from the leads
themselves; replays change nothing; scope and drill-downs.

Given 100 leads (SCENARIO_LEADS) over 45 days (channels, partner, regions, duplicates, invalid), worked by the reps
(contact, intent and back, won with amounts, lost, found invalid), when the stream has run, then
every figure equals the one computed here directly from the lead items and their history."""

from __future__ import annotations

import itertools
import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from bench.phones import valid_mobiles
from local.streams import lambda_event
from tests.helpers import auth, body_of, call, leads_stream

pytestmark = pytest.mark.moto
Worked = tuple[list[dict[str, Any]], datetime]  # the conftest's `worked_org`: stream events, clock

INTENT = {"intent", "qualifying", "won"}
SOURCES = ["website_form", "wechat", "douyin", "zhihu", "loan_calculator", "online_chat"]
PLACES = [("上海", "mortgage"), ("上海", "mortgage"), ("广州", "credit"), ("深圳", "credit"), ("杭州", "car"),
          ("成都", "business"), ("北京", "credit"), ("沈阳", "other"), ("上海", "credit")]
CUSTOMERS = ["business_owner", "salaried", "self_employed", None]
# The scenario's size: people captured over 45 days, new people of the last day (routed, never worked
# before the SLA sweep) and repeat inquiries (duplicates). Every list, history and index read of moto walks
# its tables, so the scenario costs about the square of its leads: it is as small as keeps what the tests
# check (every status; 13 worked leads change hands, ≥ 10 must; 6 wait for the SLA reclaim; leads in
# every filtered list of the last 30 days; leads without a loan type).
ORIGINALS, NEW, REPEATS = 86, 6, 8
SCENARIO_LEADS = ORIGINALS + NEW + REPEATS


# -- helpers ------------------------------------------------------------------------------------

def drain(client: Any, reader: Any, log: list[dict[str, Any]]) -> None:
    """Deliver the lead stream until it is quiet, keeping every event for the replay."""
    while True:
        records = reader.read()
        if not records:
            return
        event = lambda_event(records, reader.stream_arn)
        reader.advance(records[-1])
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
        log.append(event)


def capture_at(body: dict[str, Any], at: datetime, partner: bool = False) -> str:
    from chalicelib.services.capture import CaptureContext, capture

    ctx = CaptureContext("partner" if partner else "public", at, partner_id="demo_partner" if partner else None)
    return capture({"consent": True, **body}, ctx).lead_id


def set_status(client: Any, lead_id: str, user: str, status: str, **extra: Any) -> None:
    from chalicelib.store import leads

    version = leads.get(lead_id)["version"]  # type: ignore[index]
    response = call(client, "POST", f"/leads/{lead_id}/status", user, {"status": status, "version": version, **extra})
    assert response.status_code == 200, response.body


def all_leads() -> list[dict[str, Any]]:
    from chalicelib.plain import plain
    from chalicelib.store.schema import LeadModel

    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=LeadModel.Meta.table_name)
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    return [plain({k: des.deserialize(v) for k, v in item.items()}) for page in pages for item in page["Items"]]


def history_facts(lead: dict[str, Any]) -> dict[str, Any]:
    """Who a lead's figures belong to, from its history alone as the lead page shows it (independent
    of the counters; the routing entry of a lead routed to an owner is rebuilt from its `route` and
    first receiver, `history.of_lead`, every later move is an entry of its own): the team and rep that
    first received it, the author (and their team at the time) of each activity and of the first
    contact, the rep and team of each SLA reclaim, and whether it ever reached intent."""
    from chalicelib.services import history

    events = sorted(history.of_lead(lead, limit=500), key=lambda e: e["at"])
    moves = [e for e in events if isinstance(e.get("detail"), dict) and "to_owner" in e["detail"]]

    def team_at(at: str) -> str | None:
        team = None
        for move in moves:
            if move["at"] <= at:
                team = move["detail"].get("to_team")
        return team

    first = next((m["detail"] for m in moves if m["detail"].get("to_owner")), None)
    acts = [(team_at(e["at"]), e["actor"]) for e in events
            if e["kind"] == "activity" and e.get("activity_type") != "re_inquiry"]
    contact = next(((team_at(e["at"]), e["actor"]) for e in events
                    if e["kind"] == "activity" and e["at"] == lead.get("first_contact_at")), None)
    return {"home": (first.get("to_team"), first.get("to_owner")) if first else (None, None),
            "acts": acts, "contact": contact,
            "reclaims": [(m["detail"].get("from_team"), m["detail"].get("from_owner")) for m in moves
                         if m["detail"].get("kind") == "reclaim"],
            "reached": any(e["kind"] == "status" and e.get("to_status") in INTENT for e in events)}


def dashboard(client: Any, user: str, first: date, last: date, team: str | None = None) -> Any:
    query = f"/dashboard?from={first}&to={last}" + (f"&team={team}" if team else "")
    return client.http.get(query, headers=auth(user))


def listed(client: Any, params: dict[str, str]) -> set[str]:
    """Every lead GET /api/leads lists for a drill-down (all pages)."""
    from urllib.parse import urlencode

    found: set[str] = set()
    cursor = None
    while True:
        query = {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = body_of(client.http.get(f"/leads?{urlencode(query)}", headers=auth("admin")))
        found.update(item["lead_id"] for item in page["items"])
        cursor = page["cursor"]
        if not cursor:
            return found


# -- the oracle: figures straight from the leads -------------------------------------------------

def expected(leads: list[dict[str, Any]], facts: dict[str, dict[str, Any]], first: date, last: date,
             team: str | None = None) -> dict[str, Any]:
    """The figures under the documented attribution: a lead for the team and rep that first received
    it, a win for the owner at the time, an activity and the first contact for whoever made them,
    a reclaim against the rep it was taken from. Medians are of the histograms' buckets (minutes to
    first contact, days to a win), averages of the exact values."""
    from chalicelib.domain import analytics

    in_range = [x for x in leads if first.isoformat() <= x["day"] <= last.isoformat()]

    def minutes(x: dict[str, Any]) -> int:
        return int((datetime.fromisoformat(x["first_contact_at"].replace("Z", "+00:00"))
                    - datetime.fromisoformat(x["created_at"].replace("Z", "+00:00"))).total_seconds() // 60)

    # (team, rep, lead, figure, amount) for every fact of every lead in the range
    rows: list[tuple[str | None, str | None, dict[str, Any], str, Any]] = []
    for x in in_range:
        f = facts[x["lead_id"]]
        home_team, home_rep = f["home"]
        valid = x["status"] not in ("invalid", "duplicate")
        rows += [(home_team, home_rep, x, "leads", 1), (home_team, home_rep, x, "valid", int(valid)),
                 (home_team, home_rep, x, "intent", int(valid and f["reached"]))]
        if x["status"] == "won":
            rows += [(x.get("team"), x.get("owner"), x, "won", 1), (x.get("team"), x.get("owner"), x, "won_amount",
                                                                    x["won_amount"]),
                     (x.get("team"), x.get("owner"), x, "cycle",
                      (date.fromisoformat(x["won_date"]) - date.fromisoformat(x["day"])).days)]
        if f["contact"]:
            rows.append((*f["contact"], x, "fc", minutes(x)))
        rows += [(t, u, x, "activities", 1) for t, u in f["acts"]]
        rows += [(t, u, x, "reclaimed", 1) for t, u in f["reclaims"]]
    scoped = [r for r in rows if not team or r[0] == team]

    def figures(group: list[tuple[str | None, str | None, dict[str, Any], str, Any]]) -> dict[str, Any]:
        def total(name: str) -> Any:
            return sum(r[4] for r in group if r[3] == name)

        def ids(name: str) -> set[str]:
            return {r[2]["lead_id"] for r in group if r[3] == name and r[4]}

        fc = [r[4] for r in group if r[3] == "fc"]
        return {"leads": total("leads"), "valid": total("valid"), "intent": total("intent"), "won": total("won"),
                "won_amount": round(total("won_amount"), 2), "activities": total("activities"),
                "reclaimed": total("reclaimed"),
                "fc_median": statistics.median(analytics.fc_bucket(m) for m in fc) if fc else None,
                "ids": ids("leads"), "valid_ids": ids("valid"), "intent_ids": ids("intent"), "won_ids": ids("won")}

    def by(key: Any, shown: tuple[str, ...] = ("leads", "won")) -> dict[str, dict[str, Any]]:
        """A dashboard row per value that has leads or wins in the scope (activities alone make none)."""
        groups: dict[str, list[Any]] = defaultdict(list)
        for r in scoped:
            groups[key(r) or "_none"].append(r)
        return {k: figures(v) for k, v in groups.items() if any(r[3] in shown for r in v)}

    def cycle(group: list[Any]) -> dict[str, Any]:
        days = [r[4] for r in group if r[3] == "cycle"]
        return {"won": len(days), "avg_days": round(sum(days) / len(days), 2) if days else None,
                "median_days": statistics.median(analytics.cy_bucket(d) for d in days) if days else None}

    def cycles(key: Any) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[Any]] = defaultdict(list)
        for r in scoped:
            groups[key(r) or "_none"].append(r)
        return {k: cycle(v) for k, v in groups.items() if cycle(v)["won"]}

    owners: dict[str, list[Any]] = defaultdict(list)
    for r in scoped:
        if r[1]:
            owners[r[1]].append(r)
    return {"funnel": figures(scoped), "source": by(lambda r: r[2].get("source")),
            "partner_id": by(lambda r: r[2].get("partner_id")), "loan_type": by(lambda r: r[2].get("loan_type")),
            "region": by(lambda r: r[2].get("region")), "province": by(lambda r: r[2].get("province")),
            "customer_type": by(lambda r: r[2].get("customer_type")),
            "team": by(lambda r: r[0], ("leads", "won", "reclaimed")),
            "owner": {k: figures(v) for k, v in owners.items()}, "cycle": cycle(scoped),
            "cycle_product": cycles(lambda r: r[2].get("loan_type")), "cycle_team": cycles(lambda r: r[0])}


def assert_equal(got: dict[str, Any], want: dict[str, Any], team: str | None = None) -> None:
    funnel = got["funnel"]
    w = want["funnel"]
    assert (funnel["total"], funnel["valid"], funnel["intent"], funnel["won"], funnel["won_amount"]) == \
        (w["leads"], w["valid"], w["intent"], w["won"], w["won_amount"])
    keys = ("leads", "valid", "intent", "won", "won_amount")
    for section, dimension in (("channels", "source"), ("products", "loan_type"), ("partners", "partner_id"),
                               ("teams", "team")):
        rows = {r["value"]: tuple(r[k] for k in keys) for r in got[section]}
        wanted = {v: tuple(f[k] for k in keys) for v, f in want[dimension].items()}
        if section == "partners":
            wanted.pop("_none", None)
        if section == "teams":
            wanted.pop("_none", None) if not team else None
            rows.pop("_none", None)
        assert rows == wanted, section
    for dimension in ("region", "province", "loan_type", "customer_type"):
        rows = {r["value"]: r["leads"] for r in got["distributions"][dimension]}
        assert rows == {v: f["leads"] for v, f in want[dimension].items()}, dimension
    board = {r["owner"]: (r["leads"], r["activities"], r["won"], r["won_amount"], r["first_contact_median_minutes"],
                          r["reclaimed"]) for r in got["leaderboard"]}
    assert board == {o: (f["leads"], f["activities"], f["won"], f["won_amount"], f["fc_median"], f["reclaimed"])
                     for o, f in want["owner"].items()}
    if not team:
        assert {r["value"]: r["reclaimed"] for r in got["teams"] if r["value"] != "_none"} == \
            {v: f["reclaimed"] for v, f in want["team"].items() if v != "_none"}
    overall = got["cycle"]["overall"]
    assert (overall["won"], overall["avg_days"], overall["median_days"]) == \
        (want["cycle"]["won"], want["cycle"]["avg_days"], want["cycle"]["median_days"])
    assert {r["value"]: (r["won"], r["avg_days"], r["median_days"]) for r in got["cycle"]["by_product"]} == \
        {k: (c["won"], c["avg_days"], c["median_days"]) for k, c in want["cycle_product"].items()}
    assert {r["value"]: (r["won"], r["avg_days"], r["median_days"]) for r in got["cycle"]["by_team"]} == \
        {k: (c["won"], c["avg_days"], c["median_days"]) for k, c in want["cycle_team"].items() if k != "_none"}


# -- the scenario -------------------------------------------------------------------------------

def run_scenario(client: Any) -> tuple[list[dict[str, Any]], datetime]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    phones = valid_mobiles(rng, ORIGINALS + NEW, exclude=["13816204573"])
    log: list[dict[str, Any]] = []
    reader = leads_stream()
    originals: list[tuple[str, datetime, str]] = []
    for i, phone in enumerate(phones[:ORIGINALS]):
        city, loan_type = PLACES[i % len(PLACES)]
        at = now - timedelta(days=rng.randint(0, 44), hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
        body: dict[str, Any] = {"name": "测试" if i % 18 == 5 else "客户" + "甲乙丙丁戊己庚辛"[i % 8], "phone": phone,
                                "city": city, "loan_type": loan_type, "amount": rng.choice([20, 50, 120])}
        if CUSTOMERS[i % 4]:
            body["customer_type"] = CUSTOMERS[i % 4]
        partner = i % 12 == 3
        if not partner:
            body["source"] = SOURCES[i % len(SOURCES)]
        originals.append((capture_at(body, at, partner), at, phone))
    # NEW more new people, and REPEATS repeat inquiries from people already captured (duplicates)
    for phone in phones[ORIGINALS:]:
        capture_at({"name": "新客户", "phone": phone, "source": "douyin", "city": "广州", "loan_type": "credit"},
                   now - timedelta(hours=rng.randint(1, 30)))
    drain(client, reader, log)
    for _, at, phone in originals[:REPEATS]:
        capture_at({"name": "再次", "phone": phone, "source": "zhihu"}, min(now, at + timedelta(hours=2)))
    drain(client, reader, log)

    from chalicelib.store import leads as store

    owned = [x for x in all_leads() if x.get("owner") and x["status"] == "assigned"]
    owned.sort(key=lambda x: x["lead_id"])
    for n, lead in enumerate(owned):
        lead_id, owner = lead["lead_id"], lead["owner"]
        if n % 7 == 6:
            continue  # never contacted
        call(client, "POST", f"/leads/{lead_id}/activities", owner, {"type": "call", "outcome": "接通"})
        if n % 3 == 0:
            call(client, "POST", f"/leads/{lead_id}/activities", owner, {"type": "wechat"})
        won_on = (date.fromisoformat(lead["day"]) + timedelta(days=n % 9)).isoformat()
        path = n % 6
        if path == 0:  # straight to won
            for status in ("intent", "qualifying"):
                set_status(client, lead_id, owner, status)
            set_status(client, lead_id, owner, "won", won_amount=30 + n, won_date=won_on)
        elif path == 1:  # intent, back to observing, intent again, won: intent counted once
            for status in ("intent", "observing", "intent", "qualifying"):
                set_status(client, lead_id, owner, status)
            set_status(client, lead_id, owner, "won", won_amount=12.5 + n, won_date=won_on)
        elif path == 2:  # intent, then back to observing: still reached intent once
            set_status(client, lead_id, owner, "intent")
            set_status(client, lead_id, owner, "observing")
        elif path == 3:
            set_status(client, lead_id, owner, "intent")
            set_status(client, lead_id, owner, "lost", reason="利率不满意")
        elif path == 4:
            set_status(client, lead_id, owner, "invalid", reason="空号")
    change_hands(client, reader, log, now)
    for lead in [x for x in all_leads() if x["status"] == "pool" and not x.get("reclaimed_from")][:4]:
        set_status(client, lead["lead_id"], "admin", "invalid", reason="非本人")
    drain(client, reader, log)
    assert store.get(owned[1]["lead_id"])["intent_at"]  # type: ignore[index]
    return log, now


def change_hands(client: Any, reader: Any, log: list[dict[str, Any]], now: datetime) -> None:
    """Leads change hands after they were worked: reassigned within the team and transferred across
    teams (the new owner calls, some win), reclaimed after 24 h without a first contact, and claimed
    from the pool by a rep of another team. The figures must stay with who earned them."""
    from tests.test_sop import tick

    drain(client, reader, log)
    reps = {"sh_mortgage": ["sh_rep1", "sh_rep2", "sh_rep3"], "south_credit": ["gz_rep1", "gz_rep2"]}
    working = sorted((x for x in all_leads() if x.get("owner") and x["status"] in ("contacted", "observing", "intent")),
                     key=lambda x: x["lead_id"])
    moved = 0
    for n, lead in enumerate(working[:14]):
        lead_id, team = lead["lead_id"], lead["team"]
        to = ("gz_rep1" if team == "sh_mortgage" else "sh_rep1") if n % 4 == 3 else \
            next(r for r in reps[team] if r != lead["owner"])
        result = body_of(call(client, "POST", "/leads/assign", "admin", {"lead_ids": [lead_id], "to": to,
                                                                          "reason": "人员调整"}))
        if result["done"] != 1:
            continue
        moved += 1
        call(client, "POST", f"/leads/{lead_id}/activities", to, {"type": "call", "outcome": "接通"})
        if n % 3 == 0:
            if lead["status"] != "intent":
                set_status(client, lead_id, to, "intent")
            set_status(client, lead_id, to, "won", won_amount=66 + n, won_date=lead["day"])
    assert moved >= 10
    drain(client, reader, log)
    waiting = [x for x in all_leads() if x["status"] == "assigned" and not x.get("first_contact_at")]
    assert waiting
    assert tick(client, (now + timedelta(hours=25)).isoformat())["reclaimed"] == len(waiting)
    drain(client, reader, log)
    reclaimed = sorted((x for x in all_leads() if x.get("reclaimed_from")), key=lambda x: x["lead_id"])
    assert len(reclaimed) == len(waiting) >= 2 and all(x["status"] == "pool" for x in reclaimed)
    for n, lead in enumerate(reclaimed[:2]):  # claimed by a rep of the other team; one of them calls
        rep = "sh_rep3" if lead["reclaimed_from"][0].startswith("south_credit/") else "gz_rep2"
        claimed = call(client, "POST", f"/leads/{lead['lead_id']}/claim", rep)
        assert claimed.status_code == 200, claimed.body.decode()
        if n == 0:
            call(client, "POST", f"/leads/{lead['lead_id']}/activities", rep, {"type": "call", "outcome": "接通"})
    drain(client, reader, log)


def test_dashboard_equals_the_leads_replays_change_nothing_and_drills_down(client: Any, worked_org: Worked) -> None:
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.services import aggregates

    log, now = worked_org
    leads = all_leads()
    assert len(leads) == SCENARIO_LEADS
    assert {x["status"] for x in leads} >= {"won", "lost", "invalid", "duplicate", "pool", "observing", "assigned",
                                            "contacted"}
    moved = [x for x in leads if x.get("first_owner") and x.get("owner") and x["first_owner"] != x["owner"]]
    assert len(moved) >= 10 and any(x.get("first_team") != x.get("team") for x in moved)
    facts = {x["lead_id"]: history_facts(x) for x in leads}
    today = shanghai_day(now)
    views = [("admin", today - timedelta(days=29), today, None), ("admin", today - timedelta(days=60), today, None),
             ("sh_lead", today - timedelta(days=29), today, None), ("admin", today - timedelta(days=44), today,
                                                                     "south_credit")]
    answers = []
    for user, first, last, team in views:
        response = dashboard(client, user, first, last, team)
        assert response.status_code == 200, response.body
        got = body_of(response)
        scoped = team or ("sh_mortgage" if user == "sh_lead" else None)
        assert_equal(got, expected(leads, facts, first, last, scoped), scoped)
        answers.append(got)
    assert answers[0]["funnel"]["labels"]["intent"] == "意向客户"
    assert any(r["label"] == "抖音" for r in answers[0]["channels"])

    # The trend: a point a day, summing to the funnel; a point's figures drill to that day's leads.
    trend = answers[0]["trend"]
    assert trend["unit"] == "day" and len(trend["points"]) == 30
    for key, stage in (("leads", "total"), ("valid", "valid"), ("won", "won")):
        assert sum(p[key] for p in trend["points"]) == answers[0]["funnel"][stage], key
    busy = sorted(trend["points"], key=lambda p: -p["leads"])[:2]
    for point in busy:
        day_ids = {x["lead_id"] for x in leads if x["day"] == point["from"]}
        assert listed(client, point["drill"]["leads"]) == day_ids and len(day_ids) == point["leads"]
        assert len(listed(client, point["drill"]["valid"])) == point["valid"]
    weekly = body_of(dashboard(client, "admin", today - timedelta(days=89), today))
    assert weekly["trend"]["unit"] == "week" and 13 <= len(weekly["trend"]["points"]) <= 14
    assert sum(p["leads"] for p in weekly["trend"]["points"]) == weekly["funnel"]["total"]
    # The conversion cycle's distribution counts every win once.
    assert sum(b["won"] for b in answers[0]["cycle"]["distribution"]) == answers[0]["cycle"]["overall"]["won"]

    # Replaying every stream record again changes nothing.
    for event in log:
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    assert [body_of(dashboard(client, u, f, t, team)) for u, f, t, team in views] == answers
    report = aggregates.verify()
    assert report["leads"] == SCENARIO_LEADS and report["differences"] == []

    # Every funnel figure and every channel's figures drill down to exactly the leads they count.
    first, last = today - timedelta(days=29), today
    want = expected(leads, facts, first, last)
    funnel = answers[0]["funnel"]
    for name, ids in (("total", "ids"), ("valid", "valid_ids"), ("intent", "intent_ids"), ("won", "won_ids")):
        assert listed(client, funnel["drill"][name]) == want["funnel"][ids], name
    for row in answers[0]["channels"]:
        assert listed(client, row["drill"]["won"]) == want["source"][row["value"]]["won_ids"]
        assert listed(client, row["drill"]["leads"]) == want["source"][row["value"]]["ids"]

    # The admin's lists by day filter the leads they read (by_day_keys holds keys only) by the same
    # rules as DynamoDB's filter on the team index.
    span = {"from": first.isoformat(), "to": last.isoformat()}
    by_team = {x["lead_id"]: x.get("team") for x in leads}
    for filters in ({"customer_type": "_none"}, {"stage": "first_contact"}, {"stage": "intent", "loan_type": "credit"},
                    {"status": "pool"}, {"partner_id": "_none", "stage": "valid"},
                    {"region": "华南", "source": "douyin"}, {"province": "广东"}):
        everyone = listed(client, {**span, **filters})
        for team in ("sh_mortgage", "south_credit"):
            assert {i for i in everyone if by_team[i] == team} == listed(client, {**span, **filters, "team": team})
        assert everyone, filters

    # "Won via 抖音 this month" lists exactly the leads the figure counts (one scenario serves both:
    # it is the slowest test of the suite against moto).
    month_start = today.replace(day=1)
    got = body_of(dashboard(client, "admin", month_start, today))
    douyin = next(r for r in got["channels"] if r["value"] == "douyin")
    won = {x["lead_id"] for x in leads
           if x["source"] == "douyin" and x["status"] == "won" and month_start.isoformat() <= x["day"]}
    assert douyin["label"] == "抖音" and douyin["won"] == len(won)
    assert douyin["drill"]["won"] == {"from": month_start.isoformat(), "to": today.isoformat(), "source": "douyin",
                                      "stage": "won"}
    assert listed(client, douyin["drill"]["won"]) == won


def _seed_one(client: Any) -> None:
    capture_at({"name": "张三", "phone": "13816204573", "city": "上海", "loan_type": "mortgage"}, datetime.now(UTC))
    drain(client, leads_stream(), [])


def test_only_supervisors_of_the_team_and_admins_see_it(client: Any) -> None:
    from chalicelib.domain.timeutil import shanghai_day

    _seed_one(client)
    today = shanghai_day(datetime.now(UTC))
    first = today - timedelta(days=6)
    rep = dashboard(client, "sh_rep1", first, today)
    assert rep.status_code == 403 and body_of(rep)["error"]["code"] == "FORBIDDEN"
    other = dashboard(client, "sh_lead", first, today, "south_credit")
    assert other.status_code == 403 and "本团队" in body_of(other)["error"]["message"]
    own = body_of(dashboard(client, "sh_lead", first, today))
    assert own["range"]["team"] == "sh_mortgage" and own["range"]["team_label"] == "上海房贷组"
    assert own["funnel"]["total"] == 1 and own["funnel"]["drill"]["total"]["first_team"] == "sh_mortgage"
    assert body_of(dashboard(client, "gz_lead", first, today))["funnel"]["total"] == 0
    assert body_of(dashboard(client, "admin", first, today, "south_credit"))["funnel"]["total"] == 0
    assert body_of(dashboard(client, "admin", first, today))["funnel"]["total"] == 1


@pytest.mark.parametrize("query, field", [("from=2026-01-01&to=2027-06-01", "to"),
                                          ("from=2026-05-02&to=2026-05-01", "from"),
                                          ("from=2026-13-01&to=2026-05-01", "from")])
def test_bad_ranges_are_refused_in_chinese(client: Any, query: str, field: str) -> None:
    response = client.http.get(f"/dashboard?{query}", headers=auth("admin"))
    error = body_of(response)["error"]
    assert response.status_code == 400 and field in error["fields"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])


def test_verify_reports_and_repairs_a_wrong_counter(client: Any) -> None:
    from chalicelib.domain.analytics import ALL, DASH, pentad
    from chalicelib.services import aggregates
    from chalicelib.store.schema import AggregateModel

    _seed_one(client)
    assert aggregates.verify()["differences"] == []
    lead = all_leads()[0]
    ddb = boto3.client("dynamodb")
    key = {"pk": {"S": f"{ALL}#{lead['day'][:7]}#{DASH}"}, "sk": {"S": pentad(lead["day"])}}
    ddb.update_item(TableName=AggregateModel.Meta.table_name, Key=key, UpdateExpression="ADD #a :v",
                    ExpressionAttributeNames={"#a": "source|website_form|n"},
                    ExpressionAttributeValues={":v": {"N": "5"}})
    report = aggregates.verify()
    assert report["differences"] == [{"scope": ALL, "day": pentad(lead["day"]), "shard": DASH,
                                      "counters": {"source|website_form|n": {"expected": 1, "actual": 6}}}]
    assert aggregates.verify(fix=True)["fixed"] is True
    assert aggregates.verify()["differences"] == []


def test_counters_of_an_older_layout_are_rebuilt_once_when_the_local_stack_starts(client: Any) -> None:
    """State from before an upgrade: the dashboard's items as the old code kept them (per shard, no
    pentads or months) and no layout mark. Starting the local stack rebuilds them from the leads
    before the first request; the next start finds the mark and reads nothing else."""
    from chalicelib.domain.analytics import DASH, LAYOUT
    from chalicelib.services import aggregates
    from chalicelib.store import aggregates as counters
    from chalicelib.store.schema import AggregateModel
    from local.__main__ import _upgrade_counters

    class Pump:
        drained = 0

        def drain(self) -> int:
            self.drained += 1
            return 0

    _seed_one(client)
    day = all_leads()[0]["day"]
    old = [key for key, _ in counters.scan_counters() if key[2] == DASH]
    for key in old:
        counters.replace(key, {})
    counters.replace(("all", day, "2"), {"total|all|n": Decimal(1)})  # the old per-shard day item
    boto3.client("dynamodb").delete_item(TableName=AggregateModel.Meta.table_name,
                                         Key={"pk": {"S": "layout#counters"}, "sk": {"S": "-"}})
    assert not aggregates.current() and len(aggregates.verify()["differences"]) == len(old) + 1
    pump = Pump()
    _upgrade_counters(pump)
    assert pump.drained == 1 and aggregates.current() and counters.layout() == LAYOUT
    assert aggregates.verify()["differences"] == [] and ("all", day, "2") not in dict(counters.scan_counters())
    assert body_of(dashboard(client, "admin", date.fromisoformat(day), date.fromisoformat(day)))["funnel"]["total"] == 1
    _upgrade_counters(pump)
    assert pump.drained == 1  # current: nothing drained, nothing scanned


def test_a_lead_moving_back_and_forth_counts_once_per_stage_in_any_record_order() -> None:
    from chalicelib.domain import analytics

    base = {"lead_id": "L20260501001", "day": "2026-05-01", "created_at": "2026-04-30T17:00:00.000Z",
            "source": "douyin", "team": "sh_mortgage", "owner": "sh_rep1"}
    images = [{**base, "status": "new"}, {**base, "status": "assigned"}]
    base["first_contact_at"] = "2026-04-30T17:42:10.000Z"
    images += [{**base, "status": "contacted", "activity_count": 1},
              {**base, "status": "intent", "intent_at": "2026-05-02T01:00:00.000Z", "activity_count": 1},
              {**base, "status": "observing", "intent_at": "2026-05-02T01:00:00.000Z", "activity_count": 2},
              {**base, "status": "intent", "intent_at": "2026-05-02T01:00:00.000Z", "activity_count": 2},
              {**base, "status": "won", "intent_at": "2026-05-02T01:00:00.000Z", "activity_count": 2,
               "won_amount": 80.5, "won_date": "2026-05-09"}]
    deltas = [analytics.delta(None, images[0])] + [analytics.delta(a, b) for a, b in itertools.pairwise(images)]
    random.Random(1).shuffle(deltas)  # the counters are sums: record order does not matter
    total: analytics.Contribution = {}
    for part in deltas:
        analytics.add_into(total, part)
    figures = analytics.fold(attrs for (_, period, kind), attrs in total.items()
                             if period == "2026-05-01" and kind == analytics.DASH)
    for scope_total in (figures["total"]["all"], figures["owner"]["sh_rep1"]):
        assert (scope_total.n, scope_total.valid, scope_total.intent, scope_total.won) == (2, 2, 2, 2)  # 2 scopes
    one = analytics.fold([total[("all", "2026-05-01", analytics.DASH)]])
    douyin = one["source"]["douyin"]
    assert (douyin.n, douyin.valid, douyin.intent, douyin.won, douyin.act) == (1, 1, 1, 1, 2)
    assert douyin.won_amt == analytics.Decimal("80.5") and one["owner"]["sh_rep1"].fc == {40: 1}  # 42 minutes
    assert one["owner"]["sh_rep1"].fc_sum == 42 and one["team"]["sh_mortgage"].cy == {8: 1}
    # The day, its pentad and its month hold the same counters; the trend item the day's funnel.
    assert total[("all", "2026-05-p1", analytics.DASH)] == total[("all", "2026-05", analytics.DASH)] == \
        total[("all", "2026-05-01", analytics.DASH)]
    day_one = analytics.fold([total[("all", "2026-05", analytics.TREND)]])["trend"]["01"]
    assert (day_one.n, day_one.valid, day_one.won) == (1, 1, 1)
    assert analytics.histogram_median({3: 1, 10: 2, 20: 1}) == 10 and analytics.histogram_median({1: 1, 4: 1}) == 2.5
    # Found invalid later: no longer valid, nor intent (the funnel stays a funnel).
    invalid = {**images[4], "status": "invalid"}
    assert analytics.metrics(invalid) == {"n": analytics.Decimal(1), "act": analytics.Decimal(2)}


def test_each_record_is_counted_once_however_its_batch_is_cut_and_delivered_again(client: Any,
                                                                                    monkeypatch: Any) -> None:
    """A record that fails holds back the counters of itself and everything after it (the retry
    starts there); a batch delivered again from the same record, cut shorter or longer, counts
    nothing twice."""
    from chalicelib.domain.analytics import DASH
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.services import aggregates, pipeline
    from chalicelib.store import aggregates as counters

    now = datetime.now(UTC)
    day = shanghai_day(now).isoformat()
    for phone in valid_mobiles(random.Random(5), 5):
        capture_at({"name": "测试", "phone": phone, "source": "wechat"}, now)
    reader = leads_stream()

    def deliver(records: list[dict[str, Any]]) -> list[str]:
        payload = client.lambda_.invoke("lead_stream", lambda_event(records, reader.stream_arn)).payload
        return [f["itemIdentifier"] for f in payload["batchItemFailures"]]

    def counted() -> int:
        return int(counters.read_items([("all", day, DASH)])[("all", day, DASH)].get("total|all|n", 0))

    inserts = reader.read()
    assert [r["eventName"] for r in inserts] == ["INSERT"] * 5
    assert deliver(inserts) == [] and counted() == 0  # a `new` lead counts once it is worked out
    reader.advance(inserts[-1])
    placements = reader.read()  # the stream's own changes: into the pool
    assert [r["eventName"] for r in placements] == ["MODIFY"] * 5
    third = placements[2]["dynamodb"]["Keys"]["lead_id"]["S"]
    healthy = pipeline.follow_up

    def fails_on_the_third(old: dict[str, Any], new: dict[str, Any], at: str) -> int:
        if new["lead_id"] == third:
            raise RuntimeError("store unavailable")
        return healthy(old, new, at)

    monkeypatch.setattr(pipeline, "follow_up", fails_on_the_third)
    assert deliver(placements) == [placements[2]["dynamodb"]["SequenceNumber"]]
    assert counted() == 2  # the first two; the rest wait for the retry that starts at the third
    monkeypatch.setattr(pipeline, "follow_up", healthy)
    assert deliver(placements[2:4]) == [] and counted() == 4  # the retry, cut short
    assert deliver(placements[2:]) == [] and counted() == 5  # the same first record, one more after it
    # Lambda never goes back before a failed record, but may deliver from it again, cut anyhow (a crash).
    for again in (placements[2:], placements[2:4], placements[2:3], inserts):
        assert deliver(again) == []
    assert counted() == 5
    reader.advance(placements[-1])
    while records := reader.read():  # anything that followed
        assert deliver(records) == []
        reader.advance(records[-1])
    report = aggregates.verify()
    assert report["leads"] == 5 and report["differences"] == []


def test_a_range_is_read_from_a_few_pre_merged_items_that_sum_to_exactly_its_days() -> None:
    """Every day that can hold leads is counted once inside the range and not at all outside it;
    a 30-day view reads at most 10 dashboard items, a year at most 24."""
    from chalicelib.domain import analytics

    def days_of(period: str) -> list[date]:
        year, month = int(period[:4]), int(period[5:7])
        if len(period) == 7:
            start, end = date(year, month, 1), (date(year, month, 28) + timedelta(days=4)).replace(day=1)
            return [start + timedelta(days=i) for i in range((end - start).days)]
        if "-p" in period:
            n = int(period[-1])
            whole = days_of(period[:7])
            return [d for d in whole if 5 * (n - 1) < d.day <= (5 * n if n < 6 else 31)]
        return [date.fromisoformat(period)]

    rng = random.Random(7)
    widest = {30: 0, 366: 0}
    for _ in range(3000):
        first = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
        span = rng.choice([1, 7, 30, 30, 30, rng.randrange(1, 366), 366])
        last = first + timedelta(days=span - 1)
        latest = last + timedelta(days=rng.choice([0, 1, 1, 3, 45]))  # the request's day and one more
        periods = analytics.cover(first, last, latest)
        counted: dict[date, int] = defaultdict(int)
        for sign, period in periods:
            for d in days_of(period):
                counted[d] += sign
        for d, times in counted.items():
            if d <= latest:
                assert times == (1 if first <= d <= last else 0), (first, last, latest, d, periods)
        if span in widest:
            widest[span] = max(widest[span], len(periods))
    assert 0 < widest[30] <= 10 and 0 < widest[366] <= 24, widest
