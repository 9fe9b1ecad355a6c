"""End to end against the real local stack (`make run`), as a form, a partner and a script see it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from local.aws import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.stack


class Stack:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OIDC_", "TABLE_", "CORS_"))}
        env.update({"LOCAL_STATE_DIR": str(self.state_dir), "PORT": str(self.port)})
        env.pop("REDIRECT_ORIGINS", None)
        return env

    def start(self) -> None:
        self.proc = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={self.port}"], cwd=ROOT,
                                     env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        # Drain its output all the time, so a full pipe can never block the stack.
        threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")),  # type: ignore
                         daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                # Up once it answers and has printed what it started (the banner follows the server's
                # start: tests read the forms' and moto's addresses from it).
                if self.request("GET", "/api/health")[0] == 200 and "Ctrl-C stops everything." in self.output:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"stack did not start:\n{self.output}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Stop the stack's process group (SIGINT: what Ctrl-C in the terminal does) and wait until
        it has let go of its state directory (make may exit before the stack has stopped)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=60)
            wait_unlocked(self.state_dir)
        except (subprocess.TimeoutExpired, AssertionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"stack did not stop on signal {sig}:\n{self.output}") from None
        time.sleep(0.2)
        return self.proc.returncode

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                status, hdrs = resp.status, dict(resp.headers)
        except urllib.error.HTTPError as exc:
            raw, status, hdrs = exc.read(), exc.code, dict(exc.headers)
        ctype = hdrs.get("Content-Type", "")
        return status, (json.loads(raw) if "json" in ctype and raw else raw.decode("utf-8")), hdrs

    def token(self, user: str) -> str:
        out = subprocess.run(["make", "--no-print-directory", "-s", "token", f"USER={user}"], cwd=ROOT,
                             env=self.env(), capture_output=True, text=True, check=True).stdout
        assert out.count("\n") == 1, "make token prints the token and nothing else"
        return out.strip()


def wait_unlocked(state_dir: Path, timeout_s: float = 60) -> None:
    """Until no stack holds the state directory's lock (taken with flock by `python -m local run`)."""
    import fcntl

    deadline = time.monotonic() + timeout_s
    fd = os.open(state_dir / "stack.lock", os.O_RDWR | os.O_CREAT)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, "the stopped stack did not let go of its state directory"
                time.sleep(0.1)
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("local"))
    running.start()
    yield running
    if running.proc and running.proc.poll() is None:
        running.stop()


