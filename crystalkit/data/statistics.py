"""Describing a crystal dataset: one row per structure, and counts over the set.

Notebook 02 uses these to show what a generative model will be trained on:
how big the cells are, which elements and space groups occur, how the labels
are spread. Everything returns pandas objects, ready for a plotly figure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError

__all__ = ["structure_table", "element_frequency", "describe_splits", "SYMPREC"]

#: Symmetry tolerance in Å for space groups: 0.1 is the loose setting used when labelling generated crystals.
SYMPREC = 0.1


def _space_group(structure: Structure, symprec: float) -> int:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number()
    except Exception:  # spglib gives up on badly distorted cells: P1 is the honest answer
        return 1


def structure_table(structures: Sequence[Structure], *, symprec: float = SYMPREC) -> pd.DataFrame:
    """One row per structure: formula, atoms, elements, volume per atom (Å^3), density (g/cm^3),
    lattice lengths (Å) and angles (degrees), and space group number.

    Raises:
        CrystalInputError: the list is empty.
    """
    if len(structures) == 0:
        raise CrystalInputError("No structures to describe: the list is empty.")
    rows = []
    for structure in structures:
        a, b, c = structure.lattice.abc
        alpha, beta, gamma = structure.lattice.angles
        rows.append({
            "formula": structure.composition.reduced_formula,
            "num_atoms": len(structure),
            "num_elements": len(structure.composition.elements),
            "volume_per_atom": structure.volume / len(structure),
            "density": float(structure.density),
            "a": a, "b": b, "c": c, "alpha": alpha, "beta": beta, "gamma": gamma,
            "spacegroup_number": _space_group(structure, symprec),
        })
    return pd.DataFrame(rows)


def element_frequency(structures: Sequence[Structure]) -> pd.Series:
    """In how many structures each element occurs (not how many atoms), most frequent first."""
    counts = Counter(el.symbol for s in structures for el in s.composition.elements)
    return pd.Series(counts, name="structures").sort_values(ascending=False)


def describe_splits(splits: dict[str, Sequence[Structure]]) -> pd.DataFrame:
    """A size table for named splits: structures, distinct formulas, elements, atoms per cell (min/median/max).

    Args:
        splits: e.g. ``{"train": train.structures, "val": val.structures}``.
    """
    rows = []
    for name, structures in splits.items():
        atoms = np.array([len(s) for s in structures])
        rows.append({
            "split": name,
            "structures": len(structures),
            "distinct formulas": len({s.composition.reduced_formula for s in structures}),
            "elements": len({el for s in structures for el in s.composition.elements}),
            "atoms min": int(atoms.min()) if len(atoms) else 0,
            "atoms median": float(np.median(atoms)) if len(atoms) else 0.0,
            "atoms max": int(atoms.max()) if len(atoms) else 0,
        })
    return pd.DataFrame(rows).set_index("split")
