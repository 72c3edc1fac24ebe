"""Run one function over many items, on several cores, in a fixed order.

Every slow loop in :mod:`crystalkit.metrics` (matching, fingerprints) goes
through :func:`run_ordered`. Results always come back in the order of the
input, whatever the number of processes, so a metric computed with
``n_jobs=1`` and with ``n_jobs=8`` is the same number to the last digit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from crystalkit.errors import CrystalInputError

__all__ = ["forks_workers", "resolve_jobs", "run_ordered"]

T = TypeVar("T")
R = TypeVar("R")

#: Below this many tasks a process pool costs more than it saves (start-up,
#: pickling structures), so ``n_jobs=None`` stays in this process.
AUTO_PARALLEL_MIN_TASKS = 64

#: A progress bar appears (``progress=None``) from this many tasks on:
#: about the point where a loop takes more than a few seconds.
AUTO_PROGRESS_MIN_TASKS = 200


def resolve_jobs(n_jobs: int | None, n_tasks: int) -> int:
    """Number of worker processes to use.

    Args:
        n_jobs: ``1`` runs in this process; ``k > 1`` uses ``k`` processes;
            ``-1`` uses every core; ``None`` ("auto") uses every core when
            there are at least ``AUTO_PARALLEL_MIN_TASKS`` tasks, else one.
        n_tasks: how many independent tasks there are.

    Raises:
        CrystalInputError: ``n_jobs`` is 0, below -1, or not an integer.
    """
    cores = os.cpu_count() or 1
    if n_jobs is None:
        jobs = cores if n_tasks >= AUTO_PARALLEL_MIN_TASKS else 1
    elif isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise CrystalInputError(f"n_jobs must be a positive integer, -1 (all cores) or None (auto); got {n_jobs!r}.")
    else:
        jobs = cores if n_jobs == -1 else n_jobs
    return max(1, min(jobs, n_tasks))


def forks_workers() -> bool:
    """Whether worker processes start as copies of this one (the ``fork`` start method, Linux's default).

    Then a worker inherits everything this process has already imported or
    built. That matters for work with a slow set-up: importing matminer's
    CrystalNN featurizer costs seconds of CPU, paid once here before the pool
    starts rather than once in every worker. Under ``spawn`` or ``forkserver``
    (macOS, Windows, Python 3.14's default) each worker starts fresh and
    loading things here first would only add to the bill.
    """
    import multiprocessing

    return multiprocessing.get_start_method() == "fork"


def run_ordered(
    function: Callable[[T], R],
    items: Sequence[T],
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
    description: str = "",
) -> list[R]:
    """``[function(item) for item in items]``, possibly in parallel, in input order.

    Args:
        function: a module-level function (it is pickled to the workers).
        items: the inputs; each must be picklable when ``n_jobs > 1``.
        n_jobs: see :func:`resolve_jobs`.
        progress: show a tqdm bar; ``None`` shows one for long loops only.
        description: label of the progress bar.
    """
    jobs = resolve_jobs(n_jobs, len(items))
    show = len(items) >= AUTO_PROGRESS_MIN_TASKS if progress is None else bool(progress)
    if jobs == 1:
        return list(_with_bar(map(function, items), len(items), show, description))

    from concurrent.futures import ProcessPoolExecutor

    # Small chunks keep every worker busy to the end; ~8 chunks per worker
    # amortise the pickling. ``map`` yields in input order: deterministic.
    chunksize = max(1, len(items) // (jobs * 8))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(_with_bar(pool.map(function, items, chunksize=chunksize), len(items), show, description))


def _with_bar(results: Iterable[R], total: int, show: bool, description: str) -> Iterable[R]:
    if not show:
        return results
    from tqdm.auto import tqdm

    return tqdm(results, total=total, desc=description or None, leave=False)
