"""Coverage: does the generated set cover the reference set, and stay near it? (COV-R, COV-P)

CDVAE (Xie et al., ICLR 2022, following the molecular COV metrics of Xu
et al. 2021) compares two sets of crystals through fingerprints
(:mod:`crystalkit.metrics.fingerprints`). Two crystals are *close* when
their structure fingerprints are within ``struc`` (Euclidean distance) AND
their scaled composition fingerprints are within ``comp``:

* **COV-R** (recall): the share of reference crystals that have a close
  generated crystal: did the model cover the data?
* **COV-P** (precision): the share of generated crystals that have a close
  reference crystal: are the samples realistic? Its denominator is *all*
  generated crystals, including those whose fingerprint failed.
* **AMSD / AMCD** (recall and precision): mean distance to the nearest
  neighbour, structure and composition fingerprints.

Coverage uses every generated crystal with a fingerprint, valid or not (as
the published script does). The cut-offs are per dataset
(:data:`COVERAGE_CUTOFFS`): they are what makes the numbers comparable with
papers, and they are loose enough that a weak model can score high: read
COV beside the validity and match rates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from crystalkit.errors import CrystalInputError
from crystalkit.metrics.fingerprints import scale_composition_fingerprints

__all__ = ["COVERAGE_CUTOFFS", "CoverageResult", "coverage", "coverage_cutoffs"]

#: (structure cut-off, composition cut-off) per dataset, from the
#: ``COV_Cutoffs`` table of the CDVAE evaluation script (scripts/
#: compute_metrics.py, github.com/txie-93/cdvae), reused unchanged by DiffCSP.
#: Note Perov-5 uses 0.2 / 4 there, not the 0.4 / 10 of MP-20.
COVERAGE_CUTOFFS: Mapping[str, tuple[float, float]] = MappingProxyType({
    "perov_5": (0.2, 4.0),
    "carbon_24": (0.2, 4.0),
    "mp_20": (0.4, 10.0),
})

#: Other names accepted for the datasets above (the bundled teaching sets
#: resemble them, so they borrow their cut-offs).
_ALIASES = {
    "perovskite": "perov_5", "perovskites": "perov_5", "perov": "perov_5",
    "carbon": "carbon_24",
    "mp20": "mp_20", "inorganic": "mp_20",
}


def coverage_cutoffs(dataset: str) -> tuple[float, float]:
    """``(struc, comp)`` cut-offs of a dataset name such as ``"mp_20"`` or ``"perovskites"``.

    Raises:
        CrystalInputError: no published cut-offs exist for that name.
    """
    name = _ALIASES.get(dataset.lower(), dataset.lower())
    if name not in COVERAGE_CUTOFFS:
        raise CrystalInputError(
            f"No published coverage cut-offs for dataset {dataset!r}; known: {sorted(COVERAGE_CUTOFFS)} "
            f"(aliases {sorted(_ALIASES)}). Pass coverage_cutoffs=(struc, comp) explicitly."
        )
    return COVERAGE_CUTOFFS[name]


@dataclass(frozen=True)
class CoverageResult:
    """COV-R / COV-P and mean nearest-neighbour distances.

    Attributes:
        cov_recall, cov_precision: shares in 0..1.
        amsd_recall, amsd_precision: mean structure-fingerprint distance to the nearest neighbour.
        amcd_recall, amcd_precision: the same for scaled composition fingerprints.
        cutoffs: the ``(struc, comp)`` cut-offs used.
        n_generated: all generated crystals (the COV-P denominator).
        n_without_fingerprint: generated crystals left out for a failed fingerprint.
    """

    cov_recall: float
    cov_precision: float
    amsd_recall: float
    amsd_precision: float
    amcd_recall: float
    amcd_precision: float
    cutoffs: tuple[float, float]
    n_generated: int
    n_without_fingerprint: int


def coverage(
    generated_structure_fps: Sequence[np.ndarray | None],
    generated_composition_fps: Sequence[np.ndarray | None],
    reference_structure_fps: Sequence[np.ndarray],
    reference_composition_fps: Sequence[np.ndarray],
    cutoffs: tuple[float, float],
) -> CoverageResult:
    """COV-R / COV-P from precomputed fingerprints (see :func:`crystalkit.metrics.fingerprints.featurize`).

    Args:
        generated_structure_fps: one entry per generated crystal; ``None``
            where the fingerprint failed (the crystal then never counts as
            close, but stays in the COV-P denominator).
        generated_composition_fps: raw (unscaled) magpie fingerprints.
        reference_structure_fps, reference_composition_fps: the reference
            set (no ``None``: drop reference crystals without a fingerprint
            first, and report how many).
        cutoffs: ``(struc, comp)``, e.g. ``coverage_cutoffs("mp_20")``.
    """
    if len(generated_structure_fps) != len(generated_composition_fps):
        raise CrystalInputError("Generated structure and composition fingerprints differ in length.")
    if len(reference_structure_fps) != len(reference_composition_fps) or len(reference_structure_fps) == 0:
        raise CrystalInputError(
            "The reference set needs the same number (> 0) of structure and composition fingerprints.")
    if any(fp is None for fp in reference_structure_fps):
        raise CrystalInputError("A reference structure fingerprint is None: drop those crystals first.")
    from scipy.spatial.distance import cdist

    struc_cut, comp_cut = cutoffs
    keep = [i for i, (s, c) in enumerate(zip(generated_structure_fps, generated_composition_fps))
            if s is not None and c is not None]
    n_generated = len(generated_structure_fps)
    if not keep:
        nan = float("nan")
        return CoverageResult(0.0, 0.0, nan, nan, nan, nan, tuple(cutoffs), n_generated, n_generated)
    gen_struc = np.asarray([generated_structure_fps[i] for i in keep], dtype=float)
    gen_comp = scale_composition_fingerprints([generated_composition_fps[i] for i in keep])
    ref_struc = np.asarray(reference_structure_fps, dtype=float)
    ref_comp = scale_composition_fingerprints(reference_composition_fps)
    struc_dist = cdist(gen_struc, ref_struc)  # (n_generated_kept, n_reference)
    comp_dist = cdist(gen_comp, ref_comp)
    # The published metric takes nearest neighbours in each space separately,
    # then asks that both be within their cut-offs.
    struc_recall, struc_precision = struc_dist.min(axis=0), struc_dist.min(axis=1)
    comp_recall, comp_precision = comp_dist.min(axis=0), comp_dist.min(axis=1)
    recall = np.mean((struc_recall <= struc_cut) & (comp_recall <= comp_cut))
    precision = np.sum((struc_precision <= struc_cut) & (comp_precision <= comp_cut)) / n_generated
    return CoverageResult(
        cov_recall=float(recall),
        cov_precision=float(precision),
        amsd_recall=float(np.mean(struc_recall)),
        amsd_precision=float(np.mean(struc_precision)),
        amcd_recall=float(np.mean(comp_recall)),
        amcd_precision=float(np.mean(comp_precision)),
        cutoffs=(float(struc_cut), float(comp_cut)),
        n_generated=n_generated,
        n_without_fingerprint=n_generated - len(keep),
    )
