"""Where users read, in the local stack (issue 19): a 50-lead page and an export of every lead.

Starts the real local stack (a temporary state dir), captures N leads from 8 clients with the pump
running, drains the streams, then as a browser does, over one kept-alive connection:

- `page50_p50_ms`: the first page of 50 leads (`GET /api/leads?limit=50`), 30 times, median;
- `export_s`: `GET /api/exports/leads` and the download of the file it links to.

N is 2,000 (`BENCH_READS_N`); not part of `make bench` (about 3 minutes): `.venv/bin/python -m
bench.local_reads`."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
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


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        proc, base, _, _ = _start_stack(Path(tmp))
        try:
            _never_refuse(base)
            started = time.perf_counter()
            _capture_all(base)
            _drain(base)
            filled_s = time.perf_counter() - started
            token = str(_call(base, "POST", "/_local/token?user=admin")["token"])  # type: ignore[index]
            url = urlsplit(base)
            connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=300)
            _get(connection, "/api/leads?limit=50", token)  # warm
            times = []
            for _ in range(30):
                t = time.perf_counter()
                _get(connection, "/api/leads?limit=50", token)
                times.append(time.perf_counter() - t)
            t = time.perf_counter()
            export = json.loads(_get(connection, "/api/exports/leads", token))
            link = urlsplit(export["url"])
            files = http.client.HTTPConnection(link.hostname or "127.0.0.1", link.port, timeout=300)
            files.request("GET", f"{link.path}?{link.query}")
            data = files.getresponse().read()
            export_s = time.perf_counter() - t
        finally:
            _stop_stack(proc)
    figures = {"page50_p50_ms": statistics.median(times) * 1000, "export_s": export_s,
               "export_rows": float(export.get("rows", 0))}
    print(f"   {N} leads captured and processed in {filled_s:.0f} s; 50-lead page p50 "
          f"{figures['page50_p50_ms']:.0f} ms (kept-alive connection); export of {export.get('rows')} leads "
          f"{export_s:.1f} s ({len(data) // 1024} KiB)")
    return figures


if __name__ == "__main__":
    print(run())
