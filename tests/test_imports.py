"""File imports through the bucket: jobs, counts, error reports, exactly once, safety, template."""

from __future__ import annotations

import io
import random
import tracemalloc
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC
from typing import Any

import boto3
import pytest

from tests.helpers import auth

pytestmark = pytest.mark.moto

BUCKET = "loanleads-local-imports"
HEADERS = ["客户姓名", "联系方式", "贷款类型", "贷款金额(万元)", "城市", "备注"]


class Context:
    """A Lambda context whose deadline the test controls."""

    def __init__(self, remaining: Callable[[], int] = lambda: 900_000) -> None:
        self.get_remaining_time_in_millis = remaining
        self.function_name = "import_object"
        self.aws_request_id = str(uuid.uuid4())


def phones(count: int, seed: int = 1) -> list[str]:
    from chalicelib.domain.phone import normalise_cn_phone

    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        number = f"13{rng.choice('56789')}{rng.randint(10_000_000, 99_999_999)}"
        try:
            normalise_cn_phone(number)
        except ValueError:
            continue
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def xlsx(rows: list[list[Any]], headers: list[str] = HEADERS) -> bytes:
    import xlsxwriter

    target = io.BytesIO()
    book = xlsxwriter.Workbook(target, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("线索")
    sheet.write_row(0, 0, headers)
    for line, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, (int, float)):
                sheet.write_number(line, column, value)  # what Excel stores for a typed number
            elif value is not None:
                sheet.write_string(line, column, value)
    book.close()
    return target.getvalue()


def put(key: str, data: bytes) -> str:
    etag: str = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    return etag


def deliver(key: str, etag: str, context: Context | None = None, time: str = "2026-11-28T02:00:00Z") -> Any:
    """The S3 → EventBridge "Object Created" event the deployed stack gets, to the real handler."""
    import app

    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
             "account": "123456789012", "time": time, "region": "us-east-1", "resources": [],
             "detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "etag": etag, "size": 1}}}
    return app.app.handler_map["import_object"](event, context or Context())


def deliver_measured(key: str, data: bytes) -> tuple[Any, int]:
    """Drop `data` at `key` and deliver its event: (the handler's result, the peak of Python memory
    allocated meanwhile)."""
    etag = put(key, data)
    tracemalloc.start()
    try:
        result = deliver(key, etag)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def upload(client: Any, user: str, filename: str, data: bytes) -> tuple[str, str, str]:
    """POST /api/imports, then the PUT the upload URL stands for (in-process S3 here)."""
    import json

    response = client.http.post("/imports", body=json.dumps({"filename": filename}),
                                headers={**auth(user), "Content-Type": "application/json"})
    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert body["upload_url"] and body["object_key"].startswith(f"imports/uploads/{body['import_id']}/")
    return body["import_id"], body["object_key"], put(body["object_key"], data)


def job(client: Any, user: str, import_id: str) -> dict[str, Any]:
    response = client.http.get(f"/imports/{import_id}", headers=auth(user))
    assert response.status_code == 200, response.json_body
    return dict(response.json_body)


def all_leads() -> list[dict[str, Any]]:
    from chalicelib.store.leads import to_lead as to_dict
    from chalicelib.store.schema import LeadModel

    return [to_dict(row) for row in LeadModel.scan()]  # tests may scan; the product never does


