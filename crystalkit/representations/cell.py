"""The unit cell: lattice matrix versus lengths and angles, and why the cell choice matters.

A crystal is a pattern repeated by three lattice vectors. The kit stores them
as the **rows** of a ``(3, 3)`` matrix ``L`` in Å (pymatgen's convention), so
a fractional coordinate ``f`` sits at Cartesian ``r = f @ L``.

Two descriptions of the same cell:

* the **matrix** ``L`` (9 numbers) also fixes the cell's orientation in space,
  so rotating the crystal changes it;
* the **lengths and angles** ``(a, b, c, alpha, beta, gamma)`` (6 numbers) do
  not: they are the metric ``G = L L^T`` in disguise, and ``G`` is unchanged
  by any rotation ``L -> L R^T``. Three numbers (the orientation) are lost,
  which is exactly what a rotation-invariant model wants.

The **cell choice** is a deeper ambiguity: any integer matrix ``M`` with
``det M = +-1`` turns ``L`` into ``M L``, another basis of the *same* lattice.
Lengths, angles and fractional coordinates all change although the crystal
does not. Reduction picks one short, nearly orthogonal basis:

* **Niggli** (Niggli 1928; algorithm of Krivy & Gruber 1976, tolerant version
  of Grosse-Kunstleve et al. 2004) gives a *unique* set of lengths and angles
  for each lattice, so two equivalent cells reduce to the same numbers;
* **LLL** (Lenstra, Lenstra & Lovasz 1982) is faster and also gives short,
  nearly orthogonal vectors, but it is not unique.

Reduction fixes the lengths and angles, not everything: the reduced basis is
still unique only up to the lattice's own symmetry operations, and the origin
is still free. See :func:`canonical_cell`.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = [
    "as_lattice_matrix",
    "lattice_to_parameters",
    "lattice_from_parameters",
    "cell_parameters",
    "orthogonality_defect",
    "niggli_reduce",
    "lll_reduce",
    "canonical_cell",
]


def as_lattice_matrix(matrix: object) -> np.ndarray:
    """Check and return a lattice as a float ``(3, 3)`` array (rows are a, b, c in Å).

    Accepts a pymatgen ``Lattice`` or anything array-like.

    Raises:
        CrystalInputError: wrong shape, NaN/inf, or (nearly) zero volume.
    """
    if isinstance(matrix, Lattice):
        matrix = matrix.matrix
    array = np.asarray(matrix, dtype=float)
    if array.shape != (3, 3):
        raise CrystalInputError(
            f"A lattice must be a (3, 3) matrix whose rows are the cell vectors, got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise CrystalInputError("The lattice matrix contains NaN or infinity.")
    volume = abs(float(np.linalg.det(array)))
    if volume < 1e-3:
        raise CrystalInputError(
            f"The lattice has volume {volume:.3g} Å^3: its three rows are (nearly) linearly dependent."
        )
    return array


def lattice_to_parameters(matrix: object) -> tuple[np.ndarray, np.ndarray]:
    """Lengths ``(3,)`` in Å and angles ``(3,)`` in degrees of a lattice matrix.

    alpha is the angle between b and c, beta between a and c, gamma between a and b.
    """
    lattice = Lattice(as_lattice_matrix(matrix))  # pymatgen computes both
    return np.array(lattice.abc), np.array(lattice.angles)


def lattice_from_parameters(lengths: object, angles: object) -> np.ndarray:
    """The ``(3, 3)`` lattice matrix for lengths (Å) and angles (degrees), in pymatgen's orientation.

    The orientation is a convention (pymatgen puts c along z and a in the xz
    plane): six numbers cannot say how the cell is turned in space.

    Raises:
        CrystalInputError: wrong shapes, non-positive lengths, angles outside
            (0, 180), or three angles that cannot close a cell (for example
            alpha + beta < gamma).
    """
    lengths = np.asarray(lengths, dtype=float)
    angles = np.asarray(angles, dtype=float)
    if lengths.shape != (3,) or angles.shape != (3,):
        raise CrystalInputError(
            f"Expected 3 lengths and 3 angles, got shapes {lengths.shape} and {angles.shape}."
        )
    if not (np.all(np.isfinite(lengths)) and np.all(np.isfinite(angles))):
        raise CrystalInputError("Lattice lengths and angles must be finite numbers.")
    if np.any(lengths <= 0):
        raise CrystalInputError(f"Lattice lengths must be positive (Å), got {lengths.tolist()}.")
    if np.any(angles <= 0) or np.any(angles >= 180):
        raise CrystalInputError(f"Lattice angles must lie strictly between 0 and 180 degrees, got {angles.tolist()}.")
    cosines = np.cos(np.radians(angles))
    # The metric tensor of the cell with unit edges must be positive definite.
    metric = np.array([[1, cosines[2], cosines[1]], [cosines[2], 1, cosines[0]], [cosines[1], cosines[0], 1]])
    if np.linalg.det(metric) <= 1e-10:
        raise CrystalInputError(
            f"The angles {angles.round(3).tolist()} cannot form a cell: each angle must be smaller than the sum "
            "of the other two, and all three together less than 360 degrees."
        )
    return Lattice.from_parameters(*lengths, *angles).matrix.copy()


def cell_parameters(structure: Structure) -> np.ndarray:
    """``(6,)`` array ``a, b, c`` (Å), ``alpha, beta, gamma`` (degrees) of a structure's cell."""
    lengths, angles = lattice_to_parameters(structure.lattice.matrix)
    return np.concatenate([lengths, angles])


