"""Each course notebook agrees with its percent-format source in notebooks/py/, and is stored without outputs.

The pair is the one source of truth: edit ``notebooks/py/NN_name.py`` (or the notebook in JupyterLab), then
``make notebooks`` (``jupytext --sync``) brings the other file up to date. These tests fail until it has.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import find_jupytext_configuration_file, load_jupytext_configuration_file
from jupytext.paired_paths import paired_paths

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = NOTEBOOKS / "py"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
FIX = "run `make notebooks` (jupytext --sync) after editing either file"


def _cells(notebook) -> list[tuple[str, str, list[str]]]:
    """What a reader sees of each cell: its type, its source and its tags (``parameters`` for papermill)."""
    return [(cell.cell_type, cell.source, list(cell.metadata.get("tags", []))) for cell in notebook.cells]


def disagreements(ipynb: Path, source: Path) -> list[str]:
    """Every difference in cell type, source or tags between a notebook and its percent-format source."""
    stored = _cells(nbformat.read(ipynb, as_version=4))
    written = _cells(jupytext.read(source, fmt="py:percent"))
    found = []
    if len(stored) != len(written):
        found.append(f"{len(stored)} cells in {ipynb.name}, {len(written)} in {source.name}")
    for index, (a, b) in enumerate(zip(stored, written)):
        for field, x, y in zip(("type", "source", "tags"), a, b):
            if x != y:
                found.append(f"cell {index}, {field}: {x!r:.60} in {ipynb.name}, {y!r:.60} in {source.name}")
    return found


def storage_problems(ipynb: Path) -> list[str]:
    """Outputs or execution counts left in a stored notebook (the course is stored clean; papermill fills them)."""
    notebook = nbformat.read(ipynb, as_version=4)
    return [f"cell {index} has {what}" for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for what, present in (("outputs", cell.outputs), ("an execution count", cell.execution_count is not None))
            if present]


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert COURSE, "no course notebooks found"
    assert {p.stem for p in COURSE} == {p.stem for p in SOURCES.glob("*.py")}


@pytest.mark.parametrize("notebook", COURSE, ids=[p.stem for p in COURSE])
def test_jupytext_pairs_the_notebook_with_its_source(notebook: Path):
    config = load_jupytext_configuration_file(find_jupytext_configuration_file(str(NOTEBOOKS)))
    formats = config.default_formats(str(notebook))  # "ipynb,py//py:percent": a percent script in py/
    paired = {Path(path): fmt for path, fmt in paired_paths(str(notebook), "ipynb", formats)}
    source = SOURCES / f"{notebook.stem}.py"
    assert source in paired and paired[source]["format_name"] == "percent", paired


@pytest.mark.parametrize("notebook", COURSE, ids=[p.stem for p in COURSE])
def test_notebook_agrees_with_its_source(notebook: Path):
    found = disagreements(notebook, SOURCES / f"{notebook.stem}.py")
    assert not found, f"{notebook.name} and py/{notebook.stem}.py disagree ({FIX}):\n" + "\n".join(found)


@pytest.mark.parametrize("notebook", COURSE, ids=[p.stem for p in COURSE])
def test_notebook_is_stored_without_outputs(notebook: Path):
    found = storage_problems(notebook)
    assert not found, f"{notebook.name}: {found}; clear the outputs, then {FIX}"


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    """A copy of notebook 00 and its source, to tamper with."""
    ipynb, source = tmp_path / COURSE[0].name, tmp_path / f"{COURSE[0].stem}.py"
    shutil.copy(COURSE[0], ipynb)
    shutil.copy(SOURCES / source.name, source)
    assert disagreements(ipynb, source) == []
    return ipynb, source


def test_an_edited_source_is_caught(pair):
    ipynb, source = pair
    source.write_text(source.read_text().replace("QUICK = True", "QUICK = False", 1))
    assert any("cell 1, source:" in line for line in disagreements(ipynb, source))


def test_a_lost_tag_a_changed_type_and_an_extra_cell_are_caught(pair):
    ipynb, source = pair
    notebook = nbformat.read(ipynb, as_version=4)
    notebook.cells[1].metadata["tags"] = []  # the papermill parameters cell
    notebook.cells[0].cell_type = "raw"
    notebook.cells.append(nbformat.v4.new_code_cell("print('added')"))
    nbformat.write(notebook, ipynb)
    found = "\n".join(disagreements(ipynb, source))
    assert "cell 1, tags:" in found
    assert "cell 0, type:" in found and f"{len(notebook.cells)} cells in" in found


def test_stored_outputs_are_caught(pair):
    ipynb, _ = pair
    notebook = nbformat.read(ipynb, as_version=4)
    code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells[code].execution_count = 3
    notebook.cells[code].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nbformat.write(notebook, ipynb)
    assert storage_problems(ipynb) == [f"cell {code} has outputs", f"cell {code} has an execution count"]
