"""Typed records, the one AWS error translation, and the lead stream as one pipeline."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

pytestmark = pytest.mark.moto

ROOT = Path(__file__).resolve().parent.parent


def _client_error(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "Op")  # type: ignore[arg-type]


# --- one error translation ------------------------------------------------------------------------

def test_a_condition_that_did_not_hold_is_an_answer_and_anything_else_a_store_failure() -> None:
    from pynamodb.exceptions import GetError, PutError, TransactWriteError, UpdateError

    from chalicelib.errors import StoreUnavailable
    from chalicelib.store.aws_errors import ConditionFailed, aws_errors, conditional

    def raises(exc: Exception) -> Any:
        def write() -> None:
            raise exc
        return write

    assert conditional(lambda: None) is True
    assert conditional(raises(UpdateError("no", _client_error("ConditionalCheckFailedException")))) is False
    assert conditional(raises(_client_error("ConditionalCheckFailedException"))) is False  # the low-level client
    cancelled = TransactWriteError("no", _client_error("TransactionCanceledException",
                                                       ["None", "ConditionalCheckFailed"]))
    with pytest.raises(ConditionFailed) as caught, aws_errors():
        raise cancelled
    assert caught.value.aws_code == "TransactionCanceledException"
    assert caught.value.reasons == frozenset({"ConditionalCheckFailed"})
    for failure in (PutError("no", _client_error("ProvisionedThroughputExceededException")),
                    GetError("no", _client_error("InternalServerError")),
                    _client_error("ThrottlingException"), EndpointConnectionError(endpoint_url="http://x")):
        with pytest.raises(StoreUnavailable) as unavailable, aws_errors():
            raise failure
        assert not isinstance(unavailable.value, ConditionFailed)
        assert unavailable.value.to_body()["error"]["code"] == "STORE_UNAVAILABLE"  # a 503, in Chinese
    # An unhandled condition failure is a store failure like the others (503, not a crash).
    assert issubclass(ConditionFailed, StoreUnavailable)


def test_a_missing_item_passes_through_the_translation() -> None:
    from chalicelib.store.aws_errors import aws_errors
    from chalicelib.store.schema import LeadModel

    with pytest.raises(LeadModel.DoesNotExist), aws_errors():
        raise LeadModel.DoesNotExist()


def test_the_store_translates_errors_in_one_place() -> None:
    """The pattern `except <pynamodb or botocore error>: raise StoreUnavailable` was repeated 91
    times; what is left are the few answers that read an error code of their own (S3's 404, the
    dashboard marker's cancellation order, the door list's size limit)."""
    lines = [line for path in (ROOT / "chalicelib" / "store").glob("*.py") if path.name != "aws_errors.py"
             for line in path.read_text(encoding="utf-8").splitlines() if "raise StoreUnavailable() from" in line]
    assert len(lines) <= 15, lines


# --- typed records ----------------------------------------------------------------------------------

def test_each_table_record_names_exactly_its_tables_attributes() -> None:
    """The store maps items to records by attribute name: a record key the table lacks, or an
    attribute the record does not declare, would pass untyped."""
    from chalicelib.domain.records import ImportJob, Lead, Task
    from chalicelib.store.leads import _UTM
    from chalicelib.store.schema import ImportJobModel, LeadModel, TaskModel

    lead_attributes = (set(LeadModel.get_attributes()) - {"utm"}) | set(_UTM)
    assert set(get_type_hints(Lead)) == lead_attributes
    assert set(get_type_hints(ImportJob)) == set(ImportJobModel.get_attributes())
    assert set(get_type_hints(Task)) - {"lead_name"} == set(TaskModel.get_attributes()) - {"alert_shard"}


def test_a_lead_goes_to_the_table_and_back_unchanged() -> None:
    from chalicelib.domain.records import Lead
    from chalicelib.store.leads import to_item, to_lead

    lead: Lead = {"lead_id": "L20261128001", "version": 3, "status": "assigned", "created_at": "2026-11-28T02:00:00Z",
                  "updated_at": "2026-11-28T02:00:00Z", "day": "2026-11-28", "phone": "+8613816204573",
                  "name": "张三", "amount": 50, "source": "website_form", "channel": "public", "owner": "sh_rep1",
                  "utm_source": "baidu", "utm_campaign": "spring", "tags": ["高意向"], "custom": {"house": "yes"},
                  "route": {"rule_id": "r1", "version": 2, "reason": "命中规则", "status": "assigned"}}
    item = to_item(lead)
    assert item.utm is not None and item.utm.as_dict() == {"utm_source": "baidu", "utm_campaign": "spring"}
    assert to_lead(item) == lead


def test_services_and_store_pass_records_not_untyped_dicts() -> None:
    """Acceptance of issue 20: lines with `dict[str, Any]` in services and store (208 before) ≤ 34."""
    found = subprocess.run(["grep", "-c", r"dict\[str, Any\]", "-r", "chalicelib/services", "chalicelib/store"],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout
    total = sum(int(line.rsplit(":", 1)[1]) for line in found.splitlines())
    assert total <= 34, found


# --- the lead stream as a pipeline ------------------------------------------------------------------

def test_the_stream_handler_only_hands_the_batch_to_the_pipeline() -> None:
    source = (ROOT / "chalicelib" / "handlers" / "streams.py").read_text(encoding="utf-8")
    body = source.split("def lead_stream", 1)[1]
    assert "pipeline.run(" in body
    for job in ("publish", "process_new_lead", "on_lead_batch", "BatchProcessor", "plain("):
        assert job not in source, job


def test_the_pipeline_reads_like_the_flow() -> None:
    """The stages appear in the module in the order of SPEC.md's flow."""
    source = (ROOT / "chalicelib" / "services" / "pipeline.py").read_text(encoding="utf-8")
    insert = source.split("def process_new_lead", 1)[1].split("\ndef ", 1)[0]
    marks = [insert.index(f"# {stage}") for stage in ("count", "clean", "dedup")]
    assert marks == sorted(marks)
    order = [source.index(f"def {name}(") for name in ("run", "handle_record", "parse", "process_new_lead",
                                                       "route_and_place", "merge_into", "follow_up",
                                                       "lead_events", "count_for_dashboard")]
    assert order == sorted(order)
    assert not re.search(r"^import re$", source, re.MULTILINE)  # no reason text parsed back with a regex


