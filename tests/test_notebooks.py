"""Every course notebook runs start to finish in quick mode (what `make course` does, one by one)."""

from pathlib import Path

import pytest

from crystalkit.course import course_notebooks, run_notebook

NOTEBOOKS = course_notebooks()


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(notebook: Path, tmp_path):
    run = run_notebook(notebook, tmp_path / notebook.name, quick=True, seed=0)
    assert run.status == "ok", f"{notebook.name} failed:\n{run.error}"
