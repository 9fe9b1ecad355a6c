"""Lead-stream throughput (cleaning + de-duplication) and what cleaning costs at import.

1. In-process moto (`mock_aws`, made atomic per request like the local stack), the demo org seeded,
   N leads captured through the capture service (public channel, one client IP each) with a
   realistic mix: ~70% distinct valid mobiles, ~20% earlier phones again in another spelling
   (spaces, +86, 0086-, full-width digits) from another source, ~10% test data (test numbers,
   8 repeated or sequential digits, test names). Then the lead stream is read in batches of 100
   and handed to the real `lead_stream` handler; only the handler invocations are timed.
   Also timed: `clean_lead` alone over the same images, geocoder data loaded (no I/O).
2. Import cost (`-X importtime`, fresh interpreters, as bench.cold_start) of the cleaning code,
   of the stream's intake service and of the phonenumbers geocoder data, and a check that
   `import app` leaves the geocoder out (the capture function's cold start never pays for it).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cold_start import ROOT, RUNS, median_ms, startup_modules
from bench.moto_rollback import item_level_rollback
from bench.phones import spellings, valid_mobiles

N = 1000
BATCH = 100
CLEANING_PASSES = 5
SEED = 20240521
REPEAT_SHARE, JUNK_SHARE = 0.2, 0.1

CLEANING_IMPORT = "import chalicelib.domain.cleaning"
INTAKE_IMPORT = "import chalicelib.services.pipeline"
GEOCODER_IMPORT = "from phonenumbers import geocoder"
APP_CHECK = "import app, sys; print('phonenumbers.geocoder' in sys.modules)"

_SOURCES = ("website_form", "online_chat", "loan_calculator", "wechat", "douyin", "zhihu", "offline_event")
_CITIES = ("上海", "上海市", "沪", "广州", "深圳市", "杭州", "成都", "北京", "南京", "武汉")
_LOAN_TYPES = ("mortgage", "credit", "business", "car")
_SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
_JUNK_KINDS = ("test_phone", "repeated_digits", "sequential_digits", "test_name")


@dataclass(frozen=True)
class Submission:
    kind: str  # new | repeat | junk
    body: dict[str, Any]
    client_ip: str


def _ip(rng: random.Random) -> str:
    first = rng.choice([36, 58, 61, 101, 112, 117, 120, 183, 202, 222])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _person(rng: random.Random, phone: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2))),
        "phone": phone,
        "loan_type": rng.choice(_LOAN_TYPES),
        "amount": rng.choice([20, 30, 50, 80, 120, 200, 300]),
        "source": rng.choice(_SOURCES),
        "consent": True,
        "utm_source": rng.choice(["baidu", "wechat", "douyin", "zhihu"]),
        "page_url": "https://www.example-lender.cn/loan/apply?from=bench",
    }
    if rng.random() < 0.6:  # the others are placed by their number's home location (the geocoder)
        body["city"] = rng.choice(_CITIES)
    return body


def _junk_phone(kind: str, rng: random.Random, fresh: str) -> str:
    prefix = rng.choice(["135", "136", "137", "139", "150", "186", "187", "189"])
    if kind == "test_phone":
        return rng.choice(["13800138000", "13900139000", "13800000000", "18888888888"])
    if kind == "repeated_digits":
        return prefix + str(rng.randrange(10)) * 8
    if kind == "sequential_digits":
        return prefix + rng.choice(["12345678", "23456789", "87654321", "98765432"])
    return fresh  # test_name: a good number, a test name


def submissions(n: int, seed: int = SEED) -> list[Submission]:
    """The mix, in capture order: every repeat comes after the lead it repeats."""
    from chalicelib.rules.cleaning import default_cleaning_rules

    rng = random.Random(seed)
    junk, repeats = round(n * JUNK_SHARE), round(n * REPEAT_SHARE)
    kinds = ["new"] * (n - junk - repeats) + ["repeat"] * repeats + ["junk"] * junk
    rng.shuffle(kinds)
    first_new = kinds.index("new")
    kinds[0], kinds[first_new] = kinds[first_new], kinds[0]
    fresh = iter(valid_mobiles(rng, kinds.count("new") + junk))
    test_names = default_cleaning_rules().test_names
    out: list[Submission] = []
    earlier: list[dict[str, Any]] = []
    junk_seen = 0
    for kind in kinds:
        if kind == "new":
            body = _person(rng, next(fresh))
            earlier.append(body)
        elif kind == "repeat":
            before = rng.choice(earlier)
            body = _person(rng, rng.choice(spellings(before["phone"])))
            body["name"] = before["name"] if rng.random() < 0.7 else body["name"]
            body["source"] = rng.choice([s for s in _SOURCES if s != before["source"]])
        else:
            junk_kind = _JUNK_KINDS[junk_seen % len(_JUNK_KINDS)]
            junk_seen += 1
            body = _person(rng, _junk_phone(junk_kind, rng, next(fresh)))
            if junk_kind == "test_name":
                body["name"] = rng.choice(test_names)
        out.append(Submission(kind, body, _ip(rng)))
    return out


def _fresh_caches() -> None:
    from chalicelib.geo import home_of
    from chalicelib.services import capture
    from chalicelib.store import config, connection, rates

    connection.reset()
    config.clear_cache()
    rates.clear_cache()
    capture._allocator.cache_clear()
    home_of.cache_clear()


class _Requests:
    """AWS requests by operation, counted while `counting` (botocore's client, as tests/test_dedup.py)."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.counting = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call

        def make_api_call(client: Any, operation: str, params: Any) -> Any:
            if self.counting:
                self.by_operation[operation] += 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = make_api_call
        try:
            yield
        finally:
            botocore.client.BaseClient._make_api_call = original


def measure(n: int, item_level: bool = True) -> dict[str, Any]:
    """Capture, then time the stream handler. Leaves the process as it found it: environment,
    cached connections and config, the app's log level, moto.

    item_level=False keeps moto's own transaction backup (a deep copy of every table a transaction
    names, so quadratic in n); by default it is item level (bench.moto_rollback), same results."""
    import moto

    from local.atomic import make_dynamodb_atomic
    from local.env import configure

    saved_env = dict(os.environ)
    state = tempfile.TemporaryDirectory(prefix="bench-dedup-")
    quiet: Any = None
    quiet_level = 0
    try:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        configure(None, 8000, Path(state.name))  # as tests/conftest.py; the port only names CORS origins
        make_dynamodb_atomic()
        mix = submissions(n)
        with moto.mock_aws(), item_level_rollback() if item_level else nullcontext():
            import boto3
            from boto3.dynamodb.types import TypeDeserializer
            from chalice.test import Client

            import app as app_module
            from chalicelib.domain.cleaning import clean_lead
            from chalicelib.errors import DomainError
            from chalicelib.geo import home_of
            from chalicelib.observability import logger
            from chalicelib.plain import plain
            from chalicelib.services.capture import CaptureContext, capture
            from chalicelib.store import config
            from chalicelib.store.schema import LeadModel, table_definitions
            from local.seed import seed_demo_org
            from local.streams import StreamReader, lambda_event

            ddb = boto3.client("dynamodb")
            for definition in table_definitions():
                ddb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLiveAttribute"})
            boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS"])  # the stream publishes to it
            _fresh_caches()
            quiet, quiet_level = logger, logger.log_level
            logger.setLevel("WARNING")  # one INFO line per lead would bury the figures
            seed_demo_org(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), Path(state.name))
            # The stream still counts every lead against the capture guard (its cost is measured), which
            # must never refuse one.
            from chalicelib.rules.capture_guard import default_capture_guard

            never_refuse = {"ip_max": 1000, "phone_max": 1000}
            guard = default_capture_guard().model_copy(update=never_refuse).model_dump(mode="json")
            config.publish("capture_guard", guard, "bench", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))

            capture_started = time.perf_counter()
            for sub in mix:
                try:
                    capture(sub.body, CaptureContext("public", datetime.now(UTC), client_ip=sub.client_ip))
                except DomainError as exc:
                    raise RuntimeError(f"capture refused a benchmark lead {sub.kind}: {exc.to_body()}") from exc
            capture_s = time.perf_counter() - capture_started

            arn = ddb.describe_table(TableName=LeadModel.Meta.table_name)["Table"]["LatestStreamArn"]
            reader = StreamReader(boto3.client("dynamodbstreams"), arn)
            images: list[dict[str, Any]] = []
            batch_s: list[float] = []
            deserialize = TypeDeserializer().deserialize
            requests = _Requests()
            with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as client, requests.installed():
                while len(images) < n:
                    records = reader.read(limit=min(BATCH, n - len(images)))
                    if not records:
                        break
                    reader.advance(records[-1])
                    if any(r["eventName"] != "INSERT" for r in records):
                        raise RuntimeError("expected only the captured leads' INSERT records on the stream")
                    images += [plain({k: deserialize(v) for k, v in r["dynamodb"]["NewImage"].items()})
                               for r in records]
                    event = lambda_event(records, arn)
                    requests.counting, started = True, time.perf_counter()
                    payload = client.lambda_.invoke("lead_stream", event).payload
                    batch_s.append(time.perf_counter() - started)
                    requests.counting = False
                    if payload != {"batchItemFailures": []}:
                        raise RuntimeError(f"lead_stream reported failures: {payload}")
            if len(images) != n:
                raise RuntimeError(f"read {len(images)} of {n} records from the lead stream")
            statuses: Counter[str] = Counter()
            for page in ddb.get_paginator("scan").paginate(TableName=LeadModel.Meta.table_name):
                statuses.update(item["status"]["S"] for item in page["Items"])

            # Pure domain: clean_lead alone, rules and profile in hand, geocoder data loaded.
            rules, profile = config.cleaning_rules(), config.lead_profile()
            for image in images:  # warm: every module and number-prefix table the lookups touch
                clean_lead(image, rules, profile, home_of)
            passes = []
            for _ in range(CLEANING_PASSES):
                home_of.cache_clear()  # each number looked up again, as a fresh number would be
                started = time.perf_counter()
                for image in images:
                    clean_lead(image, rules, profile, home_of)
                passes.append(time.perf_counter() - started)
        return {"mix": Counter(sub.kind for sub in mix), "statuses": statuses, "handler_s": sum(batch_s),
                "batch_s": batch_s, "requests": requests.by_operation, "capture_s": capture_s,
                "cleaning_s": statistics.median(passes)}
    finally:
        if quiet is not None:
            quiet.setLevel(quiet_level)
        _fresh_caches()
        os.environ.clear()
        os.environ.update(saved_env)
        state.cleanup()


