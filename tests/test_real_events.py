"""Events as AWS and the tools around it really send them (events/README.md says where each shape
comes from), through the real handlers in-process: S3 keys URL-encoded and Chinese, folder markers,
other buckets, stream records without images or times, schedules without `version`, API Gateway
requests with base64 form bodies, lower-case and repeated headers and an IPv6 source."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.helpers import auth
from tests.test_events import _placements, call_api, history, invoke, put_images, sample, stored_lead

pytestmark = pytest.mark.moto

BUCKET = "loanleads-local-imports"
CSV = "客户姓名,联系方式,城市\n张三,13816204573,上海\n李四,13917326685,广州\n".encode()


def table_items(model: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=model.Meta.table_name)["Items"]
    return items  # tests may scan; the product never does


def import_jobs() -> list[dict[str, Any]]:
    from chalicelib.store.schema import ImportJobModel

    return table_items(ImportJobModel)


# -- S3 "Object Created" through EventBridge -------------------------------------------------------

def test_url_encoded_chinese_key_of_a_partner_drop_is_imported_once(client: Any) -> None:
    from urllib.parse import unquote_plus

    event = sample("s3_object_created_encoded_key.json")
    sent = event["detail"]["object"]["key"]
    stored = unquote_plus(sent)
    assert stored.endswith("合作方名单 2024年5月.csv") and "%E5" in sent and "+" in sent
    etag = boto3.client("s3").put_object(Bucket=BUCKET, Key=stored, Body=CSV)["ETag"].strip('"')
    event["detail"]["object"]["etag"] = etag

    result = invoke(client, "import_object", event)

    assert result["status"] == "done", result
    [job] = import_jobs()
    assert job["object_key"] == {"S": stored} and job["filename"] == {"S": "合作方名单 2024年5月.csv"}
    assert job["counts"]["M"]["imported"] == {"N": "2"}
    # the same object announced again, encoded or as stored: the same job, nothing imported twice
    assert invoke(client, "import_object", event)["skipped"]
    event["detail"]["object"]["key"] = stored
    assert invoke(client, "import_object", event)["skipped"]
    assert len(import_jobs()) == 1


def test_url_encoded_key_of_an_upload_finds_its_job(client: Any) -> None:
    from urllib.parse import quote_plus

    response = client.http.post("/imports", body=json.dumps({"filename": "合作方 名单.csv"}),
                                headers={**auth("sh_rep1"), "Content-Type": "application/json"})
    body = response.json_body
    etag = boto3.client("s3").put_object(Bucket=BUCKET, Key=body["object_key"], Body=CSV)["ETag"].strip('"')
    event = sample("s3_object_created_eventbridge.json")
    event["detail"]["object"].update(key=quote_plus(body["object_key"], safe="/"), etag=etag, size=len(CSV))

    result = invoke(client, "import_object", event)

    assert result == {"import_id": body["import_id"], "status": "done"}
    job = client.http.get(f"/imports/{body['import_id']}", headers=auth("sh_rep1")).json_body
    assert job["status"] == "done" and job["counts"]["imported"] == 2


def test_key_with_a_literal_plus_is_taken_as_sent(client: Any) -> None:
    key = "imports/partners/demo_partner/a+b.csv"  # decoding would look for "a b.csv"
    etag = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=CSV)["ETag"].strip('"')
    event = sample("s3_object_created_eventbridge.json")
    event["detail"]["object"].update(key=key, etag=etag)
    assert invoke(client, "import_object", event)["status"] == "done"


def test_folder_marker_is_skipped_without_a_job(client: Any) -> None:
    event = sample("s3_folder_marker.json")
    boto3.client("s3").put_object(Bucket=BUCKET, Key=event["detail"]["object"]["key"], Body=b"")
    result = invoke(client, "import_object", event)
    assert result["reason"] == "folder marker"
    assert import_jobs() == []
    assert client.http.get("/imports", headers=auth("admin")).json_body["items"] == []


def test_empty_partner_object_is_skipped_without_a_job(client: Any) -> None:
    event = sample("s3_object_created_eventbridge.json")
    event["detail"]["object"].update(key="imports/partners/demo_partner/empty.csv", size=0)
    assert invoke(client, "import_object", event)["reason"] == "empty object"
    assert import_jobs() == []


def test_object_of_another_bucket_starts_nothing(client: Any) -> None:
    event = sample("s3_foreign_bucket.json")
    boto3.client("s3").create_bucket(Bucket=event["detail"]["bucket"]["name"])
    boto3.client("s3").put_object(Bucket=event["detail"]["bucket"]["name"], Key=event["detail"]["object"]["key"],
                                  Body=CSV)
    result = invoke(client, "import_object", event)
    assert result["reason"] == "foreign bucket"
    assert import_jobs() == []


def test_rule_pattern_names_the_stage_bucket_and_prefix() -> None:
    from chalicelib.handlers.imports import IMPORT_PATTERN

    assert IMPORT_PATTERN["detail"] == {"bucket": {"name": [BUCKET]}, "object": {"key": [{"prefix": "imports/"}]}}


def test_announced_object_that_is_gone_creates_no_job(client: Any) -> None:
    event = sample("s3_object_created_encoded_key.json")  # never put
    assert "ignored" in invoke(client, "import_object", event)
    assert import_jobs() == []


def test_upload_whose_file_cannot_be_read_fails_with_a_reason(client: Any) -> None:
    response = client.http.post("/imports", body=json.dumps({"filename": "名单.csv"}),
                                headers={**auth("sh_rep1"), "Content-Type": "application/json"})
    body = response.json_body
    event = sample("s3_object_created_eventbridge.json")  # announced, but deleted before it was read
    event["detail"]["object"].update(key=body["object_key"], etag="0" * 32, size=10)
    assert invoke(client, "import_object", event)["status"] == "failed"
    job = client.http.get(f"/imports/{body['import_id']}", headers=auth("sh_rep1")).json_body
    assert job["status"] == "failed" and "不存在" in job["error"]["message"]


def _schedule(at: datetime) -> dict[str, Any]:
    event = sample("schedule.json")
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def test_sweep_fails_an_upload_that_never_came_and_a_stopped_run(client: Any) -> None:
    from chalicelib.store import import_jobs as jobs

    response = client.http.post("/imports", body=json.dumps({"filename": "名单.csv"}),
                                headers={**auth("sh_rep1"), "Content-Type": "application/json"})
    never = response.json_body["import_id"]
    created = datetime.fromisoformat(jobs.get(never)["created_at"].replace("Z", "+00:00"))  # type: ignore[index]
    # a run that took its lease and died (its event given up after Lambda's retries)
    stopped = client.http.post("/imports", body=json.dumps({"filename": "大文件.csv"}),
                               headers={**auth("sh_rep1"), "Content-Type": "application/json"}).json_body["import_id"]
    assert jobs.take_lease(stopped, "etag", int(created.timestamp()), 300, jobs.get(stopped)["created_at"])  # type: ignore[index]

    early = invoke(client, "import_sweep", _schedule(created + timedelta(minutes=10)))
    assert early["failed"] == 0 and jobs.get(never)["status"] == "queued"  # type: ignore[index]

    late = invoke(client, "import_sweep", _schedule(created + timedelta(minutes=31)))

    assert late["failed"] == 2
    for import_id, words in ((never, "未收到上传的文件"), (stopped, "导入已中断")):
        job = client.http.get(f"/imports/{import_id}", headers=auth("sh_rep1")).json_body
        assert job["status"] == "failed" and words in job["error"]["message"], job
    assert invoke(client, "import_sweep", _schedule(created + timedelta(minutes=41)))["failed"] == 0


def test_scheduled_event_without_version_runs_the_sweeps(client: Any) -> None:
    event = sample("schedule_without_version.json")
    assert "version" not in event
    assert invoke(client, "sla_sweep", event)["time"] == event["time"]
    assert invoke(client, "import_sweep", event)["time"] == event["time"]


# -- DynamoDB stream -------------------------------------------------------------------------------

def test_modify_without_old_image_is_not_a_change(client: Any) -> None:
    from chalicelib.store.schema import AggregateModel, TaskModel

    event = sample("dynamodb_stream_modify_new_image_only.json")
    lead_id = event["Records"][0]["dynamodb"]["Keys"]["lead_id"]["S"]
    put_images(event)
    before = stored_lead(lead_id)

    assert invoke(client, "lead_stream", event) == {"batchItemFailures": []}

    assert stored_lead(lead_id) == before
    assert history(lead_id) == []
    assert [t for t in table_items(TaskModel) if t["lead_id"]["S"] == lead_id] == []
    assert table_items(AggregateModel) == []  # the lead is not counted a second time


def test_modify_with_keys_only_changes_nothing(client: Any) -> None:
    from chalicelib.store.schema import AggregateModel

    event = sample("dynamodb_stream_modify_keys_only.json")
    assert invoke(client, "lead_stream", event) == {"batchItemFailures": []}
    assert table_items(AggregateModel) == []


def test_remove_with_keys_only_purges_what_names_the_lead(client: Any) -> None:
    insert = sample("dynamodb_stream_insert.json")
    lead_id = insert["Records"][0]["dynamodb"]["Keys"]["lead_id"]["S"]
    put_images(insert)
    assert invoke(client, "lead_stream", insert) == {"batchItemFailures": []}
    _placements(client)
    assert len(history(lead_id)) == 1
    boto3.client("dynamodb").delete_item(TableName="loanleads-local-leads", Key={"lead_id": {"S": lead_id}})

    remove = sample("dynamodb_stream_remove_keys_only.json")
    assert remove["Records"][0]["dynamodb"]["Keys"]["lead_id"]["S"] == lead_id
    assert invoke(client, "lead_stream", remove) == {"batchItemFailures": []}

    assert history(lead_id) == []


def test_record_without_creation_time_takes_the_batch_time(client: Any) -> None:
    event = sample("dynamodb_stream_insert_without_creation_time.json")
    first, last = event["Records"]
    assert "ApproximateCreationDateTime" not in last["dynamodb"]
    put_images(event)

    assert invoke(client, "lead_stream", event) == {"batchItemFailures": []}
    _placements(client)  # the placements' records: each entry at its placement's time, the batch's

    for record in (first, last):
        lead_id = record["dynamodb"]["Keys"]["lead_id"]["S"]
        assert stored_lead(lead_id)["status"] == {"S": "assigned"}
        [entry] = history(lead_id)
        batch_time = datetime.fromtimestamp(first["dynamodb"]["ApproximateCreationDateTime"], tz=UTC)
        assert entry["at"].startswith(batch_time.strftime("%Y-%m-%dT%H:%M:%S"))


def test_only_the_failed_record_is_reported_when_the_last_one_lacks_its_time(client: Any) -> None:
    from tests.test_events import _insert_record

    base = sample("dynamodb_stream_insert.json")["Records"][0]
    good, poison, untimed = (_insert_record(base, n) for n in (1, 2, 3))
    del poison["dynamodb"]["NewImage"]["lead_id"]
    del untimed["dynamodb"]["ApproximateCreationDateTime"]
    put_images({"Records": [good, untimed]})

    result = invoke(client, "lead_stream", {"Records": [good, poison, untimed]})

    assert result == {"batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]}
    for record in (good, untimed):
        assert stored_lead(record["dynamodb"]["Keys"]["lead_id"]["S"])["status"] == {"S": "assigned"}


# -- API Gateway -----------------------------------------------------------------------------------

def test_base64_form_with_lower_case_and_repeated_headers_from_ipv6(client: Any) -> None:
    event = sample("apigw_capture_form_base64.json")
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]).startswith(b"name=%E7%8E%8B%E4%BA%94&")
    response = call_api(event)
    assert response["statusCode"] == 202, response
    lead_id = json.loads(response["body"])["lead_id"]
    lead = stored_lead(lead_id)
    assert lead["name"] == {"S": "王五"}
    assert lead["client_ip"] == {"S": event["requestContext"]["identity"]["sourceIp"]}
    assert response["headers"]["Access-Control-Allow-Origin"] == event["headers"]["origin"]
