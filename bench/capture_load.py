"""Capture under load in the local stack, against the embedded AWS's own write rate.

Starts the real local stack (`python -m local run`, a temporary state dir) and posts N public-form
leads to `POST /api/capture` from C client threads: `capture_rps`, `capture_p50_ms`,
`capture_p99_ms`. Then, with the same client threads against the same moto server, N bare
`put_item` calls of a lead-sized item into a scratch table, once the stream pump has caught up
(moto's bare rate, not shared with the pump's backlog): `overhead_vs_raw_put` is the raw put rate
over our capture rate (target ≤ 3). The stack's stream pump runs during the captures, as in use.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

N = int(os.environ.get("BENCH_CAPTURE_N", "600"))
CLIENTS = 4
ROOT = Path(__file__).resolve().parent.parent


def _start_stack(state: Path) -> tuple[subprocess.Popen[str], str, str, list[str]]:
    from local.aws import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OIDC_", "TABLE_", "CORS_"))}
    env.update({"LOCAL_STATE_DIR": str(state), "PORT": str(port)})
    proc = subprocess.Popen([sys.executable, "-m", "local", "run"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    found = re.search(r"AWS \(moto\)\s+(\S+)", "".join(lines))
    if not found:
        _stop_stack(proc)  # never leave a half-started stack behind
        raise RuntimeError("stack did not start:\n" + "".join(lines)[-3000:])
    return proc, base, found.group(1), lines


def _stop_stack(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _call(base: str, method: str, path: str, body: object = None, token: str | None = None) -> object:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(base + path, data=data, method=method, headers=headers),
                                timeout=30) as response:
        return json.loads(response.read() or b"null")


def _never_refuse(base: str) -> None:
    """Every benchmark lead comes from 127.0.0.1: the capture guard still counts (its cost is in the
    figure) but must not refuse them."""
    token = _call(base, "POST", "/_local/token?user=admin")["token"]  # type: ignore[index]
    guard = _call(base, "GET", "/api/config/capture-guard", token=token)["document"]  # type: ignore[index]
    _call(base, "PUT", "/api/config/capture-guard", {**guard, "ip_max": 100000, "phone_max": 10000}, token)


def _wait_until_streams_drained(base: str, quiet_s: float = 3.0, limit_s: float = 300.0) -> None:
    """Until the stack's stream pump has handled nothing new for `quiet_s` seconds."""
    deadline = time.monotonic() + limit_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        handled = _call(base, "GET", "/_local/status")["pump"]["stream_records"]  # type: ignore[index]
        if handled != last:
            last, since = handled, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)


def _run_clients(n: int, call: Callable[[int], None]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            call(index)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sorted(latencies)


def run() -> dict[str, float]:
    import random

    import boto3

    from bench.capture_cost import lead_body
    from bench.phones import valid_mobiles

    rng = random.Random(7)
    bodies = [json.dumps(lead_body(phone, rng), ensure_ascii=False).encode() for phone in valid_mobiles(rng, N)]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        proc, base, endpoint, _ = _start_stack(Path(folder))
        try:
            _never_refuse(base)
            def capture(index: int) -> None:
                request = urllib.request.Request(base + "/api/capture", data=bodies[index], method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 202

            seconds, latencies = _run_clients(N, capture)
            _wait_until_streams_drained(base)  # the bare puts get moto's server to themselves
            ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local")
            ddb.create_table(TableName="bench-raw", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
            item = {k: {"S": str(v)} for k, v in json.loads(bodies[0]).items()}

            def raw_put(index: int) -> None:
                ddb.put_item(TableName="bench-raw", Item={**item, "pk": {"S": f"raw{index}"}})

            raw_seconds, _ = _run_clients(N, raw_put)
        finally:
            _stop_stack(proc)
    rps, raw_rps = N / seconds, N / raw_seconds
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"   {N} captures from {CLIENTS} clients: {rps:.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
          f"bare put_item on the same moto server: {raw_rps:.0f}/s (overhead {raw_rps / rps:.2f}×)")
    return {"capture_rps": rps, "capture_p50_ms": p50, "capture_p99_ms": p99, "raw_put_rps": raw_rps,
            "overhead_vs_raw_put": raw_rps / rps}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(run())
