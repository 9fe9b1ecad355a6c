"""Importing a 100,000-row .xlsx.

- `import_rows_per_s`: our parse + header mapping + validation of every row (`open_file` and
  `new_leads`, exactly what an import run does before writing), best of 3, alternating with the bare reads;
- `import_ratio_vs_raw`: that time over a bare python-calamine read of the same file (iterating
  every row, nothing else), best of 3 — target ≤ 2;
- `import_write_requests_per_row`, `import_write_units_per_row`: DynamoDB write requests and units
  per row of a whole import run (leads in BatchWriteItem chunks + job checkpoints), counted at the
  client, on the first WHOLE_ROWS rows (per-row figures do not depend on the file's length, and
  moto's server stores ~40 items/s with the meter's before/after reads);
- `import_peak_rss_mb`: peak RSS of a process that reads, validates and builds the lead items of
  all 100,000 rows (the whole import but the DynamoDB calls, which hold one 500-lead chunk at a
  time) — target ≤ 512 MB.
- `import_wide_refused_s`, `import_wide_peak_rss_mb`: a workbook inside every file limit (about 4 MB,
  570 MB of sheet XML, 190,001 rows × 200 columns, cells without references) given to `open_file`:
  time to its refusal and the process's peak RSS — target ≤ 512 MB (unchecked, the reader took 6 GB).

Each measured run is a child process, so its peak RSS is its own; moto's server is a third one.
"""

from __future__ import annotations

import gc
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
WHOLE_ROWS = 2_000
ROOT = Path(__file__).resolve().parent.parent
HEADERS = ["客户姓名", "联系方式", "贷款类型", "贷款金额(万元)", "资金用途", "征信情况", "城市", "客户画像", "活动",
           "备注"]


def build_file(rows: int, seed: int = 7) -> bytes:
    """A partner-style sheet: phones typed as numbers (Excel stores floats), labels for options,
    1% bad rows and 1% repeated phones."""
    import xlsxwriter

    from bench.phones import valid_mobiles

    rng = random.Random(seed)
    phones = valid_mobiles(rng, rows)
    target = io.BytesIO()
    book = xlsxwriter.Workbook(target, {"in_memory": True, "constant_memory": False})
    sheet = book.add_worksheet("线索")
    sheet.write_row(0, 0, HEADERS)
    loan_types = ["房产抵押贷", "个人信用贷", "企业经营贷", "车辆抵押贷"]
    for line in range(1, rows + 1):
        phone: Any = int(phones[line - 1])
        if line % 100 == 0:
            phone = "12345"  # rejected
        elif line % 100 == 50:
            phone = int(phones[line - 2])  # an in-file repeat
        sheet.write(line, 0, f"客户{line}")
        sheet.write(line, 1, phone)
        sheet.write_string(line, 2, rng.choice(loan_types))
        sheet.write_number(line, 3, rng.choice([30, 50, 80, 120, 200]))
        sheet.write_string(line, 4, "企业经营周转")
        sheet.write_string(line, 5, "良好,无逾期")
        sheet.write_string(line, 6, rng.choice(["上海", "广州", "深圳", "杭州", "成都"]))
        sheet.write_string(line, 7, "企业主")
        sheet.write_string(line, 8, "2026双十一")
        sheet.write_string(line, 9, "希望下午联系")
    book.close()
    return target.getvalue()


def bare_read(data: bytes) -> float:
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    for _ in sheet.iter_rows():
        pass
    return time.perf_counter() - started


