"""Test wiring: the local stage's environment, moto in-process, tables from the one schema.

Speed (the whole suite runs on 2 shared cores): every test's AWS is a fresh `moto.mock_aws()`, but
its contents (the tables, bus and bucket; with `demo_org`, the seeded demo org) are deep copies of
moto's backends built once per session, not rebuilt request by request; tests/fast_moto.py removes
costs of botocore and moto that say nothing about our code (local/fast_moto.py more)."""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Each pytest-xdist worker (`make test` runs one per core) keeps its own signing key and demo partner key.
TEST_STATE = ROOT / ".local" / ("test-oidc-" + os.environ["PYTEST_XDIST_WORKER"]
                               if "PYTEST_XDIST_WORKER" in os.environ else "test-oidc")
os.environ["LOCAL_STATE_DIR"] = str(TEST_STATE)
os.environ["OIDC_JWKS"] = str(TEST_STATE / "oidc" / "jwks.json")  # not the xdist controller's, inherited
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["CORS_ORIGINS"] = "https://www.example-lender.cn"
os.environ["REDIRECT_ORIGINS"] = "https://www.example-lender.cn"

import moto  # noqa: E402  (moto before any pynamodb connection exists)

from local.atomic import make_dynamodb_atomic  # noqa: E402
from local.env import configure  # noqa: E402

make_dynamodb_atomic()  # DynamoDB's per-request atomicity, which moto lacks under threads

from local.fast_moto import counter_adds, plain_json_answers, quick_query  # noqa: E402
from tests.fast_moto import cached_action_names, share_botocore_loader  # noqa: E402

share_botocore_loader()
quick_query()
cached_action_names()
plain_json_answers()
counter_adds()

configure(None, 8000, TEST_STATE)

from local.devsigner import ensure_key  # noqa: E402

ensure_key(TEST_STATE)


def create_resources() -> None:
    """Inside moto.mock_aws(): every table of the schema, the event bus, the import bucket."""
    import boto3

    from chalicelib.store.schema import table_definitions

    ddb = boto3.client("dynamodb")
    for definition in table_definitions():
        ddb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLiveAttribute"})
    boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS"])
    boto3.client("s3").create_bucket(Bucket=os.environ["IMPORT_BUCKET"])
    fresh_caches()


# moto keeps each service's state in a BackendDict (account -> region -> backend object); the ones in use
# are listed in BackendDict._instances, and mock_aws() resets them all on entry and exit. A snapshot is a
# deep copy of those, taken once per session; restoring one puts fresh deep copies back.
Snapshot = list[tuple[Any, dict[str, Any]]]
_SNAPSHOTS: dict[str, Snapshot] = {}
_DEMO_KEY: list[str] = []  # the API key seed_demo_org made for the "demo_org" snapshot


def _take_snapshot() -> Snapshot:
    from moto.core.base_backend import BackendDict

    return [(backends, copy.deepcopy(dict(backends))) for backends in BackendDict._instances]


def _restore(snapshot: Snapshot) -> None:
    from moto.core.base_backend import BackendDict

    for backends, accounts in snapshot:
        backends.clear()
        backends.update(copy.deepcopy(accounts))
        if backends not in BackendDict._instances:
            BackendDict._instances.append(backends)