def thousand_rows() -> tuple[list[list[Any]], dict[int, str]]:
    """920 good rows, 30 repeats of earlier phones, 50 bad rows; returns rows and bad row numbers."""
    good = phones(920)
    rows: list[list[Any]] = [[f"客户{i}", int(p) if i % 2 else p, "房产抵押贷", 30 + i % 50, "上海", ""]
                             for i, p in enumerate(good)]
    bad: dict[int, str] = {}
    extra: list[tuple[list[Any], str | None]] = []
    for i in range(30):
        extra.append(([f"重复{i}", good[i * 7], "个人信用贷", 10, "广州", ""], None))
    for i in range(50):
        phone = phones(1, seed=1000 + i)[0]
        kind = i % 4
        if kind == 0:
            extra.append(([f"坏号{i}", "1234567", "房产抵押贷", 10, "上海", ""], "联系方式"))
        elif kind == 1:
            extra.append(([None, phone, "房产抵押贷", 10, "上海", ""], "客户姓名"))
        elif kind == 2:
            extra.append(([f"金额{i}", phone, "房产抵押贷", "abc", "上海", ""], "贷款金额"))
        else:
            extra.append(([f"产品{i}", phone, "黄金贷", 10, "上海", ""], "贷款类型"))
    random.Random(3).shuffle(extra)
    # spread the extra rows through the file, after the first occurrences of the repeated phones
    for offset, (row, reason) in enumerate(extra):
        position = 300 + offset * 8
        rows.insert(position, row)
        if reason:
            bad[position + 2] = reason  # header is row 1
    return rows, bad


def test_thousand_row_file_counts_report_and_second_delivery(client: Any) -> None:
    from openpyxl import load_workbook

    rows, bad = thousand_rows()
    assert len(rows) == 1000
    import_id, key, etag = upload(client, "sh_rep1", "合作方线索.xlsx", xlsx(rows))
    assert job(client, "sh_rep1", import_id)["status"] == "queued"
    assert deliver(key, etag)["status"] == "done"
    done = job(client, "sh_rep1", import_id)
    assert done["status"] == "done"
    assert done["counts"] == {"rows": 1000, "imported": 920, "duplicate": 30, "rejected": 50,
                              "existing_duplicate": 0, "new": 920}
    assert done["progress"] == {"processed": 1000, "total": 1000}
    assert done["columns"]["mapped"]["联系方式"] == "phone"
    imported = [lead for lead in all_leads() if lead.get("import_id") == import_id]
    assert len(imported) == 920 and {lead["status"] for lead in imported} == {"new"}
    assert len({lead["phone"] for lead in imported}) == 920
    assert all(lead["channel"] == "import" and lead["source"] == "import" for lead in imported)
    assert {lead["loan_type"] for lead in imported} == {"mortgage"}  # the label 房产抵押贷 became the value

    report = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"reports/{import_id}.xlsx")["Body"].read()
    book = load_workbook(io.BytesIO(report), read_only=True)
    errors = list(book["错误行"].iter_rows(values_only=True))
    assert errors[0][:3] == ("行号", "原因", "客户姓名")
    listed = {int(row[0]): str(row[1]) for row in errors[1:]}
    assert set(listed) == set(bad)
    for row_number, field in bad.items():
        assert field in listed[row_number]
    assert "应为数字" in next(reason for n, reason in listed.items() if bad[n] == "贷款金额")
    assert len(list(book["重复行"].iter_rows(values_only=True))) == 31
    assert done["error_report_url"]

    listed_keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert key not in listed_keys and "processed/" + key.removeprefix("imports/") in listed_keys  # archived

    # The same object delivered again (EventBridge is at-least-once): nothing new.
    again = deliver(key, etag)
    assert again.get("skipped")
    assert len([lead for lead in all_leads() if lead.get("import_id") == import_id]) == 920
    assert job(client, "sh_rep1", import_id)["counts"]["imported"] == 920


