"""Import cost of `import app` (what every function pays on a cold start) against boto3 + pydantic.

Method: `python -X importtime -c "<statement>"` in a fresh subprocess; the statement's cost is the
sum of the cumulative times of the top-level modules it imports (those interpreter start-up had
not already imported, found with `-c pass`). Median of RUNS runs, after one unmeasured run that
also writes any missing .pyc files.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
APP = "import app"
BASELINE = "import boto3, pydantic"


@dataclass(frozen=True)
class ImportLine:
    name: str
    depth: int
    self_us: int
    cumulative_us: int


def importtime(statement: str) -> list[ImportLine]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    lines = []
    for raw in result.stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_us, cumulative_us, name = raw[len("import time:"):].split("|", 2)
        indent = len(name) - len(name.lstrip(" "))
        lines.append(ImportLine(name.strip(), (indent - 1) // 2, int(self_us), int(cumulative_us)))
    return lines


def statement_ms(lines: list[ImportLine], startup: set[str]) -> float:
    return sum(line.cumulative_us for line in lines if line.depth == 0 and line.name not in startup) / 1000


def startup_modules() -> set[str]:
    """What interpreter start-up imports by itself (not charged to any statement)."""
    return {line.name for line in importtime("pass")}


def median_ms(statement: str, startup: set[str], runs: int = RUNS) -> tuple[float, list[list[ImportLine]]]:
    """Median cost of `statement` over `runs` fresh interpreters (after one unmeasured, warming run),
    and every run's lines."""
    importtime(statement)  # warm: .pyc files, page cache
    all_lines = [importtime(statement) for _ in range(runs)]
    return statistics.median(statement_ms(lines, startup) for lines in all_lines), all_lines


def heaviest_packages(lines: list[ImportLine], startup: set[str], count: int = 5) -> list[tuple[str, float]]:
    """Top-level packages by the summed self time of all their modules (ms)."""
    per_package: Counter[str] = Counter()
    for line in lines:
        if line.name not in startup:
            per_package[line.name.split(".")[0]] += line.self_us
    return [(name, us / 1000) for name, us in per_package.most_common(count)]


def run(verbose: bool = True) -> dict[str, float]:
    startup = startup_modules()
    app_ms, app_runs = median_ms(APP, startup)
    base_ms, base_runs = median_ms(BASELINE, startup)
    median_run = sorted(app_runs, key=lambda lines: statement_ms(lines, startup))[RUNS // 2]
    heavy = heaviest_packages(median_run, startup)
    # Best of RUNS: the least disturbed run of each (the machine is shared; noise only adds time).
    app_best = min(statement_ms(lines, startup) for lines in app_runs)
    base_best = min(statement_ms(lines, startup) for lines in base_runs)
    figures = {"cold_start_app_ms": app_ms, "cold_start_boto3_pydantic_ms": base_ms,
               "cold_start_ratio": app_ms / base_ms, "cold_start_app_best_ms": app_best,
               "cold_start_boto3_pydantic_best_ms": base_best, "cold_start_ratio_best": app_best / base_best}
    if verbose:
        print(f"cold start: -X importtime, sum of cumulative time of the top-level modules a statement imports, "
              f"median of {RUNS} fresh interpreters")
        print(f"  {APP!r:<28}{app_ms:>8.1f} ms")
        print(f"  {BASELINE!r:<28}{base_ms:>8.1f} ms")
        print(f"  ratio app / (boto3+pydantic): {figures['cold_start_ratio']:.2f}")
        print(f"  best of {RUNS}: {app_best:.1f} ms / {base_best:.1f} ms = {figures['cold_start_ratio_best']:.2f}")
        print("  heaviest packages under 'import app' (self time of all their modules):")
        for name, ms in heavy:
            print(f"    {name:<26}{ms:>8.1f} ms")
    return figures
