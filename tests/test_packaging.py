"""The project's promises about itself: environments agree, notebooks are clean, import is light."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip().strip('"'), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(d) for d in project["dependencies"]}


def _conda_pip_names(path: Path) -> set[str]:
    """Package names in the ``pip:`` section of a conda environment file."""
    names, in_pip = set(), False
    for line in path.read_text().splitlines():
        item = line.split("#")[0].strip()
        if item == "- pip:":
            in_pip = True
        elif in_pip and item.startswith("- ") and not item[2:].startswith("--"):
            names.add(_name(item[2:]))
    return names


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_environment_files_list_the_pyproject_packages(path):
    assert _conda_pip_names(ROOT / path) == _pyproject_names()


def test_lock_pins_every_dependency_and_the_cpu_torch():
    lock = {_name(line): line for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line}
    missing = _pyproject_names() - set(lock)
    assert not missing, f"requirements.lock lacks {missing}: run `make lock`"
    assert lock["torch"].strip() == "torch==2.13.0"  # the CPU wheel; '+cpu' or another version pulls CUDA


def test_notebooks_have_parameters_and_the_course_sections():
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no course notebooks found"
    for path in notebooks:
        notebook = json.loads(path.read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]  # outputs: test_notebook_sources.py
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
        source = "".join(tagged[0]["source"])
        assert re.search(r"^QUICK\s*=", source, re.M) and re.search(r"^SEED\s*=", source, re.M), path.name
        assert notebook["metadata"].get("kernelspec", {}).get("name") == "python3", path.name
        first = "".join(notebook["cells"][0]["source"]).lower()
        assert "learning goals" in first and "prerequisites" in first and "run time" in first, path.name
        text = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown").lower()
        for heading in ("summary", "exercises", "key papers"):
            assert heading in text, f"{path.name} lacks a '{heading}' section"
        assert "<details>" in text, f"{path.name}: exercise solutions should be collapsible"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path, caplog):
    """papermill must parse the parameters cell itself: an '=' in a comment once hid QUICK from it."""
    import logging

    import papermill

    with caplog.at_level(logging.WARNING):
        parameters = papermill.inspect_notebook(str(path))
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()], path.name
    assert parameters["QUICK"]["default"] in ("True", "False"), path.name
    assert parameters["SEED"]["default"].isdigit(), path.name


@pytest.mark.slow
def test_import_is_light():
    code = "import sys, crystalkit, crystalkit.data; print(sorted(m for m in ('chgnet','nglview','shap','matminer') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_readme_and_ci_promises():
    readme = (ROOT / "README.md").read_text()
    assert "make course" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^course:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
