"""Tests for crystalkit.design.synthesizability: hypothetical compositions and the known-vs-hypothetical classifier."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Composition

from crystalkit.design import known_compositions, substituted_compositions, train_synthesizability
from crystalkit.errors import CrystalInputError
from crystalkit.validation import charge_balance

KNOWN = ["SrTiO3", "BaTiO3", "CaTiO3", "KNbO3", "NaNbO3", "LaAlO3", "MgO", "NaCl", "KCl", "LiF", "CaF2", "ZnS"]


def _stoichiometry(formula: str) -> tuple[float, ...]:
    return tuple(sorted(Composition(formula).get_el_amt_dict().values()))


def test_known_compositions_are_the_distinct_bundled_formulas():
    known = known_compositions(("perovskites",))
    assert known == sorted(set(known))
    assert all(len(Composition(f)) >= 2 for f in known)
    assert len(known_compositions(("perovskites", "inorganic"))) > len(known)


def test_substitutions_are_new_balanced_and_keep_the_stoichiometry():
    found = substituted_compositions(KNOWN, 20, seed=3)
    assert len(found) == len(set(found)) == 20
    assert not set(found) & set(KNOWN)
    assert all(charge_balance(f).balanced for f in found)
    parents = {_stoichiometry(f) for f in KNOWN}
    assert all(_stoichiometry(f) in parents for f in found)
    pool = {e for f in KNOWN for e in Composition(f).get_el_amt_dict()}
    assert all(set(Composition(f).get_el_amt_dict()) <= pool for f in found)


def test_substitutions_follow_the_seed():
    assert substituted_compositions(KNOWN, 8, seed=1) == substituted_compositions(KNOWN, 8, seed=1)
    assert substituted_compositions(KNOWN, 8, seed=1) != substituted_compositions(KNOWN, 8, seed=2)


def test_substitution_refuses_bad_requests():
    with pytest.raises(CrystalInputError, match="at least one known"):
        substituted_compositions([], 3)
    with pytest.raises(CrystalInputError, match="positive integer"):
        substituted_compositions(KNOWN, 0)
    with pytest.raises(CrystalInputError, match="Found only"):
        substituted_compositions(["NaCl"], 1000, max_tries=200)


def test_a_separable_problem_is_learned_and_the_report_adds_up():
    # "Known" oxides against oxygen-free "hypothetical" halides: an easy split the forest must find.
    oxides = [f"{a}{b}O3" for a in ("Sr", "Ba", "Ca", "Pb", "Cd") for b in ("Ti", "Zr", "Hf", "Sn", "Ge")]
    halides = [f"{a}{b}{x}3" for a in ("K", "Rb", "Cs", "Na", "Tl") for b in ("Mg", "Zn", "Ni", "Co", "Mn")
               for x in ("F", "Cl")][:25]
    model = train_synthesizability(oxides, halides, seed=0, test_fraction=0.4, trees=50)
    assert model.accuracy >= 0.9
    assert model.baseline_accuracy == pytest.approx(0.5)
    n_test = len(model.held_out)
    assert int(model.confusion.to_numpy().sum()) == n_test
    correct = model.confusion.loc["known", "known"] + model.confusion.loc["hypothetical", "hypothetical"]
    assert correct / n_test == pytest.approx(model.accuracy)
    assert len(model.mistakes) == n_test - correct
    assert model.n_train + n_test == len(oxides) + len(halides)
    scores = model.score(["SrTiO3", "KMgF3"])
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    assert scores[0] > scores[1]


def test_training_refuses_bad_input():
    with pytest.raises(CrystalInputError, match="at least 4"):
        train_synthesizability(KNOWN[:3], ["NaBr", "KBr", "LiCl", "RbF"])
    with pytest.raises(CrystalInputError, match="both known and hypothetical"):
        train_synthesizability(KNOWN, ["NaCl", "KBr", "LiCl", "RbF"])
    with pytest.raises(CrystalInputError, match="test_fraction"):
        train_synthesizability(KNOWN, ["NaBr", "KBr", "LiCl", "RbF"], test_fraction=1.5)