def _untouched() -> bool:
    """Nothing written since the tables were made: no DynamoDB item, no S3 object."""
    from moto.core.base_backend import BackendDict

    for backends in BackendDict._instances:
        for _, _, backend in backends.iter_backends():
            if backends.service_name == "dynamodb" and any(t.items for t in backend.tables.values()):
                return False
            if backends.service_name == "s3" and any(b.keys for b in backend.buckets.values()):
                return False
    return True


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh in-process AWS with every table of the schema (the demo org: `demo_org`)."""
    from moto.core.base_backend import BackendDict

    with moto.mock_aws():
        if BackendDict._instances:  # inside another mock_aws(): build on what is there, as moto would
            create_resources()
        elif "resources" in _SNAPSHOTS:
            _restore(_SNAPSHOTS["resources"])
        else:
            create_resources()
            _SNAPSHOTS["resources"] = _take_snapshot()
        fresh_caches()
        yield
        fresh_caches()


def fresh_caches() -> None:
    """Each test's AWS is new: forget clients, config, the door list, settings, lead-number blocks,
    round-robin turns and compiled rule sets of the last one."""
    from chalicelib.services import capture, names, routing
    from chalicelib.settings import get_settings
    from chalicelib.store import config as config_store
    from chalicelib.store import connection, rates

    connection.reset()
    config_store.clear_cache()
    rates.clear_cache()
    get_settings.cache_clear()
    get_settings()  # from the test environment, not from the stage variables Chalice's client patches in
    capture._allocator.cache_clear()
    routing.clear_caches()
    names.clear()


@pytest.fixture
def demo_org(aws: None) -> str:
    """The demo org seeded at 2026-11-28T00:00:00Z; returns the demo partner's API key.

    Seeded once per session and restored from the snapshot when nothing was written yet (the usual
    case); seeded for real on top of whatever an earlier fixture of the test wrote otherwise."""
    from local.seed import partner_key_file, seed_demo_org

    if not _untouched():
        return seed_demo_org("2026-11-28T00:00:00.000Z", TEST_STATE)
    if "demo_org" in _SNAPSHOTS:
        _restore(_SNAPSHOTS["demo_org"])
        fresh_caches()
        api_key = _DEMO_KEY[0]
        partner_key_file(TEST_STATE).write_text(api_key, encoding="utf-8")
        return api_key
    api_key = seed_demo_org("2026-11-28T00:00:00.000Z", TEST_STATE)
    _SNAPSHOTS["demo_org"] = _take_snapshot()
    _DEMO_KEY.append(api_key)
    return api_key


@pytest.fixture
def client(demo_org: str) -> Iterator[Any]:
    from chalice.test import Client

    import app

    with Client(app.app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture
def worked_org(client: Any) -> tuple[list[dict[str, Any]], Any]:
    """The demo org after tests/test_dashboard.py's scenario (100 leads over 45 days, worked, moved,
    reclaimed; the stream drained): its stream events for a replay and its clock. The scenario is the
    slowest thing the suite does, so it runs once per session and is restored for each test after."""
    from tests.test_dashboard import run_scenario

    if "worked_org" in _SNAPSHOTS:
        _restore(_SNAPSHOTS["worked_org"])
        fresh_caches()
        return copy.deepcopy(_WORKED[0])
    log, now = run_scenario(client)
    _SNAPSHOTS["worked_org"] = _take_snapshot()
    _WORKED.append((copy.deepcopy(log), now))
    return log, now


_WORKED: list[tuple[list[dict[str, Any]], Any]] = []


LAYERS = ("unit", "moto", "stack", "browser", "package")  # the markers of pyproject.toml


# `make test` spreads the modules over one pytest-xdist worker per core (`--dist loadfile`): a module is
# run whole by one worker (its stack and browser fixtures are module-scoped), and the modules on the
# worked org go together, so that one worker builds the scenario and restores it for the other
# (pytest-xdist's own `loadgroup` cannot: under pytest 9 it no longer sees the group in the test ids).
# Modules are handed out in collection order (`--no-loadscope-reorder`), the longest first as measured
# (`--durations`), so that no long module starts last while the other worker idles.
WORKED_ORG_MODULES = ("test_dashboard.py", "test_reports.py")
LONGEST_FIRST = ("test_dashboard.py", "test_reports.py", "test_fuzz.py", "test_bench_smoke.py",
                 "test_local_durability.py", "test_package.py", "test_browser.py", "test_browser_labels.py",
                 "test_browser_reports.py", "test_browser_config.py", "test_browser_loop.py", "test_local_stack.py",
                 "test_browser_forms.py", "test_routing.py", "test_scoring.py", "test_dedup.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModulesAndTheWorkedOrg(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = str(super()._split_scope(nodeid))
            return "worked_org" if Path(module).name in WORKED_ORG_MODULES else module

    return ModulesAndTheWorkedOrg(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the in-process AWS is a moto test, whatever its module's layer (every module
    names its layer with `pytestmark`: tests/test_layers.py). Modules run longest first (LONGEST_FIRST)."""
    for item in items:
        if "aws" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.moto)
    rank = {module: n for n, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.path)).name, len(rank)))  # stable: the rest keep their order


# PIPL: no personal data in logs. Every test's captured log records and output (Powertools prints
# JSON lines to stdout) are scanned for a mainland mobile number; any match fails the session.
MOBILE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])")
_LEAKS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for section, text in report.sections:
        if "log" in section or "stdout" in section or "stderr" in section:
            for match in MOBILE.finditer(text):
                leak = f"{report.nodeid} [{section}]: …{text[max(0, match.start() - 80):match.end() + 20]}…"
                if leak not in _LEAKS:  # later phases' reports repeat earlier sections
                    _LEAKS.append(leak)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LEAKS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"PIPL: {len(_LEAKS)} mobile number(s) in captured logs:", red=True)
            for leak in _LEAKS[:20]:
                reporter.write_line("  " + leak, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
