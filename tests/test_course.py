"""The headless course runner, on tiny notebooks written here."""

import nbformat
import pytest

from crystalkit.course import run_notebook


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