def test_a_rep_reads_the_rule_by_its_name_whatever_the_name_holds() -> None:
    """The notice says which rule matched from the decision itself, not by parsing the reason text:
    a name with 「」 in it (or a reason worded otherwise) reads in full."""
    from chalicelib.domain.ownership import Caps
    from chalicelib.services.pipeline import _why
    from chalicelib.services.routing import Route

    route = Route("assigned", "sh_rep1", None, "自定义原因", Caps(),
                  {"reason": "自定义原因", "strategy": "round_robin"}, rule_name="上海「房抵」专线")
    assert _why(route) == "命中分配规则「上海「房抵」专线」（轮流分配）"
    assert _why(Route("assigned", "sh_rep1", None, "录入人即负责人")) == "按分配规则"


def test_each_stream_record_is_parsed_once(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One deserialisation per record, shared by its stages and the dashboard counters."""
    import json

    from chalicelib.services import pipeline
    from local.streams import lambda_event
    from tests.test_stream import JSON, leads_stream

    for phone in ("13816204573", "13917326685"):
        client.http.post("/capture", headers=JSON, body=json.dumps({"name": "张三", "phone": phone, "consent": True}))
    reader = leads_stream()
    records = reader.read()
    parsed: list[str] = []
    real = pipeline.parse

    def counting(record: dict[str, Any], batch_at: str) -> Any:
        parsed.append(record["eventID"])
        return real(record, batch_at)

    monkeypatch.setattr(pipeline, "parse", counting)
    payload = client.lambda_.invoke("lead_stream", lambda_event(records, reader.stream_arn)).payload
    assert payload == {"batchItemFailures": []}
    assert sorted(parsed) == sorted(r["eventID"] for r in records)


def test_a_list_reads_leads_as_the_model_does(demo_org: str) -> None:
    """`read_many` (lists, exports) and `query_pool` (the pool's list and export) read items with the
    low-level client: the same records as `get` (through the model) for every kind of attribute a lead
    holds."""
    from chalicelib.store import leads
    from chalicelib.store.schema import LeadModel

    full = {"lead_id": "L20261203001", "status": "lost", "created_at": "2026-12-03T02:00:00Z",
            "updated_at": "2026-12-03T02:00:00Z", "day": "2026-12-03", "phone": "+8613816204573", "name": "张三",
            "amount": 50, "won_amount": 12.5, "source": "website_form", "channel": "public", "owner": "sh_rep1",
            "utm_source": "baidu", "utm_campaign": "spring", "tags": ["高意向", "回访"],
            "custom": {"house": "yes", "rooms": 3, "ok": True, "ratio": 0.25, "none": None, "list": [1, "a"]},
            "consent": {"given": True, "text_version": "v2"}, "page_url": "https://www.example-lender.cn/a",
            "route": {"rule_id": "r1", "version": 2, "reason": "命中规则", "status": "assigned"},
            "activity_by": {"sh/sh_rep1": 4}, "reclaimed_from": ["sh/sh_rep2"], "score": 73,
            "pool_key": "华东"}
    leads.to_item(full).save()  # type: ignore[arg-type]
    LeadModel("L20261203001").update(actions=[LeadModel.expires_at.set(datetime(2027, 6, 1, tzinfo=UTC))])
    bare = {"lead_id": "L20261203002", "status": "new", "created_at": "2026-12-03T03:00:00Z",
            "updated_at": "2026-12-03T03:00:00Z", "day": "2026-12-03", "phone": "+8613816204574",
            "source": "api", "channel": "partner"}
    import boto3

    boto3.client("dynamodb").put_item(TableName=LeadModel.Meta.table_name,  # no `version`: the model's default
                                      Item={k: {"S": v} for k, v in bare.items()})
    read = {lead["lead_id"]: lead for lead in leads.read_many(["L20261203001", "L20261203002", "L404"])}
    assert set(read) == {"L20261203001", "L20261203002"}
    for lead_id, lead in read.items():
        assert lead == leads.get(lead_id), lead_id
    assert read["L20261203001"]["expires_at"] == "2027-06-01T00:00:00Z"
    assert read["L20261203002"]["version"] == 1
    pooled = leads.query_pool("华东", "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z", {}, 10, None, 5)
    assert [lead["lead_id"] for lead in pooled] == ["L20261203001"] and pooled[0] == leads.get("L20261203001")


def test_batch_reads_take_the_items_as_sent_unless_they_hold_bytes() -> None:
    """store/connection._items_as_sent: BatchGetItem's and Query's items straight from the answer's JSON (what
    botocore's parser gives for them); an answer holding bytes (base64 in JSON) is left to botocore."""
    import json

    from chalicelib.store.connection import _items_as_sent

    items = {"Responses": {"t": [{"id": {"S": "L1"}, "n": {"N": "1.5"}, "m": {"M": {"l": {"L": [{"BOOL": True}]}}}}]},
             "UnprocessedKeys": {}}
    response = {"status_code": 200, "body": json.dumps(items).encode()}
    customized: dict[str, Any] = {}
    _items_as_sent(response_dict=response, customized_response_dict=customized)
    assert customized == {"Responses": items["Responses"]}
    assert json.loads(response["body"]) == {"UnprocessedKeys": {}}
    page = {"Items": items["Responses"]["t"], "Count": 1, "LastEvaluatedKey": {"id": {"S": "L1"}}}
    response, customized = {"status_code": 200, "body": json.dumps(page).encode()}, {}
    _items_as_sent(response_dict=response, customized_response_dict=customized)  # a Query's page
    assert customized == {"Items": page["Items"]}
    assert json.loads(response["body"]) == {"Count": 1, "LastEvaluatedKey": {"id": {"S": "L1"}}}
    for body in (json.dumps({"Responses": {"t": [{"id": {"B": "AAE="}}]}}).encode(), b'{"__type":"x"}'):
        response, customized = {"status_code": 200, "body": body}, {}
        _items_as_sent(response_dict=response, customized_response_dict=customized)
        assert customized == {} and response["body"] == body


class _Throttled:
    """A DynamoDB client whose BatchGetItem leaves keys unprocessed as scripted: each answer gives the
    first `served` keys asked (None: all of them)."""

    def __init__(self, *served: int | None) -> None:
        self.served, self.asked = list(served), []  # type: ignore[var-annotated]

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (botocore's name)
        [(table, request)] = RequestItems.items()
        keys = request["Keys"]
        self.asked.append(len(keys))
        count = self.served.pop(0) if self.served else None
        count = len(keys) if count is None else count
        answer: dict[str, Any] = {"Responses": {table: [dict(key) for key in keys[:count]]}}
        if keys[count:]:
            answer["UnprocessedKeys"] = {table: {**request, "Keys": keys[count:]}}
        return answer


def test_batch_reads_ask_again_for_unprocessed_keys_waiting_longer_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttled keys are asked again after a random wait that doubles while nothing comes back (AWS's
    advice for batch reads), at once after an answer that brought items; every key is read once,
    100 a request. Keys that stay unprocessed fail the read (503), never give fewer items."""
    from types import SimpleNamespace

    from chalicelib.errors import StoreUnavailable
    from chalicelib.store import connection

    waits: list[float] = []
    monkeypatch.setattr(connection.time, "sleep", waits.append)
    keys = [{"id": {"S": f"k{n:03d}"}} for n in range(250)]

    def read(client: _Throttled) -> list[str]:
        monkeypatch.setattr(connection, "transaction_connection", lambda: SimpleNamespace(client=client))
        return [item["id"]["S"] for item in connection.batch_get("t", keys)]

    throttled = _Throttled(0, 0, 40, 0, None)
    assert sorted(read(throttled)) == [key["id"]["S"] for key in keys]
    assert throttled.asked == [100, 100, 100, 60, 60, 100, 50]
    assert len(waits) == 3 and 0 <= waits[0] <= 0.05 and 0 <= waits[1] <= 0.1 and 0 <= waits[2] <= 0.05

    waits.clear()
    with pytest.raises(StoreUnavailable):
        read(_Throttled(*[0] * 20))
    assert len(waits) == connection.BATCH_RETRIES
    assert all(0 <= wait <= 0.05 * 2 ** n for n, wait in enumerate(waits))
