"""Crystals as plotly 3-D figures: one crystal, or a gallery of them.

These are pure functions: a structure goes in, a ``plotly.graph_objects.Figure``
comes out, nothing is displayed. The figure carries its own JavaScript, so it
draws in JupyterLab, in exported HTML and in a notebook executed headless;
that is why it is the viewer's fallback (see :mod:`crystalkit.widgets.backend`).

What a figure holds (tests and later widgets rely on it):

* one ``Scatter3d`` marker trace per element (per site composition for
  partially occupied sites), named after it and shown in the legend; its
  markers are the atoms of the repeated cell, sized by atomic radius and
  coloured by :mod:`crystalkit.widgets.colors`, with hover text giving the
  element, the fractional coordinates within the unit cell, the cell copy
  and the Cartesian position;
* a line trace ``"unit cell"`` with the cell's 12 edges, a grey
  ``"supercell"`` outline when the cell is repeated, and text labels
  ``a``, ``b``, ``c`` at the tips of the lattice vectors; these are not in
  the legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.widgets._inputs import (
    CAMERA_EYE,
    camera_direction,
    cell_edges,
    check_drawable,
    describe,
    normalize_supercell,
    site_label,
    site_radius,
    supercell_positions,
)
from crystalkit.widgets.colors import site_color

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["crystal_figure", "gallery", "ATOM_SIZE"]

#: Marker diameter in screen pixels per Å of atomic radius. Plotly's 3-D
#: markers keep their pixel size when you zoom, so this is a drawing scale,
#: not a physical one: 14 px/Å makes oxygen (0.6 Å) small and strontium (2 Å) large.
ATOM_SIZE = 14.0


def crystal_figure(
    structure: Structure,
    supercell: int | tuple[int, int, int] = (1, 1, 1),
    *,
    title: str | None = None,
    boundary_atoms: bool = False,
    atom_size: float = ATOM_SIZE,
    show_axes: bool = False,
    height: int = 480,
) -> go.Figure:
    """An interactive 3-D plotly figure of a crystal: atoms, unit cell and lattice vectors.

    Args:
        structure: the crystal. Overlapping atoms are drawn as they are;
            partially occupied sites are drawn in the occupancy-weighted mix of
            their elements' colours, one legend entry per site composition.
        supercell: repeats along a, b, c (one integer ``n`` means ``(n, n, n)``).
        title: figure title; default: reduced formula and space group.
        boundary_atoms: also draw the periodic images on the far faces, edges and corners
            (textbook style). Off by default: then the figure holds exactly
            ``len(structure) * prod(supercell)`` atoms.
        atom_size: marker diameter in pixels per Å of atomic radius.
        show_axes: draw Cartesian x, y, z axes in Å (hover text gives positions anyway).
        height: figure height in pixels.

    Returns:
        The figure (call ``.show()`` to display it). See the module docstring for its traces.

    Raises:
        CrystalInputError: ``structure`` is not a drawable Structure or ``supercell`` is not three
            positive integers.
    """
    import plotly.graph_objects as go

    structure = check_drawable(structure)
    repeats = normalize_supercell(supercell)
    traces = _crystal_traces(structure, repeats, boundary_atoms=boundary_atoms, atom_size=atom_size, in_legend=set())
    figure = go.Figure(traces)
    figure.update_layout(
        title=describe(structure) if title is None else title,
        height=height,
        margin=dict(l=0, r=0, t=40, b=0),
        legend=dict(title=dict(text="element"), itemsizing="constant"),
        scene=_scene_layout(structure, show_axes=show_axes),
        paper_bgcolor="white",
    )
    return figure


def gallery(
    structures: Sequence[Structure],
    titles: Sequence[str] | None = None,
    columns: int = 3,
    *,
    supercell: int | tuple[int, int, int] = (1, 1, 1),
    boundary_atoms: bool = False,
    atom_size: float = ATOM_SIZE,
    row_height: int = 320,
) -> go.Figure:
    """Several crystals side by side: one plotly figure with a 3-D panel per crystal.

    Each panel rotates on its own. The legend lists every element once and
    clicking an entry hides that element in all panels. Being a plotly figure,
    a gallery draws the same in JupyterLab and in exported HTML.

    Args:
        structures: the crystals, drawn left to right, top to bottom.
        titles: one title per crystal; default: reduced formula and space group.
        columns: panels per row.
        supercell: repeats along a, b, c, the same for every crystal.
        boundary_atoms: also draw the periodic images on the far faces, edges and corners.
        atom_size: marker diameter in pixels per Å of atomic radius.
        row_height: height of one row of panels in pixels.

    Raises:
        CrystalInputError: no structures, a structure that cannot be drawn (its position is named),
            titles of the wrong number, or a bad ``columns`` / ``supercell``.
    """
    from plotly.subplots import make_subplots

    titles = _gallery_titles(structures, titles, columns)
    repeats = normalize_supercell(supercell)

    columns = min(columns, len(structures))
    rows = -(-len(structures) // columns)  # ceiling division
    specs = [
        [{"type": "scene"} if row * columns + col < len(structures) else None for col in range(columns)]
        for row in range(rows)
    ]
    figure = make_subplots(
        rows=rows,
        cols=columns,
        specs=specs,
        subplot_titles=list(titles),
        horizontal_spacing=0.01,
        vertical_spacing=min(0.06, 0.5 / rows),
    )
    in_legend: set[str] = set()  # each element appears in the legend once, for the first panel that has it
    for position, structure in enumerate(structures):
        row, col = divmod(position, columns)
        traces = _crystal_traces(
            structure, repeats, boundary_atoms=boundary_atoms, atom_size=atom_size, in_legend=in_legend
        )
        for trace in traces:
            figure.add_trace(trace, row=row + 1, col=col + 1)
        figure.update_scenes(_scene_layout(structure, show_axes=False), row=row + 1, col=col + 1)
    figure.update_layout(
        height=row_height * rows + 40,
        margin=dict(l=0, r=0, t=40, b=0),
        legend=dict(title=dict(text="element"), itemsizing="constant"),
        paper_bgcolor="white",
    )
    return figure


def _gallery_titles(structures: Sequence[Structure], titles: Sequence[str] | None, columns: int) -> list[str]:
    """Check the gallery's input; return one title per structure (default: formula and space group)."""
    if isinstance(structures, Structure) or not isinstance(structures, Sequence):
        raise CrystalInputError(
            f"gallery() takes a list of structures, got {type(structures).__name__}; "
            "for a single crystal use view() or crystal_figure()."
        )
    if len(structures) == 0:
        raise CrystalInputError("gallery() got an empty list: pass at least one structure.")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise CrystalInputError(f"columns must be a positive integer, got {columns!r}.")
    for position, structure in enumerate(structures):
        try:
            check_drawable(structure)
        except CrystalInputError as error:
            raise CrystalInputError(f"Structure {position} of the gallery cannot be drawn: {error}") from error
    if titles is None:
        return [describe(structure) for structure in structures]
    if isinstance(titles, str) or len(titles) != len(structures):
        count = "a string" if isinstance(titles, str) else f"{len(titles)} titles"
        raise CrystalInputError(f"Got {count} for {len(structures)} structures: pass one title per structure.")
    return list(titles)


