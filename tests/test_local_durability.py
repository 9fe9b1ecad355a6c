"""The local stack keeps every acknowledged lead whatever stops it (issue 19): the whole stack (its
process group: make, the stack, the embedded AWS) is killed with SIGKILL, or sent SIGTERM, while 8
clients post captures; after a restart every 202 is there, under the number it was acknowledged
with, processed exactly once (one routing entry, the rep's load counted once), and the dashboard
counters equal the leads."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from tests.conftest import ROOT
from tests.test_local_stack import Stack, wait_unlocked

pytestmark = pytest.mark.stack

CLIENTS = 8
TOTAL = 300
KILL_AFTER = 120  # acknowledged captures before the stack is stopped


def _post(base: str, n: int, series: int) -> tuple[str, str] | None:
    """One capture; (lead number, name) when it was acknowledged (202), None when the stack is gone."""
    name = f"压测{series}-{n}"
    shanghai = n % 2 == 0  # routed to a rep (their load counts), the others stay in the pool
    body = {"name": name, "phone": f"137{series:02d}{n:06d}", "consent": True,
            "city": "上海" if shanghai else "成都", "loan_type": "mortgage" if shanghai else "car"}
    request = urllib.request.Request(base + "/api/capture", data=json.dumps(body, ensure_ascii=False).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            return str(json.loads(response.read())["lead_id"]), name
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"capture {n} answered {exc.code}: {exc.read()[:500]!r}") from None
    except OSError:
        return None


def _capture(stack: Stack, numbers: list[int], series: int, acked: dict[str, str], reached: threading.Event,
             stop_after: int | None) -> None:
    """CLIENTS threads post `numbers`; a thread stops at its first failure (the stack is gone)."""
    todo = list(numbers)
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop(0)
            try:
                answer = _post(stack.base, n, series)
            except AssertionError as exc:
                errors.append(str(exc))
                return
            if answer is None:
                return
            with lock:
                assert answer[0] not in acked, f"lead number {answer[0]} acknowledged twice"
                acked[answer[0]] = answer[1]
                if stop_after is not None and len(acked) >= stop_after:
                    reached.set()

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]


def _all_leads(stack: Stack, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        path = "/api/leads?limit=100" + (f"&cursor={quote(cursor)}" if cursor else "")
        status, page, _ = stack.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        assert status == 200, page
        items += page["items"]
        cursor = page.get("cursor") or ""
        if not cursor:
            return items


def _scan(stack: Stack, table: str) -> list[dict[str, Any]]:
    """A table of the embedded AWS, read directly (the test's view; the stack never scans)."""
    endpoint = re.findall(r"AWS \(moto\)\s+(\S+)", stack.output)[-1]
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                       aws_secret_access_key="local")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=f"loanleads-local-{table}"):
        items += page["Items"]
    return items


def _check(stack: Stack, acked: dict[str, str]) -> None:
    token = stack.token("admin")
    # Deliver whatever the streams still hold (the pump's pace depends on the machine's load): a lead
    # still `new` after that has lost its stream record and would stay `new` forever.
    drain = urllib.request.Request(stack.base + "/_local/drain", data=b"", method="POST")
    with urllib.request.urlopen(drain, timeout=600) as response:
        assert response.status == 200
    leads = {lead["lead_id"]: lead for lead in _all_leads(stack, token)}
    missing = set(acked) - set(leads)
    assert not missing, f"acknowledged leads missing after the restart: {sorted(missing)[:10]}"
    new = [lead_id for lead_id in acked if leads[lead_id]["status"] == "new"]
    assert not new, f"acknowledged leads left new with nothing pending: {new[:10]}"
    wrong = {lead_id: (name, leads[lead_id].get("name")) for lead_id, name in acked.items()
             if leads[lead_id].get("name") != name}
    assert not wrong, f"leads now naming another customer than the one acknowledged: {list(wrong.items())[:5]}"
    routed = Counter(e["lead_id"]["S"] for e in _scan(stack, "lead_events")
                     if e.get("kind", {}).get("S") == "status" and e.get("from_status", {}).get("S") == "new")
    stored = {item["lead_id"]["S"]: item for item in _scan(stack, "leads")}

    def misrecorded(lead_id: str) -> bool:
        """Not one routing entry in its history: a lead routed to an owner keeps the decision itself
        (`route` without the reason, `first_owner`), a pooled one its route with the reason, a
        duplicate its merge (`duplicate_at`), an invalid one its refusal (`invalid_at`), the entry
        rebuilt from it (no item); the others, one item."""
        item = stored[lead_id]
        route = item.get("route", {}).get("M", {})
        rebuilt = ("first_owner" in item and "reason" not in route) or "duplicate_at" in item \
            or "invalid_at" in item or ("reason" in route and route.get("status", {}).get("S") == "pool")
        return routed[lead_id] != (0 if rebuilt else 1)

    assert {lead_id: routed[lead_id] for lead_id in leads if misrecorded(lead_id)} == {}, \
        "every lead has exactly one routing entry in its history"
    owners = Counter(lead["owner"] for lead in leads.values() if lead["status"] == "assigned")
    loads = {e["user_id"]["S"]: int(e["n"]["N"]) for e in _scan(stack, "rep_load")
             if e["key"]["S"] == "open" and int(e.get("n", {"N": "0"})["N"])}
    assert owners and loads == dict(owners), "a rep's open load differs from the leads they hold"
    check = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "local", "rebuild-aggregates"], cwd=ROOT,
                           env=stack.env(), capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, f"dashboard differs from the leads:\n{check.stdout}{check.stderr}"
    assert "[journal]" not in stack.output, "the replay did not redo what was journaled"


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_every_acknowledged_capture_survives_the_stack_being_stopped(tmp_path: Path, stop_signal: int) -> None:
    stack = Stack(tmp_path)
    stack.start()
    # Every capture comes from 127.0.0.1: the capture guard must not refuse them (as bench/capture_load.py).
    auth = {"Authorization": f"Bearer {stack.token('admin')}", "Content-Type": "application/json"}
    guard = stack.request("GET", "/api/config/capture-guard", headers=auth)[1]["document"]
    guard.update({"ip_max": 1000, "ip_window_s": 1, "phone_max": 1000})
    assert stack.request("PUT", "/api/config/capture-guard", json.dumps(guard).encode(), auth)[0] == 200
    series = 10 + int(stop_signal)
    acked: dict[str, str] = {}
    reached = threading.Event()
    try:
        killer = threading.Thread(target=lambda: reached.wait(120) and os.killpg(stack.proc.pid, stop_signal))  # type: ignore[union-attr]
        killer.start()
        _capture(stack, list(range(TOTAL)), series, acked, reached, stop_after=KILL_AFTER)
        killer.join()
        assert KILL_AFTER <= len(acked) < TOTAL, "the stack was stopped while captures were still coming"
        wait_unlocked(tmp_path, timeout_s=90)
        first = dict(acked)
        stack.start()
        # the rest of the 300 after the restart: new numbers, never one acknowledged before the stop
        rest = [n for n in range(TOTAL) if f"压测{series}-{n}" not in set(first.values())]
        _capture(stack, rest, series, acked, threading.Event(), stop_after=None)
        assert len(acked) == TOTAL
        _check(stack, acked)
    finally:
        if stack.proc and stack.proc.poll() is None:
            stack.stop()
