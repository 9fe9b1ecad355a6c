"""Capture under load in the local stack, against the embedded AWS's own write rate.

Starts the real local stack (`python -m local run`, a temporary state dir) and posts public-form
leads to `POST /api/capture` from C client threads, in two phases:

- the capture path alone (`capture_rps`, `capture_p50_ms`, `capture_p99_ms`): the stack's stream
  pump and snapshots are held back (`POST /_local/pump?hold=1`), as in AWS the stream consumers run
  on their own Lambda capacity, not on the API's machine. The records wait in the streams and are
  all delivered afterwards (`POST /_local/drain`): `stream_drain_leads_per_s` is how fast the pump
  then works through them.
- as in use (`capture_rps_with_streams`, `..._p50_ms`, `..._p99_ms`): N more leads with the pump
  running beside the API, both on the same 2 cores and the same moto process.

The baseline is N bare `put_item` calls of a lead-sized item into a scratch table, from the same C
client threads against the same moto server, with the pump held back (moto's server to itself, as
the captures had it). Captures and bare puts run in alternating rounds, so that a change in the
machine's load reaches both. `overhead_vs_raw_put` is the raw put rate over the capture rate
(target ≤ 3); `overhead_vs_raw_put_with_streams` the same against the captures with the pump running.
"""

from __future__ import annotations

import functools
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
CLIENTS = int(os.environ.get("BENCH_CAPTURE_CLIENTS", "4"))  # 8 for issue 19's figures
ROUNDS = 3  # captures and bare puts alternate, N / ROUNDS of each per round
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
                if response.status == 200 and "AWS (moto)" in "".join(lines):  # the banner comes just after
                    break
        except OSError:
            pass
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


def _call(base: str, method: str, path: str, body: object = None, token: str | None = None,
          timeout_s: float = 30) -> object:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    if data is None and method == "POST":
        data = b""
    with urllib.request.urlopen(urllib.request.Request(base + path, data=data, method=method, headers=headers),
                                timeout=timeout_s) as response:
        return json.loads(response.read() or b"null")


def _never_refuse(base: str) -> None:
    """Every benchmark lead comes from 127.0.0.1: the stream still counts each against the capture
    guard's limits (in the drain and with-streams figures) and the door still reads its list, but
    none may be refused: 1,000 per second from one address, 1,000 per phone."""
    token = _call(base, "POST", "/_local/token?user=admin")["token"]  # type: ignore[index]
    guard = _call(base, "GET", "/api/config/capture-guard", token=token)["document"]  # type: ignore[index]
    limits = {"ip_max": 1000, "ip_window_s": 1, "phone_max": 1000}
    _call(base, "PUT", "/api/config/capture-guard", {**guard, **limits}, token)


def _drain(base: str) -> int:
    """Every stream record written so far is delivered when this returns; how many there were."""
    return int(_call(base, "POST", "/_local/drain", timeout_s=900)["stream_records"])  # type: ignore[index]


def _hold_pump(base: str, hold: bool) -> None:
    _call(base, "POST", f"/_local/pump?hold={int(hold)}")


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


def _shifted(call: Callable[[int], None], first: int, index: int) -> None:
    call(first + index)


def _percentile(latencies: list[float], share: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


def run() -> dict[str, float]:
    import random

    import boto3

    from bench.capture_cost import lead_body
    from bench.phones import valid_mobiles

    rng = random.Random(7)
    bodies = [json.dumps(lead_body(phone, rng), ensure_ascii=False).encode()
              for phone in valid_mobiles(rng, 2 * N)]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        proc, base, endpoint, _ = _start_stack(Path(folder))
        try:
            _never_refuse(base)
            ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local")
            ddb.create_table(TableName="bench-raw", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
            item = {k: {"S": str(v)} for k, v in json.loads(bodies[0]).items()}

            def raw_put(index: int) -> None:
                ddb.put_item(TableName="bench-raw", Item={**item, "pk": {"S": f"raw{index}"}})

            def capture(index: int) -> None:
                request = urllib.request.Request(base + "/api/capture", data=bodies[index], method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 202

            _drain(base)  # nothing left from starting up
            _hold_pump(base, True)
            seconds = raw_seconds = 0.0
            latencies: list[float] = []
            per_round = N // ROUNDS
            for first in range(0, per_round * ROUNDS, per_round):
                took, round_latencies = _run_clients(per_round, functools.partial(_shifted, capture, first))
                seconds += took
                latencies += round_latencies
                took, _ = _run_clients(per_round, functools.partial(_shifted, raw_put, first))
                raw_seconds += took
            done = per_round * ROUNDS
            _hold_pump(base, False)
            drain_started = time.perf_counter()
            _drain(base)
            drain_seconds = time.perf_counter() - drain_started
            streams_seconds, streams_latencies = _run_clients(N, functools.partial(_shifted, capture, done))
            _drain(base)
        finally:
            _stop_stack(proc)
    rps, raw_rps, streams_rps = done / seconds, done / raw_seconds, N / streams_seconds
    figures = {"capture_rps": rps, "capture_p50_ms": _percentile(latencies, 0.5),
               "capture_p99_ms": _percentile(latencies, 0.99), "raw_put_rps": raw_rps,
               "overhead_vs_raw_put": raw_rps / rps, "stream_drain_leads_per_s": done / drain_seconds,
               "capture_rps_with_streams": streams_rps,
               "capture_p50_ms_with_streams": _percentile(streams_latencies, 0.5),
               "capture_p99_ms_with_streams": _percentile(streams_latencies, 0.99),
               "overhead_vs_raw_put_with_streams": raw_rps / streams_rps}
    print(f"   {done} captures from {CLIENTS} clients, stream pump held back: {rps:.0f}/s, "
          f"p50 {figures['capture_p50_ms']:.1f} ms, p99 {figures['capture_p99_ms']:.1f} ms; bare put_item on "
          f"the same moto server, in alternating rounds: {raw_rps:.0f}/s (overhead {raw_rps / rps:.2f}×)\n"
          f"   the pump then delivered those {done} leads at {figures['stream_drain_leads_per_s']:.1f} leads/s\n"
          f"   {N} more captures with the pump running: {streams_rps:.0f}/s, "
          f"p50 {figures['capture_p50_ms_with_streams']:.1f} ms, p99 {figures['capture_p99_ms_with_streams']:.1f} ms "
          f"(overhead {raw_rps / streams_rps:.2f}×)")
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(run())
