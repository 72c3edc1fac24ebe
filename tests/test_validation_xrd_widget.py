"""The XRD comparison widget: static plotly figure with a candidate menu, and the overlay figure."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import simulate_xrd
from crystalkit.widgets.xrd import xrd_comparison, xrd_figure


@pytest.fixture
def candidates(srtio3):
    rocksalt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    stretched = srtio3.copy()
    stretched.scale_lattice(srtio3.volume * 1.02**3)
    return [rocksalt, stretched, srtio3]


def test_plotly_comparison_lists_candidates_best_first(srtio3, candidates):
    target = simulate_xrd(srtio3, noise=0.01, seed=0)
    figure = xrd_comparison(target, candidates, names=["NaCl", "big", "true"], backend="plotly")
    menu = figure.layout.updatemenus[0]
    assert len(menu.buttons) == 3
    assert menu.buttons[0].label.startswith("#1 true")
    assert figure.layout.meta["ranking"][0]["name"] == "true"
    # Exactly the target and the first candidate's traces are visible at the start.
    visible = [trace.visible for trace in figure.data]
    assert visible == list(menu.buttons[0].args[0]["visible"])
    assert figure.data[0].visible and sum(1 for trace in figure.data if trace.type == "scatter3d" and trace.visible) > 0
    for button in menu.buttons:  # the target stays on whatever candidate is chosen
        assert button.args[0]["visible"][0]


def test_overlay_figure(srtio3, candidates):
    target = simulate_xrd(srtio3)
    figure = xrd_figure(target, candidates[1], strain=-0.02)
    names = [trace.name for trace in figure.data]
    assert names[0] == "SrTiO3" and "-2.0% lattice" in names
    assert "cosine similarity" in figure.layout.title.text


def test_comparison_needs_structures(srtio3):
    target = simulate_xrd(srtio3)
    with pytest.raises(CrystalInputError):
        xrd_comparison(target, [])
    with pytest.raises(CrystalInputError, match="structures"):
        xrd_comparison(target, [target], backend="plotly")


def test_live_widget_has_a_menu_pattern_and_crystal(srtio3, candidates):
    pytest.importorskip("nglview")
    import ipywidgets
    import nglview

    target = simulate_xrd(srtio3)
    widget = xrd_comparison(target, candidates, names=["NaCl", "big", "true"], backend="nglview")
    chooser, panels = widget.children
    assert isinstance(chooser, ipywidgets.Dropdown) and len(chooser.options) == 3
    assert chooser.options[0][0].startswith("#1 true")
    pattern, crystal_box = panels.children
    assert isinstance(pattern, ipywidgets.Output)
    legend, crystal = crystal_box.children
    assert isinstance(crystal, nglview.NGLWidget) and "SrTiO3" in legend.value
    assert list(widget.ranking["name"])[0] == "true"


def test_live_widget_swaps_the_crystal_in_one_view(srtio3, candidates):
    """Choosing another candidate sends it to the same nglview widget and refits the camera to its cell."""
    pytest.importorskip("nglview")
    target = simulate_xrd(srtio3)
    widget = xrd_comparison(target, candidates, names=["NaCl", "big", "true"], backend="nglview")
    chooser, panels = widget.children
    legend, crystal = panels.children[1].children
    nacl = next(value for label, value in chooser.options if "NaCl" in label)
    chooser.value = nacl
    assert panels.children[1].children[1] is crystal and "NaCl" in legend.value
    waiting = {c._method_name: c._ngl_msg for c in crystal._ngl_displayed_callbacks_before_loaded}
    pdb = waiting["replaceStructure"]["args"][0]["data"]
    cryst1 = next(line for line in pdb.splitlines() if line.startswith("CRYST1"))
    assert [float(value) for value in cryst1.split()[1:4]] == [5.64, 5.64, 5.64]
    centre = -np.array(waiting["orient"]["args"][0][12:15])  # the translation column: -(centre of the cell)
    np.testing.assert_allclose(centre, [2.82, 2.82, 2.82], atol=1e-6)


def test_live_widget_redraws_without_capturing_output(srtio3, candidates, no_output_capture):
    """No display() and no Output capture (it hung headless runs, see crystalkit/widgets/_live.py)."""
    pytest.importorskip("nglview")
    target = simulate_xrd(srtio3, noise=0.01, seed=0)
    widget = xrd_comparison(target, candidates, names=["NaCl", "big", "true"], backend="nglview")
    chooser, (pattern_box, _) = widget.children[0], widget.children[1].children
    before = pattern_box.outputs
    chooser.value = chooser.options[-1][1]
    assert pattern_box.outputs and pattern_box.outputs != before
