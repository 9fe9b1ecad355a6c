"""Cold start to first answer, per Lambda function of the package.

For each function (the API's first capture and first lead read, the lead stream's first batch, an
import of a small file, the SLA sweep): a fresh interpreter runs `import app` and then the first
invocation of that function with a real-shaped event from events/ (made unique per run: a new lead,
a new object) against a moto server that this process started and seeded. The child's wall time
from before `import app` to the handler's return is the figure; interpreter start-up is in neither
side. Beside it, in the same run and alternating with it (baseline, the floors, then each function,
nine rounds), a fresh interpreter's `import boto3, pydantic`. Times: medians of 9; a ratio: the
median of each round's function / that round's baseline (the VM's speed drifts between rounds: a
baseline has measured 200-350 ms in one run); `_best`: the best run of each over the best baseline.
The floors (`FLOORS`) are the least any function of this stack can do for a first answer, so the
report shows how much of a ratio is the stack's and how much the product's.

The moto server answers in another process: its time is in the figure (as DynamoDB's would be),
and every child pays one botocore client of its own (as a Lambda container does).

Every child reads bytecode, as a container reads the package's (`infra/package.py` adds it to both
artefacts): the children write and read it under this run's own PYTHONPYCACHEPREFIX, filled by the
unmeasured round, whatever PYTHONDONTWRITEBYTECODE the caller has set (with it, the app's modules were
compiled in every measured child, and the dependencies' read from the venv's bytecode).
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
RUNS = 9

# What a Lambda container would have loaded by the end of the first answer, named when loaded
# (aws_lambda_powertools.metrics comes with the Logger: Powertools' package imports it).
HEAVY = ("phonenumbers", "phonenumbers.geocoder", "python_calamine", "openpyxl", "aws_xray_sdk", "boto3", "jwt",
         "pydantic_settings", "aws_lambda_powertools.metrics", "aws_lambda_powertools.utilities.batch",
         "aws_lambda_powertools.utilities.parser", "aws_lambda_powertools.utilities.data_classes",
         "chalicelib.spreadsheets", "chalicelib.metrics")

CHILD = r'''
import json, sys, time
started = time.perf_counter()
kind, event_path = sys.argv[1], sys.argv[2]
ok = True
if kind == "baseline":
    import boto3, pydantic
elif kind.startswith("floor"):
    import boto3, pydantic
    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    if kind == "floor_stack":
        import chalice
        class Submission(pydantic.BaseModel):
            name: str
            phone: str
            amount: float | None = None
        Submission.model_validate(event["lead"])
    boto3.client("dynamodb").put_item(TableName=event["table"], Item={"key": {"S": event["key"]}})
    detail = "floor"
else:
    class Context:
        function_name = kind
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loan-leads-local-" + kind
        aws_request_id = "bench-first-answer"
        @staticmethod
        def get_remaining_time_in_millis():
            return 30_000
    import app
    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    if kind.startswith("api"):
        response = app.app(event, Context())
        ok = response["statusCode"] in (200, 202)
        detail = response["statusCode"]
    else:
        detail = app.app.handler_map[kind](event, Context())
        ok = not (isinstance(detail, dict) and detail.get("batchItemFailures"))
elapsed = (time.perf_counter() - started) * 1000
heavy = [name for name in sys.argv[3].split(",") if name in sys.modules]
sessions = 0  # botocore sessions made (each parses botocore's endpoint data): counted after the clock stopped
if "botocore.session" in sys.modules:
    import gc
    Session = sys.modules["botocore.session"].Session
    sessions = sum(1 for thing in gc.get_objects() if isinstance(thing, Session))
print(json.dumps({"ms": elapsed, "ok": ok, "heavy": heavy, "sessions": sessions}))
'''

FUNCTIONS = ("api_capture", "api_lead_read", "lead_stream", "import_object", "sla_sweep")
# What the least Lambda function of this stack pays for a first answer, measured in the same rounds:
# `floor_put` a DynamoDB client made with boto3 and one PutItem; `floor_stack` that, plus importing
# chalice and validating one three-field pydantic model (what any API function here must do).
FLOORS = ("floor_put", "floor_stack")
TARGETS = {"api_capture": 1.5, "api_lead_read": 1.5, "lead_stream": 2.0}


class _Setup:
    """The moto server, seeded, and what each run's event needs (a lead to read, a new lead for the
    stream, a new object for the importer)."""

    def __init__(self, state: Path) -> None:
        from local.aws import LocalAws, free_port
        from local.env import configure

        self.saved_env = dict(os.environ)
        self.state = state
        self.aws = LocalAws(state)
        endpoint = self.aws.start()
        configure(endpoint, free_port(), state)
        from chalicelib.store import connection

        connection.reset()
        self.pending = self.aws.create_resources()
        from local.seed import seed_demo_org

        seed_demo_org("2024-05-20T00:00:00.000Z", state)
        # The children verify the tokens this run mints (a caller's own OIDC_JWKS, e.g. the tests', would refuse them).
        self.env = {**os.environ, "OIDC_JWKS": str(state / "oidc" / "jwks.json")}
        self.count = 0
        import boto3

        self.ddb = boto3.client("dynamodb")
        self.s3 = boto3.client("s3")
        self.lead_id = self._lead_to_read()

    def close(self) -> None:
        from chalicelib.store import connection

        self.aws.stop()
        connection.reset()
        os.environ.clear()
        os.environ.update(self.saved_env)

    def _lead_to_read(self) -> str:
        """One lead captured through the API's own handler in this process (not in a child) and worked
        out by the lead stream: routed to a rep, as most leads a rep opens are (its history shows the
        routing, rebuilt from the rule set's version that decided)."""
        import random
        import threading

        import app
        from bench.capture_cost import lead_body
        from bench.phones import valid_mobiles
        from chalicelib.store import leads
        from local.pump import TriggerPump

        event = json.loads((EVENTS / "apigw_capture_json.json").read_text(encoding="utf-8"))
        rng = random.Random(7)
        body = {**lead_body(valid_mobiles(rng, 1)[0], rng), "city": "上海", "province": "上海", "loan_type": "mortgage"}
        event["body"] = json.dumps(body, ensure_ascii=False)
        response = app.app(event, _Context())
        lead_id = str(json.loads(response["body"])["lead_id"])
        pump = TriggerPump(self.aws, app.app, threading.RLock(), self.pending)
        while pump.pump_streams():
            pass
        lead = leads.get(lead_id, consistent=True) or {}
        if lead.get("status") != "assigned":
            raise RuntimeError(f"the lead to read was not routed to a rep: {lead.get('status')}")
        return lead_id

    def event(self, kind: str, folder: Path) -> Path:
        """A fresh event file for one run of `kind`."""
        self.count += 1
        n = self.count
        if kind == "api_capture":
            event = _load("apigw_capture_json.json")
            body = json.loads(event["body"])
            body["phone"] = f"1391732{6000 + n:04d}"
            event["body"] = json.dumps(body, ensure_ascii=False)
            event["requestContext"]["requestId"] = f"bench-first-{n}"
        elif kind == "api_lead_read":
            event = _load("apigw_capture_json.json")
            from local.devsigner import mint

            token = mint("admin", "admin", self.state)
            path = f"/leads/{self.lead_id}"
            event.update({"resource": "/leads/{lead_id}", "path": path, "httpMethod": "GET", "body": None,
                          "pathParameters": {"lead_id": self.lead_id}, "isBase64Encoded": False})
            event["headers"] = {**event["headers"], "Authorization": f"Bearer {token}"}
            event["headers"].pop("Content-Type", None)
            event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
            event["requestContext"].update({"resourcePath": "/leads/{lead_id}", "httpMethod": "GET",
                                            "path": f"/api{path}"})
        elif kind == "lead_stream":
            event = _load("dynamodb_stream_insert.json")
            record = event["Records"][0]
            lead_id = f"L20240520{900 + n:03d}"
            image = record["dynamodb"]["NewImage"]
            image["lead_id"] = {"S": lead_id}
            image["phone"] = {"S": f"+861381620{4000 + n:04d}"}
            image["client_ip"] = {"S": f"203.0.113.{n}"}
            record["dynamodb"]["Keys"] = {"lead_id": {"S": lead_id}}
            record["eventID"] = f"bench-first-answer-{n}"
            from chalicelib.store.schema import LeadModel

            self.ddb.put_item(TableName=LeadModel.Meta.table_name, Item=image)
        elif kind == "import_object":
            event = _load("s3_object_created_eventbridge.json")
            key = f"imports/partners/demo_partner/bench-first-{n}.csv"
            body = f"客户姓名,联系方式,城市\n张三,1381620{5000 + n:04d},上海\n李四,1391732{7000 + n:04d},广州\n"
            etag = self.s3.put_object(Bucket=self.env["IMPORT_BUCKET"], Key=key,
                                      Body=body.encode("utf-8"))["ETag"].strip('"')
            event["id"] = f"bench-first-{n}"
            event["detail"]["object"].update({"key": key, "etag": etag, "size": len(body.encode("utf-8"))})
        elif kind in FLOORS:
            from chalicelib.store.schema import IdempotencyModel

            event = {"table": IdempotencyModel.Meta.table_name, "key": f"bench-floor-{n}",
                     "lead": {"name": "张三", "phone": f"1391732{8000 + n:04d}", "amount": 50}}
        else:
            event = _load("schedule.json")
            event["id"] = f"bench-first-{n}"
        target = folder / f"{kind}-{n}.json"
        target.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
        return target


class _Context:
    function_name = "api_handler"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loan-leads-local-api_handler"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return copy.deepcopy(event)


def _child(kind: str, event_path: Path, env: dict[str, str], pycache: Path) -> dict[str, Any]:
    env = {**env, "POWERTOOLS_LOG_LEVEL": "WARNING", "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = subprocess.run([sys.executable, "-c", CHILD, kind, str(event_path), ",".join(HEAVY)], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=True)
    line = result.stdout.strip().splitlines()[-1]
    answer: dict[str, Any] = json.loads(line)
    if not answer["ok"]:
        raise RuntimeError(f"first answer of {kind} failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
    return answer


def measure(runs: int = RUNS, functions: tuple[str, ...] = FUNCTIONS,
            floors: tuple[str, ...] = FLOORS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-first-") as folder:
        setup = _Setup(Path(folder) / "state")
        try:
            kinds = ("baseline", *floors, *functions)
            times: dict[str, list[float]] = {kind: [] for kind in kinds}
            heavy: dict[str, list[str]] = {}
            sessions: dict[str, int] = {}
            pycache = Path(folder) / "pycache"
            for kind in kinds:  # one unmeasured round: .pyc files, page cache
                answer = _child(kind, setup.event(kind, Path(folder)), setup.env, pycache)
                heavy[kind], sessions[kind] = answer["heavy"], answer["sessions"]
            for _ in range(runs):  # alternating: the machine's load reaches every side alike
                for kind in kinds:
                    answer = _child(kind, setup.event(kind, Path(folder)), setup.env, pycache)
                    times[kind].append(answer["ms"])
                    heavy[kind], sessions[kind] = answer["heavy"], answer["sessions"]
        finally:
            setup.close()
    return {"times": times, "heavy": heavy, "sessions": sessions}


def run(verbose: bool = True, runs: int = RUNS, functions: tuple[str, ...] = FUNCTIONS) -> dict[str, float]:
    raw = measure(runs, functions)
    medians = {kind: statistics.median(values) for kind, values in raw["times"].items()}
    rounds = raw["times"]["baseline"]
    ratios = {kind: statistics.median(t / b for t, b in zip(values, rounds, strict=True))
              for kind, values in raw["times"].items()}
    figures: dict[str, float] = {"first_answer_boto3_pydantic_ms": medians["baseline"]}
    best = {kind: min(values) for kind, values in raw["times"].items()}  # noise only adds: best of the rounds
    for kind in (*FLOORS, *functions):
        figures[f"first_answer_{kind}_ms"] = medians[kind]
        figures[f"first_answer_ratio_{kind}"] = ratios[kind]
        figures[f"first_answer_ratio_{kind}_best"] = best[kind] / best["baseline"]
    if verbose:
        print(f"first answer: a fresh interpreter's `import app` + the function's first invocation (events/, "
              f"against moto), median of {runs}, alternating with `import boto3, pydantic`; ratio: median of the "
              "rounds' ratios")
        print(f"  {'function':<16}{'median ms':>10}{'ratio':>8}{'best':>6}{'target':>8}  runs (ms); botocore sessions; "
              "heavy modules loaded")
        for kind in ("baseline", *FLOORS, *functions):
            ratio = ratios[kind]
            target = f"{TARGETS[kind]:g}" if kind in TARGETS else "-"
            runs_ms = " ".join(f"{v:.0f}" for v in raw["times"][kind])
            best_ratio = best[kind] / best["baseline"]
            print(f"  {kind:<16}{medians[kind]:>10.0f}{ratio:>8.2f}{best_ratio:>6.2f}{target:>8}  {runs_ms}; "
                  f"{raw['sessions'].get(kind, 0)}; {', '.join(raw['heavy'].get(kind, [])) or '-'}")
    return figures


if __name__ == "__main__":
    run()
