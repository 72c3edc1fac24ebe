"""Space-group symmetry of a crystal, and how it depends on the tolerance.

Real and generated crystals are never exactly symmetric: atoms sit a few
hundredths of an Å away from the ideal positions. A symmetry finder (spglib,
Togo et al., Sci. Technol. Adv. Mater. Meth. 4, 2384822 (2024)) therefore
asks "is this operation a symmetry *within* ``symprec`` Å?". A tight tolerance
sees a slightly rattled cubic perovskite as triclinic P1; a loose one sees
Pm-3m again. Reading a generated crystal's space group at several tolerances
tells you how symmetric it *nearly* is, which is often what a generative model
gets right or wrong first.

Symmetrising (snapping atoms onto the ideal positions of the space group found
at a given tolerance) is a cheap post-processing step many generators use
before relaxation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = ["spacegroup", "spacegroup_table", "symmetrize", "DEFAULT_TOLERANCES"]

#: Tolerances (Å) from strict to loose: 0.01 is spglib's usual default, 0.1 the one most
#: generative-model papers report space groups at, 0.5 very forgiving.
DEFAULT_TOLERANCES = (0.001, 0.01, 0.1, 0.5)


def spacegroup(structure: Structure, symprec: float = 0.1, angle_tolerance: float = 5.0) -> tuple[str, int]:
    """Hermann-Mauguin symbol and international number of the space group, e.g. ("Pm-3m", 221).

    Args:
        structure: an ordered or disordered crystal (distinct species mixtures
            count as distinct atom types).
        symprec: distance tolerance in Å.
        angle_tolerance: angle tolerance in degrees.

    Raises:
        CrystalInputError: the structure fails the basic checks, or spglib finds no
            symmetry at all at this tolerance (rare: very large tolerances).
    """
    analyzer = _analyzer(structure, symprec, angle_tolerance)
    return analyzer.get_space_group_symbol(), int(analyzer.get_space_group_number())


def spacegroup_table(
    structure: Structure,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    angle_tolerance: float = 5.0,
) -> pd.DataFrame:
    """The space group found at each tolerance, as a table with one row per ``symprec``.

    Columns: ``symprec`` (Å), ``symbol``, ``number``, ``crystal_system``,
    ``operations`` (number of symmetry operations in the cell; 1 for P1). A
    tolerance at which spglib fails gets ``None`` entries rather than being
    dropped.
    """
    rows = []
    for symprec in tolerances:
        try:
            analyzer = _analyzer(structure, symprec, angle_tolerance)
            rows.append(
                {
                    "symprec": symprec,
                    "symbol": analyzer.get_space_group_symbol(),
                    "number": int(analyzer.get_space_group_number()),
                    "crystal_system": analyzer.get_crystal_system(),
                    "operations": len(analyzer.get_symmetry_operations()),
                }
            )
        except _SpglibFailure:
            empty = {"symbol": None, "number": None, "crystal_system": None, "operations": None}
            rows.append({"symprec": symprec} | empty)
    return pd.DataFrame(rows)


def symmetrize(
    structure: Structure,
    symprec: float = 0.1,
    *,
    cell: Literal["refined", "conventional", "primitive"] = "refined",
    angle_tolerance: float = 5.0,
) -> Structure:
    """Snap atoms and lattice onto the ideal positions of the space group found at ``symprec``.

    Args:
        structure: the crystal to symmetrise.
        symprec: distance tolerance in Å; atoms within it of a symmetric position are moved there.
        cell: which cell to return: "refined" (spglib's idealised conventional
            cell), "conventional" (the standard conventional cell) or "primitive"
            (the standard primitive cell: fewest atoms).
        angle_tolerance: angle tolerance in degrees.

    Returns:
        A new structure. Its atom count can differ from the input's (a
        conventional cell of a centred lattice is larger than the primitive
        one); the composition ratio is the same.
    """
    analyzer = _analyzer(structure, symprec, angle_tolerance)
    if cell == "refined":
        return analyzer.get_refined_structure()
    if cell == "conventional":
        return analyzer.get_conventional_standard_structure()
    if cell == "primitive":
        return analyzer.get_primitive_standard_structure()
    raise CrystalInputError(f"cell must be 'refined', 'conventional' or 'primitive', got {cell!r}.")


class _SpglibFailure(CrystalInputError):
    """spglib returned no symmetry dataset at this tolerance."""


def _analyzer(structure: Structure, symprec: float, angle_tolerance: float):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if symprec <= 0:
        raise CrystalInputError(f"symprec must be a positive distance in Å, got {symprec}.")
    check_structure(structure, require_ordered=False)
    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
        analyzer.get_space_group_number()
    except Exception as error:  # spglib signals failure in several ways across versions
        raise _SpglibFailure(
            f"spglib found no symmetry for {structure.composition.reduced_formula} at symprec={symprec} Å "
            f"({type(error).__name__}: {error}). Try a smaller tolerance."
        ) from error
    return analyzer