def test_crash_mid_chunk_resumes_without_duplicates(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run dies after writing part of a chunk; the retry writes only the rest, same numbers."""
    from chalicelib.services import imports as service
    from chalicelib.store import leads

    monkeypatch.setattr(service, "CHUNK_ROWS", 40)
    rows = [[f"客户{i}", p, "个人信用贷", 20, "广州", ""] for i, p in enumerate(phones(100, seed=9))]
    import_id, key, etag = upload(client, "gz_rep1", "a.xlsx", xlsx(rows))
    real = leads.insert_batch
    calls = {"n": 0}

    def dies_in_second_chunk(batch: list[dict[str, Any]]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            real(batch[:15])  # part of the chunk reached the table, then the container died
            raise SystemExit("killed")
        real(batch)

    monkeypatch.setattr(leads, "insert_batch", dies_in_second_chunk)
    with pytest.raises(SystemExit):
        deliver(key, etag)
    monkeypatch.setattr(leads, "insert_batch", real)
    state = job(client, "gz_rep1", import_id)
    assert state["status"] == "running"
    assert deliver(key, etag).get("skipped")  # the dead run's lease still holds
    from chalicelib.store.schema import ImportJobModel

    ImportJobModel(import_id).update(actions=[ImportJobModel.lease_until.set(0)])  # the lease runs out
    assert deliver(key, etag)["status"] == "done"
    imported = [lead for lead in all_leads() if lead.get("import_id") == import_id]
    assert len(imported) == 100
    assert sorted(lead["import_row"] for lead in imported) == list(range(2, 102))
    assert job(client, "gz_rep1", import_id)["counts"] == {"rows": 100, "imported": 100, "duplicate": 0,
                                                           "rejected": 0, "existing_duplicate": 0, "new": 100}


def test_a_row_repeating_an_existing_lead_counts_once_however_often_the_stream_delivers_it(client: Any) -> None:
    import json

    from tests.test_dedup import _lambda
    from tests.test_stream import leads_stream

    reader = leads_stream()
    existing = client.http.post("/capture", body=json.dumps({"phone": "13725806431", "consent": True}),
                                headers={"Content-Type": "application/json"}).json_body["lead_id"]
    rows = [["老客户", "13725806431", "房产抵押贷", 50, "上海", "想加急"],
            ["新客", "13725806432", "个人信用贷", 5, "上海", ""]]
    import_id, key, etag = upload(client, "sh_rep1", "repeat.xlsx", xlsx(rows))
    assert deliver(key, etag)["status"] == "done"
    records = reader.read()
    event = {"Records": _lambda(records, reader.stream_arn)}
    for _ in range(3):  # at least once: the same records again count nothing more
        assert client.lambda_.invoke("lead_stream", event).payload == {"batchItemFailures": []}
    counts = job(client, "sh_rep1", import_id)["counts"]
    assert counts == {"rows": 2, "imported": 2, "duplicate": 0, "rejected": 0, "existing_duplicate": 1, "new": 1}
    made = [lead for lead in all_leads() if lead.get("import_id") == import_id]
    assert [lead["duplicate_of"] for lead in made if lead["status"] == "duplicate"] == [existing]


def test_long_file_hands_over_to_the_next_invocation(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Near the deadline a run stops after a chunk and puts an "Import Continued" event on the
    default bus, which the same rule delivers to the same function."""
    import json

    from chalicelib.services import imports as service

    monkeypatch.setattr(service, "CHUNK_ROWS", 30)
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="continued")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    from chalicelib.handlers.imports import IMPORT_PATTERN

    events.put_rule(Name="import_object", EventPattern=json.dumps(IMPORT_PATTERN))
    events.put_targets(Rule="import_object", Targets=[{"Id": "q", "Arn": arn}])
    rows = [[f"客户{i}", p, "个人信用贷", 20, "广州", ""] for i, p in enumerate(phones(100, seed=11))]
    import_id, key, etag = upload(client, "gz_rep2", "b.xlsx", xlsx(rows))
    assert deliver(key, etag, Context(lambda: 10_000))["status"] == "continued"
    state = job(client, "gz_rep2", import_id)
    assert state["status"] == "running" and 0 < state["progress"]["processed"] < 100
    handed = 0
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            handed += 1
            import app

            # moto's SQS target drops fields EventBridge always sends (account, region, resources)
            event = {"account": "123456789012", "region": "us-east-1", "resources": [],
                     **json.loads(message["Body"])}
            app.app.handler_map["import_object"](event, Context(lambda: 10_000))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert handed >= 2  # four chunks, one per invocation
    done = job(client, "gz_rep2", import_id)
    assert done["status"] == "done" and done["counts"]["imported"] == 100
    assert len([lead for lead in all_leads() if lead.get("import_id") == import_id]) == 100


