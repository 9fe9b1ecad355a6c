"""Test wiring: the local stage's environment, moto in-process, tables from the one schema."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEST_STATE = ROOT / ".local" / "test-oidc"
os.environ["LOCAL_STATE_DIR"] = str(TEST_STATE)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["CORS_ORIGINS"] = "https://www.example-lender.cn"
os.environ["REDIRECT_ORIGINS"] = "https://www.example-lender.cn"

import moto  # noqa: E402  (moto before any pynamodb connection exists)

from local.atomic import make_dynamodb_atomic  # noqa: E402
from local.env import configure  # noqa: E402

make_dynamodb_atomic()  # DynamoDB's per-request atomicity, which moto lacks under threads

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


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh in-process AWS with every table of the schema (the demo org: `demo_org`)."""
    with moto.mock_aws():
        create_resources()
        yield
        fresh_caches()


def fresh_caches() -> None:
    """Each test's AWS is new: forget clients, config and lead-number blocks of the last one."""
    from chalicelib.services import capture
    from chalicelib.store import config as config_store
    from chalicelib.store import connection

    connection.reset()
    config_store.clear_cache()
    capture._allocator.cache_clear()


@pytest.fixture
def demo_org(aws: None) -> str:
    from local.seed import seed_demo_org

    return seed_demo_org("2026-11-28T00:00:00.000Z", TEST_STATE)


@pytest.fixture
def client(demo_org: str) -> Iterator[Any]:
    from chalice.test import Client

    import app

    with Client(app.app, stage_name="local") as test_client:
        yield test_client


def token(user: str) -> str:
    from local.devsigner import mint
    from local.seed import USERS

    return mint(user, USERS[user][1], TEST_STATE)


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


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
