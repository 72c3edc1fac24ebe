"""Crystals in nglview: a WebGL widget you rotate in a live Jupyter front end.

nglview hands a structure to NGL (a JavaScript molecular viewer) as PDB
text (written by ase). The PDB ``CRYST1`` line carries the cell, which NGL
draws as the ``unitcell`` representation. For a supercell we repeat the atoms
but keep the *unit* cell in ``CRYST1``, so the box NGL draws is the unit cell
inside the repeated crystal; the supercell's outline and the labels a, b, c
are added as NGL shapes. The starting camera frames the whole repeated cell
with c upright, seen from the same side as the plotly figure
(:data:`crystalkit.widgets._inputs.CAMERA_EYE`), in orthographic projection.

NGL colours atoms with Jmol's element colours, the table in
:mod:`crystalkit.widgets.colors`, so :func:`element_legend` (drawn beside the
widget, since NGL has no legend) matches the atoms.

This module imports nglview, ase and ipywidgets only inside its functions.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.widgets._inputs import (
    camera_direction,
    cell_edges,
    check_drawable,
    describe,
    normalize_supercell,
    supercell_positions,
)
from crystalkit.widgets.colors import element_color

if TYPE_CHECKING:
    import ipywidgets
    import nglview

__all__ = ["nglview_widget", "element_legend", "import_nglview", "Style"]

#: How atoms are drawn: balls joined by sticks where NGL finds bonds, or space-filling spheres.
Style = Literal["ball+stick", "spacefill"]

_REPRESENTATION_PARAMS: dict[str, dict[str, Any]] = {
    # NGL's defaults for ball+stick (all balls one size), coloured by element.
    # NGL finds bonds by distance, which joins ions that are not bonded (Sr-Ti in SrTiO3): best for covalent crystals.
    "ball+stick": {"colorScheme": "element"},
    # Spheres at 40% of the van der Waals radius: big enough to compare sizes, small enough to see inside.
    "spacefill": {"colorScheme": "element", "radiusType": "vdw", "radiusScale": 0.4},
}

#: NGL's field of view (degrees) and the margin left around the cell when fitting it into the canvas.
_NGL_FIELD_OF_VIEW = 40.0
_FIT_MARGIN = 1.1

#: Height (Å) of the a, b, c labels.
_LABEL_SIZE = 1.5


def nglview_widget(
    structure: Structure,
    supercell: int | tuple[int, int, int] = (1, 1, 1),
    *,
    style: Style = "spacefill",
    boundary_atoms: bool = False,
    height: str = "400px",
) -> nglview.NGLWidget:
    """An ``nglview.NGLWidget`` showing a crystal, its unit cell and its supercell repeat.

    Building the widget needs no browser; it draws once displayed in a live
    Jupyter front end (see :mod:`crystalkit.widgets.backend`).

    Args:
        structure: an ordered crystal.
        supercell: repeats along a, b, c (one integer ``n`` means ``(n, n, n)``).
        style: ``"spacefill"`` (spheres at 0.4 x the van der Waals radius, no bonds, like the
            plotly figure) or ``"ball+stick"`` (bonds guessed by NGL from distances, which
            suits covalent crystals such as carbon but joins ions that are not bonded).
        boundary_atoms: also draw the periodic images on the far faces, edges and corners.
        height: CSS height of the canvas, e.g. ``"400px"``.

    Raises:
        CrystalInputError: not a drawable structure, a partially occupied one
            (nglview draws one element per atom: use ``backend="plotly"``), or a bad
            ``supercell`` / ``style``.
    """
    structure = check_drawable(structure)
    repeats = normalize_supercell(supercell)
    if not structure.is_ordered:
        raise CrystalInputError(
            "nglview cannot draw partially occupied sites (one element per atom). Use backend='plotly', "
            "which colours each site by the occupancy-weighted mix of its elements, or order the structure first."
        )
    if style not in _REPRESENTATION_PARAMS:
        raise CrystalInputError(f"Unknown style {style!r}: choose one of {', '.join(_REPRESENTATION_PARAMS)}.")

    nv = import_nglview()
    from ase import Atoms
    from nglview.adaptor import ASEStructure

    # The same atoms the plotly figure draws (coordinates wrapped into the cell), with the *unit* cell
    # as the cell, so that CRYST1 and NGL's box are the unit cell.
    site_index, _, cart = supercell_positions(structure, repeats, boundary_atoms=boundary_atoms)
    symbols = [structure[int(i)].specie.symbol for i in site_index]
    repeated = Atoms(symbols=symbols, positions=cart, cell=structure.lattice.matrix, pbc=True)
    representations = [
        {"type": style, "params": dict(_REPRESENTATION_PARAMS[style])},
        {"type": "unitcell", "params": {}},
    ]
    widget = nv.NGLWidget(ASEStructure(repeated), representations=representations)
    widget.camera = "orthographic"  # crystallographers' convention: parallel edges stay parallel
    # NGL hides whatever is nearer than clipDist (10 Å) to the camera, which cuts through small cells.
    widget.stage.set_parameters(clipDist=0)
    pdb_cell = _standard_cell(structure.lattice.matrix)
    _add_cell_guides(widget, pdb_cell, repeats)
    widget.control.orient(_initial_orientation(pdb_cell, repeats))
    widget.layout.height = height
    widget.add_class("crystalkit-ngl")
    return widget


def _standard_cell(matrix: np.ndarray) -> np.ndarray:
    """The cell in the frame ase writes PDB coordinates in (a along x, b in the xy-plane), rows a, b, c in Å."""
    from ase.geometry import cell_to_cellpar, cellpar_to_cell

    return cellpar_to_cell(cell_to_cellpar(matrix))


def _add_cell_guides(widget: nglview.NGLWidget, pdb_cell: np.ndarray, supercell: tuple[int, int, int]) -> None:
    """Labels a, b, c at the tips of the lattice vectors and, for a supercell, its outline in grey.

    NGL draws only the unit cell, so these are added as NGL shapes (each a
    component of its own), positioned in the frame of the PDB coordinates.
    """
    for label, tip in zip("abc", 1.08 * pdb_cell):  # just beyond the tips of a, b, c
        widget.shape.add_text(tip.tolist(), [0.0, 0.0, 0.0], _LABEL_SIZE, label)
    if supercell == (1, 1, 1):
        return
    edges = cell_edges(pdb_cell * np.array(supercell)[:, None])  # (12, 2, 3)
    widget.shape.add_buffer(
        "cylinder",
        position1=edges[:, 0].ravel().tolist(),
        position2=edges[:, 1].ravel().tolist(),
        color=[0.63] * 36,  # the grey of plotly's supercell outline
        radius=[0.04] * 12,
    )


def _initial_orientation(pdb_cell: np.ndarray, supercell: tuple[int, int, int]) -> list[float]:
    """NGL camera orientation (16 numbers, column-major 4x4) that shows the whole repeated cell, c upright.

    NGL's own fit (``autoView``) frames the atoms and ignores the cell, so a
    cell whose atoms cluster near one corner ends up off-centre and cut off.
    Instead we centre the view on the middle of the repeated cell and pull
    the camera back until the cell's bounding sphere fits. The orientation
    matrix is ``[R * d | t]``: rotation R (model to screen), camera distance d
    as its scale, and translation t = -(centre of the cell).
    """
    spans = pdb_cell * np.array(supercell)[:, None]  # (3, 3): the repeated cell's edges, one per row
    centre = 0.5 * spans.sum(axis=0)
    corners = np.array(list(itertools.product((0, 1), repeat=3))) @ spans  # (8, 3)
    radius = float(np.linalg.norm(corners - centre, axis=1).max())
    distance = _FIT_MARGIN * radius / np.tan(np.radians(_NGL_FIELD_OF_VIEW / 2))

    towards_camera, up = camera_direction(pdb_cell)  # c upright ...
    up = up - (up @ towards_camera) * towards_camera  # ... as far as it can be while facing the camera
    if np.linalg.norm(up) < 1e-6:  # c points straight at the camera: any up will do
        up = np.array([0.0, 1.0, 0.0]) - towards_camera[1] * towards_camera
    up /= np.linalg.norm(up)
    right = np.cross(up, towards_camera)
    # NGL's camera sits on the negative z side of the scene, so screen x and z are flipped
    # relative to the usual (x right, y up, z at the viewer) convention.
    rotation = np.diag([-1.0, 1.0, -1.0]) @ np.array([right, up, towards_camera])  # (3, 3) model -> screen
    orientation = np.eye(4)
    orientation[:3, :3] = rotation * distance
    orientation[:3, 3] = -centre
    return orientation.T.ravel().tolist()  # column-major, as three.js reads it


def element_legend(structure: Structure, title: str | None = None) -> ipywidgets.HTML:
    """A one-line HTML legend: a coloured dot and the symbol for each element, after a title.

    Args:
        structure: the crystal whose elements are listed (in order of first appearance).
        title: text before the dots; default: reduced formula and space group.
    """
    import ipywidgets

    structure = check_drawable(structure)
    symbols = dict.fromkeys(element.symbol for element in structure.composition.element_composition)
    dots = "".join(
        f'<span style="margin-right:12px;white-space:nowrap">'
        f'<span style="display:inline-block;width:12px;height:12px;border-radius:50%;'
        f'background:{element_color(symbol)};border:1px solid #404040;vertical-align:middle"></span> {symbol}</span>'
        for symbol in symbols
    )
    heading = describe(structure) if title is None else title
    legend = ipywidgets.HTML(f'<div style="font-family:sans-serif"><b>{heading}</b> &nbsp; {dots}</div>')
    legend.add_class("crystalkit-legend")
    return legend


def import_nglview() -> types.ModuleType:
    """Import and return nglview, working around its use of the retired ``pkg_resources``.

    nglview 3.1.4 reads its own version with ``pkg_resources``, which setuptools
    removed in version 82. If ``pkg_resources`` cannot be imported, a stand-in
    answering that one question from ``importlib.metadata`` is put in place for
    the duration of the import and taken away afterwards (nglview keeps no
    reference to it).

    Raises:
        ImportError: nglview is not installed (``pip install nglview==3.1.4``).
    """
    if "nglview" in sys.modules:
        return sys.modules["nglview"]
    try:
        importlib.import_module("pkg_resources")
    except ImportError:
        absent = object()
        previous = sys.modules.get("pkg_resources", absent)  # absent, or None (a blocked import)
        sys.modules["pkg_resources"] = _pkg_resources_stand_in()
        try:
            return importlib.import_module("nglview")
        finally:
            if previous is absent:
                del sys.modules["pkg_resources"]
            else:
                sys.modules["pkg_resources"] = previous
    return importlib.import_module("nglview")


def _pkg_resources_stand_in() -> types.ModuleType:
    """A module with the two names nglview uses from ``pkg_resources``, backed by ``importlib.metadata``."""
    from importlib.metadata import PackageNotFoundError, version

    module = types.ModuleType("pkg_resources", "crystalkit stand-in used while importing nglview")

    class DistributionNotFound(Exception):
        pass

    def get_distribution(name: str) -> types.SimpleNamespace:
        try:
            return types.SimpleNamespace(version=version(name))
        except PackageNotFoundError as error:
            raise DistributionNotFound(name) from error

    module.DistributionNotFound = DistributionNotFound  # type: ignore[attr-defined]
    module.get_distribution = get_distribution  # type: ignore[attr-defined]
    return module
