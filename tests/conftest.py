"""Shared fixtures: small hand-built crystals every test module can use."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def srtio3() -> Structure:
    """Cubic SrTiO3, the textbook perovskite (a = 3.905 Å)."""
    return Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


@pytest.fixture
def triclinic() -> Structure:
    """A low-symmetry cell with unequal lengths and angles, to catch convention mistakes."""
    return Structure(
        Lattice.from_parameters(3.1, 4.2, 5.3, 80, 95, 110),
        ["Si", "O", "O"],
        [[0.1, 0.2, 0.3], [0.5, 0.6, 0.7], [0.9, 0.1, 0.4]],
    )


@pytest.fixture
def no_output_capture(monkeypatch) -> None:
    """Make drawing by ``display()`` or an ``ipywidgets.Output``'s capture fail the test.

    Capture in widget callbacks hung headless notebook runs (see crystalkit/widgets/_live.py); widgets must
    draw by setting state instead.
    """
    import ipywidgets
    from IPython import display as ipython_display

    def refuse(*args, **kwargs):
        raise AssertionError("the widget drew by output capture or display()")

    monkeypatch.setattr(ipywidgets.Output, "__enter__", refuse)
    monkeypatch.setattr(ipywidgets.Output, "clear_output", refuse)
    monkeypatch.setattr(ipython_display, "display", refuse)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks run fastest on one thread, above all on a busy machine (use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def benchmark_script():
    """``benchmark_script("denovo")`` imports ``benchmarks/denovo.py`` (the scripts are not a package)."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
