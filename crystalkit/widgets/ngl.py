"""Crystals in nglview: a WebGL widget you rotate in a live Jupyter front end.

nglview hands a structure to NGL (a JavaScript molecular viewer) as PDB
text (written by ase). The PDB ``CRYST1`` line carries the cell, which NGL
draws as the ``unitcell`` representation. For a supercell we repeat the atoms
but keep the *unit* cell in ``CRYST1``, so the box NGL draws is the unit cell
inside the repeated crystal; the supercell's outline and the labels a, b, c
are added as NGL shapes.

The starting camera looks at the crystal from the same side as the plotly
figure (:data:`crystalkit.widgets._inputs.CAMERA_EYE`), c upright, in
orthographic projection, and is pulled back just far enough that the cell's
outline *on screen* fills the canvas (:func:`_fitted_orientation`). NGL's fog,
which fades everything behind the centre of the view, is turned off: in a
long cell seen end-on it faded most of the atoms.

**One widget, one WebGL context.** A browser keeps only a few WebGL contexts
per page (Chromium: 16) and throws the oldest away beyond that, blanking the
view that drew with it. So a widget that shows one crystal after another (the
trajectory player, the XRD comparison) builds one :func:`swappable_widget`
and changes what it shows with :func:`replace_structure`, never a new widget
per crystal.

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
import warnings
from collections.abc import Sequence
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
    import ase
    import ipywidgets
    import nglview

__all__ = [
    "nglview_widget",
    "swappable_widget",
    "replace_structure",
    "element_legend",
    "legend_html",
    "import_nglview",
    "Style",
]

#: How atoms are drawn: balls joined by sticks where NGL finds bonds, or space-filling spheres.
Style = Literal["ball+stick", "spacefill"]

_REPRESENTATION_PARAMS: dict[str, dict[str, Any]] = {
    # NGL's defaults for ball+stick (all balls one size), coloured by element.
    # NGL finds bonds by distance, which joins ions that are not bonded (Sr-Ti in SrTiO3): best for covalent crystals.
    "ball+stick": {"colorScheme": "element"},
    # Spheres at 40% of the van der Waals radius: big enough to compare sizes, small enough to see inside.
    "spacefill": {"colorScheme": "element", "radiusType": "vdw", "radiusScale": 0.4},
}

#: NGL's field of view (degrees): an orthographic view at camera distance d shows a height of 2 d tan(fov / 2).
_NGL_FIELD_OF_VIEW = 40.0

#: Room (Å) left around the cell's outline on screen: atoms on its edges stick out by their radius
#: (0.4 x van der Waals radius, up to 1.2 Å for Cs), and the a, b, c labels sit just beyond the tips.
_FIT_PADDING = 1.5

#: NGL's fog, in percent of the scene's radius behind the centre of the view: it begins at ``fogNear``
#: and is complete at ``fogFar``. NGL's 50 and 100 fade every atom behind the centre; 99 and 100 fade none.
_NO_FOG = {"fogNear": 99, "fogFar": 100}

#: Height (Å) of the a, b, c labels.
_LABEL_SIZE = 1.5

#: The eight corners of the unit cube, fractional, ``(8, 3)``.
_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)), dtype=float)


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
    structure = _checked(structure, style)
    repeats = normalize_supercell(supercell)
    # The same atoms the plotly figure draws (coordinates wrapped into the cell), with the *unit* cell
    # as the cell, so that CRYST1 and NGL's box are the unit cell.
    widget = _structure_widget(_ase_atoms(structure, repeats, boundary_atoms=boundary_atoms), style, height)
    pdb_cell = _standard_cell(structure.lattice.matrix)  # (3, 3)
    _add_cell_guides(widget, pdb_cell, repeats)
    outline = _CORNERS @ (pdb_cell * np.array(repeats)[:, None])  # (8, 3) corners of the repeated cell
    widget.control.orient(_fitted_orientation(outline, facing=pdb_cell))
    return widget


def swappable_widget(
    structures: Sequence[Structure], *, style: Style = "spacefill", height: str = "400px"
) -> nglview.NGLWidget:
    """An nglview widget showing ``structures[0]``, ready to show any of them in its place.

    For widgets that show one crystal after another in one WebGL canvas (see
    the module docstring): pass the widget and the next crystal to
    :func:`replace_structure`. The camera is fitted once so that every one of
    the cells fits, seen as the *last* one is best seen (c upright); so the
    view stays still while the crystal changes, as in a film. The widget holds
    the crystal and its unit cell only (labels a, b, c would stay where the
    first cell put them).

    Args:
        structures: ordered crystals, e.g. the frames of a sampling trajectory.
        style: ``"spacefill"`` or ``"ball+stick"`` (see :func:`nglview_widget`).
        height: CSS height of the canvas.

    Raises:
        CrystalInputError: no structures, or one that :func:`nglview_widget` would refuse.
    """
    if isinstance(structures, Structure) or not isinstance(structures, Sequence) or len(structures) == 0:
        raise CrystalInputError("swappable_widget() takes a non-empty list of structures.")
    checked = [_checked(structure, style) for structure in structures]
    widget = _structure_widget(_ase_atoms(checked[0], (1, 1, 1)), style, height)
    cells = [_standard_cell(structure.lattice.matrix) for structure in checked]  # each (3, 3)
    outline = np.concatenate([_CORNERS @ cell for cell in cells])  # (8 S, 3)
    widget.control.orient(_fitted_orientation(outline, facing=cells[-1]))
    return widget


def replace_structure(widget: nglview.NGLWidget, structure: Structure, *, refit: bool = False) -> None:
    """Show ``structure`` in a widget from :func:`swappable_widget`, in the same canvas.

    NGL loads the new crystal, gives it the old one's representations (so the
    unit cell is redrawn for the new cell and atoms are recoloured for new
    elements), keeps the camera where it was, then removes the old crystal.
    This is the ``replaceStructure`` method of nglview 3.1.4's front end.

    Args:
        widget: a widget from :func:`swappable_widget` (whose only component is the crystal).
        structure: the crystal to show; any number of atoms.
        refit: also move the camera to fit this crystal's cell (for crystals of
            different sizes; leave it off for the frames of a film).

    Raises:
        CrystalInputError: a structure that :func:`nglview_widget` would refuse.
    """
    structure = _checked(structure)
    from nglview.adaptor import ASEStructure

    pdb = ASEStructure(_ase_atoms(structure, (1, 1, 1))).get_structure_string()
    _send_once(widget, "replaceStructure", "Widget", [{"data": pdb, "ext": "pdb"}])
    if refit:
        cell = _standard_cell(structure.lattice.matrix)
        _send_once(widget, "orient", "viewerControls", [_fitted_orientation(_CORNERS @ cell, facing=cell)])


def _send_once(widget: nglview.NGLWidget, method: str, target: str, args: list) -> None:
    """Call a method of NGL in the browser, leaving it out of nglview's archive of messages.

    nglview keeps every call in ``widget._ngl_msg_archive`` and sends the whole
    archive to the browser after each one; a film would add a PDB per frame.
    Before the widget is first drawn, nglview holds calls back and sends them in
    one go once it is; two swaps sent together would both replace the same old
    crystal in the browser, so a new call drops a waiting one of the same name.
    """
    if not widget.loaded:
        waiting = widget._ngl_displayed_callbacks_before_loaded
        waiting[:] = [callback for callback in waiting if callback._method_name != method]
    widget._remote_call(method, target=target, args=args, fire_once=True)


def _checked(structure: object, style: str = "spacefill") -> Structure:
    """``structure`` if nglview can draw it in ``style``, else :class:`CrystalInputError`."""
    structure = check_drawable(structure)
    if not structure.is_ordered:
        raise CrystalInputError(
            "nglview cannot draw partially occupied sites (one element per atom). Use backend='plotly', "
            "which colours each site by the occupancy-weighted mix of its elements, or order the structure first."
        )
    if style not in _REPRESENTATION_PARAMS:
        raise CrystalInputError(f"Unknown style {style!r}: choose one of {', '.join(_REPRESENTATION_PARAMS)}.")
    return structure


def _ase_atoms(structure: Structure, supercell: tuple[int, int, int], *, boundary_atoms: bool = False) -> ase.Atoms:
    """The atoms to draw (wrapped into the cell, repeated), as ase ``Atoms`` whose cell is the *unit* cell."""
    from ase import Atoms

    site_index, _, cart = supercell_positions(structure, supercell, boundary_atoms=boundary_atoms)  # (M,), _, (M, 3)
    symbols = [structure[int(i)].specie.symbol for i in site_index]
    return Atoms(symbols=symbols, positions=cart, cell=structure.lattice.matrix, pbc=True)


def _structure_widget(atoms: ase.Atoms, style: str, height: str) -> nglview.NGLWidget:
    """A widget whose one component is ``atoms`` drawn in ``style`` with their unit cell; camera not yet placed."""
    nv = import_nglview()
    from nglview.adaptor import ASEStructure

    representations = [
        {"type": style, "params": dict(_REPRESENTATION_PARAMS[style])},
        {"type": "unitcell", "params": {}},
    ]
    widget = nv.NGLWidget(ASEStructure(atoms), representations=representations)
    widget.camera = "orthographic"  # crystallographers' convention: parallel edges stay parallel
    # NGL hides whatever is nearer than clipDist (10 Å) to the camera, which cuts through small cells.
    widget.stage.set_parameters(clipDist=0, **_NO_FOG)
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


def _fitted_orientation(points: np.ndarray, facing: np.ndarray) -> list[float]:
    """NGL camera orientation (16 numbers, column-major 4x4) that frames ``points``, c of ``facing`` upright.

    NGL's own fit (``autoView``) frames the atoms and ignores the cell, so a
    cell whose atoms cluster near one corner ends up off-centre and cut off.
    Instead we look at the middle of the points' bounding box from
    :data:`~crystalkit.widgets._inputs.CAMERA_EYE` and pull the camera back
    until the points' outline *on screen* fits the canvas height (the canvas
    is assumed at least as wide as tall). Fitting a bounding sphere instead
    would draw a long cell seen end-on (notebook 01's sheared cell) at half the
    size. The orientation matrix is ``[R * d | t]``: rotation R (model to
    screen), camera distance d as its scale, and translation t = -(centre).

    Args:
        points: ``(P, 3)`` positions (Å, PDB frame) that must be in view, e.g. cell corners.
        facing: ``(3, 3)`` the cell (rows a, b, c, PDB frame) whose c is upright on screen.
    """
    centre = 0.5 * (points.min(axis=0) + points.max(axis=0))  # (3,)
    towards_camera, up = camera_direction(facing)  # c upright ...
    up = up - (up @ towards_camera) * towards_camera  # ... as far as it can be while facing the camera
    if np.linalg.norm(up) < 1e-6:  # c points straight at the camera: any up will do
        up = np.array([0.0, 1.0, 0.0]) - towards_camera[1] * towards_camera
    up /= np.linalg.norm(up)
    right = np.cross(up, towards_camera)
    on_screen = (points - centre) @ np.array([right, up]).T  # (P, 2) across and up the canvas, Å
    half_height = np.abs(on_screen).max() + _FIT_PADDING
    distance = half_height / np.tan(np.radians(_NGL_FIELD_OF_VIEW / 2))
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

    legend = ipywidgets.HTML(legend_html(structure, title))
    legend.add_class("crystalkit-legend")
    return legend


def legend_html(structure: Structure, title: str | None = None) -> str:
    """The HTML of :func:`element_legend` (for updating a legend in place)."""
    structure = check_drawable(structure)
    symbols = dict.fromkeys(element.symbol for element in structure.composition.element_composition)
    dots = "".join(
        f'<span style="margin-right:12px;white-space:nowrap">'
        f'<span style="display:inline-block;width:12px;height:12px;border-radius:50%;'
        f'background:{element_color(symbol)};border:1px solid #404040;vertical-align:middle"></span> {symbol}</span>'
        for symbol in symbols
    )
    heading = describe(structure) if title is None else title
    return f'<div style="font-family:sans-serif"><b>{heading}</b> &nbsp; {dots}</div>'


def import_nglview() -> types.ModuleType:
    """Import and return nglview, without the noise its use of ``pkg_resources`` makes.

    nglview 3.1.4 reads its own version with ``pkg_resources``. setuptools 81
    warns on that import that ``pkg_resources`` is deprecated (a pink box under
    the first 3-D view in JupyterLab, about nglview, not about the learner's
    code), so that one warning is silenced for the duration of this import and
    the warning filters are restored afterwards. setuptools 82 removed
    ``pkg_resources``: then a stand-in answering nglview's one question from
    ``importlib.metadata`` is put in place for the import and taken away
    afterwards (nglview keeps no reference to it).

    Raises:
        ImportError: nglview is not installed (``pip install nglview==3.1.4``).
    """
    if "nglview" in sys.modules:
        return sys.modules["nglview"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        try:
            importlib.import_module("pkg_resources")
        except ImportError:
            return _import_with_stand_in()
        return importlib.import_module("nglview")


def _import_with_stand_in() -> types.ModuleType:
    """Import nglview with :func:`_pkg_resources_stand_in` as ``pkg_resources``, then restore what was there."""
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