def parse_and_validate(data: bytes) -> tuple[float, dict[str, int]]:
    from chalicelib.domain.sheet_rows import ImportTally, new_leads
    from chalicelib.rules.imports import default_import_policy
    from chalicelib.rules.profile import default_profile
    from chalicelib.services.imports import open_file

    policy, profile = default_import_policy(), default_profile()
    started = time.perf_counter()
    opened = open_file(data, "bench.xlsx", policy, profile, None)
    tally = ImportTally()
    for _ in new_leads(opened.rows, opened.columns, profile, policy.required_fields, tally):
        pass
    return time.perf_counter() - started, tally.counts()


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: Linux carries it across exec, so a
    child forked from a big parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_leads(path: Path) -> dict[str, Any]:
    """Child process: everything an import does to a file but the DynamoDB calls."""

    from chalicelib.domain.lead import build_lead
    from chalicelib.domain.records import Lead
    from chalicelib.domain.sheet_rows import ImportTally, new_leads
    from chalicelib.rules.imports import default_import_policy
    from chalicelib.rules.profile import default_profile
    from chalicelib.services.imports import open_file

    policy, profile = default_import_policy(), default_profile()
    opened = open_file(path.read_bytes(), path.name, policy, profile, None)
    tally = ImportTally()
    chunk: list[Lead] = []
    for row_number, submission in new_leads(opened.rows, opened.columns, profile, policy.required_fields, tally):
        lead = build_lead(submission, lead_id=f"L20261128{row_number:06d}", channel="import",
                          created_at="2026-11-28T02:00:00.000Z", day="2026-11-28", profile=profile)
        chunk = chunk[-499:] + [lead]
    return {"counts": tally.counts(), "peak_rss_mb": _peak_rss_mb()}


