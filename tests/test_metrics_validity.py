"""Structural and compositional validity against hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Element, Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import check_validity, compositional_validity, structural_validity
from crystalkit.metrics import validity as validity_module
from crystalkit.metrics.examples import cubic_perovskite, rock_salt, with_overlap


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("NaCl", True),  # Na+ Cl-
        ("NaCl2", False),  # no common states balance it with Na less electronegative than Cl
        ("Fe3Al", True),  # all metals: an alloy
        ("C8", True),  # a single element
        ("SrTiO3", True),
        ("Fe2O3", True),
        ("Fe4O6", True),  # reduced by the gcd to Fe2O3 first
        ("KF2", False),  # K is only +1 and F only -1
        ("NaO", True),  # O can be -1 (peroxide) in SMACT's list
        ("LiF", True),
    ],
)
def test_compositional_validity_known_formulas(formula, expected):
    assert compositional_validity(formula) is expected


def test_pauling_test_can_be_switched_off():
    # Na2Cl balances only with sodium as the anion (Na-1 in SMACT-14) and
    # chlorine as the cation: charge neutral, but not chemical.
    assert compositional_validity("Na2Cl") is False
    assert compositional_validity("Na2Cl", use_pauling_test=False) is True


def test_si3n_depends_on_the_oxidation_state_list():
    # SMACT-14 lists Si+1, so 3 Si(+1) + N(-3) balances with Si the cation.
    assert compositional_validity("Si3N", oxidation_states="smact14") is True
    # ICSD-24 has no Si+1: only N as the cation (Si-1, N+3) balances, which the Pauling test forbids.
    assert compositional_validity("Si3N", oxidation_states="icsd24") is False
    assert compositional_validity("Si3N", oxidation_states="icsd24", use_pauling_test=False) is True


@pytest.mark.parametrize(
    "formula, why",
    [
        ("CaCl", "Ca+1 is only in SMACT-14"),
        ("MgF", "Mg+1 is only in SMACT-14"),
        ("Ti2O", "Ti+1 is only in SMACT-14"),
        ("OF2", "O+2 is only in SMACT-14"),
        ("CaCdO3", "a Perov-5 formula: Ca+1, Cd+2, O-1 under SMACT-14"),
        ("BaCaN3", "a Perov-5 formula: Ba+2, Ca+1, N-1 under SMACT-14"),
    ],
)
def test_formulas_that_balance_only_under_smact14(formula, why):
    assert compositional_validity(formula, oxidation_states="smact14") is True, why
    assert compositional_validity(formula, oxidation_states="icsd24") is False, why


def test_iron_minus_two_only_in_smact14():
    # Fe-2 (and -1) are SMACT-14 states that ICSD-24 dropped; without the alloy rule Na2Fe needs Fe-2.
    assert compositional_validity("Na2Fe", include_alloys=False, oxidation_states="smact14") is True
    assert compositional_validity("Na2Fe", include_alloys=False, oxidation_states="icsd24") is False


def test_default_list_is_the_published_smact14():
    assert validity_module.DEFAULT_OXIDATION_STATES == "smact14"
    assert compositional_validity("CaCl") is compositional_validity("CaCl", oxidation_states="smact14") is True
    assert check_validity(rock_salt()).compositional is True


def test_both_lists_agree_on_ordinary_formulas():
    for formula in ("NaCl", "SrTiO3", "Fe2O3", "LiF"):
        assert compositional_validity(formula, oxidation_states="icsd24") is True
    assert compositional_validity("KF2", oxidation_states="icsd24") is False


def test_the_two_lists_are_cached_apart():
    validity_module._smact_valid.cache_clear()
    assert compositional_validity("CaCl", oxidation_states="icsd24") is False
    assert compositional_validity("CaCl", oxidation_states="smact14") is True  # not the cached icsd24 answer
    assert validity_module._smact_valid.cache_info().currsize == 2


@pytest.mark.parametrize("choice", ["icsd16", "SMACT14", "", None])
def test_unknown_oxidation_state_list_is_a_clear_error(choice):
    with pytest.raises(CrystalInputError, match="smact14"):
        compositional_validity("NaCl", oxidation_states=choice)
    with pytest.raises(CrystalInputError, match="oxidation_states"):
        check_validity(rock_salt(), oxidation_states=choice)


def test_elements_without_oxidation_states_are_invalid_not_an_error():
    assert compositional_validity("NaHe") is False
    assert compositional_validity("Og2O") is False
    assert compositional_validity("He") is True  # a single element is always valid


def test_alloy_rule_can_be_switched_off():
    # Cu3Au is an alloy; no oxidation states balance it (Au has no -3 in either list).
    assert compositional_validity("Cu3Au") is True
    assert compositional_validity("Cu3Au", include_alloys=False) is False


def test_composition_counts_reduce_by_gcd_and_sort_by_atomic_number():
    assert validity_module.composition_counts("Fe4O6") == ((8, 26), (3, 2))


def test_old_smact_pair_return_value_is_understood(monkeypatch):
    import smact

    validity_module._smact_valid.cache_clear()
    real = smact.neutral_ratios

    def old_style(*args, **kwargs):  # SMACT < 4 returned (bool, list)
        ratios = real(*args, **kwargs)
        return bool(ratios), ratios

    monkeypatch.setattr(smact, "neutral_ratios", old_style)
    enumerate_states = validity_module._smact_valid_by_enumeration  # the published loop, which calls SMACT
    na, cl = (smact.Element(symbol) for symbol in ("Na", "Cl"))
    states = [tuple(na.oxidation_states_smact14), tuple(cl.oxidation_states_smact14)]
    enegs = [na.pauling_eneg, cl.pauling_eneg]
    assert enumerate_states(states, (1, 1), enegs, True) is True
    assert enumerate_states(states, (1, 2), enegs, True) is False


def _published_loop(formula: str, oxidation_states: str, use_pauling_test: bool) -> bool:
    import smact

    numbers, counts = validity_module.composition_counts(formula)
    elements = [smact.Element(Element.from_Z(z).symbol) for z in numbers]
    attribute = validity_module.OXIDATION_STATE_LISTS[oxidation_states]
    return validity_module._smact_valid_by_enumeration(
        [tuple(getattr(e, attribute) or ()) for e in elements], counts, [e.pauling_eneg for e in elements],
        use_pauling_test)


def test_the_charge_search_gives_the_published_loops_answer_on_random_formulas():
    """The cut-and-reachable-sums search answers exactly what the published enumeration answers."""
    rng = np.random.default_rng(0)
    pool = ["Li", "Na", "K", "Mg", "Ca", "Ba", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Al", "Ga",
            "Sn", "Pb", "Bi", "Sb", "O", "S", "Se", "N", "F", "Cl", "I", "P", "C", "Si", "H", "B", "Mo", "W", "Nb",
            "La", "Eu", "Au", "Pt"]
    answers = []
    for _ in range(250):
        symbols = rng.choice(pool, size=int(rng.integers(2, 5)), replace=False)
        formula = "".join(f"{symbol}{int(rng.integers(1, 7))}" for symbol in symbols)
        for oxidation_states in ("smact14", "icsd24"):
            for pauling in (True, False):
                expected = _published_loop(formula, oxidation_states, pauling)
                got = compositional_validity(formula, use_pauling_test=pauling, include_alloys=False,
                                             oxidation_states=oxidation_states)
                assert got == expected, (formula, oxidation_states, pauling)
                answers.append(got)
    assert 0.1 < np.mean(answers) < 0.9  # both answers occur: the comparison could fail either way


def test_a_twelve_metal_formula_is_decided_without_enumerating():
    """17.7 billion combinations of SMACT-14 states: the published loop would run for days on the invalid one."""
    metals = "MnFeCoNiCrVTiCuMoWNbTa"
    assert compositional_validity(metals + "O12") is True  # every metal +2, twelve O -2
    # One O: Cu has no negative state, so Cu and the eight metals less electronegative than it (Pauling) are
    # positive: at least +10 (Ta's lowest positive state is +2) against at most -7 from Ni, Mo, W and O.
    assert compositional_validity(metals + "O") is False


def test_structural_validity_of_a_good_crystal():
    assert structural_validity(rock_salt()) == (True, None)


def test_overlapping_atoms_are_structurally_invalid():
    ok, reason = structural_validity(with_overlap(cubic_perovskite(), distance=0.3))
    assert not ok and "0.300" in reason
    assert structural_validity(with_overlap(cubic_perovskite(), distance=0.6))[0]


def test_tiny_volume_is_invalid():
    tiny = Structure(Lattice.cubic(0.4), ["Na"], [[0, 0, 0]])
    assert not structural_validity(tiny)[0]


def test_single_atom_cell_is_valid_whatever_its_lattice():
    # The published test never compares an atom with its own periodic images.
    assert structural_validity(Structure(Lattice.cubic(0.48), ["C"], [[0, 0, 0]]))[0]


def test_nan_coordinates_are_invalid_not_an_error():
    broken = cubic_perovskite()
    broken.replace(0, "Sr", [np.nan, 0.5, 0.5])
    assert structural_validity(broken) == (False, "lattice or coordinates contain NaN or infinity")


def test_check_validity_collects_all_tests():
    good = check_validity(cubic_perovskite(), fingerprint=True)
    assert good.valid and good.fingerprint is True and good.reason is None
    unbalanced = check_validity(cubic_perovskite(a_site="K", b_site="Na", anion="F"))  # KNaF3: +2 -3
    assert unbalanced.structural and not unbalanced.compositional and not unbalanced.valid
    assert unbalanced.fingerprint is None  # not computed unless asked


def test_bad_input_raises():
    with pytest.raises(CrystalInputError):
        structural_validity("NaCl")
    with pytest.raises(CrystalInputError):
        compositional_validity("")
    with pytest.raises(CrystalInputError):
        compositional_validity("Na0.5Cl0.5")
