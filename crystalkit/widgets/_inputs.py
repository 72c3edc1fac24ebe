"""Checks and small geometry shared by every crystal drawing (private to ``crystalkit.widgets``).

A viewer is where a learner looks at what a model produced, including its
failures, so these checks are looser than :func:`crystalkit.structures.check_structure`:
overlapping atoms and partial occupancies are drawn, not refused. What
cannot be drawn at all (not a crystal, no atoms, no volume, a species that is
no element) raises :class:`~crystalkit.errors.CrystalInputError`.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence

import numpy as np
from pymatgen.core import Composition, Element, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = [
    "check_drawable",
    "normalize_supercell",
    "supercell_positions",
    "cell_edges",
    "site_label",
    "site_radius",
    "describe",
    "camera_direction",
    "CAMERA_EYE",
]

#: Radius (Å) used for an element pymatgen has no atomic radius for (some heavy elements).
_DEFAULT_RADIUS = 1.5

#: How close (in fractional coordinates) an atom must be to a face of the cell to count as on it.
_BOUNDARY_TOL = 1e-3

#: Where both viewers look from, in the crystal's *standard* frame (a along x, b in the xy-plane): mostly
#: from +x (a points at you), a little from +y and from above. Plotly's default (1.25, 1.25, 1.25) looks
#: down a cubic cell's body diagonal, where atoms hide behind each other. The length sets plotly's zoom.
CAMERA_EYE = (1.9, 0.6, 0.5)

#: Symmetry tolerance (Å) for naming the space group in titles; 0.1 Å is the
#: tolerance the Materials Project uses for its symmetry labels.
_SYMPREC = 0.1


def check_drawable(structure: object) -> Structure:
    """Raise :class:`CrystalInputError` unless ``structure`` can be drawn; return it.

    Accepts overlapping atoms and partially occupied sites (both worth seeing);
    refuses anything that is not a pymatgen ``Structure``, has no atoms, has a
    degenerate cell, non-finite numbers, or a species that is not an element.
    """
    return check_structure(structure, min_distance=0.0, require_ordered=False)


def normalize_supercell(supercell: object) -> tuple[int, int, int]:
    """``supercell`` as three positive integers (repeats along a, b, c).

    Accepts one integer ``n`` (meaning ``(n, n, n)``) or three integers.

    Raises:
        CrystalInputError: anything else, e.g. ``(0, 1, 1)``, ``(2, 2)`` or ``1.5``.
    """
    if isinstance(supercell, numbers.Integral) and not isinstance(supercell, bool):
        supercell = (supercell,) * 3
    hint = "Pass three positive integers, one repeat per lattice vector, e.g. supercell=(2, 2, 1)."
    if not isinstance(supercell, Sequence) or isinstance(supercell, str) or len(supercell) != 3:
        raise CrystalInputError(f"Bad supercell {supercell!r}. {hint}")
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in supercell):
        raise CrystalInputError(f"Bad supercell {tuple(supercell)!r}: every repeat must be an integer >= 1. {hint}")
    return (int(supercell[0]), int(supercell[1]), int(supercell[2]))


def supercell_positions(
    structure: Structure, supercell: tuple[int, int, int], *, boundary_atoms: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every atom to draw: which site it copies, which cell it sits in, where it is.

    Fractional coordinates are first wrapped into [0, 1), so each site is drawn
    inside the unit cell it belongs to. Copies are ordered cell by cell (the
    a-repeat varies slowest), each cell listing the sites in the structure's
    order; with ``boundary_atoms`` the extra images follow at the end.

    Args:
        structure: the crystal.
        supercell: repeats along a, b, c.
        boundary_atoms: also add the periodic images that sit on the far faces,
            edges and corners of the repeated cell (an atom at a corner then appears at all
            eight corners, as in textbook drawings). Off by default, so that the number of
            atoms drawn is exactly ``len(structure) * prod(supercell)``.

    Returns:
        site_index: ``(M,)`` index of the original site.
        cell_offset: ``(M, 3)`` integer translation of the copy, in lattice vectors; an image on the
            boundary has an offset outside ``0 .. supercell - 1``.
        cart: ``(M, 3)`` Cartesian positions in Å.
    """
    frac = np.mod(structure.frac_coords, 1.0)  # (N, 3)
    frac[frac >= 1.0] = 0.0  # np.mod(-1e-17, 1.0) rounds to 1.0
    offsets = np.array(list(itertools.product(*(range(n) for n in supercell))), dtype=int)  # (C, 3)
    site_index = np.tile(np.arange(len(structure)), len(offsets))  # (M,)
    cell_offset = np.repeat(offsets, len(structure), axis=0)  # (M, 3)
    if boundary_atoms:
        site_index, cell_offset = _add_boundary_images(frac, site_index, cell_offset, np.array(supercell))
    cart = (frac[site_index] + cell_offset) @ structure.lattice.matrix  # (M, 3): rows of the matrix are a, b, c
    return site_index, cell_offset, cart


