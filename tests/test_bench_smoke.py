"""The benchmarks run and return their figures (no timing assertions: that is what `make bench` is for)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from bench import BENCHMARKS, capture_cost

pytestmark = pytest.mark.moto


def test_every_benchmark_module_has_a_run() -> None:
    for name in BENCHMARKS:
        assert callable(importlib.import_module(name).run)


# Each mix is measured once per process (capture_cost.measured) on a fresh embedded AWS with the demo org
# seeded: the three tests on capture costs share their runs (N leads each) instead of seeding them again.
N = 6


def test_capture_cost_counts_requests_and_units_per_lead() -> None:
    figures = capture_cost.run(n=N, verbose=False)
    assert {"capture_requests_per_lead", "write_units_per_lead", "read_units_per_lead",
            "stream_requests_per_lead", "scans", "usd_per_million_leads"} <= set(figures)
    assert figures["scans"] == 0
    assert figures["capture_requests_per_lead"] >= 1
    assert figures["stream_requests_per_lead"] >= 1
    assert figures["write_units_per_lead"] > 0
    # The mix that matters beside the demo's: every lead assigned, and every lead a repeat.
    assert {"write_units_per_assigned_lead", "read_units_per_assigned_lead", "write_units_per_duplicate_lead",
            "scans_assigned", "scans_duplicate"} <= set(figures)
    assert figures["scans_assigned"] == 0 == figures["scans_duplicate"]
    # An assigned lead costs more than the demo mix's average (84 % of which go to the pool).
    assert figures["write_units_per_assigned_lead"] > figures["write_units_per_lead"]
    # A lead arriving alone pays by itself what its stream batches write as a whole (the counters).
    assert figures["scans_lone"] == 0
    assert figures["write_units_per_lone_lead"] > 2 * figures["write_units_per_assigned_lead"]
    # A lead cleaning refuses is one update of it in the stream (its history entry rebuilt from it).
    assert figures["scans_invalid"] == 0
    assert figures["write_units_per_invalid_lead"] < figures["write_units_per_lead"]


def test_capture_cost_says_where_each_unit_of_an_assigned_lead_goes() -> None:
    from bench.capture_cost import _combine_all, measured

    raw = measured(N, "assigned")
    assert raw["lead_statuses"] == {"assigned": N}
    *_, total = _combine_all(raw["tallies"])
    # Item and index units add up to the total; each index is named.
    assert sum(total.write_units_item.values()) == total.write_units
    assert any(key.endswith("/by_owner_keys") for key in total.write_units_item)
    assert abs(sum(total.read_units_by.values()) - total.read_units) < 1e-9
    # Issue 21: a placement writes its list and sweep indexes keys only (one unit each, whatever the
    # lead's size), two of them (no team index: a team's list merges its members'), and reads neither
    # the lead's tasks nor the whole team's load; the team's round-robin counter is written once per
    # block of turns (was once per lead), fair turns whatever other teams receive.
    stream = raw["tallies"]["stream"]
    placed = {key.split("/")[1]: units for key, units in stream.write_units_item.items()
              if key.startswith("UpdateItem leads/")}
    assert placed == {"by_owner_keys": N, "by_clock_keys": N}
    assert stream.write_units_item["UpdateItem sequences"] == 1  # N (< 16) leads, one block of turns
    assert not any(key.startswith("Query tasks") for key in stream.read_units_by)
    assert stream.read_units_by["BatchGetItem rep_load"] == N * 0.5  # the one load item of one rep, ½ unit
    # The team's members, read once for the batch's leads (was once per lead), beside the three queries
    # of the names shown in messages (users by role, once per container).
    assert stream.requests["Query users"] == 1 + 3
    # The captures' batch counts nothing (a `new` lead counts once worked out): it neither reads nor
    # writes a batch marker; the placements' batch does both, once.
    assert stream.requests["GetItem aggregates"] == 1 and stream.requests["TransactWriteItems aggregates"] >= 1
    # The placed lead is under 1 KB (no routing reason: rebuilt from its rule set's version): one unit,
    # written alone, not in a transaction (which wrote it twice). A rep's load is one item, reserving all
    # the leads they receive in the batch's group in one update and settling in one more (the N leads:
    # three reps, two updates each), not once per lead. The 新分配
    # notices are written from the placements' own records, outside it: one message per rep for the
    # leads placed together, not one per lead. The routing history entry is no item (the lead keeps
    # the decision; its history shows it), and nothing is read to find one.
    assert stream.write_units_item["UpdateItem leads"] == N
    assert stream.write_units_item["UpdateItem rep_load"] == 3 * 2
    assert not any(key.startswith("TransactWriteItems leads") for key in stream.write_units_item)
    assert "TransactWriteItems notifications" not in stream.write_units_item
    assert not any("lead_events" in key for key in stream.write_units_item)
    assert not any("lead_events" in key for key in stream.read_units_by)
    assert "PutItem notifications" not in stream.write_units_item
    # The first task (首次联系) is in the rep's task list but not in the alert index: the lead's clock
    # is keyed on its due time.
    assert stream.write_units_item["PutItem tasks/by_owner"] == N
    assert "PutItem tasks/by_alert" not in stream.write_units_item
    assert stream.requests["UpdateItem notifications"] == 3 and stream.write_units_item["UpdateItem notifications"] == 3


def test_hot_keys_rate_every_written_item_at_live_traffic() -> None:
    from bench import hot_keys

    figures = hot_keys.run(n=N, verbose=False, mixes=("assigned",))
    # Every lead of the mix goes to one three-rep team: each rep's load item takes a third of the traffic.
    assert figures["hottest_item_writes_per_s_assigned"] >= hot_keys.RATE / 3
    assert 0 < figures["hottest_item_share_assigned"] < 1
    # by_day_keys: every lead of the day in one index partition.
    assert figures["hottest_index_partition_writes_per_s_assigned"] >= hot_keys.RATE


def test_first_answer_runs_a_fresh_interpreter_per_function() -> None:
    from bench import first_answer

    figures = first_answer.run(verbose=False, runs=1, functions=("api_capture", "lead_stream"))
    assert figures["first_answer_boto3_pydantic_ms"] > 0
    assert figures["first_answer_ratio_api_capture"] > 0 and figures["first_answer_ratio_lead_stream"] > 0


def test_the_summary_table_says_pass_or_not_beside_each_target() -> None:
    from bench import TARGETS, passes
    from bench.__main__ import table

    assert passes("write_units_per_assigned_lead", 12) and not passes("write_units_per_assigned_lead", 12.5)
    assert passes("routing_decisions_per_s", 20_000) and not passes("routing_decisions_per_s", 19_999)
    assert passes("no_such_figure", 1) is None
    lines = table({"list_page_p50_ms": 150.0, "export_rows": 2000.0}).splitlines()
    assert lines[1].split() == ["list_page_p50_ms", "150", "<=", "100", "NO"]
    assert lines[2].split() == ["export_rows", "2000"]
    assert TARGETS["capture_p50_ms_one_client"] == ("<=", 30)


def test_dedup_throughput_runs_the_mix_through_the_lead_stream() -> None:
    from bench import dedup_throughput

    figures = dedup_throughput.run(n=30, import_runs=1, verbose=False)
    assert {"dedup_leads_per_s", "cleaning_leads_per_s", "dedup_outcome_pool", "dedup_outcome_duplicate",
            "dedup_outcome_invalid", "cleaning_import_ms", "intake_import_ms", "geocoder_import_ms",
            "app_imports_geocoder"} <= set(figures)
    assert figures["dedup_outcome_pool"] > 0  # 21 distinct phones: placed (the pool, or assigned by routing)
    assert figures["dedup_outcome_pool"] + figures.get("dedup_outcome_assigned", 0) == 21
    assert figures["dedup_outcome_duplicate"] == 6 and figures["dedup_outcome_invalid"] == 3
    assert figures["dedup_leads_per_s"] > 0 and figures["cleaning_leads_per_s"] > 0
    assert figures["app_imports_geocoder"] == 0  # the capture function's cold start never loads the geocoder


def test_benchmark_phones_are_kept_by_cleaning_in_every_spelling() -> None:
    import random

    from bench.phones import spellings, valid_mobiles
    from chalicelib.domain.cleaning import phone_reasons
    from chalicelib.domain.phone import normalise_cn_phone
    from chalicelib.rules.cleaning import default_cleaning_rules

    phones = valid_mobiles(random.Random(1), 200)
    assert len(set(phones)) == 200
    for phone in phones:
        assert not phone_reasons(f"+86{phone}", default_cleaning_rules())
        assert {normalise_cn_phone(s) for s in spellings(phone)} == {f"+86{phone}"}


def test_item_level_rollback_leaves_moto_as_its_own_backup_would() -> None:
    """A cancelled transaction (update, nested append, puts, delete) then a committed one: same tables and
    stream with bench.moto_rollback as with moto's whole-table deep copy."""
    import json

    import boto3
    import moto

    from bench.moto_rollback import item_level_rollback

    def key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def scenario() -> list[Any]:
        with moto.mock_aws():
            ddb = boto3.client("dynamodb")
            ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}],
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
            ddb.create_table(TableName="u", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
            ddb.put_item(TableName="t", Item={**key("a", "1"), "n": {"N": "1"}, "m": {"M": {"x": {"L": [{"S": "y"}]}}}})
            ddb.put_item(TableName="t", Item=key("d", "1"))
            ddb.put_item(TableName="u", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
            with pytest.raises(ddb.exceptions.TransactionCanceledException):
                ddb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": "t", "Key": key("a", "1"),
                                "UpdateExpression": "SET n = n + :one, m.x = list_append(m.x, :l)",
                                "ExpressionAttributeValues": {":one": {"N": "1"}, ":l": {"L": [{"S": "z"}]}}}},
                    {"Put": {"TableName": "t", "Item": key("b", "1")}},
                    {"Put": {"TableName": "t", "Item": key("a", "2")}},
                    {"Delete": {"TableName": "t", "Key": key("d", "1")}},
                    {"Update": {"TableName": "u", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}}}},
                    {"ConditionCheck": {"TableName": "u", "Key": {"pk": {"S": "zz"}},
                                        "ConditionExpression": "attribute_exists(pk)"}},
                ])
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "t", "Key": key("a", "1"), "UpdateExpression": "SET n = n + :ten",
                            "ExpressionAttributeValues": {":ten": {"N": "10"}}}},
                {"Put": {"TableName": "u", "Item": {"pk": {"S": "c"}}}}])
            arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
            streams = boto3.client("dynamodbstreams")
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator)["Records"]
            return [sorted(json.dumps(i, sort_keys=True) for i in ddb.scan(TableName=name)["Items"])
                    for name in ("t", "u")] + [[(r["eventName"], r["dynamodb"]["SequenceNumber"],
                                                 json.dumps(r["dynamodb"].get("NewImage"), sort_keys=True))
                                                for r in records]]

    own = scenario()
    with item_level_rollback():
        item_level = scenario()
    assert item_level == own
    assert len(own[2]) == 3 and '"N": "11"' in own[0][0]  # the cancelled one left no trace