def csv_rows() -> list[list[str]]:
    numbers = phones(5, seed=21)
    return [["客户姓名", "手机号", "贷款类型", "贷款金额（万元）", "城市"],
            ["张三", numbers[0], "房产抵押贷", "50", "上海"],
            ["李四", f"{numbers[1][:3]} {numbers[1][3:7]} {numbers[1][7:]}", "mortgage", "1,000", "深圳"],
            ["王五", f"{int(numbers[2]):.10E}", "个人信用贷", "30万", "广州"],
            ["赵六", "12345", "房产抵押贷", "10", "北京"],
            ["钱七", numbers[0], "车辆抵押贷", "5", "上海"],
            ["", "", "", "", ""]]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_csv_in_every_encoding_imports_identically(client: Any, encoding: str) -> None:
    import csv

    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows())  # "1,000" quoted, as Excel saves it
    text = buffer.getvalue()
    import_id, key, etag = upload(client, "admin", f"leads-{encoding}.csv", text.encode(encoding))
    deliver(key, etag)
    done = job(client, "admin", import_id)
    assert done["status"] == "done", done
    assert done["counts"] == {"rows": 5, "imported": 3, "duplicate": 1, "rejected": 1,
                              "existing_duplicate": 0, "new": 3}
    imported = sorted((lead["name"], lead["phone"], lead.get("amount")) for lead in all_leads()
                      if lead.get("import_id") == import_id)
    numbers = phones(5, seed=21)
    assert imported == sorted([("张三", f"+86{numbers[0]}", 50), ("李四", f"+86{numbers[1]}", 1000),
                               ("王五", f"+86{numbers[2]}", 30)])


def test_partner_drop_uses_the_partner_mapping_and_title_rows(client: Any) -> None:
    numbers = phones(2, seed=31)
    data = xlsx([["客户姓名全称", "客户手机", "备注"], ["孙八", numbers[0], "来自贷款超市"],
                 ["周九", int(numbers[1]), ""]], headers=["XX贷款超市 线索导出 2026-11", "", ""])
    key = "imports/partners/demo_partner/2026-11-28.xlsx"
    etag = put(key, data)
    result = deliver(key, etag)
    assert result["status"] == "done"
    imported = [lead for lead in all_leads() if lead.get("import_id") == result["import_id"]]
    assert sorted(lead["import_row"] for lead in imported) == [3, 4]
    assert {lead["partner_id"] for lead in imported} == {"demo_partner"}
    state = job(client, "admin", result["import_id"])
    assert state["uploaded_by"] == "partner:demo_partner" and state["counts"]["imported"] == 2
    assert deliver(key, etag).get("skipped")  # same key and ETag: the same job, nothing new


@pytest.mark.parametrize(("key", "data", "message"), [
    ("imports/partners/nobody/x.csv", "客户姓名,联系方式\n张三,13816204573\n".encode(), "未知或已停用的合作方"),
    ("imports/loose.csv", "客户姓名,联系方式\n张三,13816204573\n".encode(), "文件路径不符合约定"),
    ("imports/partners/demo_partner/no-header.csv", b"a,b\n1,2\n", "未找到表头"),
    ("imports/partners/demo_partner/fake.xlsx", b"not a workbook", "不符"),
    ("imports/partners/demo_partner/broken.xlsx", b"PK\x03\x04 broken zip", "损坏"),
])
def test_unusable_files_fail_with_a_reason_and_write_nothing(client: Any, key: str, data: bytes,
                                                             message: str) -> None:
    from chalicelib.store import import_jobs as jobs

    before = len(all_leads())
    result = deliver(key, put(key, data))
    state = jobs.get(result["import_id"]) if "import_id" in result else jobs.recent("by_month", "2026-11", 50)[0]
    assert state is not None and state["status"] == "failed"
    assert message in state["error"]["message"]
    assert len(all_leads()) == before