def wide_workbook(rows: int = 190_001, columns: int = 200) -> bytes:
    """A minimal valid .xlsx whose one sheet is `rows` × `columns` numbers, written as a stream."""
    import zipfile

    ns = "http://schemas.openxmlformats.org/"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{ns}package/2006/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '</Types>',
        "_rels/.rels": f'<Relationships xmlns="{ns}package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{ns}officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{ns}spreadsheetml/2006/main" xmlns:r="{ns}officeDocument/2006/'
        'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{ns}package/2006/relationships"><Relationship '
        f'Id="rId1" Type="{ns}officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '</Relationships>',
    }
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, text in parts.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{ns}spreadsheetml/2006/main"><sheetData>'.encode())
            row = b"<row>" + b"<c><v>1</v></c>" * columns + b"</row>"
            for _ in range(rows // 1000):
                sheet.write(row * 1000)
            sheet.write(row * (rows % 1000) + b"</sheetData></worksheet>")
    return target.getvalue()


def refuse_wide(path: Path) -> dict[str, Any]:
    """Child process: `open_file` on the wide workbook; how it ended, how fast, at what peak RSS."""
    from chalicelib.errors import DomainError
    from chalicelib.rules.imports import default_import_policy
    from chalicelib.rules.profile import default_profile
    from chalicelib.services.imports import open_file

    data = path.read_bytes()
    started = time.perf_counter()
    try:
        open_file(data, path.name, default_import_policy(), default_profile(), None)
        outcome = "accepted"
    except DomainError as exc:
        outcome = exc.message
    return {"outcome": outcome, "seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb()}


def full_import(path: Path) -> dict[str, Any]:
    """Child process: the whole import of `path` against the moto server at AWS_ENDPOINT_URL."""
    from datetime import UTC, datetime

    from bench.meter import DynamoMeter
    from local.aws import LocalAws
    from local.env import REGION, configure

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    state = Path(tempfile.mkdtemp(prefix="bench-import-"))
    configure(endpoint, 0, state)
    aws = LocalAws(state)
    aws.endpoint = endpoint
    aws.create_resources()
    from chalicelib.observability import logger
    from chalicelib.services.imports import StoredObject, object_created
    from chalicelib.settings import get_settings
    from local.seed import seed_demo_org

    logger.setLevel("WARNING")
    seed_demo_org(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), state)
    key = "imports/partners/demo_partner/bench.xlsx"
    s3 = aws.client("s3")
    etag = s3.put_object(Bucket=get_settings().import_bucket, Key=key, Body=path.read_bytes())["ETag"].strip('"')
    meter = DynamoMeter(endpoint, REGION, get_settings().table_prefix)
    meter.install()
    from chalicelib.store import connection

    connection.reset()
    meter.phase = "import"
    started = time.perf_counter()
    result = object_created(StoredObject(key, etag, path.stat().st_size, datetime.now(UTC)),
                            lambda: 900_000, time.time, lambda detail: None)
    elapsed = time.perf_counter() - started
    tally = meter.tally("import")
    meter.uninstall()
    from chalicelib.store import import_jobs as jobs

    job = jobs.get(str(result["import_id"])) or {}
    return {"result": result, "counts": job.get("counts"), "seconds": elapsed,
            "write_requests": sum(tally.count(op) for op in ("PutItem", "UpdateItem", "BatchWriteItem",
                                                             "TransactWriteItems", "DeleteItem")),
            "write_units": tally.write_units, "requests": dict(tally.requests),
            "peak_rss_mb": _peak_rss_mb()}


def run() -> dict[str, float]:
    data = build_file(ROWS)
    raws: list[float] = []
    timings: list[tuple[float, Any]] = []
    for _ in range(3):  # alternating, each after a full collection: what earlier benchmarks left in
        gc.collect()    # this process, and the machine's load, reach both sides alike
        raws.append(bare_read(data))
        gc.collect()
        timings.append(parse_and_validate(data))
    raw = min(raws)
    ours = min(seconds for seconds, _ in timings)
    print(f"   {ROWS} rows, {len(data) / 1e6:.1f} MB: bare calamine read {raw:.2f} s, "
          f"parse+validate {ours:.2f} s (ratio {ours / raw:.2f}); counts {timings[0][1]}")
    with tempfile.TemporaryDirectory(prefix="bench-import-file-") as folder:
        path = Path(folder) / "bench.xlsx"
        path.write_bytes(data)
        small = Path(folder) / "bench-small.xlsx"
        small.write_bytes(build_file(WHOLE_ROWS))
        built = _child(["build", str(path)], {})
        wide = Path(folder) / "wide.xlsx"
        wide.write_bytes(wide_workbook())
        refused = {**_child(["wide", str(wide)], {}), "size_mb": wide.stat().st_size / 1e6}
        from bench.local_journal import start_server, stop_server

        # The local stack's own moto process (atomic DynamoDB requests, as in use), not a bare moto.server.
        server, endpoint, _ = start_server(None)
        try:
            full = _child(["import", str(small)], {"AWS_ENDPOINT_URL": endpoint})
        finally:
            stop_server(server)
    print(f"   whole import of {WHOLE_ROWS} rows: {full['seconds']:.1f} s against moto's server, counts "
          f"{full['counts']}, {full['write_requests']} write requests; reading+validating+building all "
          f"{ROWS} rows: peak RSS {built['peak_rss_mb']:.0f} MB")
    print(f"   190,001 × 200 workbook ({refused['size_mb']:.1f} MB): {refused['outcome']} in "
          f"{refused['seconds']:.2f} s, peak RSS {refused['peak_rss_mb']:.0f} MB")
    return {
        "import_rows_per_s": ROWS / ours,
        "import_ratio_vs_raw": ours / raw,
        "import_write_requests_per_row": full["write_requests"] / WHOLE_ROWS,
        "import_write_units_per_row": full["write_units"] / WHOLE_ROWS,
        "import_peak_rss_mb": built["peak_rss_mb"],
        "import_wide_refused_s": refused["seconds"],
        "import_wide_peak_rss_mb": refused["peak_rss_mb"],
    }


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    child = subprocess.run([sys.executable, "-m", "bench.imports", *args], cwd=ROOT, env={**os.environ, **env},
                           capture_output=True, text=True, timeout=900)
    if child.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{child.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    measure = {"build": build_leads, "import": full_import, "wide": refuse_wide}[sys.argv[1]]
    print(json.dumps(measure(Path(sys.argv[2])), ensure_ascii=False, default=str))
