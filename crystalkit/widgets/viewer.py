"""``view(structure)``: look at a crystal, whatever is rendering the notebook.

One call, two drawings. In a live JupyterLab (or Notebook 7) the crystal is
an nglview widget: smooth WebGL, bonds, the unit cell, a legend of elements.
Everywhere else (exported HTML, a notebook executed headless, a terminal) it
is an interactive plotly figure, which carries its own JavaScript and so
draws wherever the page is opened. :mod:`crystalkit.widgets.backend` explains
how ``backend="auto"`` decides and how ``CRYSTALKIT_VIEWER`` overrides it.

``view`` returns the drawing rather than displaying it: as the last line of
a cell it shows itself; elsewhere (in a loop, say) pass it to
``IPython.display.display``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymatgen.core import Structure

from crystalkit.widgets._inputs import check_drawable, normalize_supercell
from crystalkit.widgets.backend import Backend, resolve_backend
from crystalkit.widgets.figures import crystal_figure
from crystalkit.widgets.ngl import Style, element_legend, nglview_widget

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = ["view"]


def view(
    structure: Structure,
    supercell: int | tuple[int, int, int] = (1, 1, 1),
    backend: Backend = "auto",
    *,
    style: Style = "spacefill",
    boundary_atoms: bool = False,
    title: str | None = None,
    height: int = 420,
) -> ipywidgets.VBox | go.Figure:
    """Show a crystal in 3-D with its unit cell, repeated ``supercell`` times, atoms coloured by element.

    Args:
        structure: the crystal (a pymatgen ``Structure``). Overlapping atoms
            are drawn, not refused, so a generative model's failures can be
            inspected. Partially occupied sites are drawn by plotly in the
            occupancy-weighted mix of their elements' colours; in ``"auto"``
            mode such a structure always goes to plotly.
        supercell: repeats along a, b, c (one integer ``n`` means ``(n, n, n)``).
        backend: ``"auto"`` (see :func:`crystalkit.widgets.backend.resolve_backend`),
            ``"nglview"`` or ``"plotly"``.
        style: nglview only: ``"spacefill"`` or ``"ball+stick"`` (see
            :func:`~crystalkit.widgets.ngl.nglview_widget`).
        boundary_atoms: also draw the periodic images on the far faces, edges and corners of
            the repeated cell (textbook style; a corner atom then shows at all eight corners).
            Off by default, so the picture holds exactly ``len(structure) * prod(supercell)`` atoms.
        title: heading above the crystal; default: reduced formula and space group.
        height: height in pixels.

    Returns:
        nglview: an ``ipywidgets.VBox`` holding a heading with the legend of elements
        (``.children[0]``, HTML) above the ``nglview.NGLWidget`` (``.children[1]``, e.g. to
        add representations). plotly: the ``plotly.graph_objects.Figure`` of
        :func:`~crystalkit.widgets.figures.crystal_figure`.

    Raises:
        CrystalInputError: ``structure`` is not a drawable Structure, ``supercell`` is not
            three positive integers, the backend name is unknown, or nglview was asked to draw
            partial occupancies.

    Example:
        >>> from pymatgen.core import Lattice, Structure
        >>> nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> view(nacl, supercell=2, backend="plotly")  # doctest: +SKIP
    """
    structure = check_drawable(structure)
    repeats = normalize_supercell(supercell)
    chosen = resolve_backend(backend)
    if backend == "auto" and not structure.is_ordered:
        chosen = "plotly"
    if chosen == "plotly":
        return crystal_figure(structure, repeats, title=title, boundary_atoms=boundary_atoms, height=height)

    import ipywidgets

    widget = nglview_widget(structure, repeats, style=style, boundary_atoms=boundary_atoms, height=f"{height}px")
    box = ipywidgets.VBox([element_legend(structure, title=title), widget])
    box.add_class("crystalkit-viewer")
    return box
