"""Tests for crystalkit.representations.coordinates: plain arrays, fractional versus Cartesian."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.coordinates import CoordinateArrays, from_arrays, to_arrays
from crystalkit.representations.invariance import assert_invariant, assert_not_invariant, invariance_table


def fractional(structure):
    return structure.frac_coords


def cartesian(structure):
    return structure.cart_coords


def test_fractional_coordinates_ignore_rotation_cartesian_do_not():
    structure = examples.rutile()
    assert_invariant(fractional, structure, ["rotation"])
    assert_not_invariant(cartesian, structure, ["rotation"])


def test_raw_fractional_coordinates_are_not_invariant_to_relabelling_origin_or_cell():
    assert_not_invariant(fractional, examples.perovskite(), ["translation", "permutation", "supercell", "cell_choice"])


def test_supercell_changes_the_shape_so_the_difference_is_infinite():
    table = invariance_table(fractional, examples.graphite(), transformations=["supercell"])
    assert table.loc["supercell", "difference"] == np.inf


@pytest.mark.parametrize(
    "coords, lattice", [("fractional", "matrix"), ("cartesian", "matrix"), ("fractional", "parameters")]
)
def test_round_trip(coords, lattice):
    structure = examples.wurtzite()
    arrays = to_arrays(structure, coords=coords, lattice=lattice)
    assert arrays.lattice.shape == ((3, 3) if lattice == "matrix" else (6,))
    back = from_arrays(arrays)
    assert StructureMatcher(scale=False).fit(back, structure)
    if lattice == "matrix":  # nothing lost: the very same numbers come back
        np.testing.assert_allclose(back.cart_coords, structure.cart_coords, atol=1e-12)


def test_lengths_and_angles_with_fractional_are_rotation_invariant_the_matrix_is_not():
    structure = examples.rutile()
    assert_invariant(lambda s: to_arrays(s, lattice="parameters"), structure, ["rotation"])
    assert_not_invariant(to_arrays, structure, ["rotation"])


def test_cartesian_with_parameters_is_refused():
    with pytest.raises(CrystalInputError, match="frame"):
        to_arrays(examples.rock_salt(), coords="cartesian", lattice="parameters")
    with pytest.raises(CrystalInputError):
        to_arrays(examples.rock_salt(), coords="spherical")


def test_bad_arrays_are_refused():
    good = to_arrays(examples.perovskite())
    with pytest.raises(CrystalInputError, match="coords must be"):
        from_arrays(CoordinateArrays(good.atomic_numbers, good.lattice, good.coords[:3], "fractional"))
    with pytest.raises(CrystalInputError, match="shape"):
        from_arrays(CoordinateArrays(good.atomic_numbers, np.eye(2), good.coords, "fractional"))
    with pytest.raises(CrystalInputError, match="non-empty"):
        from_arrays(CoordinateArrays(np.array([], dtype=int), good.lattice, np.zeros((0, 3)), "fractional"))
