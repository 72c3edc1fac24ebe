"""Pitfalls as checks: duplicates in a set, leakage between splits, loose tolerances."""

from __future__ import annotations

import pytest

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import (
    LOOSE_MATCHER,
    STANDARD_MATCHER,
    STRICT_MATCHER,
    duplicate_fraction,
    duplicates_within,
    split_leakage,
    tolerance_sweep,
)
from crystalkit.metrics.examples import cubic_perovskite, diamond, equivalent_copy, rattle, rock_salt


def test_duplicates_within_finds_rewritten_copies():
    structures = [rock_salt(), diamond(), equivalent_copy(rock_salt(), seed=1, supercell=(1, 2, 1)), cubic_perovskite(),
                  equivalent_copy(diamond(), seed=4)]
    assert duplicates_within(structures) == [[0, 2], [1, 4]]
    assert duplicate_fraction(structures) == pytest.approx(2 / 5)


def test_split_leakage_classifies_same_structure_polymorph_and_new():
    train = [rock_salt(), diamond()]
    test = [equivalent_copy(rock_salt(), seed=2),  # same structure as train[0]
            rattle(diamond(), 1.0, seed=5),  # C8 again, but a different arrangement: a polymorph
            cubic_perovskite()]  # a formula the training set lacks
    report = split_leakage(train, test)
    assert report.same_structure == (0,) and report.polymorph == (1,) and report.new_composition == (2,)
    assert report.train_match == (0, None, None)
    assert report.summary()["same_structure_share"] == pytest.approx(1 / 3)


def test_loose_tolerances_flatter_a_model():
    targets = [cubic_perovskite(a=3.9 + 0.05 * i, a_site=a) for i, a in enumerate(["Sr", "Ba", "Ca", "Pb"])]
    predicted = [rattle(t, 0.35, seed=i) for i, t in enumerate(targets)]
    table = tolerance_sweep(predicted, targets, validity="structural", n_jobs=1)
    rates = dict(zip(table["setting"], table["match_rate"]))
    assert rates["strict"] <= rates["standard"] <= rates["loose"]
    assert rates["strict"] < rates["loose"]
    assert set(table.columns) >= {"stol", "ltol", "angle_tol", "rmse"}
    assert dict(LOOSE_MATCHER)["stol"] > dict(STANDARD_MATCHER)["stol"] > dict(STRICT_MATCHER)["stol"]


def test_bad_input():
    with pytest.raises(CrystalInputError):
        duplicates_within([])
    with pytest.raises(CrystalInputError):
        split_leakage([rock_salt()], ["NaCl"])
