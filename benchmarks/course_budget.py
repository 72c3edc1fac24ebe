"""Measure the course's quick-mode budget: seconds and peak kernel memory per notebook.

Usage: python benchmarks/course_budget.py [--only 00 02] [--seed 0]

Targets (ROADMAP): each notebook about a minute on 2 CPU cores and under 2 GB of
peak memory; the whole course in about 15 minutes. Prints a table and the
machine it ran on; record the figures in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from crystalkit.course import _table, run_course


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        runs = run_course(Path(out), quick=True, seed=args.seed, only=args.only)
    print(f"\nmachine: {machine()}")
    print(_table(runs))
    over = [r.notebook for r in runs if r.seconds > 90 or r.peak_memory_mb > 2048]
    print("over budget (>90 s or >2 GB):", ", ".join(over) or "none")


if __name__ == "__main__":
    main()
