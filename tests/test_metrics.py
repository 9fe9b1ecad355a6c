"""Business metrics as EMF lines, written once per invocation; the app's import stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from chalicelib import metrics
from tests.conftest import ROOT
from tests.helpers import capture, deliver, leads_stream

pytestmark = pytest.mark.moto


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def metric_values(lines: list[dict[str, Any]], name: str) -> list[tuple[dict[str, str], float]]:
    """(dimensions, value) of every EMF line that carries `name`."""
    found = []
    for line in lines:
        directive = line["_aws"]["CloudWatchMetrics"][0]
        if any(m["Name"] == name for m in directive["Metrics"]):
            dims = {d: line[d] for d in directive["Dimensions"][0]}
            found.append((dims, line[name] if not isinstance(line[name], list) else sum(line[name])))
    return found


@pytest.fixture
def emf_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LoanLeads")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "loan-leads")
    metrics.flush()  # nothing left over from another test


def test_counts_are_tallied_and_flushed_as_one_emf_line_per_dimension_set(
        emf_on: None, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    metrics.count(metrics.LEADS_CAPTURED, source="website_form")
    metrics.count(metrics.LEADS_CAPTURED, source="website_form")
    metrics.count(metrics.LEADS_CAPTURED, source="partner")
    metrics.count(metrics.IMPORT_ROWS, 40, outcome="imported")
    assert capsys.readouterr().out == ""  # counting writes nothing
    metrics.flush()
    lines = emf_lines(capsys.readouterr().out)
    assert len(lines) == 3
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LoanLeads" for line in lines)
    captured = dict((d["source"], v) for d, v in metric_values(lines, metrics.LEADS_CAPTURED))
    assert captured == {"website_form": 2.0, "partner": 1.0}
    assert metric_values(lines, metrics.IMPORT_ROWS) == [({"service": "loan-leads", "outcome": "imported"}, 40.0)]
    metrics.flush()
    assert emf_lines(capsys.readouterr().out) == []  # flushed once: the tally is empty again


def test_disabled_metrics_write_nothing_and_keep_nothing(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.count(metrics.LEADS_RECLAIMED)
    metrics.flush()
    assert emf_lines(capsys.readouterr().out) == [] and metrics.pending() == {}


def test_a_captured_lead_and_its_duplicate_are_counted_by_the_functions_that_saw_them(
        client: Any, emf_on: None, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    reader = leads_stream()
    capture(client, "13816204573", name="张三")
    captured = metric_values(emf_lines(capsys.readouterr().out), metrics.LEADS_CAPTURED)
    assert len(captured) == 1 and captured[0][1] == 1.0 and captured[0][0]["source"]  # by the API, per request
    deliver(client, reader)
    capsys.readouterr()
    capture(client, "138 1620 4573", name="张三")
    capsys.readouterr()
    deliver(client, reader)  # the stream function flushes at its end (no app.py middleware reaches it)
    duplicates = metric_values(emf_lines(capsys.readouterr().out), metrics.DUPLICATES_MERGED)
    assert [value for _, value in duplicates] == [1.0]
    assert metrics.pending() == {}


def test_every_event_function_flushes_its_metrics() -> None:
    import app

    for source in app.app.event_sources:
        user_function = app.app.handler_map[source.name].func
        assert user_function.__code__.co_qualname == "flushed.<locals>.invocation", \
            f"{source.name}: put @metrics.flushed under its Chalice decorator"


def test_importing_the_app_leaves_the_heavy_modules_for_the_first_call() -> None:
    """Cold start: `import app` imports no AWS SDK clients, no pynamodb (so no table model), no X-Ray
    SDK and no geocoder: handlers import their services when called. (Powertools' package itself
    imports its small metrics and tracing modules and botocore's top package; those are cheap.)
    The timing itself is bench/cold_start.py's."""
    heavy = ["boto3", "botocore.session", "botocore.client", "pynamodb", "chalicelib.store.schema", "aws_xray_sdk",
             "phonenumbers.geocoder"]
    probe = f"import sys, app; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_ownership_moves_count_assignments_by_how_and_reclaims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.flush()
    for kind in ("claim", "assign", "release", "reclaim", "reclaim"):
        metrics.ownership_change(kind)
    metrics.lead_outcome("assigned", "website_form")
    metrics.lead_outcome("already", "website_form")  # a replayed record counts nothing
    assert metrics.pending() == {
        (metrics.LEADS_ASSIGNED, (("how", "claim"),)): 1, (metrics.LEADS_ASSIGNED, (("how", "assign"),)): 1,
        (metrics.LEADS_RECLAIMED, ()): 2, (metrics.LEADS_ASSIGNED, (("how", "route"),)): 1}
    metrics.flush()


def test_tracing_starts_once_in_lambda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_tracer", None)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    metrics.start_tracing()
    assert metrics._tracer is None  # outside Lambda (tests, the local stack): no X-Ray SDK loaded
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "loanleads-dev-api_handler")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here: the Tracer stays inert
    metrics.start_tracing()
    first = metrics._tracer
    metrics.start_tracing()
    assert first is not None and first is not False and metrics._tracer is first


def test_every_table_goes_through_one_botocore_client(client: Any) -> None:
    """A cold container's first request pays for one botocore session, not one per table."""
    from chalicelib.store.connection import transaction_connection
    from chalicelib.store.schema import MODELS

    capture(client, "13816204573")
    deliver(client, leads_stream())
    clients = {id(model._get_connection().connection.client) for model in MODELS}
    assert clients == {id(transaction_connection().client)}


def test_threads_making_connections_at_once_share_one(client: Any) -> None:
    """A cold container whose threads (the local stack's pump, an import) touch the tables at once:
    every model ends on the one shared connection, none fails, and a model whose own connection was
    reset while the shared one kept its tables still works."""
    import threading

    from chalicelib.store import connection
    from chalicelib.store.schema import MODELS, PhoneKeyModel

    for _ in range(3):
        connection.reset()
        errors: list[BaseException] = []
        barrier = threading.Barrier(12)

        def touch(barrier: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
            barrier.wait()
            try:
                for model in MODELS:
                    model._get_connection()
            except BaseException as e:  # noqa: BLE001 - the failure under test is whatever a thread raises
                errors.append(e)

        threads = [threading.Thread(target=touch) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        shared = connection.transaction_connection()
        assert {id(m._get_connection().connection) for m in MODELS} == {id(shared)}

    PhoneKeyModel._connection = None
    assert PhoneKeyModel.count("no-such-phone") == 0
