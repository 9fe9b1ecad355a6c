"""What durability costs the embedded AWS (issue 19): the local stack's moto process journals every
change and syncs it to disk before answering (group commit), and rebuilds its state on start.

Runs `python -m local.motoserver` directly, in memory and with a journal in a temporary directory,
and from C client threads writes N lead-sized items with a conditional put (the capture path's
kind of write), in alternating rounds so that a change in the machine's load reaches both:

- `journal_put_rps` / `memory_put_rps`: conditional puts per second with and without the journal;
  `journal_cost` is their ratio, `journal_records_per_sync` how many writes one fdatasync carried.
- `replay_records_per_s`: a restart after `kill -9` (no snapshot yet) replays the whole journal.
- `snapshot_start_s`: a restart after a clean stop (which ends with a snapshot) loads it.
- `snapshot_fork_ms`: how long a snapshot holds writes back (the fork; the child writes the file).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

N = int(os.environ.get("BENCH_JOURNAL_N", "1200"))
CLIENTS = 8
ROUNDS = 3
ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench"


def start_server(state: Path | None) -> tuple[subprocess.Popen[bytes], str, float]:
    """The local stack's own moto process (`local/motoserver.py`), journaled under `state` or in memory:
    (process, endpoint, seconds until it listened). Its stdin is a pipe: closing it stops the server."""
    from local.aws import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    command = [sys.executable, "-m", "local.motoserver", str(port)] + ([str(state)] if state else [])
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
            return proc, endpoint, time.monotonic() - started
        except OSError:
            if proc.poll() is not None or time.monotonic() - started > 300:
                raise RuntimeError("moto's server did not start") from None
            time.sleep(0.02)


def _client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                        aws_secret_access_key="local")


def _create(endpoint: str) -> None:
    _client(endpoint).create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                                   KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                   AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                   StreamSpecification={"StreamEnabled": True,
                                                        "StreamViewType": "NEW_AND_OLD_IMAGES"})


def _puts(endpoint: str, start: int, count: int) -> float:
    """`count` conditional puts from CLIENTS threads; returns the rate."""
    numbers = list(range(start, start + count))
    lock = threading.Lock()

    def worker() -> None:
        client = _client(endpoint)
        while True:
            with lock:
                if not numbers:
                    return
                n = numbers.pop()
            client.put_item(TableName=TABLE, ConditionExpression="attribute_not_exists(k)", Item={
                "k": {"S": f"L{n:08d}"}, "name": {"S": "张三"}, "phone": {"S": f"138{n:08d}"},
                "status": {"S": "new"}, "source": {"S": "website_form"}, "city": {"S": "上海"},
                "created_at": {"S": "2024-05-20T02:00:00.000Z"}, "consent": {"M": {"granted": {"BOOL": True}}}})

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started)


def _status(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint + "/_journal/status", timeout=30) as response:
        status: dict[str, Any] = json.loads(response.read())
        return status


def stop_server(proc: subprocess.Popen[bytes]) -> float:
    """Close its stdin (it ignores SIGTERM) and wait for it: the seconds that took."""
    started = time.monotonic()
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=300)
    return time.monotonic() - started


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        state = Path(tmp)
        memory, memory_endpoint, _ = start_server(None)
        journal, journal_endpoint, _ = start_server(state)
        try:
            _create(memory_endpoint)
            _create(journal_endpoint)
            per_round = N // ROUNDS
            memory_rates, journal_rates = [], []
            for r in range(ROUNDS):
                memory_rates.append(_puts(memory_endpoint, r * per_round, per_round))
                journal_rates.append(_puts(journal_endpoint, r * per_round, per_round))
            syncs = _status(journal_endpoint)["syncs"]
        finally:
            stop_server(memory)
        os.killpg(journal.pid, signal.SIGKILL)  # a crash: nothing but the journal on disk
        journal.wait()
        restarted, endpoint, replay_start_s = start_server(state)
        replayed = _status(endpoint)["replayed"]
        count = _client(endpoint).scan(TableName=TABLE, Select="COUNT")["Count"]
        fork_ms = _status(endpoint)["snapshot_fork_ms"]
        stop_s = stop_server(restarted)
        again, endpoint, snapshot_start_s = start_server(state)
        kept = _client(endpoint).scan(TableName=TABLE, Select="COUNT")["Count"]
        stop_server(again)
    memory_rps, journal_rps = sum(memory_rates) / ROUNDS, sum(journal_rates) / ROUNDS
    figures = {"memory_put_rps": memory_rps, "journal_put_rps": journal_rps,
               "journal_cost": memory_rps / journal_rps, "journal_records_per_sync": (N + 1) / max(syncs, 1),
               "replay_records_per_s": replayed / replay_start_s, "snapshot_start_s": snapshot_start_s,
               "snapshot_fork_ms": float(fork_ms)}
    print(f"   {N} conditional puts from {CLIENTS} clients: in memory {memory_rps:.0f}/s, journaled "
          f"{journal_rps:.0f}/s (cost {figures['journal_cost']:.2f}x; "
          f"{figures['journal_records_per_sync']:.1f} writes per fdatasync)")
    print(f"   after kill -9: {replayed} records replayed, listening in {replay_start_s:.2f} s "
          f"({figures['replay_records_per_s']:.0f} records/s), {count} items back; snapshot fork {fork_ms} ms; "
          f"clean stop {stop_s:.2f} s; start from its snapshot {snapshot_start_s:.2f} s, {kept} items")
    assert count == kept == per_round * ROUNDS, "the benchmark lost writes"
    return figures


if __name__ == "__main__":
    print(run())
