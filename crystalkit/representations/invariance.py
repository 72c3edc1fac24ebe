"""Does a representation change when the crystal does not? Can it give the crystal back?

One crystal has endless descriptions. Five transformations change the
description and never the crystal:

===============  ==========================================================
``rotation``     turn the whole crystal in space (lattice ``L -> L R^T``)
``translation``  move the origin (every fractional coordinate ``+ t``)
``permutation``  list the atoms in another order
``supercell``    describe it with a bigger cell (here 2 x 1 x 1)
``cell_choice``  another basis of the same lattice, ``L -> M L`` with an
                 integer ``M``, ``det M = 1`` (coordinates ``f -> f M^-1``)
===============  ==========================================================

A representation is *invariant* to a transformation if it gives the same
output for both descriptions. :func:`invariance_table` checks all five
numerically; :func:`recoverable` checks the other half of the story: encode,
decode, and ask pymatgen's ``StructureMatcher`` whether the same crystal came
back. Tests use :func:`assert_invariant` to make an invariance test one line,
in the spirit of e3nn's equivariance test helpers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = [
    "TRANSFORMATIONS",
    "rotate",
    "translate",
    "permute",
    "supercell",
    "change_cell",
    "random_unimodular",
    "transform",
    "difference",
    "invariance_table",
    "assert_invariant",
    "assert_not_invariant",
    "RecoveryReport",
    "recoverable",
    "Representation",
    "summary_table",
]

#: The transformations that change a crystal's description but not the crystal, in table order.
TRANSFORMATIONS = ("rotation", "translation", "permutation", "supercell", "cell_choice")


# --------------------------------------------------------------------------- transformations
def rotate(structure: Structure, seed: int = 0) -> Structure:
    """The crystal turned by a random proper rotation ``R``: lattice rows ``L R^T``, same fractional coordinates."""
    check_structure(structure)
    rng = np.random.default_rng(seed)
    rotation, upper = np.linalg.qr(rng.normal(size=(3, 3)))  # QR of a Gaussian matrix: a random orthogonal matrix
    rotation *= np.sign(np.diag(upper))  # fix the signs so every rotation is equally likely
    if np.linalg.det(rotation) < 0:
        rotation[:, 0] *= -1  # a proper rotation (det +1), not a reflection
    return Structure(Lattice(structure.lattice.matrix @ rotation.T), structure.species, structure.frac_coords)


def translate(structure: Structure, seed: int = 0, shift: Sequence[float] | None = None) -> Structure:
    """Every atom moved by the same fractional ``shift`` (random if not given), wrapped back into the cell."""
    check_structure(structure)
    if shift is None:
        shift = np.random.default_rng(seed).uniform(0.05, 0.95, size=3)
    shift = np.asarray(shift, dtype=float)
    if shift.shape != (3,) or not np.all(np.isfinite(shift)):
        raise CrystalInputError(f"shift must be 3 finite fractional numbers, got {shift.tolist()}.")
    frac = structure.frac_coords + shift
    return Structure(structure.lattice, structure.species, frac - np.floor(frac))


def permute(structure: Structure, seed: int = 0) -> Structure:
    """The same atoms listed in a random order (never the identity when there are two atoms or more)."""
    check_structure(structure)
    n = len(structure)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    while n > 1 and np.all(order == np.arange(n)):
        order = rng.permutation(n)
    return Structure(structure.lattice, [structure.species[i] for i in order], structure.frac_coords[order])


def supercell(structure: Structure, scaling: Sequence[int] | np.ndarray = (2, 1, 1)) -> Structure:
    """The crystal described by a bigger cell: ``scaling`` repeats along a, b, c (or a 3 x 3 integer matrix)."""
    check_structure(structure)
    matrix = np.asarray(scaling)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or not np.issubdtype(matrix.dtype, np.integer) or round(np.linalg.det(matrix)) < 1:
        raise CrystalInputError(
            f"scaling must be 3 positive integers or a 3 x 3 integer matrix with det >= 1, got {np.asarray(scaling)}."
        )
    return structure.make_supercell(matrix, in_place=False)


def random_unimodular(seed: int = 0, shears: int = 3) -> np.ndarray:
    """A random ``(3, 3)`` integer matrix with determinant +1, made of ``shears`` row shears.

    A shear adds +-1 times one row to another; it keeps the determinant, and
    its inverse is again an integer matrix, so ``M L`` spans the same lattice as ``L``.
    """
    rng = np.random.default_rng(seed)
    matrix = np.eye(3, dtype=np.int64)
    for _ in range(shears):
        target, source = rng.choice(3, size=2, replace=False)
        matrix[target] += rng.choice((-1, 1)) * matrix[source]
    return matrix


def change_cell(structure: Structure, seed: int = 0, matrix: np.ndarray | None = None) -> Structure:
    """The same crystal in another basis of its lattice: ``L' = M L``, ``f' = f M^-1`` (wrapped).

    Args:
        structure: an ordered crystal.
        seed: picks a random unimodular ``M`` when ``matrix`` is not given.
        matrix: an integer ``(3, 3)`` matrix with determinant +-1.
    """
    check_structure(structure)
    if matrix is None:
        matrix = random_unimodular(seed)
    matrix = np.asarray(matrix)
    if matrix.shape != (3, 3) or not np.all(np.equal(np.mod(matrix, 1), 0)):
        raise CrystalInputError(f"The cell change must be a (3, 3) integer matrix, got {matrix.tolist()}.")
    if round(abs(np.linalg.det(matrix))) != 1:
        raise CrystalInputError(
            f"The cell change must have determinant +-1 (got {np.linalg.det(matrix):.3g}): "
            "otherwise it describes a sub- or super-lattice, not the same crystal."
        )
    matrix = matrix.astype(float)
    frac = structure.frac_coords @ np.linalg.inv(matrix)
    frac -= np.floor(frac)
    return Structure(Lattice(matrix @ structure.lattice.matrix), structure.species, frac)


def transform(structure: Structure, name: str, seed: int = 0) -> Structure:
    """Apply one of :data:`TRANSFORMATIONS` by name."""
    if name == "rotation":
        return rotate(structure, seed)
    if name == "translation":
        return translate(structure, seed)
    if name == "permutation":
        return permute(structure, seed)
    if name == "supercell":
        return supercell(structure)
    if name == "cell_choice":
        return change_cell(structure, seed)
    raise CrystalInputError(f"Unknown transformation {name!r}; choose from {TRANSFORMATIONS}.")


# --------------------------------------------------------------------------- comparing
def difference(first: Any, second: Any) -> float:
    """How far apart two representations are: 0 if equal, ``inf`` if they cannot be compared.

    Works on what the kit's representations return: numbers and numeric
    arrays (largest absolute difference; different shapes give ``inf``),
    text and token lists (whitespace-separated tokens compared one by one,
    numerically where both parse as numbers), dataclasses, dicts, tuples and
    lists (the largest difference of their parts).
    """
    if isinstance(first, str) and isinstance(second, str):
        return _token_difference(first.split(), second.split())
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        if type(first) is not type(second):
            return math.inf
        return max(
            (difference(getattr(first, f.name), getattr(second, f.name)) for f in dataclasses.fields(first)),
            default=0.0,
        )
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        if set(first) != set(second):
            return math.inf
        return max((difference(first[k], second[k]) for k in first), default=0.0)
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        if all(isinstance(x, str) for x in [*first, *second]):
            return _token_difference(list(first), list(second))
        if len(first) != len(second):
            return math.inf
        return max((difference(x, y) for x, y in zip(first, second)), default=0.0)
    a, b = np.asarray(first), np.asarray(second)
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        if a.shape != b.shape:
            return math.inf
        return float(np.max(np.abs(a.astype(float) - b.astype(float)), initial=0.0))
    return 0.0 if np.array_equal(a, b) else math.inf


def _token_difference(first: list[str], second: list[str]) -> float:
    if len(first) != len(second):
        return math.inf
    worst = 0.0
    for x, y in zip(first, second):
        if x == y:
            continue
        try:
            worst = max(worst, abs(float(x) - float(y)))
        except ValueError:
            return math.inf
    return worst


# --------------------------------------------------------------------------- invariance
def invariance_table(
    representation_fn: Callable[[Structure], Any],
    structure: Structure,
    *,
    compare: Callable[[Any, Any], float] | None = None,
    tol: float = 1e-6,
    seed: int = 0,
    transformations: Sequence[str] = TRANSFORMATIONS,
) -> pd.DataFrame:
    """Is ``representation_fn`` unchanged under each transformation of ``structure``?

    Args:
        representation_fn: structure -> representation (array, text, dataclass, ...).
        structure: an ordered crystal.
        compare: ``(first, second) -> float`` distance; default :func:`difference`.
        tol: largest difference still counted as "unchanged" (float round-off).
        seed: seeds the random rotation, shift, permutation and cell change.
        transformations: which of :data:`TRANSFORMATIONS` to try.

    Returns:
        A DataFrame indexed by transformation, with columns ``invariant`` (bool)
        and ``difference`` (float; ``inf`` when the outputs do not even have the same shape).
    """
    check_structure(structure)
    compare = difference if compare is None else compare
    reference = representation_fn(structure)
    rows = []
    for name in transformations:
        changed = representation_fn(transform(structure, name, seed))
        gap = float(compare(reference, changed))
        rows.append({"transformation": name, "invariant": bool(gap <= tol), "difference": gap})
    return pd.DataFrame(rows).set_index("transformation")


def assert_invariant(
    representation_fn: Callable[[Structure], Any],
    structure: Structure,
    transformations: Sequence[str] = TRANSFORMATIONS,
    **kwargs: Any,
) -> None:
    """Raise ``AssertionError`` (showing the table) unless the representation ignores all ``transformations``."""
    table = invariance_table(representation_fn, structure, transformations=transformations, **kwargs)
    if not table["invariant"].all():
        raise AssertionError(f"Not invariant:\n{table}")


def assert_not_invariant(
    representation_fn: Callable[[Structure], Any],
    structure: Structure,
    transformations: Sequence[str],
    **kwargs: Any,
) -> None:
    """Raise ``AssertionError`` unless the representation *changes* under every one of ``transformations``."""
    table = invariance_table(representation_fn, structure, transformations=transformations, **kwargs)
    if table["invariant"].any():
        raise AssertionError(f"Unexpectedly invariant:\n{table}")


# --------------------------------------------------------------------------- recovery
@dataclass(frozen=True)
class RecoveryReport:
    """Outcome of a round trip structure -> representation -> structure.

    Attributes:
        recovered: ``StructureMatcher`` found the decoded crystal equal to the original.
        rms_displacement: matcher's RMS site displacement, normalised by ``(V / N)^(1/3)``; ``nan`` if no match.
        message: what happened, in words.
    """

    recovered: bool
    rms_displacement: float
    message: str


def recoverable(
    encode: Callable[[Structure], Any],
    decode: Callable[[Any], Structure] | None,
    structure: Structure,
    *,
    ltol: float = 0.2,
    stol: float = 0.3,
    angle_tol: float = 5.0,
) -> RecoveryReport:
    """Round-trip ``structure`` through a representation and match the result to the original.

    Matching uses pymatgen's ``StructureMatcher`` with its default tolerances
    and ``scale=False`` (the volume must come back too), so a decoded crystal
    counts as recovered if it is the same crystal in any cell, orientation,
    origin and atom order.

    Args:
        encode: structure -> representation.
        decode: representation -> structure, or ``None`` for a representation without an inverse.
        structure: an ordered crystal.
        ltol, stol, angle_tol: StructureMatcher tolerances (fractional length, site, degrees).
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    check_structure(structure)
    if decode is None:
        return RecoveryReport(False, math.nan, "no decoder: many crystals share this representation")
    try:
        decoded = decode(encode(structure))
    except Exception as error:  # a failing decoder is an answer here, not a crash
        return RecoveryReport(False, math.nan, f"decoding failed: {type(error).__name__}: {error}")
    matcher = StructureMatcher(ltol=ltol, stol=stol, angle_tol=angle_tol, scale=False)
    rms = matcher.get_rms_dist(structure, decoded)
    if rms is None:
        return RecoveryReport(False, math.nan, "decoded crystal does not match the original")
    return RecoveryReport(True, float(rms[0]), "same crystal")


