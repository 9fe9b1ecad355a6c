"""The walk of one lead from capture to assignment: which project files the code passes through.

An embedded moto server (a temporary state dir), the demo org seeded, one lead posted to
POST /capture (上海 房抵贷: rule 1 assigns it to 上海房贷组), then the lead stream's first delivery
(the INSERT: clean, dedup, route, place). `sys.setprofile` follows every Python call and return;
only frames of the project's own files (app.py, chalicelib/) count. The walk is the sequence of
files the code is in, consecutive repeats collapsed:
- files: distinct files on the walk;
- hops: changes of file (len(walk) - 1);
- back up: hops that return to a file already on the call stack (a callee handing back);
- per file: how many times the walk enters it;
- stops: calls made by the lead stream's own flow modules (the stream handler and the module that
  runs the stream's stages: services/intake.py before the pipeline, services/pipeline.py after)
  into other project files, and into how many files: how far the flow reaches out;
- the same walk without plumbing (error translation, time formatting, Decimal conversion, logging,
  metrics, the schema's model hooks, the record types), which every path crosses.

Not a test and not a timing: it prints the figures, to compare before and after a restructuring.
`python -m bench.lead_walk` (not in `make bench`: it measures shape, not cost).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_PROJECT = (str(ROOT / "chalicelib") + os.sep, str(ROOT / "app.py"))


FLOW = frozenset({"chalicelib/handlers/streams.py", "chalicelib/services/intake.py", "chalicelib/services/pipeline.py"})
PLUMBING = frozenset({"chalicelib/store/aws_errors.py", "chalicelib/domain/timeutil.py", "chalicelib/plain.py",
                      "chalicelib/observability.py", "chalicelib/metrics.py", "chalicelib/domain/records.py",
                      "chalicelib/store/connection.py", "chalicelib/store/schema.py"})


class Walk:
    """The project files one segment of work passes through."""

    def __init__(self, skip: frozenset[str] = frozenset()) -> None:
        self.files: list[str] = []  # collapsed walk
        self.back_up = 0
        self.stops: Counter[str] = Counter()  # calls from the flow modules, by the file called
        self._skip = skip
        self._stack: list[str] = []  # project files of the frames on the call stack

    def _at(self, name: str, returning: bool) -> None:
        if not self.files or self.files[-1] != name:
            if returning and self.files:
                self.back_up += 1
            self.files.append(name)

    def event(self, frame: FrameType, what: str) -> None:
        if what not in ("call", "return"):
            return
        path = frame.f_code.co_filename
        if not path.startswith(_PROJECT):
            return
        name = os.path.relpath(path, ROOT)
        if name in self._skip:
            return
        if what == "call":
            if self._stack and self._stack[-1] in FLOW and name != self._stack[-1] and name not in FLOW:
                self.stops[name] += 1
            self._stack.append(name)
            self._at(name, returning=False)
        else:
            if self._stack:
                self._stack.pop()
            if self._stack:
                self._at(self._stack[-1], returning=True)

    def figures(self) -> dict[str, Any]:
        return {"files": len(set(self.files)), "hops": max(len(self.files) - 1, 0), "back_up": self.back_up,
                "entries": Counter(self.files), "stops": sum(self.stops.values()), "stop_files": len(self.stops)}


class Walks:
    """One segment walked twice at once: every project file, and without the plumbing."""

    def __init__(self) -> None:
        self.raw, self.core = Walk(), Walk(PLUMBING)

    def event(self, frame: FrameType, what: str) -> None:
        self.raw.event(frame, what)
        self.core.event(frame, what)


def measure() -> dict[str, Walks]:
    from local.aws import LocalAws, free_port
    from local.env import configure

    saved_env = dict(os.environ)
    state = tempfile.TemporaryDirectory(prefix="bench-walk-")
    aws = LocalAws(Path(state.name))
    walks: dict[str, Walks] = {}
    current: list[Walks | None] = [None]

    def profile(frame: FrameType, what: str, _arg: Any) -> None:
        walk = current[0]
        if walk is not None:
            walk.event(frame, what)

    try:
        endpoint = aws.start()
        configure(endpoint, free_port(), Path(state.name))
        from chalicelib.store import connection

        connection.reset()
        pending = aws.create_resources()
        from chalice.config import Config

        import app as app_module
        from chalicelib.observability import logger
        from chalicelib.store import config
        from local.gateway import StageGateway
        from local.pump import TriggerPump
        from local.seed import seed_demo_org

        logger.setLevel("WARNING")
        config.clear_cache()
        seed_demo_org(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), Path(state.name))
        pump = TriggerPump(aws, app_module.app, threading.RLock(), pending)
        pump.skip_existing()
        gateway = StageGateway(app_module.app, Config.create(chalice_app=app_module.app, lambda_timeout=60,
                                                             lambda_memory_size=512, function_name="api_handler"))
        # Warm: one lead captured and streamed first, so caches and lazy imports are not on the walk.
        _capture(gateway, "13916204571")
        while pump.pump_streams():
            pass
        table, (handler, reader, size) = next((t, h) for t, h in pump.stream_handlers.items() if "lead" in t.lower()
                                              and "event" not in t.lower())
        deliveries: list[str] = []

        def traced(event: Any, context: Any) -> Any:
            label = f"stream delivery {len(deliveries) + 1}"
            deliveries.append(label)
            walks[label] = current[0] = Walks()
            try:
                return handler(event, context)
            finally:
                current[0] = None

        pump.stream_handlers[table] = (traced, reader, size)
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            walks["capture request"] = current[0] = Walks()
            lead_id = _capture(gateway, "13916204572")
            current[0] = None
            pump.pump_streams()  # one round: the INSERT is the lead table's first delivery
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
        from chalicelib.store import leads

        lead = leads.get(lead_id, consistent=True) or {}
        if (lead.get("status"), lead.get("team")) != ("assigned", "sh_mortgage"):
            raise RuntimeError(f"the lead was not assigned by rule 1: {lead.get('status')} {lead.get('team')}")
        return walks
    finally:
        aws.stop()
        from chalicelib.store import connection

        connection.reset()
        os.environ.clear()
        os.environ.update(saved_env)
        state.cleanup()


def _capture(gateway: Any, phone: str) -> str:
    import json

    body = {"name": "王先生", "phone": phone, "city": "上海", "loan_type": "mortgage", "amount": 200,
            "consent": True, "source": "website_form"}
    response = gateway.handle_request("POST", "/capture", {"Content-Type": "application/json"},
                                      json.dumps(body, ensure_ascii=False).encode("utf-8"))
    if int(response["statusCode"]) != 202:
        raise RuntimeError(f"capture refused: {response}")
    return str(json.loads(response["body"])["lead_id"])


def run(verbose: bool = True) -> dict[str, float]:
    walks = measure()
    figures: dict[str, float] = {}
    for label, both in walks.items():
        for kind, walk in (("all", both.raw), ("core", both.core)):
            found = walk.figures()
            key = f"{label.replace(' ', '_')}_{kind}"
            for figure in ("files", "hops", "back_up", "stops", "stop_files"):
                figures[f"walk_{key}_{figure}"] = found[figure]
            if verbose:
                print(f"  {label} ({'every project file' if kind == 'all' else 'without plumbing'}): "
                      f"{found['files']} files, {found['hops']} hops, {found['back_up']} back up; "
                      f"the flow modules make {found['stops']} stops in {found['stop_files']} files")
                if kind == "core":
                    print("    stops by file: " + ", ".join(f"{n} {c}" for n, c in walk.stops.most_common()))
                    for name, count in found["entries"].most_common():
                        print(f"    {count:4d}  {name}")
    return figures


if __name__ == "__main__":
    run()