def orthogonality_defect(matrix: object) -> float:
    """``|a| |b| |c| / V``: 1 for a rectangular box, larger the more skewed the cell.

    A learner-friendly number for "how bad is this cell choice": reduced cells
    have a small defect, the same lattice in a sheared basis a large one.
    """
    lattice = as_lattice_matrix(matrix)
    return float(np.prod(np.linalg.norm(lattice, axis=1)) / abs(np.linalg.det(lattice)))


def niggli_reduce(structure: Structure) -> Structure:
    """The same crystal in its Niggli-reduced cell (atoms keep their Cartesian positions).

    Equivalent cells of one lattice all reduce to the same lengths and angles.
    """
    check_structure(structure)
    return structure.get_reduced_structure("niggli")


def lll_reduce(structure: Structure) -> Structure:
    """The same crystal in an LLL-reduced cell: short, nearly orthogonal, but not unique."""
    check_structure(structure)
    return structure.get_reduced_structure("LLL")


def canonical_cell(
    structure: Structure, *, primitive: bool = True, fix_origin: bool = True, tolerance: float = 0.25
) -> Structure:
    """One standard description of a crystal, the same for every equivalent input.

    Steps, each removing one ambiguity:

    1. ``primitive``: the smallest repeating cell (removes supercells), found
       with pymatgen at ``tolerance`` Å;
    2. Niggli reduction (removes the choice of basis, up to the lattice's own symmetry);
    3. among the bases the lattice's symmetry maps onto each other (its
       *automorphisms*: integer matrices ``M``, ``det M = 1``, with
       ``M G M^T = G`` for the metric ``G = L L^T``), and, if ``fix_origin``,
       among origins placed on each atom of the rarest element, keep the
       description whose sorted (element, coordinates) list is smallest;
    4. rebuild the cell from its lengths and angles (removes rotation) and
       sort the sites (removes the order of the atoms).

    A canonical form is invariant to everything *and* invertible. The price:
    a search, and a jump in the output when a tiny distortion changes which
    candidate is smallest, which makes it a poor input for a smooth model.

    Args:
        structure: an ordered crystal.
        primitive: reduce to the primitive cell first.
        fix_origin: also choose the origin (otherwise a translation changes the coordinates).
        tolerance: distance tolerance (Å) for finding the primitive cell.
    """
    check_structure(structure)
    if primitive:
        structure = structure.get_primitive_structure(tolerance=tolerance)
    reduced = structure.get_reduced_structure("niggli")
    matrix = reduced.lattice.matrix
    frac = reduced.frac_coords
    if np.linalg.det(matrix) < 0:
        # A left-handed basis: use (-a, -b, -c), which describes the same points with -f.
        matrix, frac = -matrix, -frac
    numbers = np.array([site.specie.Z for site in reduced])
    counts = {z: int(np.sum(numbers == z)) for z in set(numbers.tolist())}
    rarest = min(counts, key=lambda z: (counts[z], z))
    anchors = np.flatnonzero(numbers == rarest) if fix_origin else [None]
    best_key, best_frac, best_numbers = None, frac, numbers
    for automorphism in _lattice_automorphisms(matrix @ matrix.T):
        candidate = frac @ np.linalg.inv(automorphism)  # (N, 3) coordinates in the basis M L
        for anchor in anchors:
            shifted = _wrap(candidate - candidate[anchor]) if anchor is not None else _wrap(candidate)
            rounded = np.round(shifted, 6) % 1.0
            order = np.lexsort((rounded[:, 2], rounded[:, 1], rounded[:, 0], numbers))
            key = tuple(numbers[order]) + tuple(rounded[order].ravel())
            if best_key is None or key < best_key:
                best_key, best_frac = key, shifted[order]
                best_numbers = numbers[order]
    lengths, angles = lattice_to_parameters(matrix)
    return Structure(Lattice(lattice_from_parameters(lengths, angles)), best_numbers.tolist(), best_frac)


@lru_cache(maxsize=1)
def _small_unimodular() -> np.ndarray:
    """All ``(K, 3, 3)`` integer matrices with entries -1, 0, 1 and determinant +1."""
    entries = np.array(list(itertools.product((-1, 0, 1), repeat=9))).reshape(-1, 3, 3)  # (19683, 3, 3)
    return entries[np.rint(np.linalg.det(entries)) == 1]


def _lattice_automorphisms(metric: np.ndarray, rtol: float = 1e-5) -> np.ndarray:
    """``(K, 3, 3)`` proper symmetry operations of a reduced lattice, in its own basis.

    In a reduced basis every symmetry of the lattice maps a basis vector to a
    lattice vector just as short, and such vectors have coefficients -1, 0 or
    1, so searching those matrices finds them all. The identity comes first.
    """
    candidates = _small_unimodular()
    transformed = np.einsum("kij,jl,kml->kim", candidates, metric, candidates)  # (K, 3, 3) = M G M^T
    close = np.all(np.abs(transformed - metric) <= rtol * np.abs(metric).max(), axis=(1, 2))
    found = candidates[close]
    is_identity = np.all(found == np.eye(3, dtype=found.dtype), axis=(1, 2))
    return np.concatenate([found[is_identity], found[~is_identity]])


def _wrap(frac: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Fractional coordinates in [0, 1), with values a hair below 1 sent to 0."""
    wrapped = frac - np.floor(frac)
    wrapped[wrapped > 1 - eps] = 0.0
    return wrapped
