"""Defect builder: pick a site of a supercell, remove or swap its atom, relax it with CHGNet, see what changed.

The hands-on side of :mod:`crystalkit.defects` (notebook 11). Two faces, like
the other widgets (:mod:`crystalkit.widgets.backend`):

* ``nglview`` (a live JupyterLab): a ``site`` drop-down (one entry per
  symmetry-distinct site: equivalent sites give the same defect), an
  ``action`` drop-down (remove the atom, or swap it for another element) and
  a ``relax`` button. Every change draws the *unrelaxed* defect at once in
  the one nglview canvas (a new 3-D view per change would use up the
  browser's WebGL contexts), then writes its CHGNet formation energy under
  it; the button relaxes the atoms (capped FIRE steps, cell fixed) and draws
  the result with its energy and how far the atoms moved. Nothing is drawn
  through an ``Output`` capture: the widget only updates its nglview canvas
  and its HTML caption.
* ``plotly`` (exported HTML, headless runs): one self-contained figure with
  a drop-down menu over every (site, action) pair, the changed site ringed,
  each unrelaxed formation energy in the title. It needs no kernel.

Of each group of equivalent sites, the entry uses the copy nearest the
viewer, so the change is in plain sight rather than behind other atoms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Structure

from crystalkit.defects import (
    PointDefect,
    chemical_potentials,
    defect_supercell,
    formation_energy,
    make_substitution,
    make_vacancy,
)
from crystalkit.errors import CrystalInputError
from crystalkit.widgets.backend import Backend, resolve_backend

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = ["SiteChoice", "site_choices", "action_choices", "build_defect", "defect_figure", "defect_builder"]


@dataclass(frozen=True)
class SiteChoice:
    """One symmetry-distinct site of the supercell: the copy shown, its element and how many equivalent sites it stands for."""

    index: int
    element: str
    multiplicity: int

    @property
    def label(self) -> str:
        return f"{self.element} (site {self.index}, ×{self.multiplicity})"


def site_choices(supercell: Structure, *, symprec: float = 0.01) -> list[SiteChoice]:
    """One :class:`SiteChoice` per group of symmetry-equivalent sites, in the order the groups first appear.

    The representative of a group is the site nearest the viewer of the kit's
    drawings (:data:`crystalkit.widgets._inputs.CAMERA_EYE`).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from crystalkit.widgets._inputs import camera_direction

    groups = SpacegroupAnalyzer(supercell, symprec=symprec).get_symmetrized_structure().equivalent_indices
    towards_camera, _ = camera_direction(supercell.lattice.matrix)
    depth = (supercell.frac_coords % 1.0) @ supercell.lattice.matrix @ towards_camera  # (N,) Å towards the viewer
    groups = sorted(groups, key=min)  # in the order the sites come in the supercell
    return [SiteChoice(int(max(group, key=lambda i: depth[i])), supercell[group[0]].specie.symbol, len(group))
            for group in groups]


def action_choices(substitutes: Sequence[str]) -> list[tuple[str, str]]:
    """(label, action) pairs: ``"vacancy"`` first, then one swap per element of ``substitutes``."""
    from crystalkit.defects import _check_element

    return [("remove the atom (vacancy)", "vacancy")] + [(f"swap it for {_check_element(e)}", e) for e in substitutes]


def build_defect(supercell: Structure, index: int, action: str) -> PointDefect:
    """The defect an (index, action) choice makes: a vacancy, or a substitution by the element ``action``.

    Raises:
        CrystalInputError: index out of range, an unknown element, or swapping an atom for its own element.
    """
    if action == "vacancy":
        return make_vacancy(supercell, index)
    return make_substitution(supercell, index, action)


def defect_figure(defect: PointDefect, supercell: Structure, *, title: str | None = None, height: int = 420) -> go.Figure:
    """The defect supercell in 3-D with the changed site ringed in red (an empty ring for a vacancy)."""
    from crystalkit.widgets.figures import crystal_figure

    figure = crystal_figure(defect.structure, title=title or defect.name, height=height)
    figure.add_trace(_ring(defect, supercell))
    return figure


