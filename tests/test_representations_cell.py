"""Tests for crystalkit.representations.cell: lattice parameters, reduction, canonical cell."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.cell import (
    _lattice_automorphisms,
    canonical_cell,
    cell_parameters,
    lattice_from_parameters,
    lattice_to_parameters,
    lll_reduce,
    niggli_reduce,
    orthogonality_defect,
)
from crystalkit.representations.coordinates import to_arrays
from crystalkit.representations.invariance import TRANSFORMATIONS, assert_invariant, change_cell, rotate


def test_parameters_round_trip_and_known_values():
    lengths, angles = np.array([3.0, 4.0, 5.0]), np.array([80.0, 95.0, 110.0])
    back_lengths, back_angles = lattice_to_parameters(lattice_from_parameters(lengths, angles))
    np.testing.assert_allclose(back_lengths, lengths, atol=1e-12)
    np.testing.assert_allclose(back_angles, angles, atol=1e-10)
    hexagonal = Lattice.hexagonal(2.5, 6.0).matrix
    np.testing.assert_allclose(lattice_to_parameters(hexagonal)[1], [90, 90, 120], atol=1e-10)


def test_matrix_rotates_but_parameters_do_not():
    structure = examples.rutile()
    turned = rotate(structure, seed=3)
    assert np.abs(turned.lattice.matrix - structure.lattice.matrix).max() > 0.1
    np.testing.assert_allclose(cell_parameters(turned), cell_parameters(structure), atol=1e-10)


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.eye(2), "shape"),
        (np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]]), "volume"),
        (np.full((3, 3), np.nan), "NaN"),
    ],
)
def test_bad_lattice_matrix(matrix, message):
    with pytest.raises(CrystalInputError, match=message):
        lattice_to_parameters(matrix)


@pytest.mark.parametrize(
    "lengths, angles",
    [([1, 2], [90, 90, 90]), ([1, -2, 3], [90, 90, 90]), ([1, 2, 3], [90, 0, 90]), ([1, 2, 3], [30, 30, 100])],
)
def test_impossible_cells_are_refused(lengths, angles):
    with pytest.raises(CrystalInputError):
        lattice_from_parameters(lengths, angles)


def test_orthogonality_defect():
    assert orthogonality_defect(np.diag([2.0, 3.0, 4.0])) == pytest.approx(1.0)
    skewed = change_cell(examples.perovskite(), matrix=np.array([[1, 2, 0], [0, 1, 1], [0, 0, 1]]))
    assert orthogonality_defect(skewed.lattice.matrix) == pytest.approx(np.sqrt(5) * np.sqrt(2))  # |a| |b| |c| / V


def test_niggli_of_two_equivalent_cells_gives_the_same_lengths_and_angles():
    structure = examples.wurtzite()
    for seed in range(4):
        other = change_cell(rotate(structure, seed), seed=seed)
        assert np.abs(cell_parameters(other) - cell_parameters(structure)).max() > 1e-3  # a different description
        np.testing.assert_allclose(
            cell_parameters(niggli_reduce(other)), cell_parameters(niggli_reduce(structure)), atol=1e-6
        )


def test_lll_shortens_a_skewed_cell_and_keeps_the_crystal():
    skewed = change_cell(examples.rock_salt(), matrix=np.array([[1, 3, 0], [0, 1, 2], [0, 0, 1]]))
    reduced = lll_reduce(skewed)
    assert orthogonality_defect(reduced.lattice.matrix) < 1.01 < orthogonality_defect(skewed.lattice.matrix)
    assert StructureMatcher().fit(reduced, examples.rock_salt())


def test_raw_fractional_coordinates_change_with_the_cell_but_canonical_cell_does_not():
    structure = examples.rutile()
    with pytest.raises(AssertionError):
        assert_invariant(lambda s: to_arrays(s, lattice="parameters"), structure, ["cell_choice"])
    assert_invariant(lambda s: to_arrays(canonical_cell(s), lattice="parameters"), structure, TRANSFORMATIONS)


@pytest.mark.parametrize("name", ["ZnO (wurtzite)", "C (graphite)", "SrTiO3 (perovskite)"])
def test_canonical_cell_is_invariant_for_several_seeds(name):
    structure = examples.example_structures()[name]
    for seed in range(3):
        assert_invariant(lambda s: to_arrays(canonical_cell(s), lattice="parameters"), structure, seed=seed)


def test_canonical_cell_is_the_same_crystal():
    for structure in examples.example_structures().values():
        canonical = canonical_cell(structure)
        assert StructureMatcher(scale=False).fit(canonical, structure)
        assert len(canonical) == len(structure.get_primitive_structure())


def test_lattice_automorphism_counts_match_the_holohedries():
    # Proper rotations of m-3m, 6/mmm, 4/mmm, -1 lattices: 24, 12, 8, 1.
    cases = {"C (diamond)": 24, "C (graphite)": 12, "TiO2 (rutile)": 8}
    for name, expected in cases.items():
        reduced = niggli_reduce(examples.example_structures()[name].get_primitive_structure())
        metric = reduced.lattice.matrix @ reduced.lattice.matrix.T
        assert len(_lattice_automorphisms(metric)) == expected
    triclinic = Lattice.from_parameters(3.1, 4.3, 5.7, 81, 97, 103).matrix
    assert len(_lattice_automorphisms(triclinic @ triclinic.T)) == 1


def test_disordered_and_empty_structures_are_refused():
    disordered = Structure(Lattice.cubic(3.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]])
    with pytest.raises(CrystalInputError, match="disordered"):
        niggli_reduce(disordered)
    with pytest.raises(CrystalInputError, match="empty"):
        canonical_cell(Structure(Lattice.cubic(3.0), [], []))