def wait_status(stack: Stack, lead_id: str, token: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, lead, _ = stack.request("GET", f"/api/leads/{lead_id}", headers={"Authorization": f"Bearer {token}"})
        assert status == 200, lead
        if lead["status"] != "new" or time.monotonic() > deadline:
            return dict(lead)
        time.sleep(0.1)


def test_health_page_and_openapi(stack: Stack) -> None:
    assert stack.request("GET", "/api/health")[0] == 200
    status, page, headers = stack.request("GET", "/")
    assert status == 200 and 'lang="zh-CN"' in page and headers["Content-Type"].startswith("text/html")
    status, doc, _ = stack.request("GET", "/api/openapi.json")
    assert status == 200 and "/capture" in doc["paths"]
    status, error, _ = stack.request("GET", "/api/no-such-route")
    assert status == 404 and error["error"]["code"] == "NOT_FOUND"


def test_json_and_form_leads_leave_new_within_five_seconds(stack: Stack) -> None:
    token = stack.token("admin")
    json_body = json.dumps({"name": "张三", "phone": "13816204573", "consent": True, "loan_type": "car"})
    status, first, _ = stack.request("POST", "/api/capture", json_body.encode(), {"Content-Type": "application/json"})
    assert status == 202
    form = urlencode({"name": "李四", "phone": "13917326685", "consent": "on"}).encode()
    status, second, _ = stack.request("POST", "/api/capture", form,
                                      {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 202
    for lead_id in (first["lead_id"], second["lead_id"]):
        lead = wait_status(stack, lead_id, token)
        assert lead["status"] == "pool", lead


def test_held_pump_leaves_leads_new_until_released_or_drained(stack: Stack) -> None:
    """bench/capture_load.py measures the capture path with the stream pump held back: the records
    wait in the stream (nothing is lost) and one drain delivers them all."""
    token = stack.token("admin")
    body = json.dumps({"name": "王五", "phone": "13957218640", "consent": True}).encode()
    status, error, _ = stack.request("POST", "/_local/pump?hold=yes", b"")
    assert status == 400 and error["error"]["code"] == "BAD_HOLD" and not stack.request(
        "GET", "/_local/status")[1]["pump"]["held"]
    assert stack.request("POST", "/_local/pump?hold=1", b"")[1] == {"held": True}
    try:
        before = stack.request("GET", "/_local/status")[1]["pump"]
        status, first, _ = stack.request("POST", "/api/capture", body, {"Content-Type": "application/json"})
        assert status == 202
        time.sleep(1.5)  # several pump cycles
        after = stack.request("GET", "/_local/status")[1]["pump"]
        assert after["held"] and after["stream_records"] == before["stream_records"]
        assert wait_status(stack, first["lead_id"], token, timeout=0)["status"] == "new"
        status, drained, _ = stack.request("POST", "/_local/drain", b"")
        assert status == 200 and drained["stream_records"] >= 1 and drained["held"]
        assert wait_status(stack, first["lead_id"], token, timeout=0)["status"] == "pool"
        status, second, _ = stack.request("POST", "/api/capture", body.replace(b"13957218640", b"13762841953"),
                                          {"Content-Type": "application/json"})
        assert status == 202
    finally:
        assert stack.request("POST", "/_local/pump?hold=0", b"")[1] == {"held": False}
    assert wait_status(stack, second["lead_id"], token)["status"] == "pool"  # the loop delivers again


def test_partner_key_printed_at_startup_works(stack: Stack) -> None:
    key = (stack.state_dir / "demo_partner_key").read_text().strip()
    body = json.dumps({"leads": [{"phone": "13700001111", "loan_type": "credit"}]}).encode()
    status, data, _ = stack.request("POST", "/api/partner/leads", body,
                                    {"Content-Type": "application/json", "X-Api-Key": key})
    assert status == 202 and data["accepted"] == 1


def tick(stack: Stack, at: str) -> dict[str, Any]:
    out = subprocess.run(["make", "--no-print-directory", "-s", "tick", f"AT={at}", f"PORT={stack.port}"], cwd=ROOT,
                         env=stack.env(), capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)["results"]["sla_sweep"]
    return result


def test_tick_runs_every_schedule_at_the_given_time(stack: Stack) -> None:
    assert tick(stack, "2024-05-20T10:00:00+08:00")["time"] == "2024-05-20T02:00:00Z"


def test_first_contact_sla_with_make_tick(stack: Stack) -> None:
    from datetime import datetime, timedelta

    rep = {"Authorization": f"Bearer {stack.token('sh_rep2')}", "Content-Type": "application/json"}
    status, made, _ = stack.request("POST", "/api/leads", json.dumps({"phone": "15987654012"}).encode(), rep)
    assert status == 202, made
    lead = wait_status(stack, made["lead_id"], stack.token("admin"))
    assert lead["status"] == "assigned"
    t = datetime.fromisoformat(lead["assigned_at"].replace("Z", "+00:00"))

    def at(**delta: float) -> str:
        return (t + timedelta(**delta)).isoformat()

    time.sleep(0.5)  # the assignment's own stream record creates the 首次联系 task
    assert tick(stack, at(hours=1))["due_notified"] == 0
    assert tick(stack, at(hours=2, minutes=5))["due_notified"] >= 1
    assert tick(stack, at(hours=24, minutes=5))["reclaimed"] >= 1
    assert tick(stack, at(hours=24, minutes=5)) == {"time": at(hours=24, minutes=5)[:19] + "Z", "reclaimed": 0,
                                                    "due_notified": 0, "overdue_escalated": 0, "reminded": 0,
                                                    "idle_tasks": 0, "board_summaries": 0}
    _, back, _ = stack.request("GET", f"/api/leads/{made['lead_id']}",
                               headers={"Authorization": f"Bearer {stack.token('admin')}"})
    assert back["status"] == "pool" and "owner" not in back


def wait_import(stack: Stack, import_id: str, token: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, job, _ = stack.request("GET", f"/api/imports/{import_id}",
                                       headers={"Authorization": f"Bearer {token}"})
        assert status == 200, job
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.2)


def test_partner_file_dropped_in_the_bucket_is_imported(stack: Stack) -> None:
    import re

    import boto3

    endpoint = re.search(r"AWS \(moto\)\s+(\S+)", stack.output).group(1)  # type: ignore[union-attr]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local")
    before = stack.request("GET", "/_local/status")[1]["pump"]["import_events"]
    s3.put_object(Bucket="loanleads-local-imports", Key="imports/partners/demo_partner/leads.csv",
                  Body="客户姓名,联系方式\n张三,13816204573\n".encode(), ContentType="text/csv")
    s3.put_object(Bucket="loanleads-local-imports", Key="exports/not-an-import.csv", Body=b"x",
                  ContentType="text/csv")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.request("GET", "/_local/status")[1]["pump"]["import_events"] > before:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert stack.request("GET", "/_local/status")[1]["pump"]["import_events"] == before + 1  # only imports/
    token = stack.token("admin")
    jobs = stack.request("GET", "/api/imports", headers={"Authorization": f"Bearer {token}"})[1]["items"]
    job = next(item for item in jobs if item["uploaded_by"] == "partner:demo_partner")
    assert wait_import(stack, job["import_id"], token)["counts"]["imported"] == 1


def test_an_upload_asking_100_continue_gets_it_at_once(stack: Stack) -> None:
    """botocore uploads a file (an export) with `Expect: 100-continue` and waits up to 1 s for the
    interim answer before sending the body: the gateway sends it at once, not with the final answer."""
    import socket

    port = int(stack.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PUT /loanleads-local-imports/exports/continue-test.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        sock.settimeout(0.5)
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.settimeout(5)
        sock.sendall(b"hello")
        assert sock.recv(64).startswith(b"HTTP/1.1 200")


def test_gbk_and_utf8_bom_csv_import_identically_through_the_upload_url(stack: Stack) -> None:
    rows = ["客户姓名,联系方式,贷款类型,贷款金额（万元）,城市",
            "陈一,13917326685,房产抵押贷,80,上海",
            "林二,139 1732 9941,个人信用贷,\"1,200\",广州",
            "黄三,12345,房产抵押贷,10,北京",
            "吴四,13917326685,车辆抵押贷,5,上海"]
    text = "\r\n".join(rows) + "\r\n"
    token = stack.token("sh_lead")
    auth = {"Authorization": f"Bearer {token}"}
    results = []
    for encoding in ("gbk", "utf-8-sig"):
        status, started, _ = stack.request("POST", "/api/imports", json.dumps({"filename": f"{encoding}.csv"}).encode(),
                                           {**auth, "Content-Type": "application/json"})
        assert status == 201, started
        assert started["upload_url"].startswith(stack.base + "/"), "uploads go through the stack's own port"
        put = urllib.request.Request(started["upload_url"], data=text.encode(encoding), method="PUT",
                                     headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(put, timeout=10) as response:
            assert response.status == 200
        job = wait_import(stack, started["import_id"], token)
        assert job["status"] == "done", job
        assert job["error_report_url"].startswith(stack.base + "/")
        with urllib.request.urlopen(job["error_report_url"], timeout=10) as response:
            report = response.read()
        # What the file itself holds (the stream then finds the second file's leads repeat the first's).
        counts = {k: job["counts"][k] for k in ("rows", "imported", "duplicate", "rejected")}
        results.append((counts, job["columns"], report[:2]))
        assert counts == {"rows": 4, "imported": 2, "duplicate": 1, "rejected": 1}
    assert results[0][:2] == results[1][:2]
    assert results[0][2] == b"PK"  # the report downloads as an .xlsx through its presigned URL


def test_an_import_repeating_an_existing_lead_counts_it_as_such(stack: Stack) -> None:
    """The file's counts tell new leads, repeats of a lead that existed before (decided later by the
    stream), repeats within the file and rejected rows apart, and equal the leads the import made."""
    import re

    import boto3

    token = stack.token("admin")
    body = json.dumps({"name": "老客户", "phone": "13725806431", "consent": True, "city": "上海"}).encode()
    status, existing, _ = stack.request("POST", "/api/capture", body, {"Content-Type": "application/json"})
    assert status == 202
    assert wait_status(stack, existing["lead_id"], token)["status"] != "new"
    text = "\r\n".join(["客户姓名,联系方式,城市", "老客户,137 2580 6431,上海", "新客一,13725806432,上海",
                         "新客二,13725806433,北京", "新客二,13725806433,北京", "坏行,12345,上海"]) + "\r\n"
    auth = {"Authorization": f"Bearer {token}"}
    status, started, _ = stack.request("POST", "/api/imports", json.dumps({"filename": "repeat.csv"}).encode(),
                                       {**auth, "Content-Type": "application/json"})
    assert status == 201, started
    put = urllib.request.Request(started["upload_url"], data=text.encode(), method="PUT",
                                 headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 200
    job = wait_import(stack, started["import_id"], token)
    deadline = time.monotonic() + 60
    while job["counts"]["existing_duplicate"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
        job = stack.request("GET", f"/api/imports/{started['import_id']}", headers=auth)[1]
    assert job["counts"] == {"rows": 5, "imported": 3, "new": 2, "existing_duplicate": 1, "duplicate": 1,
                             "rejected": 1}, job
    time.sleep(1)  # a replayed stream record would count it twice: it must not
    assert stack.request("GET", f"/api/imports/{started['import_id']}", headers=auth)[1]["counts"] == job["counts"]
    endpoint = re.search(r"AWS \(moto\)\s+(\S+)", stack.output).group(1)  # type: ignore[union-attr]
    dynamo = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                            aws_secret_access_key="local")
    table = next(t for t in dynamo.tables.all() if t.name.endswith("leads") and not t.name.endswith("_leads"))
    made = [item for item in table.scan()["Items"] if item.get("import_id") == started["import_id"]]
    assert len(made) == job["counts"]["imported"]
    repeats = [item for item in made if item["status"] == "duplicate"]
    assert [item["duplicate_of"] for item in repeats] == [existing["lead_id"]]
    assert len(made) - len(repeats) == job["counts"]["new"]


def test_demo_rules_route_leads_in_the_local_stack(stack: Stack) -> None:
    token = stack.token("admin")

    def post(phone: str, city: str, loan_type: str) -> str:
        body = json.dumps({"phone": phone, "consent": True, "city": city, "loan_type": loan_type}).encode()
        status, data, _ = stack.request("POST", "/api/capture", body, {"Content-Type": "application/json"})
        assert status == 202, data
        return str(data["lead_id"])

    sh = [post(f"1591234{n:04d}", "上海", "mortgage") for n in range(1, 7)]
    gz = post("15912348888", "广州", "credit")
    chengdu = post("15912349999", "成都", "car")
    owners = [wait_status(stack, i, token)["owner"] for i in sh]
    assert sorted(owners) == ["sh_rep1", "sh_rep1", "sh_rep2", "sh_rep2", "sh_rep3", "sh_rep3"]
    assert wait_status(stack, gz, token)["owner"] in ("gz_rep1", "gz_rep2")
    pooled = wait_status(stack, chengdu, token)
    assert pooled["status"] == "pool" and "owner" not in pooled


def test_thirty_concurrent_submissions_of_one_person_make_one_lead(stack: Stack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = stack.token("admin")
    key = (stack.state_dir / "demo_partner_key").read_text().strip()
    spellings = ["13725814690", "137 2581 4690", "+86 13725814690", "0086-137-2581-4690", "13725814690.0",
                 "１３７２５８１４６９０"]
    channels = ["website_form", "online_chat", "loan_calculator", "wechat", "douyin", "partner"]

    def submit(n: int) -> str:
        phone, channel = spellings[n % 6], channels[(n // 6) % 6]
        if channel == "partner":
            body = json.dumps({"leads": [{"phone": phone, "name": "孙悟空"}]}).encode()
            status, data, _ = stack.request("POST", "/api/partner/leads", body,
                                            {"Content-Type": "application/json", "X-Api-Key": key})
            assert status == 202, data
            return str(data["results"][0]["lead_id"])
        body = json.dumps({"phone": phone, "consent": True, "source": channel}, ensure_ascii=False).encode()
        status, data, _ = stack.request("POST", "/api/capture", body, {"Content-Type": "application/json"})
        assert status == 202, data
        return str(data["lead_id"])

    with ThreadPoolExecutor(max_workers=30) as pool:
        ids = list(pool.map(submit, range(30)))
    assert len(set(ids)) == 30
    leads = [wait_status(stack, lead_id, token, timeout=30) for lead_id in ids]
    active = [lead for lead in leads if lead["status"] == "pool"]
    assert len(active) == 1, [lead["status"] for lead in leads]
    winner = active[0]["lead_id"]
    duplicates = [lead for lead in leads if lead["status"] == "duplicate"]
    assert len(duplicates) == 29 and all(lead["duplicate_of"] == winner for lead in duplicates)
    _, detail, _ = stack.request("GET", f"/api/leads/{winner}", headers={"Authorization": f"Bearer {token}"})
    re_inquiries = [e for e in detail["history"] if e.get("activity_type") == "re_inquiry"]
    assert len(re_inquiries) == 29
    assert {e["related_lead"] for e in re_inquiries} == {lead["lead_id"] for lead in duplicates}


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def is_moto_server(pid: int) -> bool:
    try:
        return b"local.motoserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_moto_server_ignores_stop_signals_to_the_group_and_never_outlives_the_stack() -> None:
    port = free_port()
    # A stand-in for the stack: a parent that is killed outright, as a crash or `kill -9` would.
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-m', 'local.motoserver', '{port}'], "
                               "stdin=subprocess.PIPE); time.sleep(600)"], cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (servers := [p for p in descendants(parent.pid) if is_moto_server(p)]):
            assert time.monotonic() < deadline, "moto's server did not start"
            time.sleep(0.1)
        server = servers[0]
        while True:  # listening
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto's server did not listen"
                time.sleep(0.1)
        # Ctrl-C, `timeout`/systemd and a closed terminal reach the whole group: the server stays up
        # for the stack's own orderly stop (the stand-in ignores them too, as the stack handles them).
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(server, sig)
        time.sleep(0.5)
        assert running(server)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while running(server):
            assert time.monotonic() < deadline, "moto's server outlived the process that started it"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)


def test_a_second_stack_on_the_same_state_dir_refuses_to_start(stack: Stack) -> None:
    second = Stack(stack.state_dir)
    out = subprocess.run(["make", "--no-print-directory", "run", f"PORT={second.port}"], cwd=ROOT, env=second.env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "另一个本地服务正在使用" in out.stderr and "Another local stack" in out.stderr, out.stderr
    assert stack.request("GET", "/api/health")[0] == 200  # the running one is untouched


def test_restart_keeps_leads_and_reprocesses_nothing(stack: Stack) -> None:
    token = stack.token("admin")
    body = json.dumps({"phone": "13611112222", "consent": True}).encode()
    _, made, _ = stack.request("POST", "/api/capture", body, {"Content-Type": "application/json"})
    assert wait_status(stack, made["lead_id"], token)["status"] == "pool"
    _, before, _ = stack.request("GET", "/api/leads?limit=100", headers={"Authorization": f"Bearer {token}"})
    status, export, _ = stack.request("GET", "/api/exports/leads", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and export["url"].startswith(stack.base + "/"), export
    with urllib.request.urlopen(export["url"], timeout=10) as response:
        exported = response.read()
    assert stack.proc is not None
    started = descendants(stack.proc.pid)
    assert [pid for pid in started if is_moto_server(pid)], "moto's server runs in its own process"
    stack.stop(signal.SIGHUP)  # a closed terminal: the stack must stop as cleanly as on Ctrl-C
    assert "stopped." in stack.output
    assert not [pid for pid in started if running(pid)], "Ctrl-C left a process of the stack behind"
    stack.start()
    try:
        _, after, _ = stack.request("GET", "/api/leads?limit=100", headers={"Authorization": f"Bearer {token}"})
        assert [(i["lead_id"], i["status"]) for i in after["items"]] == \
               [(i["lead_id"], i["status"]) for i in before["items"]]
        with urllib.request.urlopen(export["url"], timeout=10) as response:  # the link outlives the restart
            assert response.read() == exported
        time.sleep(1.5)  # several pump cycles
        _, status, _ = stack.request("GET", "/_local/status")
        assert status["pump"]["stream_records"] == 0, "a stream record was processed again after restart"
        # and the stack still works after a restart: new leads get numbers not used before
        _, again, _ = stack.request("POST", "/api/capture", json.dumps({"phone": "13611113333", "consent": True})
                                    .encode(), {"Content-Type": "application/json"})
        assert again["lead_id"] not in {i["lead_id"] for i in before["items"]}
        assert wait_status(stack, again["lead_id"], token)["status"] == "pool"
    finally:
        pass


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
