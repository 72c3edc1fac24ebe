"""Write a course notebook from a list of cells (the notebooks are generated, then stored without outputs).

Each notebook has a small script beside this file, e.g. ``00_start_here.py``, that calls
:func:`write_notebook`. Run it from anywhere: ``python notebooks/_build/00_start_here.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip("\n"))


def parameters(text: str) -> nbformat.NotebookNode:
    cell = code(text)
    cell.metadata["tags"] = ["parameters"]
    return cell


def write_notebook(name: str, cells: list[nbformat.NotebookNode]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata["language_info"] = {"name": "python"}
    path = NOTEBOOKS / name
    nbformat.write(notebook, path)
    return path
