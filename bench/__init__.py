"""Benchmarks (not tests): each module's `run()` prints its figures and returns them by name.

`python -m bench` (`make bench`) runs every module in BENCHMARKS, prints one table (figure, value,
target, pass) and writes bench/results.json; bench/README.md says what each figure measures and how.
"""

BENCHMARKS = ("bench.cold_start", "bench.first_answer", "bench.capture_cost", "bench.hot_keys",
              "bench.capture_load", "bench.local_reads", "bench.local_journal", "bench.dedup_throughput",
              "bench.routing", "bench.imports", "bench.scoring", "bench.dashboard", "bench.reports")

# figure -> (comparison, target), from the issues that set them (11, 19, 21 and the scoring issue).
TARGETS: dict[str, tuple[str, float]] = {
    "write_units_per_assigned_lead": ("<=", 12),
    "read_units_per_assigned_lead": ("<=", 4),
    "write_units_per_lead": ("<=", 12),
    "read_units_per_lead": ("<=", 8),
    "scans": ("<=", 0),
    "first_answer_ratio_api_capture": ("<=", 1.5),
    "first_answer_ratio_api_lead_read": ("<=", 1.5),
    "first_answer_ratio_lead_stream": ("<=", 2),
    "cold_start_ratio": ("<=", 1.3),
    "hottest_item_writes_per_s_assigned": ("<=", 100),
    "hottest_item_writes_per_s": ("<=", 100),
    "hottest_index_partition_writes_per_s_assigned": ("<=", 1000),
    "hottest_index_partition_writes_per_s": ("<=", 1000),
    "dashboard_read_units_ratio_50k_vs_1k": ("<=", 1.5),
    "dashboard_read_units_ratio_50k_vs_1k_worst": ("<=", 1.5),
    "dashboard_read_ratio_50k_vs_1k": ("<=", 1.1),
    "list_page_p50_ms": ("<=", 100),
    "list_page_team_p50_ms": ("<=", 100),
    "export_2000_s": ("<=", 2),
    "capture_p50_ms_one_client": ("<=", 30),
    "overhead_vs_raw_put": ("<=", 3),
    "routing_decisions_per_s": (">=", 20_000),
    "import_ratio_vs_raw": ("<=", 2),
    "import_peak_rss_mb": ("<=", 512),
    "scoring_leads_per_s": (">=", 50_000),
    "scoring_engagement_leads_per_s": (">=", 50_000),
}


def passes(figure: str, value: float) -> bool | None:
    """None: the figure has no target."""
    if figure not in TARGETS:
        return None
    comparison, target = TARGETS[figure]
    return value <= target if comparison == "<=" else value >= target
