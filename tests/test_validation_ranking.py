"""Ranking candidates against a measured XRD or PDF pattern: metrics, the right answer, strain, bad grids."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import (
    profile_agreement,
    rank_against_measured,
    ranking_sweep,
    simulate_pdf,
    simulate_xrd,
)


@pytest.fixture
def perovskites(srtio3) -> tuple[list[Structure], list[str]]:
    """The measured phase with a lattice 1 % too large, and two wrong answers."""
    stretched = srtio3.copy()
    stretched.scale_lattice(srtio3.volume * 1.01**3)
    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.16), ["Sr", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rutile = Structure(Lattice.tetragonal(4.59, 2.96), ["Ti", "Ti", "O", "O", "O", "O"],
                       [[0, 0, 0], [0.5, 0.5, 0.5], [0.305, 0.305, 0], [0.695, 0.695, 0], [0.805, 0.195, 0.5],
                        [0.195, 0.805, 0.5]])
    return [rocksalt, stretched, rutile], ["SrO", "SrTiO3 +1%", "TiO2"]


def test_identical_curves_agree_perfectly_whatever_the_scale():
    x = np.linspace(0, 10, 200)
    y = np.sin(x) + 0.3 * np.cos(3 * x)
    assert profile_agreement(x, y, x, 7.0 * y, "rwp") == pytest.approx(0.0, abs=1e-12)
    assert profile_agreement(x, y, x, 7.0 * y, "pearson") == pytest.approx(1.0)


def test_rwp_of_an_unrelated_curve_is_near_one_and_known_for_a_known_residual():
    x = np.linspace(0, 10, 2001)
    y = np.sin(x)
    assert profile_agreement(x, y, x, np.cos(3 * x), "rwp") > 0.95
    # y = m + e with e orthogonal to m: best scale is 1 and Rwp = |e| / |y|.
    m, e = np.sin(x), 0.1 * np.sin(2 * x)
    expected = np.linalg.norm(e) / np.linalg.norm(m + e)
    assert profile_agreement(x, m + e, x, m, "rwp") == pytest.approx(expected, rel=1e-3)


def test_the_model_is_interpolated_onto_the_measured_grid():
    fine, coarse = np.linspace(0, 10, 1001), np.linspace(1, 9, 50)
    assert profile_agreement(coarse, np.sin(coarse), fine, np.sin(fine), "pearson") == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.arange(5.0), np.zeros(4), np.arange(5.0), np.zeros(5)), "same length"),
        ((np.arange(5.0), np.zeros(5), np.arange(5.0), np.zeros(6)), "same length"),
        ((np.arange(5.0)[::-1], np.zeros(5), np.arange(5.0), np.zeros(5)), "increase"),
        ((np.arange(5.0), np.zeros(5), np.arange(2.0, 4.0, 0.5), np.zeros(4)), "does not cover"),
    ],
)
def test_mismatched_grids_are_refused(args, message):
    with pytest.raises(CrystalInputError, match=message):
        profile_agreement(*args)


@pytest.mark.parametrize("metric", ["rwp", "pearson"])
def test_xrd_ranking_finds_the_measured_phase_and_its_strain(srtio3, perovskites, metric):
    candidates, names = perovskites
    measured = simulate_xrd(srtio3, fwhm=0.2, noise=0.02, seed=0)
    table = rank_against_measured(measured, candidates, names=names, metric=metric, max_strain=0.02)
    assert table["name"].iloc[0] == "SrTiO3 +1%" and table["rank"].tolist() == [1, 2, 3]
    assert table["strain"].iloc[0] == pytest.approx(-0.01, abs=0.0015)
    scores = table["score"].to_numpy()
    assert np.all(np.diff(scores) >= 0) if metric == "rwp" else np.all(np.diff(scores) <= 0)


@pytest.mark.slow
def test_pdf_ranking_finds_the_measured_phase_and_its_strain(srtio3, perovskites):
    candidates, names = perovskites
    measured = simulate_pdf(srtio3, radius=10.0, r_range=(1.0, 12.0), noise=0.02, seed=0)
    table = rank_against_measured(measured, candidates, names=names, metric="rwp", max_strain=0.02)
    assert table["name"].iloc[0] == "SrTiO3 +1%"
    assert table["strain"].iloc[0] == pytest.approx(-0.01, abs=0.0015)
    unstrained = rank_against_measured(measured, candidates, names=names, metric="rwp")
    mine = unstrained.set_index("name").loc["SrTiO3 +1%", "score"]
    assert table["score"].iloc[0] < mine  # allowing the stretch helps the right answer


def test_noise_erodes_the_margin(srtio3, perovskites):
    candidates, names = perovskites
    sweep = ranking_sweep(srtio3, candidates, names, kind="xrd", noises=[0.0, 0.3], broadenings=[0.2],
                          answer="SrTiO3 +1%", max_strain=0.02)
    assert len(sweep) == 2 and sweep["margin"].iloc[0] > sweep["margin"].iloc[1]
    assert sweep["answer_score"].iloc[0] < sweep["answer_score"].iloc[1]  # Rwp grows with noise


def test_bad_ranking_input_is_refused(srtio3, perovskites):
    candidates, names = perovskites
    measured = simulate_xrd(srtio3)
    with pytest.raises(CrystalInputError, match="metric"):
        rank_against_measured(measured, candidates, metric="chi2")
    with pytest.raises(CrystalInputError, match="No candidates"):
        rank_against_measured(measured, [])
    with pytest.raises(CrystalInputError, match="names"):
        rank_against_measured(measured, candidates, names=["one"])
    with pytest.raises(CrystalInputError, match="Cannot compare"):
        rank_against_measured(measured, [simulate_pdf(srtio3, radius=5.0)])
    with pytest.raises(CrystalInputError, match="XRDPattern or a PDFPattern"):
        rank_against_measured(np.zeros(10), candidates)
    with pytest.raises(CrystalInputError, match="answer"):
        ranking_sweep(srtio3, candidates, names, kind="xrd", noises=[0.0], broadenings=[0.2], answer="nope")
    with pytest.raises(CrystalInputError, match="kind"):
        ranking_sweep(srtio3, candidates, names, kind="neutron", noises=[0.0], broadenings=[0.2], answer="SrO")
