"""The benchmarks run and return their figures (no timing assertions: that is what `make bench` is for)."""

from __future__ import annotations

import importlib

from bench import BENCHMARKS, capture_cost


def test_every_benchmark_module_has_a_run() -> None:
    for name in BENCHMARKS:
        assert callable(importlib.import_module(name).run)


def test_capture_cost_counts_requests_and_units_per_lead() -> None:
    figures = capture_cost.run(n=5, verbose=False)
    assert {"capture_requests_per_lead", "write_units_per_lead", "read_units_per_lead",
            "stream_requests_per_lead", "scans", "usd_per_million_leads"} <= set(figures)
    assert figures["scans"] == 0
    assert figures["capture_requests_per_lead"] >= 1
    assert figures["stream_requests_per_lead"] >= 1
    assert figures["write_units_per_lead"] > 0