def zip_bomb(inflated_mb: int) -> bytes:
    """A valid-looking .xlsx whose sheet inflates to `inflated_mb` of XML."""
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b" " * (1024 * 1024)
            for _ in range(inflated_mb):
                sheet.write(block)
    return target.getvalue()


def set_policy(client: Any, **changes: Any) -> None:
    import json

    from chalicelib.store import config as config_store

    policy = client.http.get("/config/imports", headers=auth("admin")).json_body["document"]
    response = client.http.put("/config/imports", body=json.dumps({**policy, **changes}),
                               headers={**auth("admin"), "Content-Type": "application/json"})
    assert response.status_code == 200, response.json_body
    config_store.clear_cache()


def test_zip_bomb_is_refused_before_parsing_with_low_memory(client: Any) -> None:
    from chalicelib.store import import_jobs as jobs

    set_policy(client, max_uncompressed_mb=50)  # the default is 600 MB; a smaller bomb keeps this quick
    data = zip_bomb(120)
    assert len(data) < 200 * 1024  # small on the wire
    key = "imports/partners/demo_partner/bomb.xlsx"
    result, peak = deliver_measured(key, data)
    state = jobs.get(result["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "解压后过大" in state["error"]["message"] and "压缩炸弹" in state["error"]["message"]
    assert peak < 30 * 1024 * 1024  # never inflated: what the request (and in-process moto) needs, not 120 MB


def test_row_limit_and_size_limit_are_configurable(client: Any) -> None:
    import json

    from chalicelib.store import import_jobs as jobs

    set_policy(client, max_rows=10)
    policy = client.http.get("/config/imports", headers=auth("admin")).json_body["document"]
    rows = [[f"客户{i}", p, "", 1, "", ""] for i, p in enumerate(phones(11, seed=41))]
    key = "imports/partners/demo_partner/eleven.xlsx"
    result = deliver(key, put(key, xlsx(rows)))
    state = jobs.get(result["import_id"])
    assert state is not None and state["status"] == "failed" and "超过单次导入上限 10 行" in state["error"]["message"]
    bad = client.http.put("/config/imports", body=json.dumps({**policy, "aliases": {"微信": "owner"}}),
                          headers={**auth("admin"), "Content-Type": "application/json"})
    assert bad.status_code == 422 and "不可导入的字段" in json.dumps(bad.json_body, ensure_ascii=False)


def test_job_visibility_and_upload_errors(client: Any) -> None:
    import json

    import_id, _, _ = upload(client, "sh_rep1", "x.csv", b"")
    assert client.http.get(f"/imports/{import_id}", headers=auth("sh_rep2")).status_code == 404
    assert client.http.get(f"/imports/{import_id}", headers=auth("gz_lead")).status_code == 404
    assert client.http.get(f"/imports/{import_id}", headers=auth("sh_lead")).status_code == 200
    assert client.http.get(f"/imports/{import_id}", headers=auth("admin")).status_code == 200
    assert client.http.get("/imports/nope", headers=auth("admin")).status_code == 404
    assert client.http.get(f"/imports/{import_id}").status_code == 401
    listed = client.http.get("/imports", headers=auth("sh_lead")).json_body["items"]
    assert [item["import_id"] for item in listed] == [import_id]
    assert client.http.get("/imports", headers=auth("gz_lead")).json_body["items"] == []
    for body in ({"filename": "virus.exe"}, {"filename": "../../etc/passwd.csv"}, {}):
        response = client.http.post("/imports", body=json.dumps(body),
                                    headers={**auth("sh_rep1"), "Content-Type": "application/json"})
        assert response.status_code == 400 and response.json_body["error"]["fields"] == {"filename": "无效的文件名"}


def test_template_has_headers_example_and_dropdowns(client: Any) -> None:
    from openpyxl import load_workbook

    response = client.http.get("/imports/template", headers=auth("sh_rep1"))
    assert response.status_code == 200
    key = "templates/lead-import-v1.xlsx"
    data = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    book = load_workbook(io.BytesIO(data))
    sheet = book["线索导入"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:4] == ["客户姓名", "联系方式", "贷款类型", "贷款金额(万元)"]
    assert sheet.cell(2, 2).value == "13816204573"
    validations = {str(v.sqref).split(":")[0]: v for v in sheet.data_validations.dataValidation}
    lists = book["选项"]
    for field in ("贷款类型", "资金用途", "征信情况", "客户画像"):
        column = headers.index(field)
        letter = sheet.cell(1, column + 1).column_letter
        rule = validations[f"{letter}2"]
        assert rule.type == "list" and rule.formula1.startswith("选项!")
        choices = [row[0] for row in lists.iter_rows(min_col=column + 1, max_col=column + 1, min_row=2,
                                                     values_only=True) if row[0]]
        assert choices and sheet.cell(2, column + 1).value == choices[0]
    assert "房产抵押贷" in [c.value for c in lists[sheet.cell(1, headers.index("贷款类型") + 1).column_letter]]
    # the template imports cleanly as it is
    key2 = "imports/partners/demo_partner/template.xlsx"
    result = deliver(key2, put(key2, data))
    state = job(client, "admin", result["import_id"])
    assert state["counts"] == {"rows": 1, "imported": 1, "duplicate": 0, "rejected": 0,
                              "existing_duplicate": 0, "new": 1}


# -- export ----------------------------------------------------------------------------------------

HOSTILE = ["=HYPERLINK(\"http://evil\",\"点我\")", "+86-1", "-2+3", "@SUM(A1)", "\t=1+1", "正常客户"]


def make_leads(count: int, owner: str | None, status: str, day: str = "2026-11-28",
               names: list[str] | None = None, seed: int = 51) -> list[dict[str, Any]]:
    made = []
    for index, phone in enumerate(phones(count, seed=seed)):
        lead = {"lead_id": f"L{day.replace('-', '')}{seed:02d}{index:05d}", "status": status, "phone": f"+86{phone}",
                "name": (names[index % len(names)] if names else f"客户{index}"), "source": "website_form",
                "channel": "public", "created_at": f"{day}T02:00:{index % 60:02d}.000Z",
                "updated_at": f"{day}T02:00:00.000Z", "day": day, "version": 1, "amount": 10 + index % 90,
                "loan_type": "mortgage", "region": "华东", "city": "上海"}
        if owner:
            lead.update(owner=owner, team="sh_mortgage")
        else:
            lead.update(pool_key="华东")
        made.append(lead)
    return made


def seed_leads(count: int, owner: str | None, status: str, **kwargs: Any) -> list[dict[str, Any]]:
    from chalicelib.store import leads

    made = make_leads(count, owner, status, **kwargs)
    for start in range(0, len(made), 500):
        leads.insert_batch(made[start:start + 500])
    return made


def export(client: Any, user: str, query: str) -> Any:
    from openpyxl import load_workbook

    response = client.http.get(f"/exports/leads?{query}", headers=auth(user))
    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["filename"].endswith(".xlsx") and body["url"]
    key = next(obj["Key"] for obj in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"exports/{user}/")
               ["Contents"] if obj["Key"].endswith(".xlsx"))
    data = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=key)
    return body, load_workbook(io.BytesIO(data))["线索"]


