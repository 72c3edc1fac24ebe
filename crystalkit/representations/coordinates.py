"""Plain arrays: atom types, a lattice, and fractional or Cartesian coordinates.

This is what most generative models actually hold in memory (see
:class:`crystalkit.data.CrystalBatch`). The choices matter:

* **Fractional** coordinates ``f`` in [0, 1) say where an atom sits *inside*
  the cell. They do not move when the crystal is rotated (only the lattice
  does), and wrapping them on the torus ``f -> f - floor(f)`` is how
  diffusion and flow models keep atoms inside the cell.
* **Cartesian** coordinates ``r = f @ L`` in Å say where it sits in space, so
  they rotate with the crystal; they only make sense together with the
  lattice *matrix* that defines their frame.
* The lattice as a **matrix** carries orientation, as **lengths and angles** it
  does not (see :mod:`crystalkit.representations.cell`).

None of these arrays is invariant to the order of the atoms, the origin, a
supercell or the cell choice: that is the point of the other representations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations.cell import as_lattice_matrix, cell_parameters, lattice_from_parameters
from crystalkit.structures import check_structure

__all__ = ["CoordinateArrays", "to_arrays", "from_arrays"]


@dataclass(frozen=True, eq=False)
class CoordinateArrays:
    """One crystal as arrays.

    Attributes:
        atomic_numbers: ``(N,)`` element of every atom.
        lattice: ``(3, 3)`` matrix (rows a, b, c in Å) or ``(6,)`` lengths (Å) and angles (degrees).
        coords: ``(N, 3)`` fractional (unitless) or Cartesian (Å) coordinates.
        coords_kind: ``"fractional"`` or ``"cartesian"``.
    """

    atomic_numbers: np.ndarray  # (N,)
    lattice: np.ndarray  # (3, 3) or (6,)
    coords: np.ndarray  # (N, 3)
    coords_kind: Literal["fractional", "cartesian"]


def to_arrays(
    structure: Structure,
    *,
    coords: Literal["fractional", "cartesian"] = "fractional",
    lattice: Literal["matrix", "parameters"] = "matrix",
) -> CoordinateArrays:
    """Arrays for a structure, in the requested flavour.

    Args:
        structure: an ordered crystal.
        coords: ``"fractional"`` or ``"cartesian"`` (Å).
        lattice: ``"matrix"`` (9 numbers) or ``"parameters"`` (a, b, c, alpha, beta, gamma).

    Raises:
        CrystalInputError: an unknown flavour, or Cartesian coordinates with
            lattice parameters (six numbers cannot say which frame the
            Cartesian coordinates are in, so the crystal could not be rebuilt).
    """
    check_structure(structure)
    if coords not in ("fractional", "cartesian"):
        raise CrystalInputError(f"coords must be 'fractional' or 'cartesian', got {coords!r}.")
    if lattice not in ("matrix", "parameters"):
        raise CrystalInputError(f"lattice must be 'matrix' or 'parameters', got {lattice!r}.")
    if coords == "cartesian" and lattice == "parameters":
        raise CrystalInputError(
            "Cartesian coordinates need the lattice matrix that defines their frame; "
            "use lattice='matrix', or coords='fractional' with lattice='parameters'."
        )
    numbers = np.array([site.specie.Z for site in structure], dtype=np.int64)
    cell = structure.lattice.matrix.copy() if lattice == "matrix" else cell_parameters(structure)
    positions = structure.frac_coords.copy() if coords == "fractional" else structure.cart_coords.copy()
    return CoordinateArrays(numbers, cell, positions, coords)


def from_arrays(arrays: CoordinateArrays) -> Structure:
    """Rebuild the structure (a lattice given as parameters gets pymatgen's standard orientation).

    Raises:
        CrystalInputError: inconsistent shapes or an impossible lattice.
    """
    numbers = np.asarray(arrays.atomic_numbers)
    positions = np.asarray(arrays.coords, dtype=float)
    if numbers.ndim != 1 or len(numbers) == 0:
        raise CrystalInputError(f"atomic_numbers must be a non-empty (N,) array, got shape {numbers.shape}.")
    if positions.shape != (len(numbers), 3):
        raise CrystalInputError(f"coords must be (N, 3) = ({len(numbers)}, 3), got {positions.shape}.")
    cell = np.asarray(arrays.lattice, dtype=float)
    if cell.shape == (6,):
        if arrays.coords_kind == "cartesian":
            raise CrystalInputError("Cartesian coordinates cannot be placed in a lattice given only by parameters.")
        matrix = lattice_from_parameters(cell[:3], cell[3:])
    else:
        matrix = as_lattice_matrix(cell)
    return Structure(
        Lattice(matrix), numbers.tolist(), positions, coords_are_cartesian=arrays.coords_kind == "cartesian"
    )
