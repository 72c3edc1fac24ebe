"""Oxidation states (bond valence with a flagged fallback), SMACT charge balance, coordination."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import charge_balance, coordination_environments, oxidation_states


def test_bond_valence_finds_the_textbook_states(srtio3):
    result = oxidation_states(srtio3)
    assert result.method == "bond_valence"
    assert result.by_element == {"Sr": 2.0, "Ti": 4.0, "O": -2.0}
    assert result.total_charge == 0
    assert str(result.decorate(srtio3)[1].specie) == "Ti4+"


def test_fallback_to_composition_guesses_is_labelled():
    copper = Structure(Lattice.cubic(3.6), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    result = oxidation_states(copper)
    assert result.method == "composition_guess"
    assert "bond-valence analysis failed" in result.note
    assert result.site_states == [0.0] * 4


def test_impossible_chemistry_gives_no_states_and_says_why():
    # NaF3: sodium cannot balance three fluorides.
    naf3 = Structure(Lattice.cubic(4.0), ["Na", "F", "F", "F"],
                     [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    result = oxidation_states(naf3)
    assert result.method == "none" and result.site_states is None
    with pytest.raises(CrystalInputError):
        result.decorate(naf3)
    assert not charge_balance("NaF3").balanced


@pytest.mark.parametrize(
    ("formula", "balanced"),
    [("SrTiO3", True), ("Sr2Ti2O6", True), ("C8", True), ("Cu3Au", True), ("NaF3", False), ("SrO3", False)],
)
def test_charge_balance(formula, balanced):
    assert charge_balance(formula).balanced is balanced


def test_charge_balance_returns_a_neutral_assignment(srtio3):
    result = charge_balance(srtio3)
    assert result.assignment is not None
    assert sum(state * srtio3.composition[element] for element, state in result.assignment.items()) == 0
    assert result.assignment["O"] == -2


def test_pauling_test_can_be_switched_off():
    # H3Cl is neutral only as H(-1) Cl(+3): the less electronegative H would carry the negative charge.
    strict = charge_balance("H3Cl")
    assert not strict.balanced and "Pauling" in strict.reason
    loose = charge_balance("H3Cl", pauling_test=False)
    assert loose.balanced and loose.assignment == {"H": -1, "Cl": 3}


def test_coordination_of_perovskite(srtio3):
    table = coordination_environments(srtio3)
    titanium = table[table.element == "Ti"].iloc[0]
    assert titanium.coordination == 6 and titanium.neighbours == "O6"
    assert titanium.mean_distance == pytest.approx(3.905 / 2)
    assert not table.failed.any()


def test_disordered_structures_are_refused(srtio3):
    disordered = srtio3.copy()
    disordered.replace(0, {"Sr": 0.5, "Ca": 0.5})
    with pytest.raises(CrystalInputError, match="disordered"):
        oxidation_states(disordered)
    with pytest.raises(CrystalInputError, match="disordered"):
        coordination_environments(disordered)


@pytest.mark.parametrize("formula", ["SrTiO3", "TlO2", "Si3N4", "NaF3", "Fe3O4"])
@pytest.mark.parametrize("oxidation_states", ["smact14", "icsd24"])
def test_charge_balance_uses_the_same_list_as_the_validity_metric(formula, oxidation_states):
    from crystalkit.metrics.validity import compositional_validity

    expected = compositional_validity(formula, oxidation_states=oxidation_states)
    assert charge_balance(formula, oxidation_states=oxidation_states).balanced is expected


def test_the_two_oxidation_state_lists_disagree_on_tlo2():
    # Tl(IV) is only in SMACT 3's ICSD-24 list: the choice of list decides the verdict.
    assert not charge_balance("TlO2").balanced
    assert charge_balance("TlO2", oxidation_states="icsd24").balanced


def test_charge_balance_refuses_an_unknown_list():
    with pytest.raises(CrystalInputError, match="smact14"):
        charge_balance("SrTiO3", oxidation_states="icsd99")
