"""`make bench`: run every benchmark, print a summary, write bench/results.json.

`python -m bench imports routing` runs only the named ones (`bench.<name>`) and prints their
summary without writing bench/results.json, which keeps the figures of one whole run."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import BENCHMARKS, TARGETS, passes

RESULTS = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str]) -> int:
    chosen = [name if name.startswith("bench.") else f"bench.{name}" for name in argv]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    figures: dict[str, float] = {}
    started = time.monotonic()
    for name in chosen or BENCHMARKS:
        print(f"== {name}", flush=True)
        module_started = time.monotonic()
        figures.update(importlib.import_module(name).run())
        print(f"   ({time.monotonic() - module_started:.1f} s)\n", flush=True)
    print("== summary")
    print(table(figures))
    if chosen:
        print(f"in {time.monotonic() - started:.0f} s (bench/results.json is written by a run of every benchmark)")
        return 0
    results: dict[str, object] = {
        **{key: round(value, 6) for key, value in figures.items()},
        "targets": {key: f"{comparison} {target:g}" for key, (comparison, target) in TARGETS.items()},
        "failed": sorted(key for key, value in figures.items() if passes(key, value) is False),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "machine": platform.machine()},
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS} "
          f"in {time.monotonic() - started:.0f} s")
    return 0


def table(figures: dict[str, float]) -> str:
    """One line per figure: name, value, target, pass (figures with a target first, in target order)."""
    ordered = [key for key in TARGETS if key in figures] + [key for key in figures if key not in TARGETS]
    width = max(len(key) for key in ordered)
    lines = [f"  {'figure':<{width}}  {'value':>12}  {'target':>10}  pass"]
    for key in ordered:
        verdict = passes(key, figures[key])
        target = f"{TARGETS[key][0]} {TARGETS[key][1]:g}" if key in TARGETS else ""
        mark = "" if verdict is None else ("yes" if verdict else "NO")
        lines.append(f"  {key:<{width}}  {figures[key]:>12.4g}  {target:>10}  {mark}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
