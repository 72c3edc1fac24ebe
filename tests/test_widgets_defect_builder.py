"""The defect builder: site and action choices, the plotly menu, and a live widget whose controls redraw."""

from __future__ import annotations

import pytest
from pymatgen.core import Structure

from crystalkit.defects import defect_supercell
from crystalkit.errors import CrystalInputError
from crystalkit.widgets._inputs import camera_direction
from crystalkit.widgets.defect_builder import (
    action_choices,
    build_defect,
    defect_builder,
    defect_figure,
    site_choices,
)


@pytest.fixture
def supercell(srtio3) -> Structure:
    return defect_supercell(srtio3, 2)


def test_one_choice_per_symmetry_distinct_site_nearest_the_viewer(supercell):
    choices = site_choices(supercell)
    assert [(c.element, c.multiplicity) for c in choices] == [("Sr", 8), ("Ti", 8), ("O", 24)]
    assert sum(c.multiplicity for c in choices) == len(supercell)
    towards, _ = camera_direction(supercell.lattice.matrix)
    depth = (supercell.frac_coords % 1.0) @ supercell.lattice.matrix @ towards
    for choice in choices:
        same = [i for i, site in enumerate(supercell) if site.specie.symbol == choice.element]
        assert depth[choice.index] == pytest.approx(max(depth[same]))
        assert choice.label.startswith(choice.element)


def test_actions_and_defects(supercell):
    assert [a for _, a in action_choices(["Ba", "Ca"])] == ["vacancy", "Ba", "Ca"]
    with pytest.raises(CrystalInputError, match="Unknown element"):
        action_choices(["Bq"])
    assert build_defect(supercell, 0, "vacancy").name == "v_Sr"
    assert build_defect(supercell, 0, "Ba").name == "Ba_Sr"
    with pytest.raises(CrystalInputError, match="out of range"):
        build_defect(supercell, 99, "vacancy")
    figure = defect_figure(build_defect(supercell, 0, "vacancy"), supercell)
    assert figure.data[-1].marker.symbol == "circle-open"


def test_plotly_face_has_one_menu_entry_per_site_and_action(srtio3):
    figure = defect_builder(srtio3, 2, substitutes=("Ba", "Ca"), energies=False, backend="plotly")
    buttons = figure.layout.updatemenus[0].buttons
    assert len(buttons) == 3 * 3 == len(figure.layout.meta["defects"])
    shown = [trace.visible for trace in figure.data]
    assert any(shown) and not all(shown)  # one defect at a time
    assert buttons[0].args[0]["visible"] == shown


def test_live_face_redraws_and_rewrites_its_caption_when_a_control_moves(srtio3):
    widget = defect_builder(srtio3, 2, energies=False, backend="nglview")
    assert "crystalkit-defect-builder" in widget._dom_classes
    site, action, relax_button = widget.controls
    assert widget.defect.name == "v_Sr" and relax_button.disabled
    sent = []
    widget.canvas._remote_call = lambda method, **kwargs: sent.append(method)  # what goes to the browser
    site.index = 1
    assert widget.defect.name == "v_Ti" and "v_Ti" in widget.caption.value
    assert sent == ["replaceStructure"]
    action.index = 1
    assert widget.defect.name == "Ba_Ti" and len(widget.defect.structure) == 40
    site.index = 0
    assert widget.defect.name == "Ba_Sr" and sent.count("replaceStructure") == 3


def test_swapping_an_atom_for_its_own_element_is_said_not_drawn(srtio3):
    widget = defect_builder(srtio3, 2, substitutes=("Sr",), energies=False, backend="nglview")
    action = widget.controls[1]
    action.index = 1  # "swap it for Sr" on a Sr site
    assert "already holds" in widget.caption.value and widget.defect.name == "v_Sr"


def test_disordered_input_is_refused(srtio3):
    mixed = srtio3.copy()
    mixed.replace(0, {"Sr": 0.5, "Ba": 0.5})
    with pytest.raises(CrystalInputError, match="crystalkit.disorder"):
        defect_builder(mixed, energies=False, backend="plotly")


@pytest.mark.slow
def test_relax_button_scores_and_relaxes_with_chgnet(srtio3):
    import torch

    torch.set_num_threads(1)
    widget = defect_builder(srtio3, 2, relax_steps=3, backend="nglview")
    assert "unrelaxed formation energy" in widget.caption.value
    widget.controls[2].click()
    assert "relaxed" in widget.caption.value and "3 steps" in widget.caption.value