def assert_no_formulas(sheet: Any, rows: int) -> list[Any]:
    cells = list(sheet.iter_rows(values_only=False))
    assert len(cells) == rows + 1
    assert not any(cell.data_type == "f" for row in cells for cell in row)
    names = {row[1].value for row in cells[1:]}
    assert names == {"'" + name if name[0] in "=+-@\t" else name for name in HOSTILE}
    return cells


def test_export_file_of_ten_thousand_leads_has_no_formula_cells(demo_org: str) -> None:
    """The file for 10,000 leads, from the real scoping/masking (`lead_view`) and writer; paging
    through DynamoDB is covered by the API test below (moto serialises ~5 ms an item)."""
    from openpyxl import load_workbook

    from chalicelib.domain.access import Principal
    from chalicelib.rules.profile import default_profile
    from chalicelib.services.exports import workbook
    from chalicelib.services.leads import lead_view

    admin = Principal("admin", "admin")
    views = [lead_view(lead, admin) for lead in make_leads(10_000, "sh_rep1", "assigned", names=HOSTILE)]
    sheet = load_workbook(io.BytesIO(workbook(views, default_profile())))["线索"]
    cells = assert_no_formulas(sheet, 10_000)
    assert [cell.value for cell in cells[0]][:4] == ["线索ID", "客户姓名", "联系方式", "当前状态"]
    assert all(row[2].data_type == "s" and "****" in row[2].value for row in cells[1:])  # admin: masked
    assert cells[1][3].value == "已分配" and isinstance(cells[1][5].value, (int, float))  # labels, numbers