def _add_boundary_images(
    frac: np.ndarray, site_index: np.ndarray, cell_offset: np.ndarray, supercell: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Append the images of atoms lying on a face of the repeated cell at the opposite face."""
    position = frac[site_index] + cell_offset  # (M, 3) in unit-cell lattice vectors, within [0, supercell)
    extra_sites, extra_offsets = [], []
    for atom in range(len(site_index)):
        shifts_per_axis = []
        for axis in range(3):
            shifts = [0]
            if position[atom, axis] < _BOUNDARY_TOL:
                shifts.append(int(supercell[axis]))  # on the low face: image on the high face
            elif position[atom, axis] > supercell[axis] - _BOUNDARY_TOL:
                shifts.append(-int(supercell[axis]))  # on the high face: image on the low face
            shifts_per_axis.append(shifts)
        for shift in itertools.product(*shifts_per_axis):
            if any(shift):
                extra_sites.append(site_index[atom])
                extra_offsets.append(cell_offset[atom] + np.array(shift))
    if not extra_sites:
        return site_index, cell_offset
    return np.concatenate([site_index, extra_sites]), np.concatenate([cell_offset, np.array(extra_offsets)])


def cell_edges(matrix: np.ndarray) -> np.ndarray:
    """The 12 edges of the cell spanned by the rows of ``matrix`` (Å), as ``(12, 2, 3)`` endpoints."""
    corners = np.array(list(itertools.product((0, 1), repeat=3)))  # (8, 3) fractional
    edges = []
    for i, j in itertools.combinations(range(8), 2):
        if np.abs(corners[i] - corners[j]).sum() == 1:  # corners differ along one lattice vector
            edges.append((corners[i] @ matrix, corners[j] @ matrix))
    return np.array(edges)  # (12, 2, 3)


def site_label(structure: Structure, index: int) -> str:
    """Legend label of a site: its element (``"O"``), or its elements and occupancies (``"Ba0.5Sr0.5"``)."""
    composition = Composition(structure[index].species).element_composition
    if structure[index].is_ordered:
        return next(iter(composition)).symbol
    return "".join(f"{element.symbol}{amount:g}" for element, amount in sorted(composition.items()))


def site_radius(structure: Structure, index: int) -> float:
    """Occupancy-weighted atomic radius (Å) of a site, for sizing its marker."""
    composition = Composition(structure[index].species).element_composition
    total = sum(composition.values())
    return sum(_radius(element) * amount for element, amount in composition.items()) / total


def _radius(element: Element) -> float:
    radius = element.atomic_radius
    return float(radius) if radius is not None else _DEFAULT_RADIUS


def describe(structure: Structure) -> str:
    """Short title: reduced formula and space group, e.g. ``"SrTiO3 · Pm-3m (No. 221)"``."""
    formula = structure.composition.reduced_formula
    try:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        analyzer = SpacegroupAnalyzer(structure, symprec=_SYMPREC)
        return f"{formula} · {analyzer.get_space_group_symbol()} (No. {analyzer.get_space_group_number()})"
    except Exception:  # spglib gives up on some badly distorted or overlapping cells
        return f"{formula} · space group not found"


def camera_direction(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors towards the camera and along c, in the Cartesian frame of the lattice ``matrix`` (rows a, b, c).

    :data:`CAMERA_EYE` is given in the standard frame (a along x, b in the
    xy-plane, as PDB files and ase write cells); it is rotated into the
    frame the lattice is stored in, so that every drawing of one crystal
    looks at it from the same side whatever frame its coordinates use.
    """
    from ase.geometry import cell_to_cellpar, cellpar_to_cell

    standard = cellpar_to_cell(cell_to_cellpar(matrix))  # (3, 3) the same cell in the standard frame
    rotation = np.linalg.solve(matrix, standard)  # (3, 3) orthogonal: v_standard = v @ rotation
    eye = np.array(CAMERA_EYE) / np.linalg.norm(CAMERA_EYE)
    return eye @ rotation.T, matrix[2] / np.linalg.norm(matrix[2])