def _ring(defect: PointDefect, supercell: Structure):
    import plotly.graph_objects as go

    point = np.asarray(defect.frac_coords) @ supercell.lattice.matrix  # (3,) Å
    return go.Scatter3d(x=[point[0]], y=[point[1]], z=[point[2]], mode="markers", name=defect.name,
                        marker=dict(symbol="circle-open", size=26, color="red", line=dict(width=5)),
                        hovertemplate=f"{defect.name}<extra></extra>")


def defect_builder(
    structure: Structure, size: int | Sequence[int] = 2, *, substitutes: Sequence[str] = ("Ba",),
    energies: bool = True, relax_steps: int = 30, backend: Backend = "auto", height: int = 420,
) -> go.Figure | ipywidgets.VBox:
    """Build point defects in a supercell of ``structure`` by hand and see their CHGNet formation energies.

    Args:
        structure: the perfect crystal (ordered), ideally already relaxed.
        size: supercell repeats along a, b, c (one integer for all three).
        substitutes: elements a site can be swapped for.
        energies: score each defect with CHGNet (a single-point energy per change, against the
            element-rich chemical potentials of :func:`crystalkit.defects.chemical_potentials`);
            False draws only.
        relax_steps: FIRE step cap when the ``relax`` button is pressed (live face only).
        backend: "auto", "nglview" (live controls) or "plotly" (a self-contained figure).
        height: drawing height in pixels.

    Returns:
        nglview: an ``ipywidgets.VBox`` with class ``crystalkit-defect-builder``; ``.defect`` is the defect
        shown, ``.caption`` its HTML caption, ``.canvas`` the nglview widget, ``.controls`` the
        (site, action, relax) controls.
        plotly: a figure with one drop-down entry per (site, action).

    Raises:
        CrystalInputError: a disordered or otherwise bad structure, bad size, unknown substitutes.
    """
    supercell = defect_supercell(structure, size)
    sites, actions = site_choices(supercell), action_choices(substitutes)
    scorer = _Scorer(supercell) if energies else None
    if resolve_backend(backend) == "nglview":
        return _live_widget(supercell, sites, actions, scorer, relax_steps, height)
    return _plotly_builder(supercell, sites, actions, scorer, height)


class _Scorer:
    """CHGNet formation energies (eV) of defects in one supercell, element-rich chemical potentials."""

    def __init__(self, supercell: Structure):
        from crystalkit.validation.relax import predict_energies

        self.bulk_energy = float(predict_energies([supercell])[0]) * len(supercell)

    def energies(self, defects: Sequence[PointDefect]) -> list[float]:
        from crystalkit.validation.relax import predict_energies

        per_atom = predict_energies([d.structure for d in defects], batch_size=1)  # one at a time: less memory
        return [self.formation(d, e * len(d.structure)) for d, e in zip(defects, per_atom, strict=True)]

    def formation(self, defect: PointDefect, total_energy: float) -> float:
        mu = chemical_potentials(sorted(defect.element_changes))
        return formation_energy(total_energy, self.bulk_energy, defect.element_changes, mu)


def _caption(defect: PointDefect, text: str) -> str:
    return f'<div style="font-family:sans-serif"><b>{defect.name}</b> at site {defect.site_index}: {text}</div>'


