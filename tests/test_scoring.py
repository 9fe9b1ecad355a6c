"""Lead scoring: the model learns from history, the stream scores before routing, rules route on the
score, the pool sorts by it, the lead says why in Chinese, and bad scoring documents are refused."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
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
    reader = leads_stream()
    deliver(client, reader)
    deliver(client, reader)  # the placement's record: the reason on its history entry
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


# --- the engagement score ---------------------------------------------------------------------------

def _log(lead_id: str, owner: str, at: datetime, kind: str, outcome: str | None = None) -> None:
    """A rep's activity at a given time (the API stamps the request's own time)."""
    from chalicelib.domain.access import Principal
    from chalicelib.domain.followup import ActivityIn
    from chalicelib.services import followup

    followup.log_activity(Principal(owner, "rep", "sh_mortgage"), lead_id,
                          ActivityIn.model_validate({"type": kind, "outcome": outcome}), at)


def _stream_once(client: Any, reader: Any) -> list[dict[str, Any]]:
    """Deliver what the stream has; return the records (to deliver them again)."""
    from local.streams import lambda_event

    records: list[dict[str, Any]] = reader.read()
    if records:
        reader.advance(records[-1])
        client.lambda_.invoke("lead_stream", lambda_event(records, reader.stream_arn))
    return records


def test_a_first_contact_after_three_hours_lowers_the_score_and_says_why_once(client: Any) -> None:
    from chalicelib.domain.timeutil import parse_iso

    lead_id = capture(client, phone(50), loan_type="mortgage", credit_status="good", city="上海")
    reader = leads_stream()
    _stream_once(client, reader)
    placed = lead(client, lead_id)
    assert placed["status"] == "assigned" and placed["owner"].startswith("sh_rep")
    assert placed["score"] == 50 + 12 + 8 + 5  # 房产抵押贷 · 征信良好 · 官网表单; no engagement yet
    assert not any("联系" in reason for reason in placed["score_reasons"])

    _log(lead_id, placed["owner"], parse_iso(placed["created_at"]) + timedelta(hours=3), "call", "未接通")
    records = _stream_once(client, reader)
    slow = lead(client, lead_id)
    assert slow["first_contact_at"] and slow["activity_count"] == 1 and not slow.get("answered_calls")
    assert slow["score"] == placed["score"] - 6 - 4  # 首次联系超过 2 小时 −6 · 电话未接通 −4
    assert "首次联系超过 2 小时 −6" in slow["score_reasons"]
    assert slow["labels"]["score_basis"] == "先验权重" and slow["labels"]["score_band"] == "中"

    # A replay of the same records, and the rescoring's own record, change nothing.
    from local.streams import lambda_event

    client.lambda_.invoke("lead_stream", lambda_event(records, reader.stream_arn))
    _stream_once(client, reader)
    assert lead(client, lead_id) == slow
    assert _stream_once(client, reader) == []  # the rescoring wrote once, and its record wrote nothing

    # An answered call is a signal too: 电话未接通 −4 becomes 接通电话 1 次 +4.
    _log(lead_id, placed["owner"], parse_iso(placed["created_at"]) + timedelta(hours=4), "call", "已接通")
    _stream_once(client, reader)
    answered = lead(client, lead_id)
    assert answered["answered_calls"] == 1 and answered["score"] == slow["score"] + 8
    assert "首次联系超过 2 小时 −6" in answered["score_reasons"]  # the top four reasons, largest first


def test_a_replayed_old_signal_does_not_overwrite_a_newer_score(client: Any) -> None:
    from chalicelib.services.scoring import rescore

    lead_id = capture(client, phone(51), loan_type="mortgage", city="上海")
    reader = leads_stream()
    _stream_once(client, reader)
    placed = lead(client, lead_id)
    base = {k: placed[k] for k in ("lead_id", "status", "created_at", "score", "score_reasons", "score_basis",
                                   "score_version")}
    contacted = {**base, "first_contact_at": placed["created_at"]}  # within 5 minutes: +6 under the prior
    _log(lead_id, placed["owner"], datetime.fromisoformat(placed["created_at"]), "materials_sent")
    _stream_once(client, reader)
    now = lead(client, lead_id)
    assert now["materials_sent"] == 1 and now["score"] == 50 + 12 + 5 + 6 - 4 + 4  # … 已发送资料 +4
    assert "5分钟内首次联系 +6" in now["score_reasons"]
    # The record of an earlier state (contacted, no materials yet) arrives late: the item's signals
    # are no longer those, so it writes nothing.
    assert rescore(base, contacted) is False
    assert lead(client, lead_id) == now


def test_an_answered_call_raises_the_model_score_when_history_says_so() -> None:
    from chalicelib.domain.scoring import Scorer, feature_values, train
    from chalicelib.rules.profile import default_profile
    from chalicelib.rules.scoring import MODEL_FIELDS

    leads, outcomes = history(3000, seed=9)
    rng = random.Random(4)
    for item in leads:
        item["first_contact_at"] = item["created_at"].replace("Z", "+00:00")
        item["answered_calls"] = rng.choice([0, 0, 1, 2])
    # The leads who picked up won three times as often.
    outcomes = [1 if rng.random() < (0.3 if item["answered_calls"] else 0.1) else 0 for item in leads]
    fitted = train([feature_values(item, MODEL_FIELDS) for item in leads], outcomes)
    assert fitted.points["answered_calls"]["1"] > 0 > fitted.points["answered_calls"]["0"]
    scorer = Scorer("model", 1, fitted.points, default_profile().option_label, center=fitted.center,
                    per_logit=fitted.per_logit, platt=fitted.platt)
    fresh = {k: v for k, v in leads[0].items() if k not in ("first_contact_at", "answered_calls")}
    unanswered = {**fresh, "first_contact_at": leads[0]["first_contact_at"], "answered_calls": 0}
    picked_up = {**unanswered, "answered_calls": 1}
    before, miss, hit = (scorer.score(item) for item in (fresh, unanswered, picked_up))
    assert hit.score > before.score > miss.score  # before the first contact: the average lead's engagement
    assert any(reason.startswith("接通电话 1 次 +") for reason in hit.reasons)
    assert any(reason.startswith("电话未接通 −") for reason in miss.reasons)
    assert not any("联系" in reason or "接通" in reason for reason in before.reasons)


def test_a_field_the_admin_excludes_after_training_scores_nothing() -> None:
    from chalicelib.domain.scoring import feature_values, train
    from chalicelib.rules.profile import default_profile
    from chalicelib.rules.scoring import MODEL_FIELDS, ScoringModel, ScoringPolicy, TrainingWindow, compile_scorer

    leads, outcomes = history(2000)
    fitted = train([feature_values(item, MODEL_FIELDS) for item in leads], outcomes)
    model = ScoringModel(trained_at="2026-11-20T18:00:00Z", window=TrainingWindow(start="", end=""),
                         samples=fitted.samples, auc=fitted.auc, brier=fitted.brier, features=list(MODEL_FIELDS),
                         intercept=fitted.intercept, center=fitted.center, per_logit=fitted.per_logit,
                         platt=fitted.platt, points=fitted.points)
    labels = default_profile().option_label
    mortgage = {**leads[0], "loan_type": "mortgage"}
    kept = compile_scorer(ScoringPolicy(min_closed_leads=100), 1, model, 1, labels).score(mortgage)
    dropped = compile_scorer(ScoringPolicy(min_closed_leads=100, excluded_fields=["loan_type"]), 2, model, 1,
                             labels).score(mortgage)
    assert kept.basis == dropped.basis == "model"
    assert any(reason.startswith("房产抵押贷 +") for reason in kept.reasons)
    assert not any(reason.startswith("房产抵押贷") for reason in dropped.reasons)
    assert dropped.score < kept.score
    # Too little history for the policy: the prior scores, and says so.
    prior = compile_scorer(ScoringPolicy(min_closed_leads=5000), 1, model, 1, labels).score(mortgage)
    assert prior.basis == "prior" and prior.probability is None
