"""Lead scoring: the model learns from history, the stream scores before routing, rules route on the
score, the pool sorts by it, the lead says why in Chinese, and bad scoring documents are refused."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.helpers import body_of, call, capture, deliver, lead, leads_stream, phone

pytestmark = pytest.mark.moto

# Under the default prior: 50 + 12 + 8 + 6 + 5 (官网表单) + 4 (30–100万) = 85, and 50 − 6 − 15 − 4 + 5 = 30.
HOT: dict[str, Any] = {"loan_type": "mortgage", "credit_status": "good", "customer_type": "business_owner",
                       "amount": 60, "city": "成都"}
COLD: dict[str, Any] = {"loan_type": "other", "credit_status": "serious_overdue", "amount": 5, "city": "成都"}


def history(n: int, seed: int = 3) -> tuple[list[dict[str, Any]], list[int]]:
    """Closed leads where 房产抵押贷 wins twice as often as anything else (30 % against 15 %)."""
    rng = random.Random(seed)
    leads, outcomes = [], []
    for i in range(n):
        loan = rng.choice(["mortgage", "credit", "business", "car"])
        leads.append({"lead_id": f"H{i}", "loan_type": loan, "credit_status": rng.choice(["good", "unknown"]),
                      "source": rng.choice(["website_form", "wechat"]), "amount": rng.choice([5, 50, 200]),
                      "created_at": f"2026-10-{1 + i % 28:02d}T0{i % 10}:00:00Z"})
        outcomes.append(1 if rng.random() < (0.30 if loan == "mortgage" else 0.15) else 0)
    return leads, outcomes


def test_a_model_trained_where_mortgage_wins_twice_as_often_credits_mortgage() -> None:
    from chalicelib.domain.scoring import Scorer, feature_values, train
    from chalicelib.rules.profile import default_profile
    from chalicelib.rules.scoring import MODEL_FIELDS

    leads, outcomes = history(3000)
    fitted = train([feature_values(item, MODEL_FIELDS) for item in leads], outcomes)
    points = fitted.points["loan_type"]
    assert points["mortgage"] > 3 and all(points["mortgage"] > points[other] for other in ("credit", "business", "car"))
    assert fitted.auc > 0.55 and fitted.samples["test"] == 600 and "name" not in fitted.features
    scorer = Scorer("model", 1, fitted.points, default_profile().option_label, center=fitted.center,
                    per_logit=fitted.per_logit, platt=fitted.platt)
    mortgage, credit = (scorer.score({**leads[0], "loan_type": kind}) for kind in ("mortgage", "credit"))
    assert mortgage.score > credit.score
    assert any(reason.startswith("房产抵押贷 +") for reason in mortgage.reasons)
    assert mortgage.probability is not None and credit.probability is not None
    assert 0.2 < mortgage.probability < 0.45 and 0.07 < credit.probability < 0.25  # calibrated: near 30 % / 15 %


def test_a_routing_rule_on_score_sends_high_scoring_leads_to_the_named_rep(client: Any) -> None:
    rules = body_of(call(client, "GET", "/config/routing", "admin"))["document"]
    rules["rules"].insert(0, {"id": "hot", "name": "高分线索", "when": {"field": "score", "op": "range",
                                                                    "value": {"min": 70}},
                              "action": {"type": "assign_rep", "rep": "gz_rep1"}})
    published = call(client, "PUT", "/config/routing", "admin", rules)
    assert published.status_code == 200, published.body
    hot, cold = capture(client, phone(1), **HOT), capture(client, phone(2), **COLD)
    deliver(client, leads_stream())
    hot_lead, cold_lead = lead(client, hot), lead(client, cold)
    assert hot_lead["score"] == 85 and hot_lead["score_band"] == "high"
    assert (hot_lead["owner"], hot_lead["route"]["rule_id"]) == ("gz_rep1", "hot")
    assert "评分 ≥ 70" in hot_lead["route"]["reason"]
    assert cold_lead["score"] == 30 and cold_lead["score_band"] == "low"
    assert cold_lead["status"] == "pool" and cold_lead["route"]["rule_id"] != "hot"


def test_the_lead_says_its_score_and_reasons_in_chinese(client: Any) -> None:
    hot = capture(client, phone(3), **HOT)
    deliver(client, leads_stream())
    view = lead(client, hot)
    assert view["score"] == 85
    assert view["score_reasons"] == ["房产抵押贷 +12", "征信：良好,无逾期 +8", "企业主 +6", "官网表单 +5"]
    assert view["labels"]["score_band"] == "高" and view["labels"]["score_basis"] == "先验权重"
    assert view["score_basis"] == "prior" and view["score_version"] == 0


def test_the_pool_sorts_by_score(client: Any) -> None:
    profiles = [COLD, HOT, {"loan_type": "credit", "city": "成都"}, {**HOT, "credit_status": "minor_overdue"}]
    ids = [capture(client, phone(10 + n), **fields) for n, fields in enumerate(profiles)]
    deliver(client, leads_stream())
    newest = body_of(call(client, "GET", "/pool", "sh_rep1"))["items"]
    assert [item["lead_id"] for item in newest] == ids[::-1]
    ranked = body_of(call(client, "GET", "/pool?sort=score", "sh_rep1"))["items"]
    assert [item["lead_id"] for item in ranked] == [ids[1], ids[3], ids[2], ids[0]]
    scores = [item["score"] for item in ranked]
    assert scores == sorted(scores, reverse=True) and scores[0] == 85
    mine = body_of(call(client, "GET", "/leads?sort=score", "admin"))["items"]
    assert [item["lead_id"] for item in mine][:2] == [ids[1], ids[3]]
    bad = call(client, "GET", "/pool?sort=name", "sh_rep1")
    assert bad.status_code == 400 and "score" in body_of(bad)["error"]["fields"]["sort"]


def test_bad_scoring_documents_get_chinese_field_errors_and_change_nothing(client: Any) -> None:
    live = body_of(call(client, "GET", "/config/scoring", "admin"))
    assert live["version"] == 0 and live["document"]["prior"]["loan_type"]["mortgage"] == 12

    def refused(mutate: Any) -> dict[str, str]:
        draft = json.loads(json.dumps(live["document"]))
        mutate(draft)
        response = call(client, "PUT", "/config/scoring", "admin", draft)
        assert response.status_code == 422, response.body
        return dict(body_of(response)["error"]["fields"])

    assert "个人信息" in refused(lambda d: d["prior"].update({"phone": {"x": 5}}))["prior"]
    assert "个人信息" in refused(lambda d: d.update({"excluded_fields": ["name"]}))["excluded_fields"]
    assert "未知的评分因素" in refused(lambda d: d["prior"].update({"favourite_colour": {"red": 5}}))["prior"]
    assert "mansion" in refused(lambda d: d["prior"]["loan_type"].update({"mansion": 5}))["prior.loan_type"]
    assert "−50～+50" in refused(lambda d: d["prior"]["loan_type"].update({"mortgage": 80}))["prior"]
    assert "起始分" in refused(lambda d: d.update({"bands": {"high_from": 40, "medium_from": 60}}))["bands"]
    assert "不能小于" in refused(lambda d: d.update({"min_closed_leads": 1}))["min_closed_leads"]
    assert body_of(call(client, "GET", "/config/scoring", "admin"))["version"] == 0
    assert call(client, "PUT", "/config/scoring", "sh_lead", live["document"]).status_code == 403


def test_training_publishes_a_model_the_stream_then_scores_with(client: Any) -> None:
    from chalicelib.store import leads as lead_store

    status = body_of(call(client, "GET", "/scoring", "admin"))
    assert status["basis"] == "prior" and status["model"] is None
    items, outcomes = history(400, seed=5)
    rows: list[dict[str, Any]] = []
    for item, won in zip(items, outcomes, strict=True):
        at = item["created_at"]
        rows.append({**item, "lead_id": f"L2026{item['lead_id']}", "status": "won" if won else "lost",
                     "updated_at": at, "day": at[:10], "phone": f"+86139{len(rows):08d}", "channel": "public",
                     "first_owner": "sh_rep1", "name": "不应被使用"})
    rows.append({**rows[0], "lead_id": "L2026DUP", "status": "duplicate"})  # never learnt from
    lead_store.insert_batch(rows)
    policy = body_of(call(client, "GET", "/config/scoring", "admin"))["document"]
    policy["min_closed_leads"] = 100
    policy["excluded_fields"] = ["region"]
    assert call(client, "PUT", "/config/scoring", "admin", policy).status_code == 200
    assert call(client, "POST", "/scoring/train", "sh_lead").status_code == 403

    event = json.loads((ROOT / "events" / "schedule.json").read_text(encoding="utf-8"))
    event["time"] = "2026-11-20T18:00:00Z"
    result = client.lambda_.invoke("scoring_train", event).payload
    assert result["trained"] is True and result["closed"] == 400 and result["basis"] == "model"
    model = body_of(call(client, "GET", "/config/scoring-model", "admin"))
    assert model["version"] == 1 and model["document"]["samples"]["total"] == 400
    assert "region" not in model["document"]["features"] and "name" not in model["document"]["features"]
    assert model["document"]["points"]["loan_type"]["mortgage"] > 0
    status = body_of(call(client, "GET", "/scoring", "admin"))
    assert status["basis"] == "model" and status["basis_label"] == "历史模型"

    scored = capture(client, phone(30), **HOT)
    reader = leads_stream()
    for _ in range(10):  # the closed leads written above come first on the stream
        deliver(client, reader)
        view = lead(client, scored)
        if view["status"] != "new":
            break
    assert view["score_basis"] == "model" and view["labels"]["score_basis"] == "历史模型"
    assert view["score_version"] == 1 and 0 < view["score_probability"] < 1
    assert any(reason.startswith("房产抵押贷 +") for reason in view["score_reasons"])

    again = body_of(call(client, "POST", "/scoring/train", "admin"))  # on demand: a new version
    assert again["trained"] is True and again["version"] == 2


def test_the_dashboard_shows_won_rate_by_score_band(client: Any) -> None:
    from chalicelib.domain.timeutil import shanghai_day
    from tests.test_dashboard import drain, set_status

    shanghai = {"city": "上海", "loan_type": "mortgage"}
    high = [capture(client, phone(40 + n), **{**HOT, **shanghai}) for n in range(2)]  # 85
    medium = capture(client, phone(45), **{**shanghai, "credit_status": "serious_overdue", "amount": 5})  # 48
    reader = leads_stream()
    drain(client, reader, [])
    for lead_id in (*high, medium):
        owner = lead(client, lead_id)["owner"]
        set_status(client, lead_id, owner, "intent")
        if lead_id == high[0]:
            set_status(client, lead_id, owner, "qualifying")
            set_status(client, lead_id, owner, "won", won_amount=60, won_date="2026-12-01")
        else:
            set_status(client, lead_id, owner, "lost", reason="利率不满意")
    drain(client, reader, [])
    today = shanghai_day(datetime.now(UTC)).isoformat()
    board = body_of(call(client, "GET", f"/dashboard?from={today}&to={today}", "admin"))
    bands = {row["value"]: row for row in board["score_bands"]}
    assert [row["label"] for row in board["score_bands"]] == ["评分高", "评分中"]
    assert (bands["high"]["leads"], bands["high"]["won"], bands["high"]["conversion"]) == (2, 1, 0.5)
    assert (bands["medium"]["leads"], bands["medium"]["won"], bands["medium"]["conversion"]) == (1, 0, 0.0)
    drill = bands["high"]["drill"]["won"]
    listed = body_of(call(client, "GET", "/leads?" + "&".join(f"{k}={v}" for k, v in drill.items()), "admin"))
    assert [item["lead_id"] for item in listed["items"]] == [high[0]]


def test_a_rule_on_the_score_band_reads_in_chinese_in_the_dry_run(client: Any) -> None:
    draft = body_of(call(client, "GET", "/config/routing", "admin"))["document"]
    draft["rules"].insert(0, {"id": "band", "name": "高分档", "action": {"type": "assign_rep", "rep": "sh_rep1"},
                              "when": {"field": "score_band", "op": "eq", "value": "high"}})
    dry = body_of(call(client, "POST", "/config/routing/dry-run", "admin",
                       {"draft": draft, "lead": {"score": 88, "score_band": "high"}}))
    assert dry["results"][0]["draft"]["rule_id"] == "band"
    assert "评分档 = 高" in dry["results"][0]["draft"]["reason"]


def test_features_are_the_profile_in_beijing_time_and_never_personal_data() -> None:
    from decimal import Decimal

    from chalicelib.domain.scoring import SENSITIVE_FIELDS, feature_values
    from chalicelib.rules.scoring import MODEL_FIELDS

    lead = {"name": "张三", "phone": "+8613812345678", "city": "上海", "loan_type": "mortgage",
            "amount": Decimal("120"), "created_at": "2026-12-05T17:30:00Z",  # Sunday 01:30 in Beijing
            "previous_leads": ["L1", "L2"], "custom": {"house": "yes"}}
    values = dict(feature_values(lead, [*MODEL_FIELDS, "custom.house"]))
    assert values["hour"] == "night" and values["weekday"] == "sun"
    assert values["amount_band"] == "100_500" and values["re_inquiry"] == "2_plus"
    assert values["custom.house"] == "yes" and values["purpose"] == "_none"
    assert not set(MODEL_FIELDS) & SENSITIVE_FIELDS
    assert "张三" not in values.values() and "+8613812345678" not in values.values() and "上海" not in values.values()