def _live_widget(supercell, sites, actions, scorer, relax_steps, height) -> ipywidgets.VBox:
    import ipywidgets

    from crystalkit.widgets.ngl import legend_html, replace_structure, swappable_widget

    site_box = ipywidgets.Dropdown(options=[(s.label, s.index) for s in sites], description="site")
    action_box = ipywidgets.Dropdown(options=actions, description="action")
    relax_button = ipywidgets.Button(description="relax (CHGNet)", disabled=scorer is None)
    caption, legend = ipywidgets.HTML(), ipywidgets.HTML()
    first = build_defect(supercell, sites[0].index, actions[0][1])
    canvas = swappable_widget([first.structure], height=f"{height}px")
    widget = ipywidgets.VBox([ipywidgets.HBox([site_box, action_box, relax_button]), caption, legend, canvas])
    widget.add_class("crystalkit-defect-builder")  # how the real-browser test finds it
    widget.canvas, widget.caption, widget.controls = canvas, caption, (site_box, action_box, relax_button)
    drawn = {"key": (sites[0].index, actions[0][1])}  # the defect the canvas shows

    def show(_change=None) -> None:
        try:
            defect = build_defect(supercell, site_box.value, action_box.value)
        except CrystalInputError as error:  # e.g. swapping Sr for Sr: say so, keep the drawing
            caption.value = f'<div style="font-family:sans-serif;color:#b00">{error}</div>'
            return
        widget.defect = defect
        if (site_box.value, action_box.value) != drawn["key"]:  # drawn first, scored after: the view answers at once
            replace_structure(canvas, defect.structure)
            drawn["key"] = (site_box.value, action_box.value)
        legend.value = legend_html(defect.structure)
        caption.value = _caption(defect, "unrelaxed" + ("" if scorer is None else ", scoring with CHGNet ..."))
        if scorer is not None:
            energy = scorer.energies([defect])[0]
            caption.value = _caption(defect, f"unrelaxed formation energy {energy:.2f} eV (neutral, element-rich "
                                             "chemical potentials). Press relax to let the atoms move.")

    def relax_now(_button) -> None:
        import warnings

        from crystalkit.validation.relax import relax

        defect = widget.defect
        caption.value = _caption(defect, f"relaxing (at most {relax_steps} FIRE steps, cell fixed) ...")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the convergence flag goes into the caption
            result = relax(defect.structure, steps=relax_steps, relax_cell=False, progress=False)
        replace_structure(canvas, result.final_structure)
        drawn["key"] = None  # the relaxed crystal is drawn: the next choice redraws
        n = len(result.final_structure)
        before = scorer.formation(defect, result.initial_energy_per_atom * n)
        after = scorer.formation(defect, result.energy_per_atom * n)
        status = "converged" if result.converged else f"NOT converged, stopped at {result.steps} steps"
        caption.value = _caption(defect, f"formation energy {before:.2f} eV unrelaxed, {after:.2f} eV relaxed "
                                         f"({status}); atoms moved {result.rmsd:.3f} Å (RMS).")

    site_box.observe(show, names="value")
    action_box.observe(show, names="value")
    relax_button.on_click(relax_now)
    show()
    return widget


def _plotly_builder(supercell, sites, actions, scorer, height) -> go.Figure:
    """One figure, one group of traces per (site, action) pair, a menu to switch between them."""
    import plotly.graph_objects as go

    from crystalkit.widgets.figures import crystal_figure

    defects, labels = [], []
    for site in sites:
        for label, action in actions:
            if action == site.element:
                continue  # swapping an atom for its own element is no defect
            defects.append(build_defect(supercell, site.index, action))
            labels.append(f"{site.label}: {label}")
    energies = scorer.energies(defects) if scorer is not None else [None] * len(defects)
    titles = [f"{d.name} at site {d.site_index}" + ("" if e is None else f": unrelaxed formation energy {e:.2f} eV "
                                                    "(neutral, element-rich)") for d, e in zip(defects, energies)]
    figure = go.Figure()
    groups = []
    for defect in defects:
        first = len(figure.data)
        for trace in list(crystal_figure(defect.structure).data) + [_ring(defect, supercell)]:
            figure.add_trace(trace)
        groups.append(range(first, len(figure.data)))
    buttons = []
    for group, label, title in zip(groups, labels, titles, strict=True):
        visible = [i in group for i in range(len(figure.data))]
        buttons.append(dict(label=label, method="update", args=[{"visible": visible}, {"title.text": title}]))
    for i, trace in enumerate(figure.data):
        trace.visible = i in groups[0]
    layout = crystal_figure(supercell, height=height).layout
    figure.update_layout(scene=layout.scene, height=height, title=titles[0], margin=dict(l=0, r=0, t=90, b=0),
                         updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.12,
                                           yanchor="top")],
                         meta={"defects": [d.name for d in defects], "energies": energies})
    return figure
