"""Coordination environments: how many neighbours each atom has, and of which element.

Chemistry constrains local environments strongly: Ti⁴⁺ in an oxide sits in an
octahedron of six O, carbon in diamond has four neighbours, in graphite three.
A generated crystal with a five-fold Si or a two-fold Ti is a warning sign even
when its energy looks fine. We count neighbours with CrystalNN (Pan et al.,
Inorg. Chem. 60, 1590 (2021)), which weighs candidate neighbour shells by solid
angle and electronegativity instead of using one fixed distance cut-off; the
same algorithm builds the fingerprints of the CDVAE/DiffCSP metrics.
"""

from __future__ import annotations

import warnings
from collections import Counter

import pandas as pd
from pymatgen.core import Composition, Structure

from crystalkit.structures import check_structure

__all__ = ["coordination_environments"]


def coordination_environments(structure: Structure) -> pd.DataFrame:
    """One row per site: element, coordination number, neighbour elements, mean bond length.

    Columns:
        ``site`` (index), ``element``, ``coordination`` (number of neighbours),
        ``neighbours`` (e.g. "O6" or "Sr8O4"), ``mean_distance`` (Å, nan without
        neighbours), ``failed`` (True if CrystalNN could not analyse the site:
        the other columns are then empty, never guessed).

    Raises:
        CrystalInputError: the structure is not a sensible ordered crystal.
    """
    from pymatgen.analysis.local_env import CrystalNN

    check_structure(structure, require_ordered=True)
    finder = CrystalNN()
    rows = []
    for index, site in enumerate(structure):
        row = {"site": index, "element": site.specie.symbol}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                neighbours = finder.get_nn_info(structure, index)
        except Exception:  # CrystalNN fails on pathological geometries; report it per site
            rows.append(row | {"coordination": None, "neighbours": None, "mean_distance": float("nan"), "failed": True})
            continue
        elements = Counter(neighbour["site"].specie.symbol for neighbour in neighbours)
        distances = [site.distance(neighbour["site"]) for neighbour in neighbours]
        rows.append(
            row
            | {
                "coordination": len(neighbours),
                "neighbours": Composition(elements).formula.replace(" ", "") if elements else "",
                "mean_distance": sum(distances) / len(distances) if distances else float("nan"),
                "failed": False,
            }
        )
    return pd.DataFrame(rows)
