"""`python -m local run | token USER | tick AT`: the local conventions of SPEC.md."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from local.env import STATE_DIR, configure


def lock_state_dir() -> int | None:
    """One stack per .local/: a second one would replay and journal the same files beside it. The
    lock is the kernel's (flock), so a crashed stack never leaves it behind."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(STATE_DIR / "stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = (STATE_DIR / "stack.lock").read_text(encoding="utf-8").strip() or "?"
        print(f"另一个本地服务正在使用 {STATE_DIR}（进程 {holder}），请先停止它，"
              "或用 LOCAL_STATE_DIR=... 指定另一个数据目录。\n"
              f"Another local stack (pid {holder}) is using {STATE_DIR}: stop it first, or set LOCAL_STATE_DIR.",
              file=sys.stderr)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def run() -> int:
    port = int(os.environ.get("PORT", "8000"))
    if lock_state_dir() is None:
        return 1
    # Every stop signal asks for the same orderly stop, from the first moment: a SIGTERM during
    # the start must not kill the stack half-way (the embedded AWS ignores them all).
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopped.set())
    configure(None, port)
    from local.aws import LocalAws
    from local.devsigner import ensure_key

    ensure_key()
    aws = LocalAws(STATE_DIR)
    configure(aws.start(), port)
    # S3 is reached through the stack's own port (the gateway forwards the bucket's paths to the
    # embedded AWS): presigned links then name a port that outlives the embedded AWS's random one.
    os.environ["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{port}"

    import app as app_module
    from chalicelib.domain.timeutil import iso_utc
    from local.gateway import Server
    from local.pump import TriggerPump
    from local.seed import partner_key_file, seed_demo_org

    pending = aws.create_resources()
    first_start = not aws.restored
    lock = threading.RLock()
    pump = TriggerPump(aws, app_module.app, lock, pending)
    if first_start:
        seed_demo_org(iso_utc(datetime.now(UTC)))
        pump.skip_existing()
    _drop_retired_indexes(aws)
    _upgrade_clocks(aws)
    _upgrade_held()
    _upgrade_counters(pump)
    try:
        server = Server(app_module.app, pump, lock, port, aws_endpoint=aws.endpoint)
    except OSError as exc:
        print(f"无法监听 127.0.0.1:{port}：{exc}（可用 PORT=... 换一个端口）", file=sys.stderr)
        aws.stop()
        return 1
    server.start()  # before the pump: imports read their files through it
    pump.start()
    key = partner_key_file().read_text(encoding="utf-8").strip()
    print(f"""
贷款线索管理 — local stack is up{' (demo org seeded)' if first_start else ''}
  SPA          http://127.0.0.1:{port}/
  API          http://127.0.0.1:{port}/api   (health: /api/health, OpenAPI: /api/openapi.json)
  forms        http://127.0.0.1:{port}/f/demo (官网表单)   http://127.0.0.1:{port}/f/calc (贷款计算器)
               QR: /f/demo/qr.svg?utm_campaign=...&c=ev   (docs/forms.md)
  AWS (moto)   {aws.endpoint}
  data         {STATE_DIR}
  partner key  demo_partner: {key}
  token        make token USER=admin     tick: make tick AT=2024-05-20T10:00:00+08:00
Ctrl-C stops everything.
""", flush=True)
    # Wait with a timeout: a signal delivered to another thread does not wake a blocked wait().
    while not stopped.wait(0.5):
        pass
    print("stopping: finishing pending triggers ...", flush=True)
    server.stop()
    pump.stop()
    aws.stop()
    print("stopped.", flush=True)
    return 0


def token(username: str) -> int:
    from local.devsigner import mint
    from local.seed import USERS

    if username not in USERS:
        print(f"未知的演示用户：{username}；可用：{', '.join(USERS)}", file=sys.stderr)
        return 2
    print(mint(username, USERS[username][1]))
    return 0


def tick(at: str) -> int:
    port = int(os.environ.get("PORT", "8000"))
    url = f"http://127.0.0.1:{port}/_local/tick?at={urllib.parse.quote(at)}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=60) as resp:
            print(json.dumps(json.loads(resp.read()), ensure_ascii=False, indent=2))
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8"), file=sys.stderr)
    except urllib.error.URLError as exc:
        print(f"本地服务未运行（先执行 make run）：{exc.reason}", file=sys.stderr)
    return 1


def aggregates(fix: bool) -> int:
    """Recompute the dashboard counters from the leads of the running stack and print the
    differences (exit 1 when there are any and they were not fixed)."""
    port = int(os.environ.get("PORT", "8000"))
    url = f"http://127.0.0.1:{port}/_local/aggregates?fix={int(fix)}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=600) as resp:
            report = json.loads(resp.read())
    except urllib.error.URLError as exc:
        print(f"本地服务未运行（先执行 make run）：{exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if not report["differences"] or report["fixed"] else 1


def _drop_retired_indexes(aws: Any) -> None:
    """Indexes of the leads table with nothing to move, dropped from a state that still has them
    (`RETIRED_INDEXES`; the deploy drops them by its index steps)."""
    from chalicelib.store.schema import LeadModel
    from chalicelib.store.schema.leads import RETIRED_INDEXES

    table = LeadModel.Meta.table_name
    for index in sorted(aws.indexes(table) & RETIRED_INDEXES):
        aws.drop_index(table, index)


def _upgrade_clocks(aws: Any) -> None:
    """Leads of a state from before the sweep's one index (`by_clock_keys`) keyed in it, then the two
    indexes it replaced dropped: once, before the first request (`infra.ops clocks` on AWS). Killed
    half-way, the next start does it again: the old indexes go last."""
    from chalicelib.store import leads
    from chalicelib.store.schema import LeadModel
    from chalicelib.store.schema.leads import RETIRED_SWEEP_INDEXES

    table = LeadModel.Meta.table_name
    old = aws.indexes(table) & RETIRED_SWEEP_INDEXES
    if not old:
        return
    moved = leads.migrate_clocks()
    for index in sorted(old):
        aws.drop_index(table, index)
    print(f"跟进时钟已迁移到统一的到期索引：{moved} 条线索", flush=True)


def _upgrade_held() -> None:
    """The reps' held counts of a state from before closed leads left them, recounted once, before
    the first request (`infra.ops loads` on AWS)."""
    from chalicelib.store import ownership
    from chalicelib.store.schema import UserModel

    def users() -> Iterator[str]:  # scanned only when the store was not recounted yet
        yield from (user.user_id for user in UserModel.scan(attributes_to_get=["user_id"]))

    changed = ownership.recount_held(users())
    if changed:
        print(f"销售持有线索数已按在跟进线索重新计算：{changed} 人", flush=True)


def _upgrade_counters(pump: Any) -> None:
    """Dashboard counters kept by an older layout (state from before an upgrade) are rebuilt from the
    leads once, before the first request, as `make aggregates FIX=1` would: the stream drained first."""
    from chalicelib.services import aggregates

    if aggregates.current():
        return
    pump.drain()
    report = aggregates.verify(fix=True)
    print(f"看板统计已按当前结构核对：{report['leads']} 条线索{'，已重建' if report['fixed'] else '，无需更新'}",
          flush=True)


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "run":
        return run()
    if len(argv) == 2 and argv[0] == "token":
        return token(argv[1])
    if len(argv) == 2 and argv[0] == "tick":
        return tick(argv[1])
    if argv and argv[0] == "rebuild-aggregates":
        return aggregates(fix="--fix" in argv[1:])
    print("usage: python -m local run | token USER | tick AT | rebuild-aggregates [--fix]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    import urllib.parse

    sys.exit(main(sys.argv[1:]))