def _crystal_traces(
    structure: Structure,
    supercell: tuple[int, int, int],
    *,
    boundary_atoms: bool,
    atom_size: float,
    in_legend: set[str],
    trace_labels: Sequence[str] | None = None,
) -> list[go.Scatter3d]:
    """Traces of one crystal: atoms grouped by legend label, cell edges, lattice-vector labels.

    ``in_legend`` holds the labels already shown in the legend; it is updated,
    so a gallery lists each element once. ``trace_labels`` fixes the marker
    traces (one per label, empty where the crystal has none), so that the
    frames of an animation share one layout; by default each label present
    gets a trace, in order of first appearance.
    """
    import plotly.graph_objects as go

    site_index, cell_offset, cart = supercell_positions(  # (M,), (M, 3), (M, 3)
        structure, supercell, boundary_atoms=boundary_atoms
    )
    labels = [site_label(structure, i) for i in range(len(structure))]
    traces = []
    for label in dict.fromkeys(labels) if trace_labels is None else trace_labels:
        sites = [i for i, other in enumerate(labels) if other == label]
        chosen = np.isin(site_index, sites)  # (M,) atoms copying a site with this label
        hover = [
            _hover_text(structure, int(i), offset, position, supercell)
            for i, offset, position in zip(site_index[chosen], cell_offset[chosen], cart[chosen])
        ]
        sizes = [atom_size * site_radius(structure, int(i)) for i in site_index[chosen]]
        colors = [site_color(structure[int(i)].species) for i in site_index[chosen]]
        traces.append(
            go.Scatter3d(
                x=cart[chosen, 0],
                y=cart[chosen, 1],
                z=cart[chosen, 2],
                mode="markers",
                name=label,
                legendgroup=label,
                showlegend=label not in in_legend,
                marker=dict(size=sizes, color=colors, opacity=1.0, line=dict(color="#404040", width=1)),
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            )
        )
        in_legend.add(label)

    matrix = structure.lattice.matrix  # (3, 3): rows are a, b, c in Å
    cell, labels = _cell_traces(matrix)
    traces.append(cell)
    if supercell != (1, 1, 1):
        super_matrix = matrix * np.array(supercell)[:, None]  # (3, 3): each lattice vector stretched
        traces.append(_edges_trace(cell_edges(super_matrix), name="supercell", color="#A0A0A0", width=2))
    traces.append(labels)
    return traces


