import pytest
from pymatgen.core import Lattice, Molecule, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure, structure_from_cif, structure_to_cif


def test_cif_round_trip(triclinic):
    back = structure_from_cif(structure_to_cif(triclinic))
    assert back.composition == triclinic.composition
    assert back.lattice.abc == pytest.approx(triclinic.lattice.abc, abs=1e-6)
    assert back.matches(triclinic)


@pytest.mark.parametrize("text", ["", "   ", "this is not a cif", "data_x\n_cell_length_a 3.0\n"])
def test_malformed_cif_raises(text):
    with pytest.raises(CrystalInputError):
        structure_from_cif(text)


def test_overlapping_atoms_named(srtio3):
    bad = srtio3.copy()
    bad.append("O", [0.01, 0.0, 0.0])
    with pytest.raises(CrystalInputError, match="overlap"):
        check_structure(bad)


def test_overlap_with_own_periodic_image():
    tiny = Structure(Lattice.cubic(0.3), ["H"], [[0, 0, 0]])
    with pytest.raises(CrystalInputError, match="overlap"):
        check_structure(tiny)


def test_empty_and_non_periodic():
    with pytest.raises(CrystalInputError, match="empty"):
        check_structure(Structure(Lattice.cubic(3), [], []))
    with pytest.raises(CrystalInputError, match="Molecule"):
        check_structure(Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]]))


def test_unknown_element_in_cif(srtio3):
    text = structure_to_cif(srtio3).replace("Sr", "Xx")
    with pytest.raises(CrystalInputError):
        structure_from_cif(text)


def test_disordered_rejected_unless_allowed(srtio3):
    disordered = srtio3.copy()
    disordered.replace(0, {"Sr": 0.5, "Ba": 0.5})
    with pytest.raises(CrystalInputError, match="disordered"):
        check_structure(disordered)
    assert check_structure(disordered, require_ordered=False) is disordered


def test_flat_cell_rejected():
    flat = Structure(Lattice([[1, 0, 0], [0, 1, 0], [1, 1, 0]]), ["H"], [[0, 0, 0]])
    with pytest.raises(CrystalInputError):
        check_structure(flat)