def app_imports_geocoder() -> bool:
    result = subprocess.run([sys.executable, "-c", APP_CHECK], cwd=ROOT, capture_output=True, text=True, check=True)
    answer = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if answer not in ("True", "False"):
        raise RuntimeError(f"unexpected output of {APP_CHECK!r}: {result.stdout!r}")
    return answer == "True"


def run(n: int = N, import_runs: int = RUNS, verbose: bool = True) -> dict[str, float]:
    raw = measure(n)
    statuses: Counter[str] = raw["statuses"]
    mix: Counter[str] = raw["mix"]
    placed = sum(v for k, v in statuses.items() if k not in ("duplicate", "invalid", "new"))
    startup = startup_modules()
    cleaning_ms, _ = median_ms(CLEANING_IMPORT, startup, import_runs)
    intake_ms, _ = median_ms(INTAKE_IMPORT, startup, import_runs)
    geocoder_ms, geocoder_runs = median_ms(GEOCODER_IMPORT, startup, import_runs)
    geocoder_alone = statistics.median(
        sum(line.cumulative_us for line in lines if line.depth == 0 and line.name == "phonenumbers.geocoder")
        for lines in geocoder_runs) / 1000
    leaks = app_imports_geocoder()
    figures = {
        "dedup_leads_per_s": n / raw["handler_s"],
        "dedup_outcome_pool": float(statuses.get("pool", 0)),
        "dedup_outcome_duplicate": float(statuses.get("duplicate", 0)),
        "dedup_outcome_invalid": float(statuses.get("invalid", 0)),
        "dedup_outcome_assigned": float(statuses.get("assigned", 0)),  # placed by routing, not left in the pool
        "cleaning_leads_per_s": n / raw["cleaning_s"],
        "cleaning_import_ms": cleaning_ms,
        "intake_import_ms": intake_ms,
        "geocoder_import_ms": geocoder_ms,
        "app_imports_geocoder": float(leaks),
    }
    checks = {  # the mix came out as designed (batch item failures already raised in measure)
        "distinct_placed": placed == mix["new"] and statuses.get("new", 0) == 0,
        "repeats_merged": statuses.get("duplicate", 0) == mix["repeat"],
        "junk_invalid": statuses.get("invalid", 0) == mix["junk"],
    }
    if verbose:
        print(f"dedup throughput: {n} leads captured through the capture service (public channel): "
              f"{mix['new']} distinct valid mobiles, {mix['repeat']} repeats of earlier phones in other spellings "
              f"from other sources, {mix['junk']} test data; capture took {raw['capture_s']:.1f} s (not measured)")
        batch_s: list[float] = raw["batch_s"]
        print(f"  lead stream: {len(batch_s)} batches of up to {BATCH} records to the lead_stream handler, "
              f"{raw['handler_s']:.2f} s in the handler => {figures['dedup_leads_per_s']:.1f} leads/s "
              "(cleaning + dedup + transactions against moto)")
        print(f"  per batch: first {batch_s[0]:.2f} s (with the container's one-off config reads and imports), "
              f"then {min(batch_s[1:], default=0):.2f}-{max(batch_s[1:], default=0):.2f} s. moto's transaction "
              "backup made item level (bench/moto_rollback.py): its own deep-copies whole tables, O(N²) in all")
        requests: Counter[str] = raw["requests"]
        print(f"  AWS requests per lead in the handler: {sum(requests.values()) / n:.2f} "
              f"({', '.join(f'{op} {count / n:.2f}' for op, count in requests.most_common())})")
        print(f"  outcomes: {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))} "
              f"(expected {mix['new']} placed, {mix['repeat']} duplicate, {mix['junk']} invalid)")
        print("  CAVEAT: moto in-process is far slower than DynamoDB at executing a request (botocore serialises it, "
              "moto parses and evaluates it in Python, in this process), so this figure is a floor for the code "
              "path, not a production throughput; in Lambda the requests above are network round trips instead")
        print(f"  clean_lead alone over the same {n} images, geocoder loaded (no I/O), median of "
              f"{CLEANING_PASSES} passes: {raw['cleaning_s'] * 1000:.1f} ms => "
              f"{figures['cleaning_leads_per_s']:.0f} leads/s")
        print(f"  import cost (-X importtime, median of {import_runs} fresh interpreters):")
        for statement, ms in ((CLEANING_IMPORT, cleaning_ms), (INTAKE_IMPORT, intake_ms),
                              (GEOCODER_IMPORT, geocoder_ms)):
            print(f"    {statement!r:<40}{ms:>8.1f} ms")
        print(f"      of which phonenumbers.geocoder and its data: {geocoder_alone:.1f} ms "
              "(paid by the stream function on its first lead without a known city)")
        print(f"  'import app' imports phonenumbers.geocoder: {leaks}"
              + ("  <- REGRESSION: every capture cold start now pays for the geocoder data" if leaks else ""))
        print(f"  checks: {', '.join(f'{k}={v}' for k, v in checks.items())}")
    if not all(checks.values()):
        raise RuntimeError(f"dedup benchmark did not run as designed: {checks} {dict(statuses)} {dict(mix)}")
    return figures
