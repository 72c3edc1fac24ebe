"""Tests for crystalkit.representations.invariance: transformations, comparison, tables, recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.catalogue import standard_representations
from crystalkit.representations.invariance import (
    TRANSFORMATIONS,
    Representation,
    assert_invariant,
    assert_not_invariant,
    change_cell,
    difference,
    invariance_table,
    random_unimodular,
    recoverable,
    summary_table,
    supercell,
    transform,
    translate,
)


@pytest.mark.parametrize("name", TRANSFORMATIONS)
def test_every_transformation_keeps_the_crystal_but_changes_its_description(name):
    structure = examples.rutile()
    changed = transform(structure, name, seed=5)
    assert StructureMatcher(scale=False).fit(changed, structure)
    assert difference(changed.frac_coords, structure.frac_coords) > 1e-3 or name == "rotation"
    if name == "rotation":
        assert difference(changed.lattice.matrix, structure.lattice.matrix) > 1e-3


def test_random_unimodular_matrices():
    for seed in range(20):
        matrix = random_unimodular(seed)
        assert matrix.dtype.kind == "i" and round(np.linalg.det(matrix)) == 1
        assert np.allclose(np.linalg.inv(matrix), np.rint(np.linalg.inv(matrix)))  # the inverse is integer too


def test_bad_transformations_are_refused():
    structure = examples.perovskite()
    with pytest.raises(CrystalInputError, match="determinant"):
        change_cell(structure, matrix=np.diag([2, 1, 1]))
    with pytest.raises(CrystalInputError, match="integer"):
        change_cell(structure, matrix=np.eye(3) * 1.5)
    with pytest.raises(CrystalInputError, match="scaling"):
        supercell(structure, (0, 1, 1))
    with pytest.raises(CrystalInputError, match="shift"):
        translate(structure, shift=[0.1, 0.2])
    with pytest.raises(CrystalInputError, match="Unknown transformation"):
        transform(structure, "reflection")


def test_difference_handles_each_kind_of_representation():
    assert difference(np.ones(3), np.ones(3) + 1e-3) == pytest.approx(1e-3)
    assert difference(np.ones(3), np.ones(4)) == math.inf
    assert difference("a 1.0 b", "a 1.5 b") == pytest.approx(0.5)
    assert difference("a 1.0 b", "c 1.0 b") == math.inf
    assert difference(["x", "1"], ["x", "1"]) == 0.0
    assert difference({"k": np.zeros(2)}, {"k": np.ones(2)}) == 1.0
    assert difference((np.zeros(2), "s"), (np.zeros(2), "s")) == 0.0


def test_table_and_one_line_helpers():
    table = invariance_table(lambda s: s.frac_coords, examples.perovskite())
    assert list(table.index) == list(TRANSFORMATIONS) and list(table.columns) == ["invariant", "difference"]
    assert table.loc["rotation", "invariant"] and not table.loc["permutation", "invariant"]
    with pytest.raises(AssertionError, match="Not invariant"):
        assert_invariant(lambda s: s.frac_coords, examples.perovskite(), ["permutation"])
    with pytest.raises(AssertionError, match="Unexpectedly invariant"):
        assert_not_invariant(lambda s: s.frac_coords, examples.perovskite(), ["rotation"])


def test_recoverable_reports():
    structure = examples.graphite()
    assert recoverable(lambda s: s.copy(), lambda s: s, structure).recovered
    no_decoder = recoverable(lambda s: s.volume, None, structure)
    assert not no_decoder.recovered and "no decoder" in no_decoder.message
    broken = recoverable(lambda s: s, lambda s: 1 / 0, structure)
    assert not broken.recovered and "ZeroDivisionError" in broken.message
    wrong = recoverable(lambda s: s, lambda s: examples.diamond(), structure)
    assert not wrong.recovered and math.isnan(wrong.rms_displacement)


def test_summary_table_of_the_catalogue():
    table = summary_table(standard_representations(grid_size=12), examples.rutile())
    assert list(table.columns) == [*TRANSFORMATIONS, "recoverable", "rms"]
    marks = table[list(TRANSFORMATIONS)]
    assert marks.loc["RDF fingerprint"].all() and not table.loc["RDF fingerprint", "recoverable"]
    assert not marks.loc["lattice matrix + Cartesian"].any() and table.loc["lattice matrix + Cartesian", "recoverable"]
    wyckoff = "Wyckoff (space group + sites)"
    assert marks.loc[wyckoff].all() and table.loc[wyckoff, "recoverable"]
    assert marks.loc["canonical cell (primitive, Niggli)"].all()
    assert table.loc["voxel grid", "recoverable"] and not table.loc["graph (edge multiset)", "recoverable"]


def test_custom_representation_and_compare():
    volume_per_atom = Representation("volume per atom", lambda s: s.volume / len(s), compare=lambda a, b: abs(a - b))
    table = summary_table([volume_per_atom], examples.wurtzite())
    assert table.loc["volume per atom", list(TRANSFORMATIONS)].all()