def test_scoring_reports_three_histories_the_correlated_one_ties_its_fields_the_interacting_one_crosses_them() -> None:
    from bench import scoring

    figures = scoring.run(n=3000, verbose=False)
    for key in ("scoring", "scoring_engagement", "scoring_corr", "scoring_corr_engagement", "scoring_inter",
                "scoring_inter_engagement"):
        assert {f"{key}_auc_ours", f"{key}_auc_frequency", f"{key}_auc_ceiling", f"{key}_auc_limit",
                f"{key}_auc_limit_minus_frequency", f"{key}_auc_limit_minus_frequency_mean8",
                f"{key}_brier_ours", f"{key}_brier_frequency", f"{key}_train_s", f"{key}_leads_per_s",
                f"{key}_auc_ours_additive", f"{key}_brier_ours_additive"} <= set(figures)
        assert 0.5 < figures[f"{key}_auc_ours"] <= 1
    # The latent segment ties loan type, customer type, credit, source, hour and re-inquiries together.
    assert figures["scoring_corr_cramers_v_mean"] > 2 * figures["scoring_cramers_v_mean"]
    leads, _, _, _ = scoring.generate(3000, history="correlated")
    owners = [lead for lead in leads if lead["customer_type"] == "business_owner"]
    assert owners and sum(lead["loan_type"] in ("business", "mortgage") for lead in owners) > 0.6 * len(owners)
    # The interacting history is the mild one's leads with more planted effects: same profiles, other odds.
    mild, mild_truth, _, _ = scoring.generate(500)
    interacting, truth, _, _ = scoring.generate(500, history="interacting")
    assert interacting == mild and truth != mild_truth


def test_scoring_sensitivity_loosens_and_tightens_the_segments_and_restores_them() -> None:
    from bench import scoring, scoring_sensitivity

    written = dict(scoring.SEGMENTS)
    figures = scoring_sensitivity.run(n=3000, verbose=False)
    assert written == scoring.SEGMENTS
    v = {tag: figures[f"scoring_sens_{tag}_cramers_v_mean"] for tag in ("loosened_1", "written", "purer_09")}
    assert v["loosened_1"] < v["written"] < v["purer_09"]
    assert "scoring_sens_written_limit_minus_frequency_mean5" in figures
