"""Bounded work for hostile input: a workbook inside every file limit whose sheet would not fit in
memory, deep JSON, control and bidi characters, two editors of one lead, the capture guard's keyed
phone hash."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from urllib.parse import quote

import pytest

from tests.test_imports import deliver, deliver_measured, put, set_policy, xlsx

pytestmark = pytest.mark.moto

_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
    'org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def workbook(rows: list[bytes], repeat: int = 1, head: bytes = b"", prefix: bytes = b"", tail: bytes = b"") -> bytes:
    """A minimal valid .xlsx whose one sheet holds `rows` (raw `<row>` XML) `repeat` times, written
    as a stream (the sheet's XML may be far larger than memory would like)."""
    ns = prefix + b":" if prefix else b""
    xmlns = b"xmlns" + (b":" + prefix if prefix else b"")
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, text in _PARTS.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8"?><' + ns + b"worksheet " + xmlns
                        + b'="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + head
                        + b"<" + ns + b"sheetData>")
            block = b"".join(rows)
            for _ in range(repeat):
                sheet.write(block)
            sheet.write(tail + b"</" + ns + b"sheetData></" + ns + b"worksheet>")
    return target.getvalue()


def test_wide_workbook_inside_every_file_limit_is_refused_before_it_is_loaded(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import spreadsheets
    from chalicelib.store import import_jobs as jobs

    # The workbook: 4 MB on the wire, ~570 MB of XML, 190,001 rows × 200 columns, cells
    # without references. Every existing limit (size, inflated size, ratio, rows) lets it through.
    row = b"<row>" + b"<c><v>1</v></c>" * 200 + b"</row>"
    data = workbook([row * 1000], repeat=190, tail=row)
    assert len(data) < 5 * 1024 * 1024
    inflated = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert 500 * 1024 * 1024 < inflated < 600 * 1024 * 1024
    loaded: list[str] = []
    real_read = spreadsheets.read_sheet
    monkeypatch.setattr(spreadsheets, "read_sheet", lambda *a: loaded.append("sheet") or real_read(*a))
    key = "imports/partners/demo_partner/宽表.xlsx"
    result, peak = deliver_measured(key, data)

    state = jobs.get(result["import_id"])
    assert state is not None and state["status"] == "failed", state
    assert "200 列，超过上限 100 列" in state["error"]["message"]
    assert loaded == []  # refused before the reader ever held the sheet
    assert peak < 40 * 1024 * 1024  # the file itself, one 1 MB piece of XML at a time and the request


def test_cell_cap_counts_cells_the_dimension_does_not_declare(client: Any) -> None:
    from chalicelib.store import import_jobs as jobs

    set_policy(client, max_cells=10_000)
    row = b"<row>" + b'<c t="inlineStr"><is><t>x</t></is></c>' * 20 + b"</row>"
    data = workbook([row], repeat=600, head=b'<dimension ref="A1:B2"/>')  # it says 2 × 2 and lies
    key = "imports/partners/demo_partner/lies.xlsx"
    state = jobs.get(deliver(key, put(key, data))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "超过单次导入上限 10000 个单元格" in state["error"]["message"]


def test_cell_cap_counts_cells_that_repeat_a_reference(client: Any) -> None:
    from chalicelib.store import import_jobs as jobs

    # Every cell names its column first, within the declared two: the grid is 600 × 2, but the
    # reader holds each of the 12,000 cells before it places them.
    set_policy(client, max_cells=10_000)
    row = b'<row r="1">' + b'<c r="A1" t="inlineStr"><is><t>x</t></is></c>' * 20 + b"</row>"
    data = workbook([row], repeat=600, head=b'<dimension ref="A1:B600"/>')
    key = "imports/partners/demo_partner/repeats.xlsx"
    state = jobs.get(deliver(key, put(key, data))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "超过单次导入上限 10000 个单元格" in state["error"]["message"]


@pytest.mark.parametrize("far", [b't="n" s="0" r="XFD1"', b'r="XFD1" t="n"'])
@pytest.mark.parametrize("prefix", [b"", b"x"])
@pytest.mark.parametrize("declared", [b"", b'<dimension ref="A1:B1"/>'])
def test_one_far_cell_is_a_grid_as_wide_as_its_column(client: Any, prefix: bytes, declared: bytes,
                                                      far: bytes) -> None:
    from chalicelib.store import import_jobs as jobs

    # The far cell names its column last or first; the dimension is missing or says two columns
    # (when every cell names its column first, the check only searches for one past the declared).
    ns = prefix + b":" if prefix else b""
    rows = [b"<" + ns + b'row r="1"><' + ns + b'c r="A1" t="inlineStr"><' + ns + b"is><" + ns + b"t>x</"
            + ns + b"t></" + ns + b"is></" + ns + b"c><" + ns + b"c " + far + b"><" + ns + b"v>1</"
            + ns + b"v></" + ns + b"c></" + ns + b"row>"]
    head = declared.replace(b"<", b"<" + ns)
    key = "imports/partners/demo_partner/far.xlsx"
    state = jobs.get(deliver(key, put(key, workbook(rows, prefix=prefix, head=head)))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "16384 列" in state["error"]["message"]


@pytest.mark.parametrize("last", [b'<row r="1048576">', b'<row spans="2:2" r="1048576">'])
def test_tall_sparse_sheet_is_refused_by_its_last_row(client: Any, last: bytes) -> None:
    from chalicelib.store import import_jobs as jobs

    # The last row's number comes first in its tag, or after another attribute.
    rows = [b'<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>1</v></c></row>',
            last + b'<c r="B1048576"><v>1</v></c></row>']
    key = "imports/partners/demo_partner/tall.xlsx"
    state = jobs.get(deliver(key, put(key, workbook(rows)))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "1048576 行 × 2 列" in state["error"]["message"]


def test_ordinary_workbook_passes_the_sheet_checks(client: Any) -> None:
    from tests.test_imports import phones

    rows = [[f"客户{i}", p, "房产抵押贷", 30, "上海", ""] for i, p in enumerate(phones(50, seed=77))]
    key = "imports/partners/demo_partner/ok.xlsx"
    assert deliver(key, put(key, xlsx(rows)))["status"] == "done"


# -- the HTTP edge ---------------------------------------------------------------------------------

def _raw(client: Any, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, body=body, headers={"Content-Type": "application/json", **(headers or {})})


@pytest.mark.parametrize("opening,closing", [(b"[", b"]"), (b'{"a":', b"}")])
def test_ten_thousand_deep_json_is_a_400_in_chinese(client: Any, opening: bytes, closing: bytes) -> None:
    from tests.helpers import auth

    deep = opening * 10_000 + b"1" + closing * 10_000
    for path, headers in (("/capture", {}), ("/leads", auth("sh_rep1"))):
        response = _raw(client, path, deep, headers)
        assert response.status_code == 400, (path, response.status_code)
        error = response.json_body["error"]
        assert error["code"] == "INVALID_JSON" and "嵌套层级过深" in error["message"]


def test_ordinary_nesting_and_brackets_inside_text_pass(client: Any) -> None:
    body = {"name": "张三", "remark": "[{" * 100, "phone": "13816204573", "consent": True, "city": "上海"}
    response = _raw(client, "/capture", json.dumps(body, ensure_ascii=False).encode())
    assert response.status_code == 202, response.json_body


@pytest.mark.parametrize("text", ["张\x00三", "张三\u202e", "\u2066李四", "王\x1b五", "赵\x85六"])
def test_control_and_bidi_characters_are_refused_with_a_reason(client: Any, text: str) -> None:
    from tests.helpers import auth

    body = {"name": text, "phone": "13816204573", "consent": True}
    response = _raw(client, "/capture", json.dumps(body).encode())
    assert response.status_code == 422
    error = response.json_body["error"]
    assert list(error["fields"]) == ["name"] and "控制字符" in error["fields"]["name"]
    form = client.http.post("/capture", body=f"name={quote(text)}&phone=13816204573&consent=on",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and "name" in form.json_body["error"]["fields"]
    manual = client.http.post("/leads", body=json.dumps({"phone": "13816204573", "remark": text}),
                              headers={"Content-Type": "application/json", **auth("sh_rep1")})
    assert manual.status_code == 422 and list(manual.json_body["error"]["fields"]) == ["remark"]


def test_tabs_and_line_breaks_stay_ordinary_text(client: Any) -> None:
    body = {"name": "张三", "phone": "13816204573", "consent": True, "remark": "下午\t联系\r\n周末不要打"}
    assert _raw(client, "/capture", json.dumps(body).encode()).status_code == 202


def test_channels_without_a_per_field_answer_strip_them(client: Any) -> None:
    from chalicelib.domain.lead import validate_submission
    from chalicelib.rules.profile import default_profile

    lead = validate_submission({"name": "张\u202e三\x00", "phone": "13816204573", "remark": "a\x07b"},
                               default_profile(), "import")
    assert (lead.name, lead.remark) == ("张三", "ab")


# -- optimistic locking on lead edits ----------------------------------------------------------------

def _patch(client: Any, lead_id: str, body: dict[str, Any], user: str = "sh_rep1",
           headers: dict[str, str] | None = None) -> Any:
    from tests.helpers import auth

    return client.http.request("PATCH", f"/leads/{lead_id}", body=json.dumps(body, ensure_ascii=False),
                               headers={"Content-Type": "application/json", **auth(user), **(headers or {})})


def test_two_editors_of_one_version_one_wins_the_other_gets_409(client: Any) -> None:
    from tests.test_dedup import lead
    from tests.test_sop import assigned_lead

    lead_id, _ = assigned_lead(client, "sh_rep1", "13986275314")
    version = lead(client, lead_id)["version"]

    first = _patch(client, lead_id, {"amount": 80, "version": version})
    second = _patch(client, lead_id, {"amount": 95}, user="sh_lead", headers={"If-Match": f'"{version}"'})

    assert first.status_code == 200 and first.json_body["version"] == version + 1
    assert second.status_code == 409
    error = second.json_body["error"]
    assert error["code"] == "STALE_VERSION" and error["current_version"] == version + 1 and "刷新" in error["message"]
    assert second.headers["ETag"] == f'"{version + 1}"'
    assert lead(client, lead_id)["amount"] == 80  # the second editor changed nothing
    retried = _patch(client, lead_id, {"amount": 95}, user="sh_lead", headers={"If-Match": f'W/"{version + 1}"'})
    assert retried.status_code == 200 and lead(client, lead_id)["amount"] == 95


def test_bad_versions_are_refused_in_chinese(client: Any) -> None:
    from tests.test_sop import assigned_lead

    lead_id, _ = assigned_lead(client, "sh_rep1", "13986275314")
    for body, headers in (({"amount": 1, "version": "x"}, {}), ({"amount": 1}, {"If-Match": "*bad*"}),
                          ({"amount": 1, "version": 1}, {"If-Match": '"2"'})):
        response = _patch(client, lead_id, body, headers=headers)
        assert response.status_code in (400, 422), (body, headers)
        assert response.json_body["error"]["fields"], response.json_body


# -- the capture guard's phone hash ------------------------------------------------------------------

def test_phone_hash_is_keyed_by_the_stage_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from chalicelib.services.capture_guard import phone_digest
    from chalicelib.settings import get_settings

    phone = "+8613816204573"
    digests = []
    for secret in ("stage-one-secret-0123456789abcdef", "stage-two-secret-0123456789abcdef"):
        monkeypatch.setenv("PHONE_HASH_SECRET", secret)
        get_settings.cache_clear()
        digests.append(phone_digest(phone))
    get_settings.cache_clear()
    bare = hashlib.sha256(phone.encode()).hexdigest()[:32]
    assert bare not in digests and digests[0] != digests[1] and len(digests[0]) == 32


def test_csv_of_millions_of_short_lines_is_refused_without_listing_them(client: Any) -> None:
    from chalicelib.store import import_jobs as jobs

    data = "客户姓名,联系方式\n".encode() + b"12\n" * 5_000_000  # 15 MB, inside the size limit
    key = "imports/partners/demo_partner/lines.csv"
    result, peak = deliver_measured(key, data)
    state = jobs.get(result["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "超过单次导入上限 200000 行" in state["error"]["message"]
    assert peak < 120 * 1024 * 1024  # the file and its text, not 5 million line objects (~300 MB)


def test_csv_field_past_the_reader_limit_fails_with_a_reason(client: Any) -> None:
    from chalicelib.store import import_jobs as jobs

    data = ("客户姓名,联系方式,备注\n张三,13816204573,\"" + "长" * 200_000 + "\"\n").encode()
    key = "imports/partners/demo_partner/long-field.csv"
    state = jobs.get(deliver(key, put(key, data))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert state["error"]["code"] == "FILE_REJECTED" and "第 2 行无法读取" in state["error"]["message"]
