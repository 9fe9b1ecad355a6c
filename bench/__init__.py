"""Benchmarks (not tests): each module's `run()` prints its figures and returns them by name.

`python -m bench` (`make bench`) runs every module in BENCHMARKS and writes bench/results.json.
"""

BENCHMARKS = ("bench.cold_start", "bench.capture_cost", "bench.capture_load", "bench.local_journal",
              "bench.dedup_throughput", "bench.routing", "bench.imports", "bench.scoring",
              "bench.dashboard", "bench.reports")
