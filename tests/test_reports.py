"""The report builder: card queries answered from the report counters equal figures computed from
the leads themselves (whole months read from month items, partial months from days), drill down to
exactly their leads, survive replays, and `make aggregates` agrees; costs entered by form and by
spreadsheet give cost per valid lead and ROI equal to a hand computation; boards are scoped."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.helpers import auth
from tests.test_capture import body_of
from tests.test_dashboard import (
    INTENT,
    SCENARIO_LEADS,
    all_leads,
    capture_at,
    drain,
    history_facts,
    listed,
    set_status,
)
from tests.test_imports import deliver, job, xlsx
from tests.test_stream import leads_stream

pytestmark = pytest.mark.moto
Worked = tuple[list[dict[str, Any]], datetime]  # the conftest's `worked_org`: stream events, clock


def query(client: Any, user: str, body: dict[str, Any]) -> Any:
    return client.http.post("/reports/query", body=json.dumps(body),
                            headers={**auth(user), "Content-Type": "application/json"})


def ask(client: Any, user: str, body: dict[str, Any]) -> dict[str, Any]:
    response = query(client, user, body)
    assert response.status_code == 200, response.body
    return dict(body_of(response))


def is_valid(x: dict[str, Any]) -> bool:
    return x["status"] not in ("invalid", "duplicate")


def reached(x: dict[str, Any]) -> bool:
    return is_valid(x) and (bool(x.get("intent_at")) or x["status"] in INTENT)


def test_cards_equal_the_leads_drill_down_and_survive_replays(client: Any, worked_org: Worked) -> None:
    from chalicelib.domain.analytics import fc_bucket
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.services import aggregates

    log, now = worked_org
    leads = all_leads()
    facts = {x["lead_id"]: history_facts(x) for x in leads}
    today = shanghai_day(now)
    first = today - timedelta(days=60)  # a partial month, at least one whole month, a partial month
    span = {"from": first.isoformat(), "to": today.isoformat()}
    inside = [x for x in leads if first.isoformat() <= x["day"] <= today.isoformat()]
    assert len(inside) == SCENARIO_LEADS

    # Channel × measures, all teams.
    measures = ["leads", "valid", "intent", "won", "won_amount", "activities", "reclaims", "valid_rate"]
    got = ask(client, "admin", {"measures": measures, "dimensions": ["source"], **span})
    want: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for x in inside:
        w = want[x["source"]]
        w["leads"] += 1
        w["valid"] += is_valid(x)
        w["intent"] += reached(x)
        w["won"] += x["status"] == "won"
        w["won_amount"] += float(x.get("won_amount") or 0) if x["status"] == "won" else 0
        w["activities"] += int(x.get("activity_count") or 0)
        w["reclaims"] += len(x.get("reclaimed_from") or [])
    rows = {r["source"]: r for r in got["rows"]}
    assert set(rows) == set(want)
    for source, w in want.items():
        for m in ("leads", "valid", "intent", "won", "activities", "reclaims"):
            assert rows[source][m] == w[m], (source, m)
        assert rows[source]["won_amount"] == pytest.approx(w["won_amount"])
        assert rows[source]["valid_rate"] == round(w["valid"] / w["leads"], 4)
    assert rows["douyin"]["source_label"] == "抖音"
    assert got["total"]["leads"] == SCENARIO_LEADS
    # Every row drills to exactly the leads it counts.
    for source, row in rows.items():
        ids = {x["lead_id"] for x in inside if x["source"] == source}
        assert listed(client, row["drill"]["leads"]) == ids
        assert listed(client, row["drill"]["valid"]) == {i for i in ids if is_valid(next(x for x in inside
                                                                                          if x["lead_id"] == i))}
        assert len(listed(client, row["drill"]["won"])) == row["won"]

    # Narrowed to loan products whatever the dimension: the products' items summed; one product drills.
    for chosen in (["mortgage"], ["credit", "car"], ["_none"]):
        narrowed = ask(client, "admin", {"measures": ["leads", "valid", "won"], "dimensions": ["source"],
                                         "filters": {"loan_type": chosen}, **span})
        subset = [x for x in inside if (x.get("loan_type") or "_none") in chosen]
        by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for x in subset:
            by_source[x["source"]][0] += 1
            by_source[x["source"]][1] += is_valid(x)
            by_source[x["source"]][2] += x["status"] == "won"
        assert {r["source"]: [r["leads"], r["valid"], r["won"]] for r in narrowed["rows"]} == dict(by_source), chosen
        assert narrowed["total"]["leads"] == len(subset) > 0
        for row in narrowed["rows"]:
            if len(chosen) == 1:
                assert listed(client, row["drill"]["leads"]) == {x["lead_id"] for x in subset
                                                                 if x["source"] == row["source"]}
            else:
                assert row["drill"]["leads"] is None  # the lead list filters one type: no drill, not a wrong one
    mortgage = ask(client, "sh_lead", {"measures": ["leads"], "dimensions": ["owner"],
                                       "filters": {"loan_type": "mortgage"}, **span})
    assert mortgage["total"]["leads"] == sum(1 for x in inside if x.get("loan_type") == "mortgage"
                                             and facts[x["lead_id"]]["home"][0] == "sh_mortgage")

    # Month × channel: month items for whole months, days for the partial ones.
    monthly = ask(client, "admin", {"measures": ["leads", "won"], "dimensions": ["month", "source"], **span})
    per_month: dict[tuple[str, str], int] = defaultdict(int)
    for x in inside:
        per_month[(x["day"][:7], x["source"])] += 1
    assert {(r["month"], r["source"]): r["leads"] for r in monthly["rows"]} == dict(per_month)
    assert {r["month_label"] for r in monthly["rows"]} >= {f"{today.year}年{today.month}月"}
    whole = ask(client, "admin", {"measures": ["leads"], "dimensions": [], "from": first.replace(day=1).isoformat(),
                                  "to": today.isoformat()})
    assert whole["total"]["leads"] == SCENARIO_LEADS and whole["items_read"] < 2 + 31 + 31  # a whole month is one item

    # Weeks: every week of the range a row, summing to the total; the median first contact.
    weekly = ask(client, "admin", {"measures": ["leads", "fc_median"], "dimensions": ["week"], **span})
    assert sum(r["leads"] for r in weekly["rows"]) == SCENARIO_LEADS and len(weekly["rows"]) in (9, 10)
    contacted = [x for x in inside if x.get("first_contact_at")]
    minutes = [fc_bucket(int((datetime.fromisoformat(x["first_contact_at"].replace("Z", "+00:00"))
                               - datetime.fromisoformat(x["created_at"].replace("Z", "+00:00"))).total_seconds() // 60))
               for x in contacted]
    assert weekly["total"]["fc_median"] == statistics.median(minutes)

    # A supervisor: their team only, leads for the rep that first received them, wins for the owner then.
    team_view = ask(client, "sh_lead", {"measures": ["leads", "won", "won_amount"], "dimensions": ["owner"], **span})
    assert team_view["scope"]["team"] == "sh_mortgage"
    leads_by: dict[str, int] = defaultdict(int)
    won_by: dict[str, int] = defaultdict(int)
    for x in inside:
        home_team, home_rep = facts[x["lead_id"]]["home"]
        if home_team == "sh_mortgage":
            leads_by[home_rep or "_none"] += 1
        if x["status"] == "won" and x.get("team") == "sh_mortgage":
            won_by[x["owner"]] += 1
    got_rows = {r["owner"]: r for r in team_view["rows"]}
    assert {k: r["leads"] for k, r in got_rows.items() if r["leads"]} == dict(leads_by)
    assert {k: r["won"] for k, r in got_rows.items() if r["won"]} == dict(won_by)
    assert got_rows["sh_rep1"]["owner_label"] != "sh_rep1"
    rep_row = got_rows["sh_rep1"]
    assert len(listed(client, rep_row["drill"]["leads"])) == rep_row["leads"]
    assert len(listed(client, rep_row["drill"]["won"])) == rep_row["won"]
    assert query(client, "sh_lead", {"measures": ["leads"], "filters": {"team": "south_credit"}, **span}).status_code \
        == 403
    assert query(client, "sh_rep1", {"measures": ["leads"], **span}).status_code == 403

    # Replaying every stream record changes nothing; the offline recompute agrees, report items included.
    for event in log:
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    assert ask(client, "admin", {"measures": measures, "dimensions": ["source"], **span})["rows"] == got["rows"]
    report = aggregates.verify()
    assert report["differences"] == [] and any(True for _ in report)


@pytest.mark.parametrize(("body", "field"), [
    ({"measures": ["nope"], "from": "2026-11-01", "to": "2026-11-30"}, "measures"),
    ({"measures": ["leads"], "dimensions": ["source", "loan_type"], "from": "2026-11-01", "to": "2026-11-30"},
     "dimensions"),
    ({"measures": ["leads"], "dimensions": ["source"], "filters": {"loan_type": ["credit", "castle"]},
      "from": "2026-11-01", "to": "2026-11-30"}, "filters.loan_type"),
    ({"measures": ["leads"], "dimensions": ["source"], "filters": {"loan_type": []}, "from": "2026-11-01",
      "to": "2026-11-30"}, "filters.loan_type"),
    ({"measures": ["cost"], "dimensions": ["source"], "filters": {"loan_type": "credit"}, "from": "2026-11-01",
      "to": "2026-11-30"}, "filters.loan_type"),
    ({"measures": ["leads"], "dimensions": ["source"], "filters": {"region": "华东"}, "from": "2026-11-01",
      "to": "2026-11-30"}, "filters.region"),
    ({"measures": ["leads"], "from": "2026-11-30", "to": "2026-11-01"}, "from"),
    ({"measures": ["leads"], "from": "2026-11-01"}, "to"),
])
def test_bad_cards_are_refused_in_chinese(client: Any, body: dict[str, Any], field: str) -> None:
    response = query(client, "admin", body)
    assert response.status_code == 400
    error = body_of(response)["error"]
    assert field in error["fields"] and any("\u4e00" <= c <= "\u9fff" for c in error["message"])


def test_costs_for_two_channels_give_cost_per_valid_and_roi(client: Any) -> None:
    from chalicelib.domain.timeutil import shanghai_day

    now = datetime.now(UTC)
    today = shanghai_day(now)
    month = today.replace(day=1)
    at = datetime(month.year, month.month, 1, 3, 0, tzinfo=UTC)  # the 1st, 11:00 Shanghai
    phones = ["13916204571", "13916204582", "13916204593", "13716204574", "13716204585"]
    place = {"loan_type": "mortgage", "city": "上海"}
    wechat = [capture_at({"name": "客户甲", "phone": p, "source": "wechat", **place}, at) for p in phones[:3]]
    douyin = [capture_at({"name": "客户乙", "phone": p, "source": "douyin", **place}, at) for p in phones[3:]]
    stream = leads_stream()  # one reader: the stream delivered on from where it stopped, as Lambda does
    drain(client, stream, [])
    from chalicelib.store import leads as store

    won_wechat = store.get(wechat[0])
    set_status(client, wechat[0], won_wechat["owner"], "intent")  # type: ignore[index]
    set_status(client, wechat[0], won_wechat["owner"], "won", won_amount=12, won_date=month.isoformat())  # type: ignore[index]
    set_status(client, douyin[1], "admin", "invalid", reason="空号")
    drain(client, stream, [])

    # Form: wechat spend on two days (one entered twice: replaced, not added), and a bad entry beside them.
    days = [month.isoformat(), (month + timedelta(days=1)).isoformat()]
    admin = {**auth("admin"), "Content-Type": "application/json"}
    response = client.http.post("/costs", headers=admin, body=json.dumps(
        {"entries": [{"source": "wechat", "day": days[0], "amount": 999},
                     {"source": "wechat", "day": days[0], "amount": 300},
                     {"source": "wechat", "day": days[1], "amount": 200.5},
                     {"source": "nowhere", "day": days[0], "amount": 5},
                     {"source": "wechat", "amount": -1}]}))
    assert response.status_code == 200, response.body
    saved = body_of(response)
    assert saved["saved"] == 3 and saved["rejected"] == 2
    assert saved["results"][3]["errors"] == {"source": "未知的渠道"}
    assert "day" in json.dumps(saved["results"][4]["errors"], ensure_ascii=False) or saved["results"][4]["errors"]
    # Spreadsheet: douyin's month, through the import machinery, with a bad row in its error report.
    sheet = xlsx([[f"{month:%Y-%m}", "抖音", 3100], [f"{month:%Y-%m}", "不存在的渠道", 10]],
                 headers=["月份", "渠道", "金额"])
    import_id, key, etag = upload_costs(client, sheet)
    assert deliver(key, etag)["status"] == "done"
    done = job(client, "admin", import_id)
    assert done["counts"]["imported"] == 1 and done["counts"]["rejected"] == 1 and done["error_report_url"]
    assert client.http.post("/costs", headers={**auth("sh_lead"), "Content-Type": "application/json"},
                            body=json.dumps({"entries": []})).status_code == 403

    last = (month + timedelta(days=40)).replace(day=1) - timedelta(days=1)  # the whole month
    got = ask(client, "admin", {"measures": ["valid", "won_amount", "cost", "cost_per_valid", "roi"],
                                "dimensions": ["source"], "from": month.isoformat(), "to": last.isoformat()})
    rows = {r["source"]: r for r in got["rows"]}
    # By hand: wechat 300 + 200.5 = 500.5 yuan for 3 valid leads, one won at 12 万元; douyin 3100 for 1 valid.
    assert rows["wechat"]["cost"] == 500.5 and rows["wechat"]["valid"] == 3
    assert rows["wechat"]["cost_per_valid"] == round(500.5 / 3, 2)
    assert rows["wechat"]["roi"] == round(12 * 10000 / 500.5, 2)
    assert rows["douyin"]["cost"] == 3100 and rows["douyin"]["valid"] == 1 and rows["douyin"]["cost_per_valid"] == 3100
    assert rows["douyin"]["roi"] is None or rows["douyin"]["roi"] == 0
    assert got["total"]["cost"] == 3600.5
    # Day by day: the month's spend spread evenly over its days.
    daily = ask(client, "admin", {"measures": ["cost"], "dimensions": ["day", "source"], "from": days[0],
                                  "to": days[1]})
    per_day = Decimal(3100) / ((last - month).days + 1)
    douyin_days = [r["cost"] for r in daily["rows"] if r["source"] == "douyin"]
    assert douyin_days == [float(round(per_day, 2))] * 2
    # A partner paid per valid lead.
    assert client.http.post("/costs", headers={**auth("admin"), "Content-Type": "application/json"},
                            body=json.dumps({"prices": [{"partner_id": "demo_partner", "price_per_valid": 80}]})
                            ).status_code == 200
    assert query(client, "sh_lead", {"measures": ["cost"], "from": days[0], "to": days[1]}).status_code == 403


def upload_costs(client: Any, data: bytes) -> tuple[str, str, str]:
    from tests.test_imports import put

    response = client.http.post("/imports", body=json.dumps({"filename": "投放成本.xlsx", "kind": "costs"}),
                                headers={**auth("admin"), "Content-Type": "application/json"})
    assert response.status_code == 201, response.json_body
    body = response.json_body
    return body["import_id"], body["object_key"], put(body["object_key"], data)


def test_boards_personal_shared_home_and_ready(client: Any) -> None:
    headers = {**auth("sh_lead"), "Content-Type": "application/json"}
    card = {"title": "本月各渠道有效线索", "chart": "bar", "range": "this_month",
            "query": {"measures": ["valid", "won_amount"], "dimensions": ["source"]}}
    response = client.http.post("/boards", headers=headers, body=json.dumps({"name": "我的看板", "cards": [card]}))
    assert response.status_code == 201, response.body
    board = body_of(response)
    board_id = board["board_id"]
    listing = body_of(client.http.get("/boards", headers=auth("sh_lead")))
    assert {b["name"] for b in listing["boards"]} >= {"我的看板", "管理驾驶舱", "渠道分析", "团队业绩", "线索质量"}
    assert listing["home"] == "ready-cockpit"
    # Not yet shared: another supervisor does not see it.
    assert client.http.get(f"/boards/{board_id}", headers=auth("gz_lead")).status_code == 404
    shared = {**{k: board[k] for k in ("name", "cards")}, "visibility": "team"}
    assert client.http.put(f"/boards/{board_id}", headers=headers, body=json.dumps(shared)).status_code == 200
    assert client.http.get(f"/boards/{board_id}", headers=auth("gz_lead")).status_code == 404
    assert client.http.put(f"/boards/{board_id}", headers=headers,
                           body=json.dumps({**shared, "visibility": "all"})).status_code == 403
    assert client.http.post(f"/boards/{board_id}/home", headers=auth("sh_lead")).status_code == 200
    assert body_of(client.http.get("/boards", headers=auth("sh_lead")))["home"] == board_id
    assert client.http.get("/boards", headers=auth("sh_rep1")).status_code == 403
    assert client.http.delete(f"/boards/{board_id}", headers=auth("gz_lead")).status_code == 404
    assert client.http.delete(f"/boards/{board_id}", headers=auth("sh_lead")).status_code == 200
    bad = client.http.post("/boards", headers=headers,
                           body=json.dumps({"name": "", "cards": [{**card, "chart": "3d"}]}))
    assert bad.status_code == 400 and "name" in body_of(bad)["error"]["fields"]
    # Export: a card to Excel, one sheet with its rows.
    exported = client.http.post("/reports/export", headers=headers, body=json.dumps(
        {"title": "我的看板", "cards": [{"title": "本月各渠道", "query": {**card["query"], "from": "2026-11-01",
                                                                     "to": "2026-11-30"}}]}))
    assert exported.status_code == 200, exported.body
    assert body_of(exported)["filename"].endswith(".xlsx")


def test_a_lead_touching_more_items_than_a_transaction_holds_is_applied_once(client: Any,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Worked by several teams, one record changes more counter items than one transaction holds:
    applied in parts, the marker counting them, exactly once even when a delivery dies between parts."""
    from chalicelib.domain import analytics
    from chalicelib.services import aggregates as service
    from chalicelib.store import aggregates

    image = {"lead_id": "L20261101000001", "day": "2026-11-01", "created_at": "2026-11-01T02:00:00.000Z",
             "status": "won", "source": "wechat", "team": "t3", "owner": "r3", "first_team": "t1", "first_owner": "r1",
             "won_amount": 20, "won_date": "2026-11-09", "activity_count": 3,
             "activity_by": {"t1/r1": 1, "t2/r2": 1, "t3/r3": 1}, "reclaimed_from": ["t1/r1", "t4/r4"]}
    assert len(analytics.delta(None, image)) > service.MAX_ITEMS
    change = service.Change("e1", 100, None, image)
    calls = {"n": 0}
    real = aggregates.apply_batch

    def dies_after_one(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the invocation died")
        real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "apply_batch", dies_after_one)
    with pytest.raises(RuntimeError):
        service.on_lead_batch([change], "2026-11-01T03:00:00Z")
    monkeypatch.setattr(aggregates, "apply_batch", real)
    service.on_lead_batch([change], "2026-11-01T03:00:00Z")
    service.on_lead_batch([change], "2026-11-01T03:00:00Z")
    stored = dict(aggregates.scan_counters())
    want = {k: {n: v for n, v in attrs.items() if v} for k, attrs in analytics.contribution(image).items()}
    assert stored == want