def _cell_traces(matrix: np.ndarray) -> tuple[go.Scatter3d, go.Scatter3d]:
    """The unit cell's edges and the labels ``a``, ``b``, ``c`` at the tips of its vectors (rows of ``matrix``, Å)."""
    import plotly.graph_objects as go

    tips = matrix * 1.08  # (3, 3): labels just beyond the tips of a, b, c
    labels = go.Scatter3d(
        x=tips[:, 0], y=tips[:, 1], z=tips[:, 2],
        mode="text", text=["a", "b", "c"], textfont=dict(size=16, color="black"),
        name="lattice vectors", showlegend=False, hoverinfo="skip",
    )
    return _edges_trace(cell_edges(matrix), name="unit cell", color="black", width=4), labels


def _edges_trace(edges: np.ndarray, *, name: str, color: str, width: float) -> go.Scatter3d:
    """One line trace through all ``(E, 2, 3)`` edges, separated by gaps (``None``)."""
    import plotly.graph_objects as go

    points: list[list[float | None]] = [[], [], []]
    for start, end in edges:
        for axis in range(3):
            points[axis] += [float(start[axis]), float(end[axis]), None]
    return go.Scatter3d(
        x=points[0], y=points[1], z=points[2],
        mode="lines", name=name, showlegend=False, hoverinfo="skip",
        line=dict(color=color, width=width),
    )


def _hover_text(
    structure: Structure, index: int, offset: np.ndarray, position: np.ndarray, supercell: tuple[int, int, int]
) -> str:
    """Hover label: species (with occupancies), fractional coordinates in the unit cell, cell copy, Å."""
    species = structure[index].species_string
    frac = ", ".join(f"{value:.3f}" for value in np.mod(structure[index].frac_coords, 1.0))
    outside = any(not 0 <= int(n) < size for n, size in zip(offset, supercell))
    cart = ", ".join(f"{value:.2f}" for value in position)
    return (
        f"<b>{species}</b> (site {index})<br>"
        f"fractional ({frac})<br>"
        f"cell copy [{', '.join(str(int(n)) for n in offset)}]{' (boundary image)' if outside else ''}<br>"
        f"x, y, z ({cart}) Å"
    )


def _scene_layout(structure: Structure, *, show_axes: bool) -> dict:
    """3-D scene settings: true proportions, orthographic camera with c upright, optional axes."""
    eye, up = camera_direction(structure.lattice.matrix)
    eye = eye * np.linalg.norm(CAMERA_EYE)  # plotly's zoom is the eye's distance
    axis = dict(visible=show_axes, showbackground=False, gridcolor="#e5e5e5", zeroline=False)
    return dict(
        aspectmode="data",
        xaxis=dict(axis, title="x (Å)"),
        yaxis=dict(axis, title="y (Å)"),
        zaxis=dict(axis, title="z (Å)"),
        camera=dict(
            eye=dict(zip("xyz", eye.tolist())),
            up=dict(zip("xyz", up.tolist())),
            projection=dict(type="orthographic"),
        ),
    )
