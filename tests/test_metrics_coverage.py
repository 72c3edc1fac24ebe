"""COV-R / COV-P on hand-built fingerprints with known answers, and the published cut-offs."""

from __future__ import annotations

import numpy as np
import pytest

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import COVERAGE_CUTOFFS, coverage, coverage_cutoffs
from crystalkit.metrics._cdvae_constants import CDVAE_COMPOSITION_MEANS, CDVAE_COMPOSITION_STDS


def _raw_composition(z: np.ndarray) -> np.ndarray:
    """A raw magpie vector whose CDVAE-scaled value is exactly ``z``."""
    return np.asarray(CDVAE_COMPOSITION_MEANS) + z * np.asarray(CDVAE_COMPOSITION_STDS)


def _unit(i: int, size: int, scale: float = 1.0) -> np.ndarray:
    v = np.zeros(size)
    v[i] = scale
    return v


def test_known_answer():
    ref_struct = [np.zeros(61), _unit(0, 61)]
    ref_comp = [_raw_composition(np.zeros(132)), _raw_composition(_unit(0, 132, 10.0))]
    gen_struct = [_unit(1, 61, 0.1), _unit(0, 61, 1.05), None]
    gen_comp = [_raw_composition(_unit(1, 132, 1.0)), _raw_composition(_unit(0, 132, 15.0)), None]
    result = coverage(gen_struct, gen_comp, ref_struct, ref_comp, cutoffs=(0.2, 4.0))
    # ref 0 has gen 0 within 0.1 (struc) and 1.0 (comp); ref 1's nearest in comp is gen 1 at 5.0 > 4.
    assert result.cov_recall == 0.5
    # gen 0 is close to ref 0; gen 1 is 0.05 from ref 1 in struc but 5.0 in comp; gen 2 has no fingerprint
    assert result.cov_precision == pytest.approx(1 / 3)
    assert result.n_without_fingerprint == 1 and result.n_generated == 3
    assert result.amsd_precision == pytest.approx((0.1 + 0.05) / 2)
    assert result.amcd_recall == pytest.approx((1.0 + 5.0) / 2)


def test_nearest_neighbours_are_taken_separately_in_each_space():
    # One generated crystal near ref A in structure and near ref B in composition covers both refs' tests separately.
    ref_struct = [np.zeros(61), _unit(0, 61, 5.0)]
    ref_comp = [_raw_composition(_unit(0, 132, 50.0)), _raw_composition(np.zeros(132))]
    result = coverage([np.zeros(61)], [_raw_composition(np.zeros(132))], ref_struct, ref_comp, cutoffs=(0.2, 4.0))
    assert result.cov_precision == 1.0  # the published definition; a joint definition would give 0


def test_published_cutoffs():
    assert COVERAGE_CUTOFFS["mp_20"] == (0.4, 10.0)
    assert coverage_cutoffs("carbon") == (0.2, 4.0)
    assert coverage_cutoffs("perov_5") == (0.2, 4.0)  # the CDVAE script's value for perovskites
    with pytest.raises(CrystalInputError, match="No published coverage cut-offs"):
        coverage_cutoffs("mpts_52")


def test_bad_input():
    with pytest.raises(CrystalInputError):
        coverage([np.zeros(61)], [], [np.zeros(61)], [_raw_composition(np.zeros(132))], (0.2, 4.0))
    with pytest.raises(CrystalInputError):
        coverage([np.zeros(61)], [np.zeros(132)], [], [], (0.2, 4.0))
