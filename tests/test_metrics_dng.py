"""The de novo panel on a small set with known answers; uniqueness, novelty, P1, S.U.N."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import dng_metrics, novelty, p1_share, space_group_numbers, sun_rate, uniqueness
from crystalkit.metrics.examples import cubic_perovskite, equivalent_copy, rattle, with_overlap


def _panel():
    sto = cubic_perovskite()
    bto = cubic_perovskite(a=4.0, a_site="Ba")
    cto = cubic_perovskite(a=3.84, a_site="Ca")
    generated = [
        sto,  # 0 valid, unique, novel
        equivalent_copy(sto, seed=1),  # 1 valid, duplicate of 0
        rattle(bto, 0.02, seed=0),  # 2 valid, in the training set
        cubic_perovskite(a_site="K", b_site="Na", anion="F"),  # 3 KNaF3: not charge balanced
        with_overlap(sto, 0.3),  # 4 overlapping atoms
        None,  # 5 the generator failed
        rattle(cto, 0.3, seed=3),  # 6 valid, unique, novel, no symmetry left (P1)
    ]
    reference = [sto, bto, cto]
    train = [bto]
    return generated, reference, train


@pytest.fixture(scope="module")
def panel():
    generated, reference, train = _panel()
    energies = [0.0, 0.0, 0.05, math.nan, 0.2, math.nan, 0.5]
    return dng_metrics(generated, reference, train=train, dataset="perov_5", e_above_hull=energies, n_jobs=1)


def test_validity_shares(panel):
    assert panel.n_generated == 7 and panel.n_failed == 1
    assert panel.struct_valid == pytest.approx(5 / 7)  # all but the overlap and the failure
    assert panel.comp_valid == pytest.approx(5 / 7)  # all but KNaF3 and the failure
    assert panel.valid == pytest.approx(4 / 7)
    frame = panel.to_frame()
    assert list(frame["valid"]) == [True, True, True, False, False, False, True]
    assert frame.loc[5, "invalid_reason"] == "generation failed"


def test_uniqueness_novelty_symmetry(panel):
    assert panel.unique_rate == pytest.approx(3 / 4)  # 1 repeats 0
    assert panel.novel_rate == pytest.approx(3 / 4)  # 2 is in train
    assert panel.unique_novel_rate == pytest.approx(2 / 4)  # 0 and 6
    assert panel.p1_share == pytest.approx(1 / 4) and panel.p1_share_reference == 0.0
    frame = panel.to_frame()
    assert frame.loc[1, "duplicate_of"] == 0 and frame.loc[2, "novel"] == False


def test_sun_from_given_energies(panel):
    # stable (<= 0.1 eV/atom): 0, 1, 2; novel among them: 0, 1; distinct: one crystal
    assert panel.sun.n_stable == 3 and panel.sun.n_stable_novel == 2 and panel.sun.n_sun == 1
    assert panel.sun.rate == pytest.approx(1 / 7)


def test_distribution_distances_follow_the_definition(panel):
    generated, reference, _ = _panel()
    valid = [generated[i] for i in (0, 1, 2, 6)]
    expected = wasserstein_distance([s.density for s in valid], [s.density for s in reference])
    assert panel.wdist_density == pytest.approx(expected, rel=1e-12)
    assert panel.wdist_num_elements == 0.0
    assert panel.coverage is not None and panel.coverage.cutoffs == (0.2, 4.0)
    assert 0.0 <= panel.coverage.cov_recall <= 1.0


def test_property_distance_and_notes():
    generated, reference, _ = _panel()
    result = dng_metrics(generated[:3], reference, generated_property=[1.0, 1.0, 2.0],
                         reference_property=[1.0, 2.0, 3.0], n_jobs=1)
    assert result.wdist_property == pytest.approx(wasserstein_distance([1, 1, 2], [1, 2, 3]))
    assert result.coverage is None and result.novel_rate is None
    assert any("coverage" in note for note in result.notes) and any("novelty" in note for note in result.notes)


def test_standalone_functions():
    sto = cubic_perovskite()
    assert uniqueness([sto, equivalent_copy(sto, seed=2, supercell=(1, 1, 2)), rattle(sto, 1.5, seed=0)]) == \
        pytest.approx(2 / 3)
    assert novelty([sto, cubic_perovskite(a_site="Ba")], [sto]) == 0.5
    assert space_group_numbers([sto]) == [221]
    assert p1_share([rattle(sto, 0.3, seed=3), sto]) == 0.5
    result = sun_rate([sto, cubic_perovskite(a_site="Ba")], [0.0, math.nan], train=[cubic_perovskite(a_site="Ca")])
    assert result.rate == 0.5 and result.n_unknown_energy == 1 and result.sun == (True, False)


def test_subsample_is_seeded():
    generated, reference, _ = _panel()
    a = dng_metrics(generated, reference, n_samples=2, seed=1, n_jobs=1)
    b = dng_metrics(generated, reference, n_samples=2, seed=1, n_jobs=1)
    assert a.wdist_density == b.wdist_density
    with pytest.raises(CrystalInputError, match="fewer than n_samples"):
        dng_metrics(generated, reference, n_samples=10, n_jobs=1)


def test_bad_input():
    generated, reference, _ = _panel()
    with pytest.raises(CrystalInputError):
        dng_metrics([], reference)
    with pytest.raises(CrystalInputError):
        dng_metrics(generated, [None])
    with pytest.raises(CrystalInputError, match="align"):
        dng_metrics(generated, reference, generated_property=[1.0], reference_property=[1.0, 2.0, 3.0])
    with pytest.raises(CrystalInputError, match="train"):
        dng_metrics(generated, reference, e_above_hull=np.zeros(len(generated)))
    with pytest.raises(CrystalInputError, match="cut-offs"):
        dng_metrics(generated, reference, dataset="unknown_set")


def test_oxidation_state_list_changes_comp_valid():
    reference = [cubic_perovskite()]
    generated = [cubic_perovskite(), cubic_perovskite(a_site="Ca", b_site="Cd", anion="O")]  # CaCdO3: SMACT-14 only
    default = dng_metrics(generated, reference, n_jobs=1)
    icsd24 = dng_metrics(generated, reference, n_jobs=1, oxidation_states="icsd24")
    assert default.oxidation_states == "smact14" and icsd24.oxidation_states == "icsd24"
    assert default.comp_valid == 1.0 and icsd24.comp_valid == 0.5
    assert list(icsd24.to_frame()["comp_valid"]) == [True, False]
    with pytest.raises(CrystalInputError, match="oxidation_states must be one of"):
        dng_metrics(generated, reference, n_jobs=1, oxidation_states="icsd16")
