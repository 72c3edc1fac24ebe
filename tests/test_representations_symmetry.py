"""Tests for crystalkit.representations.symmetry: space groups and the Wyckoff representation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.invariance import TRANSFORMATIONS, assert_invariant, invariance_table, rotate
from crystalkit.representations.symmetry import WyckoffSite, from_wyckoff, space_group, to_wyckoff

EXPECTED_GROUPS = {
    "NaCl (rock salt)": (225, "Fm-3m"),
    "SrTiO3 (perovskite)": (221, "Pm-3m"),
    "C (diamond)": (227, "Fd-3m"),
    "C (graphite)": (194, "P6_3/mmc"),
    "TiO2 (rutile)": (136, "P4_2/mnm"),
    "ZnO (wurtzite)": (186, "P6_3mc"),
}


def test_known_space_groups():
    for name, structure in examples.example_structures().items():
        assert space_group(structure) == EXPECTED_GROUPS[name]


def test_tolerance_decides_what_symmetry_is_seen():
    structure = examples.perovskite()
    structure.translate_sites([1], [0.0, 0.0, 0.01])  # Ti off centre by 0.04 Å: ferroelectric-like
    assert space_group(structure, symprec=0.01)[0] == 99  # P4mm
    assert space_group(structure, symprec=0.1)[0] == 221  # the distortion is below the tolerance


def test_known_wyckoff_representations():
    rock_salt = to_wyckoff(examples.rock_salt())
    assert rock_salt.space_group == 225 and rock_salt.num_free_parameters == 0
    labels = {(s.element, s.label) for s in rock_salt.sites}
    assert labels in ({("Na", "4a"), ("Cl", "4b")}, {("Na", "4b"), ("Cl", "4a")})
    rutile = to_wyckoff(examples.rutile(x=0.3048))
    oxygen = next(s for s in rutile.sites if s.element == "O")
    assert oxygen.multiplicity == 4 and len(oxygen.free_coords) == 1
    # the free x is 0.3048 or one of its equivalents under the normalizer (1 - x, x + 1/2, ...)
    assert min(abs(oxygen.free_coords[0] - v) for v in (0.3048, 0.6952, 0.1952, 0.8048)) < 1e-6
    assert rutile.num_atoms == 6 and rutile.to_frame().shape == (2, 3)


@pytest.mark.parametrize("name", list(EXPECTED_GROUPS))
def test_round_trip_gives_the_same_crystal(name):
    structure = examples.example_structures()[name]
    rebuilt = from_wyckoff(to_wyckoff(structure))
    assert StructureMatcher(scale=False).fit(rebuilt, structure)


@pytest.mark.parametrize("name", ["SrTiO3 (perovskite)", "TiO2 (rutile)", "ZnO (wurtzite)"])
def test_canonical_form_is_invariant_to_every_transformation(name):
    structure = examples.example_structures()[name]
    for seed in range(2):
        assert_invariant(to_wyckoff, structure, TRANSFORMATIONS, seed=seed)


def test_first_found_form_depends_on_the_origin():
    # Without canonicalisation a polar crystal's free z slides with the origin.
    first_found = lambda s: to_wyckoff(s, canonical=False)  # noqa: E731
    table = invariance_table(first_found, examples.wurtzite(), transformations=["translation"])
    assert not table.loc["translation", "invariant"]


def test_low_symmetry_crystal_round_trips():
    structure = Structure(
        Lattice.from_parameters(4.1, 5.3, 6.2, 82, 97, 104),
        ["Si", "O", "O"],
        [[0.1, 0.2, 0.3], [0.5, 0.1, 0.8], [0.7, 0.6, 0.2]],
    )
    representation = to_wyckoff(rotate(structure, 1))
    assert representation.space_group == 1 and representation.num_free_parameters == 9
    assert StructureMatcher(scale=False).fit(from_wyckoff(representation), structure)


def test_bad_representations_are_refused():
    good = to_wyckoff(examples.rutile())
    with pytest.raises(CrystalInputError, match="1 to 230"):
        from_wyckoff(dataclasses.replace(good, space_group=231))
    with pytest.raises(CrystalInputError, match="no Wyckoff position"):
        from_wyckoff(dataclasses.replace(good, sites=(WyckoffSite("Ti", "z", 2, ()),)))
    with pytest.raises(CrystalInputError, match="free coordinate"):
        from_wyckoff(dataclasses.replace(good, sites=(WyckoffSite("O", "f", 4, (0.1, 0.2)),)))
    with pytest.raises(CrystalInputError, match="multiplicity"):
        from_wyckoff(dataclasses.replace(good, sites=(WyckoffSite("Ti", "a", 4, ()),)))
    with pytest.raises(CrystalInputError, match="no sites"):
        from_wyckoff(dataclasses.replace(good, sites=()))
    with pytest.raises(CrystalInputError, match="cannot form a cell"):
        from_wyckoff(dataclasses.replace(good, cell_parameters=(3, 3, 3, 30, 30, 100)))


def test_bad_inputs_are_refused():
    with pytest.raises(CrystalInputError, match="symprec"):
        space_group(examples.rock_salt(), symprec=-0.1)
    with pytest.raises(CrystalInputError, match="disordered"):
        to_wyckoff(Structure(Lattice.cubic(3.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]]))
    with pytest.raises(CrystalInputError, match="Expected a periodic"):
        to_wyckoff(np.zeros((3, 3)))
