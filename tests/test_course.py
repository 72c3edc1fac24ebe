"""The headless course runner, on tiny notebooks written here."""

import nbformat
import pytest

from crystalkit.course import COURSE_PLAN, course_map, course_notebooks, run_notebook
from crystalkit.errors import CrystalInputError


def _notebook(path, body: str):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("QUICK = False\nSEED = 123")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_parameters_are_injected_and_memory_reported(tmp_path):
    source = _notebook(tmp_path / "ok.ipynb", "import os\nassert QUICK is True and SEED == 7\n"
                                              "assert os.environ['CRYSTALKIT_VIEWER'] == 'plotly'\nx = bytearray(50_000_000)")
    run = run_notebook(source, tmp_path / "out" / "ok.ipynb", quick=True, seed=7)
    assert run.status == "ok", run.error
    assert run.peak_memory_mb > 50  # the 50 MB array shows up in the kernel's peak
    assert (tmp_path / "out" / "ok.ipynb").exists()


@pytest.mark.slow
def test_failure_is_reported_with_the_error(tmp_path):
    source = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('lesson broke')")
    run = run_notebook(source, tmp_path / "bad.out.ipynb")
    assert run.status == "failed"
    assert "lesson broke" in run.error


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("{}")
    return folder


def test_course_map_status_follows_the_files(tmp_path):
    folder = _touch(tmp_path, "00_start_here.ipynb", "06_diffusion.ipynb", "04_vae.py", "notes.ipynb")
    table = course_map(folder)
    assert list(table.index) == [number for number, _, _ in COURSE_PLAN]
    assert set(table.index[table["status"] == "available"]) == {"00", "06"}
    assert table.loc["06", "file"] == "06_diffusion.ipynb"
    assert table.loc["04", "status"] == "planned" and table.loc["04", "file"] == ""  # a source alone is not a notebook
    _touch(tmp_path, "04_vae.ipynb")
    assert course_map(folder).loc["04", "status"] == "available"  # the map follows a notebook as it lands


def test_course_map_lists_a_notebook_the_plan_lacks(tmp_path):
    table = course_map(_touch(tmp_path, "15_my_extra_topic.ipynb"))
    assert table.loc["15", "status"] == "available, not in the plan"
    assert table.loc["15", "notebook"] == "my extra topic"
    assert list(table.index)[-1] == "15"


def test_course_map_refuses_a_missing_folder(tmp_path):
    with pytest.raises(CrystalInputError, match="No notebooks folder"):
        course_map(tmp_path / "nowhere")


def test_the_repository_map_is_true():
    table = course_map()
    available = set(table.index[table["status"] == "available"])
    assert available == {path.name[:2] for path in course_notebooks()}
    assert not (table["status"] == "available, not in the plan").any(), "add the new notebook to COURSE_PLAN"


def test_the_readme_course_table_lists_exactly_the_notebooks_that_exist():
    """README's course table: one 'ready' row per notebook in notebooks/, none for a notebook not written yet."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## The course", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d\d) \| .*\| (\w[\w ]*) \|$", section, re.M))
    existing = {path.name[:2] for path in course_notebooks()}
    assert set(rows) == existing, f"README lists {sorted(rows)}, notebooks/ holds {sorted(existing)}"
    assert set(rows.values()) == {"ready"}
