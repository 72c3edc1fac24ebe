"""Process pools that keep input order, and how n_jobs is read."""

from __future__ import annotations

import os

import pytest

from crystalkit.errors import CrystalInputError
from crystalkit.metrics._parallel import AUTO_PARALLEL_MIN_TASKS, resolve_jobs, run_ordered


def _square(x: int) -> int:
    return x * x


def test_resolve_jobs():
    cores = os.cpu_count() or 1
    assert resolve_jobs(1, 100) == 1
    assert resolve_jobs(-1, 100) == min(cores, 100)
    assert resolve_jobs(8, 3) == 3  # never more workers than tasks
    assert resolve_jobs(None, AUTO_PARALLEL_MIN_TASKS - 1) == 1
    assert resolve_jobs(None, 10_000) == cores
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(CrystalInputError):
            resolve_jobs(bad, 10)


def test_run_ordered_keeps_order_in_parallel():
    items = list(range(50))
    assert run_ordered(_square, items, n_jobs=2, progress=False) == [x * x for x in items]
    assert run_ordered(_square, [], n_jobs=2) == []