# --------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class Representation:
    """A named representation: how to encode, how (if at all) to decode, how to compare.

    Attributes:
        name: label for tables.
        encode: structure -> representation.
        decode: representation -> structure, or ``None``.
        compare: distance between two encodings; default :func:`difference`.
        tol: largest distance still counted as "unchanged".
    """

    name: str
    encode: Callable[[Structure], Any]
    decode: Callable[[Any], Structure] | None = None
    compare: Callable[[Any, Any], float] | None = None
    tol: float = 1e-6


def summary_table(representations: Sequence[Representation], structure: Structure, *, seed: int = 0) -> pd.DataFrame:
    """One row per representation: invariant to each transformation? recoverable?

    Returns:
        A DataFrame indexed by representation name, with one boolean column per
        transformation, ``recoverable`` (bool) and ``rms`` (normalised RMS of
        the round trip, ``nan`` when not recovered).
    """
    rows = []
    for representation in representations:
        table = invariance_table(
            representation.encode, structure, compare=representation.compare, tol=representation.tol, seed=seed
        )
        report = recoverable(representation.encode, representation.decode, structure)
        row = {"representation": representation.name, **table["invariant"].to_dict()}
        row.update(recoverable=report.recovered, rms=report.rms_displacement)
        rows.append(row)
    return pd.DataFrame(rows).set_index("representation")
