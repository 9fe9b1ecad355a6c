"""Bounded work for hostile input: a workbook inside every file limit whose sheet would not fit in
memory, deep JSON, control and bidi characters, two editors of one lead, the capture guard's keyed
phone hash."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from typing import Any

import pytest

from tests.test_imports import deliver, put, set_policy, xlsx

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
    from chalicelib.store import imports as jobs

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
    etag = put(key, data)
    tracemalloc.start()
    try:
        result = deliver(key, etag)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    state = jobs.get(result["import_id"])
    assert state is not None and state["status"] == "failed", state
    assert "200 列，超过上限 100 列" in state["error"]["message"]
    assert loaded == []  # refused before the reader ever held the sheet
    assert peak < 40 * 1024 * 1024  # the file itself, one 1 MB piece of XML at a time and the request


def test_cell_cap_counts_cells_the_dimension_does_not_declare(client: Any) -> None:
    from chalicelib.store import imports as jobs

    set_policy(client, max_cells=10_000)
    row = b"<row>" + b'<c t="inlineStr"><is><t>x</t></is></c>' * 20 + b"</row>"
    data = workbook([row], repeat=600, head=b'<dimension ref="A1:B2"/>')  # it says 2 × 2 and lies
    key = "imports/partners/demo_partner/lies.xlsx"
    state = jobs.get(deliver(key, put(key, data))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "超过单次导入上限 10000 个单元格" in state["error"]["message"]


@pytest.mark.parametrize("prefix", [b"", b"x"])
def test_one_far_cell_is_a_grid_as_wide_as_its_column(client: Any, prefix: bytes) -> None:
    from chalicelib.store import imports as jobs

    ns = prefix + b":" if prefix else b""
    rows = [b"<" + ns + b'row r="1"><' + ns + b'c r="A1" t="inlineStr"><' + ns + b"is><" + ns + b"t>x</"
            + ns + b"t></" + ns + b"is></" + ns + b'c><' + ns + b'c t="n" s="0" r="XFD1"><' + ns + b"v>1</"
            + ns + b"v></" + ns + b"c></" + ns + b"row>"]
    key = "imports/partners/demo_partner/far.xlsx"
    state = jobs.get(deliver(key, put(key, workbook(rows, prefix=prefix)))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "16384 列" in state["error"]["message"]


def test_tall_sparse_sheet_is_refused_by_its_last_row(client: Any) -> None:
    from chalicelib.store import imports as jobs

    rows = [b'<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>1</v></c></row>',
            b'<row r="1048576"><c r="B1048576"><v>1</v></c></row>']
    key = "imports/partners/demo_partner/tall.xlsx"
    state = jobs.get(deliver(key, put(key, workbook(rows)))["import_id"])
    assert state is not None and state["status"] == "failed"
    assert "1048576 行 × 2 列" in state["error"]["message"]


def test_ordinary_workbook_passes_the_sheet_checks(client: Any) -> None:
    from tests.test_imports import phones

    rows = [[f"客户{i}", p, "房产抵押贷", 30, "上海", ""] for i, p in enumerate(phones(50, seed=77))]
    key = "imports/partners/demo_partner/ok.xlsx"
    assert deliver(key, put(key, xlsx(rows)))["status"] == "done"