def test_export_memory_stays_flat_however_many_rows(demo_org: str, tmp_path: Any) -> None:
    """An export writes each row to the workbook on disk as the lead is read: the Python memory it
    holds at its peak is the same for 2,000 and for 20,000 leads (an in-memory workbook grows ~10x)."""
    import tracemalloc

    from openpyxl import load_workbook

    from chalicelib.domain.access import Principal
    from chalicelib.rules.profile import default_profile
    from chalicelib.services.exports import write_workbook
    from chalicelib.services.leads import lead_view

    admin, profile = Principal("admin", "admin"), default_profile()
    template = make_leads(1, "sh_rep1", "assigned")[0]

    def views(count: int) -> Any:
        for index in range(count):
            yield lead_view({**template, "lead_id": f"L2026112899{index:06d}", "name": f"客户{index}"}, admin)

    write_workbook(str(tmp_path / "warm.xlsx"), views(10), profile, "admin")  # caches (names) loaded before
    peaks = {}
    for count in (2_000, 20_000):
        path = str(tmp_path / f"{count}.xlsx")
        tracemalloc.start()
        written = write_workbook(path, views(count), profile, "admin")
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert written == count
    assert peaks[20_000] < 1.5 * peaks[2_000], peaks
    sheet = load_workbook(str(tmp_path / "20000.xlsx"), read_only=True)["线索"]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 20_001 and rows[-1][1] == "客户19999" and rows[0][:2] == ("线索ID", "客户姓名")


def test_export_reads_the_next_page_while_this_one_is_written(monkeypatch: Any) -> None:
    """The page after is asked for as soon as a page arrives, before its rows are written: the
    reads (DynamoDB) and the workbook (this CPU) overlap. In order, every row once, and a failed
    read still fails the export."""
    import threading
    from datetime import datetime

    from chalicelib.domain.access import Principal
    from chalicelib.services import exports

    asked: dict[str | None, threading.Event] = {c: threading.Event() for c in (None, "2", "3")}

    def list_leads(who: Any, *, today: Any, limit: int, cursor: str | None, **filters: Any) -> Any:
        asked[cursor].set()
        if cursor == "3" and filters.get("fail"):
            raise RuntimeError("read failed")
        number = int(cursor or 1)
        return {"items": [{"lead_id": f"{number}-{i}"} for i in range(3)],
                "cursor": str(number + 1) if number < 3 else None}

    monkeypatch.setattr(exports.lead_service, "list_leads", list_leads)
    who, at = Principal("admin", "admin"), datetime(2026, 11, 28, 2, tzinfo=UTC)
    views = exports._views(who, at, {}, "leads")
    assert next(views)["lead_id"] == "1-0"
    assert asked["2"].wait(5), "the second page was not read while the first was being written"
    assert not asked["3"].is_set()
    assert [view["lead_id"] for view in views] == ["1-1", "1-2", *(f"{p}-{i}" for p in (2, 3) for i in range(3))]
    with pytest.raises(RuntimeError):
        list(exports._views(who, at, {"fail": True}, "leads"))


