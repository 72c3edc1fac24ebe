"""Space groups at several tolerances, and symmetrisation."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import spacegroup, spacegroup_table, symmetrize


@pytest.fixture
def rattled(srtio3) -> Structure:
    """SrTiO3 with atoms moved by up to ~0.1 Å: P1 at a tight tolerance, Pm-3m at a loose one."""
    rng = np.random.default_rng(1)
    return Structure(srtio3.lattice, srtio3.species, srtio3.frac_coords + rng.uniform(-0.02, 0.02, (5, 3)))


def test_perfect_perovskite_is_cubic(srtio3):
    assert spacegroup(srtio3, 0.01) == ("Pm-3m", 221)


def test_rattled_structure_depends_on_tolerance(rattled):
    assert spacegroup(rattled, symprec=0.001)[1] == 1
    assert spacegroup(rattled, symprec=0.3)[1] == 221
    table = spacegroup_table(rattled, tolerances=(0.001, 0.3))
    assert list(table["number"]) == [1, 221]
    assert list(table["operations"]) == [1, 48]
    assert list(table.columns) == ["symprec", "symbol", "number", "crystal_system", "operations"]


def test_symmetrised_structure_is_symmetric_at_a_tight_tolerance(rattled):
    ideal = symmetrize(rattled, symprec=0.3)
    assert spacegroup(ideal, symprec=1e-4)[1] == 221
    assert ideal.composition.reduced_formula == "SrTiO3"
    primitive = symmetrize(rattled, symprec=0.3, cell="primitive")
    assert len(primitive) == 5


def test_conventional_cell_of_a_centred_lattice_is_larger():
    # Rock-salt NaCl in its 2-atom primitive (fcc) cell: the conventional cell has 8 atoms.
    primitive = Structure(Lattice.from_parameters(3.99, 3.99, 3.99, 60, 60, 60), ["Na", "Cl"],
                          [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert spacegroup(primitive)[0] == "Fm-3m"
    assert len(symmetrize(primitive, cell="conventional")) == 8


def test_bad_arguments_raise(srtio3):
    with pytest.raises(CrystalInputError, match="symprec"):
        spacegroup(srtio3, symprec=0)
    with pytest.raises(CrystalInputError, match="cell"):
        symmetrize(srtio3, cell="niggli")
    with pytest.raises(CrystalInputError):
        spacegroup("SrTiO3")
