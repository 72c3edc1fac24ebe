"""Research-code formats: extended XYZ and CIF folders round-trip the kit's crystals, ids and properties."""

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.data import load_dataset
from crystalkit.data.exchange import read_cif_folder, read_extxyz, write_cif_folder, write_extxyz
from crystalkit.errors import CrystalInputError


@pytest.fixture(scope="module")
def crystals():
    data = load_dataset("perovskites", "val")
    triclinic = Structure(Lattice.from_parameters(4.1, 5.3, 6.2, 81, 97, 104), ["Na", "Cl", "Cl"],
                          [[0.1, 0.2, 0.3], [0.6, 0.7, 0.8], [0.35, 0.05, 0.55]])
    structures = list(data.structures[:4]) + [triclinic]
    ids = [f"crystal-{i}" for i in range(len(structures))]
    properties = pd.DataFrame({"energy": np.linspace(-1.5, 0.5, len(structures)), "label": list("abcde")})
    return structures, ids, properties


def _same(a: Structure, b: Structure) -> bool:
    if [s.symbol for s in a.species] != [s.symbol for s in b.species]:
        return False
    if not np.allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-5):
        return False
    shift = (a.frac_coords - b.frac_coords + 0.5) % 1.0 - 0.5  # a wrap into the cell is the same crystal
    return bool(np.abs(shift).max() < 1e-5)


def test_extxyz_round_trip(crystals, tmp_path):
    structures, ids, properties = crystals
    path = write_extxyz(tmp_path / "set.extxyz", structures, ids, properties)
    back, table = read_extxyz(path)
    assert len(back) == len(structures) and all(_same(a, b) for a, b in zip(structures, back))
    assert list(table["material_id"]) == ids
    assert np.allclose(table["energy"], properties["energy"]) and list(table["label"]) == list("abcde")


def test_extxyz_is_what_ase_reads(crystals, tmp_path):
    from ase.io import read

    structures, ids, _ = crystals
    frames = read(write_extxyz(tmp_path / "set.extxyz", structures, ids), index=":")
    assert [len(f) for f in frames] == [len(s) for s in structures]
    assert all(f.pbc.all() for f in frames)
    assert np.allclose(frames[-1].cell.cellpar(), structures[-1].lattice.parameters, atol=1e-6)


def test_cif_folder_round_trip(crystals, tmp_path):
    structures, ids, properties = crystals
    folder = write_cif_folder(tmp_path / "cifs", structures, ids, properties)
    assert sorted(p.name for p in folder.glob("*.cif")) == sorted(f"{i}.cif" for i in ids)
    back, table = read_cif_folder(folder)
    assert all(_same(a, b) for a, b in zip(structures, back))
    assert list(table["material_id"]) == ids and np.allclose(table["energy"], properties["energy"])


def test_cif_folder_without_index_reads_in_name_order(crystals, tmp_path):
    structures = crystals[0]
    folder = write_cif_folder(tmp_path / "cifs", structures[:2], ["b-second", "a-first"])
    (folder / "index.csv").unlink()
    back, table = read_cif_folder(folder)
    assert list(table["material_id"]) == ["a-first", "b-second"]
    assert _same(back[0], structures[1]) and _same(back[1], structures[0])


@pytest.mark.parametrize("write", [write_extxyz, write_cif_folder])
def test_writers_refuse_what_does_not_line_up(write, crystals, tmp_path):
    structures, ids, properties = crystals
    with pytest.raises(CrystalInputError, match="material ids"):
        write(tmp_path / "x", structures, ids[:-1])
    with pytest.raises(CrystalInputError, match="unique"):
        write(tmp_path / "x", structures[:2], ["same", "same"])
    with pytest.raises(CrystalInputError, match="property rows"):
        write(tmp_path / "x", structures, ids, properties.iloc[:2])
    with pytest.raises(CrystalInputError, match="No structures"):
        write(tmp_path / "x", [], [])
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(CrystalInputError, match="partially occupied"):
        write(tmp_path / "x", [disordered], ["cuau"])


def test_cif_folder_refuses_unsafe_ids_and_a_used_folder(crystals, tmp_path):
    structures, ids, _ = crystals
    with pytest.raises(CrystalInputError, match="file"):
        write_cif_folder(tmp_path / "a", structures[:1], ["../escape"])
    write_cif_folder(tmp_path / "b", structures[:1], ids[:1])
    with pytest.raises(CrystalInputError, match="already holds"):
        write_cif_folder(tmp_path / "b", structures[:1], ids[:1])


def test_readers_say_what_is_wrong(tmp_path):
    from ase import Atoms
    from ase.io import write

    with pytest.raises(FileNotFoundError):
        read_extxyz(tmp_path / "missing.extxyz")
    with pytest.raises(FileNotFoundError):
        read_cif_folder(tmp_path / "missing")
    write(tmp_path / "molecule.extxyz", Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]),
          format="extxyz")
    with pytest.raises(CrystalInputError, match="not a crystal"):
        read_extxyz(tmp_path / "molecule.extxyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CrystalInputError, match="no .cif"):
        read_cif_folder(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.cif").write_text("data_broken\n_cell_length_a 3\n")
    with pytest.raises(CrystalInputError, match="broken.cif"):
        read_cif_folder(tmp_path / "bad")


def test_export_command_writes_both_formats(tmp_path):
    from crystalkit.cli import main
    from crystalkit.data import write_structure_csv

    data = load_dataset("perovskites", "val")
    csv = write_structure_csv(tmp_path / "samples.csv", list(data.structures[:3]), ["t1", "t1", "t2"])
    assert main(["export", "--input", str(csv), "--to", "extxyz", "--out", str(tmp_path / "s.extxyz")]) == 0
    back, table = read_extxyz(tmp_path / "s.extxyz")
    assert list(table["material_id"]) == ["t1-0", "t1-1", "t2"]  # k samples of one target stay apart
    assert all(_same(a, b) for a, b in zip(data.structures[:3], back))
    assert main(["export", "--input", str(csv), "--to", "cif", "--out", str(tmp_path / "cifs")]) == 0
    assert len(read_cif_folder(tmp_path / "cifs")[0]) == 3
    assert main(["export", "--input", str(tmp_path / "none.csv"), "--to", "cif", "--out", str(tmp_path / "x")]) == 2
