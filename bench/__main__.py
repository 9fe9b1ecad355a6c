"""`make bench`: run every benchmark, print a summary, write bench/results.json."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import BENCHMARKS

RESULTS = Path(__file__).resolve().parent / "results.json"


def main() -> int:
    figures: dict[str, float] = {}
    started = time.monotonic()
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        module_started = time.monotonic()
        figures.update(importlib.import_module(name).run())
        print(f"   ({time.monotonic() - module_started:.1f} s)\n", flush=True)
    print("== summary")
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value:>12.4g}")
    results: dict[str, object] = {
        **{key: round(value, 6) for key, value in figures.items()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "machine": platform.machine()},
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS} "
          f"in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
