"""Every course notebook runs start to finish in quick mode (what `make course` does, one by one)."""

from pathlib import Path

import pytest

from crystalkit.course import course_notebooks, run_notebook

NOTEBOOKS = course_notebooks()

#: Binder gives a session about 2 GB in all; the Jupyter server and browser-facing processes take roughly
#: 0.2 GB of it, so a notebook's kernel must peak below 1.8 GB in quick mode. Measured (the kernel's peak
#: resident memory, from the operating system), not enforced by a cgroup: the run finishes and the figure is
#: checked, so a notebook that grows past the budget fails here with its number instead of dying on Binder.
KERNEL_MEMORY_BUDGET_MB = 1800


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(notebook: Path, tmp_path):
    run = run_notebook(notebook, tmp_path / notebook.name, quick=True, seed=0)
    assert run.status == "ok", f"{notebook.name} failed:\n{run.error}"
    assert run.peak_memory_mb < KERNEL_MEMORY_BUDGET_MB, (
        f"{notebook.name}'s kernel peaked at {run.peak_memory_mb:.0f} MB in quick mode, over the "
        f"{KERNEL_MEMORY_BUDGET_MB} MB a notebook may use on a 2 GB Binder: make quick mode smaller.")