def test_export_through_the_api_pages_scopes_and_masks(client: Any) -> None:
    own = seed_leads(1_100, "sh_rep1", "assigned", names=HOSTILE, seed=61)
    pooled = seed_leads(20, None, "pool", seed=62)
    body, sheet = export(client, "admin", "from=2026-11-28&to=2026-11-28&status=assigned")
    assert body["rows"] == 1_100 and not body["truncated"]  # three pages of 500
    assert_no_formulas(sheet, 1_100)
    _, mine = export(client, "sh_rep1", "from=2026-11-28&to=2026-11-28")
    assert {row[2] for row in mine.iter_rows(min_row=2, values_only=True)} == {lead["phone"][3:] for lead in own}
    _, pool_sheet = export(client, "sh_rep1", "scope=pool&region=华东")
    masked = {row[2] for row in pool_sheet.iter_rows(min_row=2, values_only=True)}
    assert masked == {f"{lead['phone'][3:6]}****{lead['phone'][-4:]}" for lead in pooled}
    bad = client.http.get("/exports/leads?scope=everything", headers=auth("sh_rep1"))
    assert bad.status_code == 400 and bad.json_body["error"]["fields"] == {"scope": "无效"}
    assert client.http.get("/exports/leads?from=2026-13-01", headers=auth("sh_rep1")).status_code == 400
    assert client.http.get("/exports/leads").status_code == 401


def test_a_pool_export_merges_the_regions_reading_each_lead_once(client: Any) -> None:
    """The pool of two regions, 1,100 leads: the file lists them newest first across both, as the
    pool's list pages them, and DynamoDB returned each lead once (a list page reads a page's worth from
    every region to show the newest 500 of them: ~2,000 items for these)."""
    from chalicelib.store import leads
    from chalicelib.store.connection import transaction_connection

    made = make_leads(1_100, None, "pool", seed=64)
    for index, lead in enumerate(made):
        lead.update(created_at=f"2026-11-28T{index // 3600:02d}:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
                    pool_key="华东" if index % 3 else "华南", region="华东" if index % 3 else "华南")
    for start in range(0, len(made), 500):
        leads.insert_batch(made[start:start + 500])
    returned: list[int] = []

    def count(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query" and "Count" in parsed:
            returned.append(parsed["Count"])

    events = transaction_connection().client.meta.events
    events.register("after-call.dynamodb", count)
    try:
        body, sheet = export(client, "admin", "scope=pool")
    finally:
        events.unregister("after-call.dynamodb", count)
    assert body["rows"] == 1_100 and not body["truncated"]
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == [lead["lead_id"] for lead in sorted(made, key=lambda lead: lead["created_at"], reverse=True)]
    assert sum(returned) == 1_100
    page = client.http.get("/pool?limit=100", headers=auth("admin")).json_body  # the list: the same order
    assert [item["lead_id"] for item in page["items"]] == ids[:100]


def test_export_names_partners_and_custom_options(client: Any) -> None:
    import json

    from chalicelib.services import names
    from chalicelib.store import config, leads

    profile = config.lead_profile().model_dump(mode="json")
    profile["custom_fields"] = [{"key": "housing", "label": "住房情况", "type": "option",
                                 "options": [{"value": "own_home", "label": "自有住房"}]}]
    response = client.http.put("/config/lead-profile", body=json.dumps(profile),
                               headers={**auth("admin"), "Content-Type": "application/json"})
    assert response.status_code == 200, response.json_body
    names.clear()
    [lead] = make_leads(1, "sh_rep1", "assigned", seed=63)
    lead.update(partner_id="demo_partner", custom={"housing": "own_home"})
    leads.insert_batch([lead])
    _, sheet = export(client, "admin", "from=2026-11-28&to=2026-11-28")
    header, row = list(sheet.iter_rows(values_only=True))[:2]
    shown = dict(zip(header, row, strict=True))
    assert shown["合作方"] == "演示合作方（贷款超市）" and shown["住房情况"] == "自有住房"
    assert shown["负责人"] == "沪房贷一号" and shown["所属团队"] == "上海房贷组"
