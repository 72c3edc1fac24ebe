"""Tests for crystalkit.representations.voxels: Gaussian density on a periodic grid."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.invariance import assert_invariant, assert_not_invariant, translate
from crystalkit.representations.voxels import VoxelGrid, structure_from_voxels, voxel_grid


def test_channels_integrate_to_the_atom_counts():
    grid = voxel_grid(examples.perovskite(), grid_size=20, sigma=0.4)
    assert grid.elements == ("O", "Ti", "Sr")
    assert grid.density.shape == (3, 20, 20, 20)
    counts = grid.atom_counts()
    assert counts["O"] == pytest.approx(3.0, rel=1e-3) and counts["Sr"] == pytest.approx(1.0, rel=1e-3)


def test_grid_is_periodic_a_one_voxel_shift_is_a_roll():
    structure = examples.rutile()
    grid = voxel_grid(structure, grid_size=(16, 16, 10))
    shifted = voxel_grid(translate(structure, shift=[1 / 16, 0, 0]), grid_size=(16, 16, 10))
    np.testing.assert_allclose(shifted.density, np.roll(grid.density, 1, axis=1), atol=1e-10)


def test_invariant_to_rotation_and_order_not_to_origin_supercell_or_cell():
    voxels = lambda s: voxel_grid(s, grid_size=12)  # noqa: E731
    assert_invariant(voxels, examples.wurtzite(), ["rotation", "permutation"])
    assert_not_invariant(voxels, examples.wurtzite(), ["translation", "supercell", "cell_choice"])


@pytest.mark.parametrize("name", ["C (diamond)", "ZnO (wurtzite)", "TiO2 (rutile)"])
def test_peaks_give_the_crystal_back(name):
    structure = translate(examples.example_structures()[name], seed=4)  # atoms between grid points
    grid = voxel_grid(structure, grid_size=16, sigma=0.4)
    decoded = structure_from_voxels(grid)
    assert len(decoded) == len(structure)
    assert StructureMatcher(scale=False, stol=0.05).fit(decoded, structure)


def test_fixed_channels_and_bad_inputs():
    grid = voxel_grid(examples.graphite(), grid_size=8, elements=["C", "O"])
    assert grid.atom_counts()["O"] == 0.0
    with pytest.raises(CrystalInputError, match="no channel"):
        voxel_grid(examples.perovskite(), elements=["Sr", "Ti"])
    with pytest.raises(CrystalInputError, match="grid_size"):
        voxel_grid(examples.perovskite(), grid_size=(8, 8))
    with pytest.raises(CrystalInputError, match="grid_size"):
        voxel_grid(examples.perovskite(), grid_size=2)
    with pytest.raises(CrystalInputError, match="sigma"):
        voxel_grid(examples.perovskite(), sigma=-0.1)
    with pytest.raises(CrystalInputError, match="empty"):
        voxel_grid(Structure(Lattice.cubic(3.0), [], []))
    with pytest.raises(CrystalInputError, match="channels"):
        structure_from_voxels(VoxelGrid(grid.density[0], grid.elements, grid.cell_parameters, grid.sigma))
    empty = VoxelGrid(np.zeros_like(grid.density), grid.elements, grid.cell_parameters, grid.sigma)
    with pytest.raises(CrystalInputError, match="No density peak"):
        structure_from_voxels(empty)
