"""Where users read, in the local stack (issue 19, 21): a 50-lead page, an export, one client's capture.

Starts the real local stack (a temporary state dir), captures N leads from 8 clients with the pump
running, drains the streams, then as a browser does, over one kept-alive connection:

- `capture_p50_ms_one_client`: one client posting captures one after another (kept-alive
  connection, the pump running beside it), 60 times, median;
- `list_page_p50_ms`: the first page of 50 leads (`GET /api/leads?limit=50` as admin), 30 times, median;
  `list_page_team_p50_ms`: the same page as the 上海房贷组's supervisor (its three reps' `by_owner_keys`
  merged, ~1,300 leads), alternating with the admin's in the same run;
- `export_2000_s`: `GET /api/exports/leads` and the download of the file it links to, median of three
  after one unmeasured (`export_2000_first_s`: that first one, which also makes the API process's S3
  client, as the first export in a fresh Lambda container does), as the page is measured warm.

How much of a page and of an export is the embedded AWS: the same reads the product makes (the
`by_day_keys` query, then BatchGetItem of those leads, 100 keys a request, the items taken from the
answer as the product takes them: `store/connection._items_as_sent`) made directly with boto3
against the same moto server, timed the same way (`list_page_aws_ms`; `export_aws_s`, median of
three, each page's batch reads five at once as the product's go out); the rest is the product (HTTP
gateway, auth, views, workbook: the product writes a page's rows while it reads the next, so its part
can come out near zero).

N is 2,000 (`BENCH_READS_N`); about 3 minutes: `.venv/bin/python -m bench local_reads`."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.capture_load import _call, _drain, _never_refuse, _start_stack, _stop_stack

N = int(os.environ.get("BENCH_READS_N", "2000"))
CLIENTS = 8


def _capture_all(base: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> None:
        _call(base, "POST", "/api/capture", {"name": f"读{n}", "phone": f"136{n:08d}", "consent": True,
                                             "city": "上海" if n % 3 else "成都", "loan_type": "mortgage"})

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(one, range(N)))


def _get(connection: http.client.HTTPConnection, path: str, token: str) -> bytes:
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, body[:300]
    return body


def run(verbose: bool = True) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        proc, base, endpoint, _ = _start_stack(Path(tmp))
        try:
            _never_refuse(base)
            started = time.perf_counter()
            _capture_all(base)
            _drain(base)
            filled_s = time.perf_counter() - started
            token = str(_call(base, "POST", "/_local/token?user=admin")["token"])  # type: ignore[index]
            lead_token = str(_call(base, "POST", "/_local/token?user=sh_lead")["token"])  # type: ignore[index]
            url = urlsplit(base)
            connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=300)
            capture_times = _one_client_captures(url.hostname or "127.0.0.1", url.port or 80)
            _drain(base)
            _get(connection, "/api/leads?limit=50", token)  # warm
            _get(connection, "/api/leads?limit=50", lead_token)
            times: list[float] = []
            team_times: list[float] = []
            for _ in range(30):  # alternating: the admin's page (by day), the supervisor's (members merged)
                for who, into in ((token, times), (lead_token, team_times)):
                    t = time.perf_counter()
                    page = json.loads(_get(connection, "/api/leads?limit=50", who))
                    into.append(time.perf_counter() - t)
                    assert len(page["items"]) == 50
            exports = []
            for _ in range(4):  # the first in a fresh API process (its S3 client made), then warm as pages are
                t = time.perf_counter()
                export = json.loads(_get(connection, "/api/exports/leads", token))
                link = urlsplit(export["url"])
                files = http.client.HTTPConnection(link.hostname or "127.0.0.1", link.port, timeout=300)
                files.request("GET", f"{link.path}?{link.query}")
                data = files.getresponse().read()
                exports.append(time.perf_counter() - t)
            export_s, export_cold_s = statistics.median(exports[1:]), exports[0]
            page_aws, export_aws = _aws_part(endpoint)
        finally:
            _stop_stack(proc)
    page_ms = statistics.median(times) * 1000
    team_ms = statistics.median(team_times) * 1000
    figures = {"list_page_p50_ms": page_ms, "list_page_team_p50_ms": team_ms,
               "export_2000_s": export_s, "export_2000_first_s": export_cold_s,
               "export_rows": float(export.get("rows", 0)),
               "capture_p50_ms_one_client": statistics.median(capture_times) * 1000,
               "list_page_aws_ms": page_aws * 1000, "export_aws_s": export_aws}
    print(f"   {N} leads captured and processed in {filled_s:.0f} s")
    print(f"   one client's capture p50 {figures['capture_p50_ms_one_client']:.0f} ms (pump running, kept-alive)")
    print(f"   50-lead page p50 {page_ms:.0f} ms (kept-alive connection); of it the same reads straight "
          f"to moto {page_aws * 1000:.0f} ms, the product {page_ms - page_aws * 1000:.0f} ms")
    print(f"   the same page as a team's supervisor (its members' partitions merged) p50 {team_ms:.0f} ms, "
          "alternating with the admin's")
    print(f"   export of {export.get('rows')} leads {export_s:.1f} s, median of 3 after the API process's first "
          f"({export_cold_s:.1f} s) ({len(data) // 1024} KiB); of it the same reads straight to moto "
          f"{export_aws:.1f} s, the product {export_s - export_aws:.1f} s")
    return figures


def _one_client_captures(host: str, port: int, count: int = 60) -> list[float]:
    connection = http.client.HTTPConnection(host, port, timeout=60)
    times = []
    for n in range(count + 1):
        body = json.dumps({"name": f"单{n}", "phone": f"135{n:08d}", "consent": True, "city": "上海",
                           "loan_type": "mortgage"}, ensure_ascii=False).encode("utf-8")
        t = time.perf_counter()
        connection.request("POST", "/api/capture", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if n:  # the first opens the connection
            times.append(time.perf_counter() - t)
        assert response.status == 202, response.status
    connection.close()
    return times


def _aws_part(endpoint: str) -> tuple[float, float]:
    """(page p50, export) of the product's own DynamoDB reads, made straight to moto."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import boto3

    from chalicelib.store.connection import _items_as_sent

    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    ddb.meta.events.register("before-parse.dynamodb.BatchGetItem", _items_as_sent)  # as the product reads
    table = "loanleads-local-leads"
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()

    def get(keys: list[dict[str, Any]]) -> None:
        ddb.batch_get_item(RequestItems={table: {"Keys": keys}})

    def read(limit: int, pool: ThreadPoolExecutor | None = None) -> int:
        got, start = 0, None
        while got < limit:
            page = ddb.query(TableName=table, IndexName="by_day_keys", KeyConditionExpression="#d = :d",
                             ExpressionAttributeNames={"#d": "day"}, ExpressionAttributeValues={":d": {"S": day}},
                             ScanIndexForward=False, Limit=min(500, limit - got),
                             **({"ExclusiveStartKey": start} if start else {}))
            keys = [{"lead_id": item["lead_id"]} for item in page["Items"]]
            batches = [keys[first:first + 100] for first in range(0, len(keys), 100)]
            list(pool.map(get, batches) if pool else map(get, batches))
            got += len(keys)
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return got

    read(50)
    pages = []
    for _ in range(30):
        t = time.perf_counter()
        read(50)
        pages.append(time.perf_counter() - t)
    exports = []
    with ThreadPoolExecutor(5) as pool:  # an export's batch reads go out five at once, as the product's do
        for _ in range(3):
            t = time.perf_counter()
            read(N, pool)
            exports.append(time.perf_counter() - t)
    return statistics.median(pages), statistics.median(exports)


if __name__ == "__main__":
    print(run())
