"""A fixed-length fingerprint that ignores everything but the crystal itself.

Many tools need one vector per crystal, of the same length for every crystal:
finding duplicates, measuring the diversity of samples (the "coverage" metrics
of CDVAE, Xie et al. 2022, use CrystalNN fingerprints), nearest-neighbour
searches, or a property model's input. Such a vector must not change when
the *description* changes but the crystal does not.

Here: smeared radial distribution functions (RDFs). For every atom ``i`` and
every neighbour ``j`` within ``r_max`` (all periodic images), place a Gaussian
of width ``sigma`` at their distance ``d_ij``; weight it by an element
property ``p_i p_j``; average over the atoms of the cell; and divide by the
ideal-gas count ``4 pi r^2 rho`` (``rho = N / V``) so that ``g(r) -> 1`` at
large ``r`` for the unweighted channel::

    g_p(r) = 1 / (N 4 pi r^2 rho) * sum_i sum_j p_i p_j exp(-(r - d_ij)^2 / 2 sigma^2) / (sqrt(2 pi) sigma)

Why it is invariant:

* distances do not change under rotation, translation or a change of cell;
* the double sum does not care about the order of the atoms;
* a supercell multiplies both the sum and ``N`` by the same factor, and
  leaves ``rho`` unchanged.

The property-weighted channels ("property-weighted RDF", in the spirit of
Fernandez et al. 2013, and of the partial RDFs of Schütt et al. 2014) let
chemistry in: the unweighted channel only sees *where* atoms are, so rock-salt
NaCl and the same positions filled with a single element (a simple cubic
crystal) look identical there, but not in the atomic-number channel. What is
lost: the
angles between bonds beyond what distances imply, and anything past
``r_max``. Many crystals share a fingerprint with a distorted cousin, and
there is no decoder: it is a many-to-one summary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = ["rdf_fingerprint", "fingerprint_radii", "fingerprint_distance", "ELEMENT_PROPERTIES"]

#: Element properties available as weights, each scaled to about 0..1.
#: ``count``: 1 for every atom; ``atomic_number``: Z / 100;
#: ``electronegativity``: Pauling electronegativity / 4 (0 for the noble gases that have none).
ELEMENT_PROPERTIES = ("count", "atomic_number", "electronegativity")

# Gaussians further than this many sigma from r_max are left out: exp(-18) < 2e-8.
_TAIL = 6.0


def fingerprint_radii(r_max: float = 6.0, n_bins: int = 60) -> np.ndarray:
    """``(n_bins,)`` radii in Å at which each channel is sampled: bin centres from 0 to ``r_max``."""
    _check_grid(r_max, n_bins)
    step = r_max / n_bins
    return (np.arange(n_bins) + 0.5) * step


def rdf_fingerprint(
    structure: Structure,
    *,
    r_max: float = 6.0,
    n_bins: int = 60,
    sigma: float = 0.1,
    properties: Sequence[str] = ELEMENT_PROPERTIES,
) -> np.ndarray:
    """Smeared, property-weighted RDFs of a crystal, concatenated into one vector.

    Args:
        structure: an ordered crystal.
        r_max: largest distance in Å (``n_bins`` bins of width ``r_max / n_bins``).
        n_bins: samples per channel.
        sigma: Gaussian smearing in Å; smooth in the atoms' positions, unlike a hard histogram.
        properties: weights, any of :data:`ELEMENT_PROPERTIES`, one channel each.

    Returns:
        ``(len(properties) * n_bins,)`` vector; channel ``k`` is ``[k * n_bins:(k + 1) * n_bins]``.

    Raises:
        CrystalInputError: a bad structure, non-positive sizes, or an unknown property.
    """
    check_structure(structure)
    _check_grid(r_max, n_bins)
    if not np.isfinite(sigma) or sigma <= 0:
        raise CrystalInputError(f"sigma must be a positive width in Å, got {sigma}.")
    unknown = [p for p in properties if p not in ELEMENT_PROPERTIES]
    if unknown or len(properties) == 0:
        raise CrystalInputError(f"Unknown or no properties {unknown}: choose from {ELEMENT_PROPERTIES}.")
    radii = fingerprint_radii(r_max, n_bins)  # (n_bins,)
    centres, neighbours, _, distances = structure.get_neighbor_list(r=r_max + _TAIL * sigma)
    # Gaussian of every pair (row) evaluated at every radius (column).
    gauss = np.exp(-0.5 * ((radii[None, :] - distances[:, None]) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)  # (E, B)
    n_atoms = len(structure)
    density = n_atoms / structure.volume  # atoms per Å^3
    ideal = n_atoms * 4 * np.pi * radii**2 * density  # (B,)
    channels = []
    for name in properties:
        values = _property_values(structure, name)  # (N,)
        weights = values[centres] * values[neighbours]  # (E,)
        channels.append(weights @ gauss / ideal)  # (B,)
    return np.concatenate(channels)


def fingerprint_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Euclidean distance between two fingerprints made with the same settings."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape:
        raise CrystalInputError(
            f"Fingerprints of shapes {first.shape} and {second.shape} cannot be compared: use the same settings."
        )
    return float(np.linalg.norm(first - second))


def _property_values(structure: Structure, name: str) -> np.ndarray:
    if name == "count":
        return np.ones(len(structure))
    if name == "atomic_number":
        return np.array([site.specie.Z for site in structure], dtype=float) / 100.0
    values = np.array([site.specie.X for site in structure], dtype=float) / 4.0
    return np.nan_to_num(values, nan=0.0)


def _check_grid(r_max: float, n_bins: int) -> None:
    if not np.isfinite(r_max) or r_max <= 0:
        raise CrystalInputError(f"r_max must be a positive distance in Å, got {r_max}.")
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise CrystalInputError(f"n_bins must be a positive integer, got {n_bins!r}.")
