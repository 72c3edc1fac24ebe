"""Structural and compositional validity against hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

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
    # Si3N balances only with an oxidation-state choice that makes the more
    # electronegative element the cation: charge neutral, but not chemical.
    assert compositional_validity("Si3N") is False
    assert compositional_validity("Si3N", use_pauling_test=False) is True


def test_elements_without_oxidation_states_are_invalid_not_an_error():
    assert compositional_validity("NaHe") is False
    assert compositional_validity("Og2O") is False
    assert compositional_validity("He") is True  # a single element is always valid


def test_alloy_rule_can_be_switched_off():
    assert compositional_validity("Fe3Al", include_alloys=False) is False


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
    try:
        assert compositional_validity("NaCl") is True
        assert compositional_validity("NaCl2") is False
    finally:
        validity_module._smact_valid.cache_clear()


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