def _worked_images(count: int) -> list[dict[str, Any]]:
    """Assigned leads of three days over four loan types and two teams: each record touches some 76
    counter items, so no two of them fit one transaction whole."""
    types, teams = ["mortgage", "credit", "business", "car"], ["sh_mortgage", "south_credit"]
    return [{"lead_id": f"L2026110{1 + n % 3}{n:06d}", "day": f"2026-11-0{1 + n % 3}",
             "created_at": f"2026-11-0{1 + n % 3}T02:00:00.000Z",
             "status": "assigned", "source": "wechat", "loan_type": types[n % 4], "city": "上海",
             "team": teams[n % 2], "owner": f"rep{n % 3}", "first_team": teams[n % 2], "first_owner": f"rep{n % 3}"}
            for n in range(count)]


def _expected(images: list[dict[str, Any]]) -> dict[Any, dict[str, Decimal]]:
    from chalicelib.domain import analytics

    total: dict[Any, dict[str, Decimal]] = {}
    for image in images:
        analytics.add_into(total, analytics.contribution(image))
    return {k: {n: v for n, v in attrs.items() if v} for k, attrs in total.items()}


def test_a_batch_shares_its_transactions_whatever_each_record_touches(client: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A counter item is written once per transaction, not once per record: records share
    transactions, one going on in the next when its items do not all fit (was a transaction of its
    own, two writes of every item, for each record touching more than half a transaction's items)."""
    from chalicelib.domain import analytics
    from chalicelib.services import aggregates as service
    from chalicelib.store import aggregates

    images = _worked_images(12)
    items = set().union(*(analytics.delta(None, image) for image in images))
    assert all(len(analytics.delta(None, image)) > service.MAX_ITEMS // 2 for image in images)
    written: list[int] = []
    real = aggregates.apply_batch

    def counting(*args: Any, **kwargs: Any) -> Any:
        written.append(len(args[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "apply_batch", counting)
    changes = [service.Change(f"e{n}", 100 + n, None, image) for n, image in enumerate(images)]
    assert service.on_lead_batch(changes, "2026-11-01T03:00:00Z") == len(images)
    assert sum(written) == len(items)  # each item once
    assert len(written) == -(-len(items) // service.MAX_ITEMS) < len(images)
    assert dict(aggregates.scan_counters()) == _expected(images)


@pytest.mark.parametrize("dies_at", [1, 2, 3])
def test_a_batch_dying_between_transactions_is_applied_once_however_delivered_again(
        client: Any, monkeypatch: pytest.MonkeyPatch, dies_at: int) -> None:
    """A delivery dies after `dies_at` transactions (the marker may stand inside a record); the batch
    delivered again from the same first record, cut shorter, whole, and whole again, counts every
    record exactly once."""
    from chalicelib.services import aggregates as service
    from chalicelib.store import aggregates

    images = _worked_images(9)
    changes = [service.Change(f"e{n}", 100 + n, None, image) for n, image in enumerate(images)]
    calls = {"n": 0}
    real = aggregates.apply_batch

    def dies(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > dies_at:
            raise RuntimeError("the invocation died")
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "apply_batch", dies)
    with pytest.raises(RuntimeError):
        service.on_lead_batch(changes, "2026-11-01T03:00:00Z")
    monkeypatch.setattr(aggregates, "apply_batch", real)
    for again in (changes[:2], changes[:5], changes, changes):
        service.on_lead_batch(again, "2026-11-01T03:00:00Z")
    assert dict(aggregates.scan_counters()) == _expected(images)


def test_a_marker_written_by_parts_of_a_record_goes_on_where_it_stood(client: Any) -> None:
    """A marker left inside a record by the code that applied records in parts of MAX_ITEMS items
    (`part`, no `keys`) is read as that many items: the delivery again applies the rest only."""
    from chalicelib.domain import analytics
    from chalicelib.services import aggregates as service
    from chalicelib.store import aggregates

    image = {"lead_id": "L20261101000001", "day": "2026-11-01", "created_at": "2026-11-01T02:00:00.000Z",
             "status": "won", "source": "wechat", "team": "t3", "owner": "r3", "first_team": "t1", "first_owner": "r1",
             "won_amount": 20, "won_date": "2026-11-09", "activity_count": 3,
             "activity_by": {"t1/r1": 1, "t2/r2": 1, "t3/r3": 1}, "reclaimed_from": ["t1/r1", "t4/r4"]}
    delta = analytics.delta(None, image)
    first = {key: delta[key] for key in sorted(delta)[:service.MAX_ITEMS]}
    client_ = aggregates._client()
    client_.put_item(TableName=aggregates._table(), Item={"pk": {"S": "batch#e1"}, "sk": {"S": "-"},
                                                          "seq": {"N": "-1"}, "part": {"N": "1"},
                                                          "expires_at": {"N": "1893456000"}})
    for key, attrs in first.items():
        aggregates.replace(key, attrs)
    service.on_lead_batch([service.Change("e1", 100, None, image)], "2026-11-01T03:00:00Z")
    assert dict(aggregates.scan_counters()) == _expected([image])


def test_report_period_segments_are_bounded() -> None:
    from chalicelib.services.reports import segments

    year = segments(date(2025, 12, 3), date(2026, 12, 2), by_day=False)
    assert len(year) == 29 + 11 + 2  # the partial months' days and eleven whole months
    assert segments(date(2026, 11, 1), date(2026, 11, 30), by_day=False) == ["2026-11"]


def test_a_weekly_board_summary_goes_to_the_inbox_once_on_monday_morning(client: Any) -> None:
    from chalicelib.store import inbox
    from tests.test_sop import tick

    card = {"title": "上周线索", "chart": "figure", "range": "last_7_days", "query": {"measures": ["leads", "valid"]}}
    response = client.http.post("/boards", headers={**auth("sh_lead"), "Content-Type": "application/json"},
                                body=json.dumps({"name": "团队周报", "visibility": "team", "weekly": True,
                                                 "cards": [card]}))
    assert response.status_code == 201, response.body
    assert tick(client, "2026-11-29T23:00:00Z")["board_summaries"] == 0  # Monday 07:00: not yet
    assert tick(client, "2026-11-30T01:05:00Z")["board_summaries"] == 1  # Monday 09:05
    assert tick(client, "2026-11-30T01:10:00Z")["board_summaries"] == 0  # the next tick: sent already
    for user in ("sh_lead", "sh_rep1"):
        items, _ = inbox.page(user, False, 20, None)
        weekly = [i for i in items if i["kind"] == "board_weekly"]
        assert len(weekly) == 1 and weekly[0]["title"] == "看板周报：团队周报"
        assert "上周线索" in weekly[0]["body"] and "11月23日–11月29日" in weekly[0]["body"]
    assert not [i for i in inbox.page("gz_lead", False, 20, None)[0] if i["kind"] == "board_weekly"]


def test_custom_field_and_other_rows_drill_to_exactly_their_leads(client: Any) -> None:
    """A `custom.<key>` row drills with `custom.<key>=<code>`, a top-N dimension's 其他 row with
    `city_not=<the top cities>`: the lead list lists exactly the leads each row counts."""
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.services import names
    from chalicelib.store import config

    profile = config.lead_profile().model_dump(mode="json")
    profile["custom_fields"] = [{"key": "housing", "label": "住房情况", "type": "option",
                                 "options": [{"value": "own_home", "label": "自有住房"},
                                             {"value": "rent", "label": "租房"}]}]
    response = client.http.put("/config/lead-profile", body=json.dumps(profile),
                               headers={**auth("admin"), "Content-Type": "application/json"})
    assert response.status_code == 200, response.json_body
    names.clear()
    cities = ["上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "重庆", "苏州", "天津", "长沙"]
    now = datetime.now(UTC)
    reader, log = leads_stream(), []
    for i in range(40):  # 上海 most, 长沙 and 天津 least: they fall into 其他 with the leads without a city
        body: dict[str, Any] = {"name": "客户", "phone": f"1391620{4600 + i:04d}", "loan_type": "credit",
                                "source": "douyin"}
        if i % 10 != 9:
            body["city"] = cities[min(i % 17, len(cities) - 1)]
        if i % 3:
            body["custom"] = {"housing": "own_home" if i % 3 == 1 else "rent"}
        capture_at(body, now - timedelta(minutes=i))
    drain(client, reader, log)
    leads = all_leads()
    # the 40 minutes may straddle Shanghai's midnight
    span = {"from": shanghai_day(now - timedelta(minutes=40)).isoformat(), "to": shanghai_day(now).isoformat()}

    got = ask(client, "admin", {"measures": ["leads"], "dimensions": ["custom.housing"], **span})
    rows = {r["custom.housing"]: r for r in got["rows"]}
    assert rows["own_home"]["custom.housing_label"] == "自有住房"
    for code, row in rows.items():
        ids = {x["lead_id"] for x in leads if (x.get("custom") or {}).get("housing") == code}
        assert row["leads"] == len(ids) and row["drill"]["leads"]["custom.housing"] == code
        assert listed(client, row["drill"]["leads"]) == ids

    by_city = ask(client, "admin", {"measures": ["leads", "valid"], "dimensions": ["city"], **span})
    other = next(r for r in by_city["rows"] if r["city"] == "_other")
    shown = {r["city"] for r in by_city["rows"]} - {"_other"}
    assert len(shown) == 10 and other["city_label"] == "其他"
    rest = {x["lead_id"] for x in leads if (x.get("city") or "_none") not in shown}
    assert other["leads"] == len(rest) and other["drill"]["leads"]["city_not"]
    assert listed(client, other["drill"]["leads"]) == rest
    assert len(listed(client, other["drill"]["valid"])) == other["valid"]
    # A filtered 其他 is a list of values, not an exclusion: no drill rather than a wrong one.
    narrowed = ask(client, "admin", {"measures": ["leads"], "dimensions": ["city"], "filters": {"city": cities},
                                     **span})
    assert all(r["drill"]["leads"] is None for r in narrowed["rows"] if r["city"] == "_other")

    # The lead list checks a custom-field filter against the profile, in Chinese.
    for params, status in (("custom.nope=x", 400), ("custom.housing=castle", 400)):
        refused = client.http.get(f"/leads?{params}&from={span['from']}&to={span['to']}", headers=auth("admin"))
        assert refused.status_code == status
        assert any("\u4e00" <= c <= "\u9fff" for c in body_of(refused)["error"]["message"])


def test_overdue_tasks_by_team_and_rep_from_the_task_index(client: Any) -> None:
    """Open tasks past due now, by team or rep, from one per-rep query of the tasks' index (a done
    task, one not yet due and one beyond the 90 days 我的任务 shows do not count); refused by time."""
    from chalicelib.domain.sop import NewTask
    from chalicelib.domain.timeutil import iso_utc
    from chalicelib.store import tasks

    now = datetime.now(UTC)
    plan = {"sh_rep1": [-3, -1, 2, -200], "sh_rep2": [-5], "gz_rep1": [-2, -1, -48]}  # hours from now (-200: days)
    for owner, offsets in plan.items():
        team = "south_credit" if owner.startswith("gz") else "sh_mortgage"
        for n, hours in enumerate(offsets):
            due = now + (timedelta(days=hours) if hours < -100 else timedelta(hours=hours))
            tasks.create(f"L-T{owner}{n}", NewTask(f"t{n}", "回访", "manual", iso_utc(due), owner), team,
                         iso_utc(now - timedelta(days=300)))
    tasks.create("L-Tdone", NewTask("t0", "回访", "manual", iso_utc(now - timedelta(hours=4)), "sh_rep1"),
                 "sh_mortgage", iso_utc(now - timedelta(days=1)))
    tasks.close("L-Tdone", "t0", "done", iso_utc(now))
    today = now.date().isoformat()
    span = {"from": today, "to": today}

    by_team = ask(client, "admin", {"measures": ["leads", "overdue_tasks"], "dimensions": ["team"], **span})
    assert {r["team"]: r["overdue_tasks"] for r in by_team["rows"] if r["overdue_tasks"]} == \
        {"sh_mortgage": 3, "south_credit": 3}
    assert by_team["total"]["overdue_tasks"] == 6
    assert next(r for r in by_team["rows"] if r["team"] == "sh_mortgage")["team_label"] != "sh_mortgage"
    mine = ask(client, "sh_lead", {"measures": ["overdue_tasks"], "dimensions": ["owner"], **span})
    assert {r["owner"]: r["overdue_tasks"] for r in mine["rows"]} == {"sh_rep1": 2, "sh_rep2": 1}
    assert all(r["drill"]["overdue_tasks"] is None for r in mine["rows"])
    assert ask(client, "sh_lead", {"measures": ["overdue_tasks"], **span})["total"]["overdue_tasks"] == 3
    for dimensions in (["day"], ["source"], ["week", "owner"]):
        refused = query(client, "admin", {"measures": ["overdue_tasks"], "dimensions": dimensions, **span})
        assert refused.status_code == 400 and "逾期任务" in body_of(refused)["error"]["message"]
    assert any(m["key"] == "overdue_tasks" and m["now"] for m in ask_catalog(client))


def ask_catalog(client: Any) -> list[dict[str, Any]]:
    return list(body_of(client.http.get("/reports/catalog", headers=auth("admin")))["measures"])


def test_the_few_valued_dimensions_share_one_report_item_per_scope_and_period() -> None:
    """A routed lead's report items: one `few` item per scope and period for the eight dimensions with
    a few values each (was one item each: 120 report items a lead, 68 now), and a card on one of them
    reads its own attributes only."""
    from chalicelib.domain import analytics

    image = _worked_images(1)[0]  # 2026-11-01, mortgage, sh_mortgage / rep0
    keys = {key for key in analytics.contribution(image) if key[0].startswith("r/")}
    scopes = ("all", "team:sh_mortgage", "all~mortgage", "team:sh_mortgage~mortgage")
    assert {key for key in keys if key[0].startswith("r/few/")} == \
        {(f"r/few/{scope}", period, "r") for scope in scopes for period in ("2026-11-01", "2026-11")}
    assert not any(key[0].split("/")[1] in analytics.FEW for key in keys)
    assert len(keys) == 68
    few = analytics.contribution(image)[("r/few/all", "2026-11", "r")]
    assert set(analytics.fold_report([few], "status")) == {"assigned"}
    assert set(analytics.fold_report([few], "loan_type")) == {"mortgage"}
    assert analytics.fold_report([few], "total")["all"].n == 1
