"""Point defects: building them in supercells, listing distinct ones, and formation energies."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.defects import (
    chemical_potentials,
    defect_formation_energies,
    defect_supercell,
    distinct_defects,
    formation_energy,
    formation_energy_range,
    make_interstitial,
    make_substitution,
    make_vacancy,
)
from crystalkit.errors import CrystalInputError


@pytest.fixture
def supercell(srtio3) -> Structure:
    return defect_supercell(srtio3, 2)


def test_supercell_size_and_bad_sizes(srtio3):
    assert len(defect_supercell(srtio3, 2)) == 40 and len(defect_supercell(srtio3, (1, 1, 3))) == 15
    for bad in (0, (2, 2), (1, 1, -1)):
        with pytest.raises(CrystalInputError, match="size"):
            defect_supercell(srtio3, bad)


def test_vacancy_removes_one_atom_of_the_chosen_site(supercell):
    index = next(i for i, site in enumerate(supercell) if site.specie.symbol == "O")
    defect = make_vacancy(supercell, index)
    assert defect.name == "v_O" and defect.element_changes == {"O": -1}
    assert len(defect.structure) == len(supercell) - 1
    assert defect.structure.composition["O"] == supercell.composition["O"] - 1
    np.testing.assert_allclose(defect.frac_coords, supercell[index].frac_coords % 1.0, atol=1e-9)
    assert len(supercell) == 40  # the perfect supercell is untouched
    assert make_vacancy(supercell, -1).site_index == len(supercell) - 1  # Python-style negative index


def test_substitution_swaps_the_element_and_keeps_positions(supercell):
    defect = make_substitution(supercell, 0, "Ba")
    assert defect.name == "Ba_Sr" and defect.element_changes == {"Sr": -1, "Ba": 1}
    assert defect.structure[0].specie.symbol == "Ba" and len(defect.structure) == len(supercell)
    np.testing.assert_allclose(defect.structure.frac_coords, supercell.frac_coords)


def test_interstitial_goes_into_a_void_and_not_onto_an_atom(supercell):
    defect = make_interstitial(supercell, (0.375, 0.125, 0.125), "H")
    assert defect.name == "H_i" and len(defect.structure) == 41 and defect.structure[-1].specie.symbol == "H"
    with pytest.raises(CrystalInputError, match="closer than"):
        make_interstitial(supercell, supercell[3].frac_coords, "H")
    with pytest.raises(CrystalInputError, match="three finite"):
        make_interstitial(supercell, (0.1, 0.2), "H")


def test_bad_site_index_and_element(supercell):
    for bad in (40, -41, 2.0, True):
        with pytest.raises(CrystalInputError, match="index|integer"):
            make_vacancy(supercell, bad)
    for element in ("Xx", "ba", 56, "Sr"):
        with pytest.raises(CrystalInputError, match="element|already holds"):
            make_substitution(supercell, 0, element)


def test_disordered_crystal_is_sent_to_the_disorder_module(srtio3):
    mixed = srtio3.copy()
    mixed.replace(0, {"Sr": 0.5, "Ba": 0.5})
    with pytest.raises(CrystalInputError, match="crystalkit.disorder"):
        defect_supercell(mixed, 2)
    with pytest.raises(CrystalInputError, match="crystalkit.disorder"):
        make_vacancy(mixed, 0)


@pytest.mark.slow
def test_distinct_defects_use_symmetry(srtio3):
    table = distinct_defects(srtio3, substitutions={"Sr": "Ba"}, interstitial="H")
    vacancies = table[table["kind"] == "vacancy"].set_index("name")
    assert vacancies["multiplicity"].to_dict() == {"v_Sr": 1, "v_Ti": 1, "v_O": 3}  # three equivalent oxygens
    assert list(table[table["kind"] == "substitution"]["name"]) == ["Ba_Sr"]
    assert (table["kind"] == "interstitial").any()
    with pytest.raises(CrystalInputError, match="not in"):
        distinct_defects(srtio3, substitutions={"Ca": "Ba"})


def test_formation_energy_is_the_textbook_difference():
    # Removing an O atom to a reservoir at mu_O = -4.9 eV: E_f = E_def - E_bulk + mu_O.
    assert formation_energy(-300.0, -310.0, {"O": -1}, {"O": -4.9}) == pytest.approx(5.1)
    assert formation_energy(-309.0, -310.0, {"Sr": -1, "Ba": 1}, {"Sr": -1.6, "Ba": -1.9}) == pytest.approx(1.3)
    with pytest.raises(CrystalInputError, match="chemical potential"):
        formation_energy(-300.0, -310.0, {"O": -1}, {})
    with pytest.raises(CrystalInputError, match="finite"):
        formation_energy(np.nan, -310.0, {"O": -1}, {"O": -4.9})
    # an O-poor reservoir (mu_O lower by 1 eV) makes the vacancy cheaper by 1 eV
    np.testing.assert_allclose(formation_energy_range(5.1, {"O": -1}, "O", [0.0, -1.0]), [5.1, 4.1])


def test_chemical_potentials_are_the_bundled_elemental_references():
    from crystalkit.validation.hull import elemental_references

    mu = chemical_potentials(["O", "Sr"])
    assert mu == {c.elements[0].symbol: e for c, e in elemental_references(["O", "Sr"])}
    with pytest.raises(CrystalInputError):
        chemical_potentials(["Qq"])


@pytest.mark.slow
def test_chgnet_defect_energies_relaxing_only_lowers_them(srtio3):
    import torch

    torch.set_num_threads(1)
    bulk = defect_supercell(Structure(Lattice.cubic(3.94), srtio3.species, srtio3.frac_coords), 2)
    defects = [make_vacancy(bulk, 39), make_substitution(bulk, 0, "Ba")]
    table = defect_formation_energies(bulk, defects, steps=8)
    assert list(table["name"]) == ["v_O", "Ba_Sr"]
    assert (table["formation_energy"] <= table["unrelaxed_formation_energy"] + 1e-6).all()
    assert (table["steps"] <= 8).all()
    # A neutral O vacancy costs eV, swapping Sr for its larger cousin Ba far less.
    v_o, ba_sr = table["formation_energy"]
    assert v_o > 2.0 and abs(ba_sr) < 1.5
