"""Do generated crystals look like the data in bulk? Wasserstein distances of simple properties.

For a one-dimensional property the Wasserstein (earth mover's) distance
between two samples is the area between their cumulative distribution
functions: how far, on average, mass must move to turn one histogram into
the other, in the property's own unit. CDVAE reports it for

* the **density** (g/cm^3) of valid generated crystals against the reference,
* the **number of distinct elements** per crystal,
* a **property** predicted by a model (CDVAE used its own formation-energy
  network; pass any property you trust, in eV/atom for example).

Zero means identical distributions; it says nothing about single crystals
(a model can match the density histogram with nonsense structures).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError

__all__ = ["densities", "density_distance", "element_counts", "num_elements_distance", "wasserstein"]


def densities(structures: Sequence[Structure]) -> np.ndarray:
    """Mass density of each crystal in g/cm^3."""
    return np.array([float(s.density) for s in structures], dtype=float)


def element_counts(structures: Sequence[Structure]) -> np.ndarray:
    """Number of distinct elements in each crystal (1 for carbon, 3 for SrTiO3)."""
    return np.array([len(s.composition.elements) for s in structures], dtype=float)


def wasserstein(values: Sequence[float], reference: Sequence[float]) -> float:
    """1-D Wasserstein distance between two samples, in their unit.

    Raises:
        CrystalInputError: a sample is empty or holds NaN.
    """
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    if a.size == 0 or b.size == 0:
        raise CrystalInputError("Both samples need at least one value to compare distributions.")
    if np.isnan(a).any() or np.isnan(b).any():
        raise CrystalInputError("A property value is NaN: drop or fill the missing values first.")
    return float(wasserstein_distance(a, b))


def density_distance(generated: Sequence[Structure], reference: Sequence[Structure]) -> float:
    """Wasserstein distance (g/cm^3) between the densities of two sets of crystals."""
    return wasserstein(densities(generated), densities(reference))


def num_elements_distance(generated: Sequence[Structure], reference: Sequence[Structure]) -> float:
    """Wasserstein distance (elements) between the numbers of distinct elements of two sets."""
    return wasserstein(element_counts(generated), element_counts(reference))
