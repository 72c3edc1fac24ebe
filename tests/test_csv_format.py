import gzip

import pandas as pd
import pytest

from crystalkit.data import read_structure_csv, write_structure_csv
from crystalkit.errors import CrystalInputError
from crystalkit.structures import structure_to_cif


def test_round_trip_with_properties(tmp_path, srtio3, triclinic):
    labels = pd.DataFrame({"heat_ref": [-1.5, 0.25]})
    path = write_structure_csv(tmp_path / "x.csv", [srtio3, triclinic], ["a-1", "b-2"], labels)
    structures, table = read_structure_csv(path)
    assert [s.composition for s in structures] == [srtio3.composition, triclinic.composition]
    assert structures[1].matches(triclinic)
    assert table["material_id"].tolist() == ["a-1", "b-2"]
    assert table["heat_ref"].tolist() == [-1.5, 0.25]
    # Upstream layout: an unnamed index column first, then material_id and cif.
    raw = pd.read_csv(path)
    assert raw.columns[:3].tolist() == ["Unnamed: 0", "material_id", "cif"]


def test_reads_gzip(tmp_path, srtio3):
    frame = pd.DataFrame({"material_id": ["m"], "cif": [structure_to_cif(srtio3)]})
    with gzip.open(tmp_path / "x.csv.gz", "wt") as handle:
        frame.to_csv(handle)
    structures, _ = read_structure_csv(tmp_path / "x.csv.gz")
    assert structures[0].composition.reduced_formula == "SrTiO3"


def test_errors_name_the_problem(tmp_path, srtio3):
    with pytest.raises(FileNotFoundError, match="No such structure file"):
        read_structure_csv(tmp_path / "missing.csv")
    pd.DataFrame({"id": [1], "cif": ["x"]}).to_csv(tmp_path / "cols.csv")
    with pytest.raises(CrystalInputError, match="material_id"):
        read_structure_csv(tmp_path / "cols.csv")
    pd.DataFrame({"material_id": ["ok", "bad"], "cif": [structure_to_cif(srtio3), "garbage"]}).to_csv(tmp_path / "b.csv")
    with pytest.raises(CrystalInputError, match=r"row 1 \(bad\)"):
        read_structure_csv(tmp_path / "b.csv")
    with pytest.raises(CrystalInputError, match="material ids"):
        write_structure_csv(tmp_path / "w.csv", [srtio3], ["a", "b"])
