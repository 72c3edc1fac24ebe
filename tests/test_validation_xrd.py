"""Simulated powder XRD: invariances, similarity scores, noise seeds, ranking, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from crystalkit.errors import CrystalInputError
from crystalkit.validation import (
    XRDPattern,
    best_strain_similarity,
    rank_candidates,
    resample_pattern,
    simulate_xrd,
    xrd_similarity,
)


@pytest.fixture
def rocksalt() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _moved(structure: Structure) -> Structure:
    """The same crystal rotated in space, shifted, in another (primitive) cell, sites shuffled."""
    from pymatgen.core.operations import SymmOp

    primitive = SpacegroupAnalyzer(structure).get_primitive_standard_structure()
    rotated = primitive.copy()
    rotated.apply_operation(SymmOp.from_axis_angle_and_translation([1, 2, 3], 37.0))
    rotated.translate_sites(list(range(len(rotated))), [0.13, 0.31, 0.71])
    order = np.random.default_rng(0).permutation(len(rotated))
    return Structure(rotated.lattice, [rotated[i].species for i in order], rotated.frac_coords[order])


def test_identical_structures_score_one(srtio3):
    assert xrd_similarity(simulate_xrd(srtio3), simulate_xrd(srtio3)) == pytest.approx(1.0)


def test_rotated_translated_and_recelled_copy_scores_one(rocksalt, srtio3):
    for crystal in (rocksalt, srtio3, srtio3 * (2, 1, 1)):
        assert xrd_similarity(simulate_xrd(crystal), simulate_xrd(_moved(crystal))) == pytest.approx(1.0, abs=1e-6)


def test_a_different_structure_scores_lower(srtio3, rocksalt):
    batio3 = srtio3.copy()
    batio3.replace_species({"Sr": "Ba"})
    batio3.scale_lattice(4.0**3)
    target = simulate_xrd(srtio3)
    assert xrd_similarity(target, simulate_xrd(rocksalt)) < 0.3
    assert xrd_similarity(target, simulate_xrd(batio3)) < xrd_similarity(target, simulate_xrd(srtio3))


def test_noise_is_reproducible_with_a_seed(srtio3):
    a = simulate_xrd(srtio3, noise=0.02, seed=3)
    b = simulate_xrd(srtio3, noise=0.02, seed=3)
    c = simulate_xrd(srtio3, noise=0.02, seed=4)
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert not np.array_equal(a.intensity, c.intensity)
    clean = simulate_xrd(srtio3)
    assert np.std(a.intensity - clean.intensity) == pytest.approx(0.02, rel=0.1)
    assert 0.5 < xrd_similarity(a, clean) < 1.0


def test_pattern_shape_and_peaks(srtio3):
    pattern = simulate_xrd(srtio3, two_theta_range=(20, 60), step=0.05, fwhm=0.3, profile="pseudo_voigt")
    assert pattern.two_theta[0] == pytest.approx(20) and pattern.two_theta[-1] == pytest.approx(60)
    assert pattern.intensity.max() == pytest.approx(1.0)
    # The strongest SrTiO3 reflection with Cu Kα is (110) near 2θ = 32.4°.
    strongest = pattern.peak_two_theta[np.argmax(pattern.peak_intensity)]
    assert strongest == pytest.approx(32.4, abs=0.2)
    assert pattern.two_theta[np.argmax(pattern.intensity)] == pytest.approx(strongest, abs=0.05)
    assert "1, 1, 0" in pattern.peak_hkl[int(np.argmax(pattern.peak_intensity))]


def test_strain_tolerant_score_recovers_a_stretched_lattice(srtio3):
    stretched = srtio3.copy()
    stretched.scale_lattice(srtio3.volume * 1.02**3)  # lattice 2 % larger: peaks shift to lower angles
    target, candidate = simulate_xrd(srtio3), simulate_xrd(stretched)
    assert xrd_similarity(target, candidate) < 0.5
    score, strain = best_strain_similarity(target, candidate, max_strain=0.03)
    assert score > 0.98
    assert strain == pytest.approx(1 / 1.02 - 1, abs=0.002)  # shrink the candidate back by about 2 %
    assert xrd_similarity(target, resample_pattern(candidate, target, strain)) == pytest.approx(score)


def test_patterns_are_compared_through_d_spacings(srtio3):
    copper = simulate_xrd(srtio3, two_theta_range=(10, 80))
    molybdenum = simulate_xrd(srtio3, two_theta_range=(5, 40), wavelength="MoKa")
    assert molybdenum.wavelength == pytest.approx(0.71, abs=0.01)
    # Peaks land in the same places; heights differ somewhat (the Lorentz-polarisation factor depends on θ).
    moved = resample_pattern(molybdenum, copper)
    assert moved.two_theta[np.argmax(moved.intensity)] == pytest.approx(
        copper.two_theta[np.argmax(copper.intensity)], abs=0.05)
    assert xrd_similarity(copper, molybdenum) > 0.8


def test_rank_candidates_puts_the_right_crystal_first(srtio3, rocksalt):
    stretched = srtio3.copy()
    stretched.scale_lattice(srtio3.volume * 1.015**3)
    target = simulate_xrd(srtio3, noise=0.01, seed=0)
    table = rank_candidates(target, [rocksalt, stretched, srtio3], names=["rock salt", "stretched", "true"])
    assert list(table["name"])[:2] == ["true", "stretched"]
    assert table.loc[1, "similarity"] < 0.5 < table.loc[1, "similarity_strained"]
    assert list(table.columns) == ["name", "formula", "similarity", "similarity_strained", "strain"]
    plain = rank_candidates(target, [rocksalt, stretched, srtio3], max_strain=0.0)
    assert (plain["similarity"] == plain["similarity_strained"]).all()


def test_bad_input_raises(srtio3):
    with pytest.raises(CrystalInputError, match="two_theta_range"):
        simulate_xrd(srtio3, two_theta_range=(80, 10))
    with pytest.raises(CrystalInputError, match="no reflection"):
        simulate_xrd(srtio3, two_theta_range=(1, 5))
    with pytest.raises(CrystalInputError):
        simulate_xrd(srtio3, profile="lorentzian")
    with pytest.raises(CrystalInputError, match="same length"):
        XRDPattern(two_theta=np.linspace(10, 80, 5), intensity=np.ones(4))
    with pytest.raises(CrystalInputError, match="max_strain"):
        best_strain_similarity(simulate_xrd(srtio3), simulate_xrd(srtio3), max_strain=0.7)
    with pytest.raises(CrystalInputError):
        rank_candidates(simulate_xrd(srtio3), [])


def test_disordered_structures_are_simulated_as_averages(srtio3):
    mixed = srtio3.copy()
    mixed.replace(0, {"Sr": 0.5, "Ba": 0.5})
    assert xrd_similarity(simulate_xrd(srtio3), simulate_xrd(mixed)) > 0.9
