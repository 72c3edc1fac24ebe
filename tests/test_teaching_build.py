"""The teaching-set build: candidates are reproducible and sensible; finalize filters, dedups, labels, splits.

CHGNet itself is not run here (that is the build's job); finalize is tested on hand-made shards. The build is
a maintainer's tool outside the package: it imports as ``scripts.teaching_data`` from the repository root,
where pytest runs.
"""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Composition, Lattice, Structure

from crystalkit.data import read_structure_csv
from scripts.teaching_data import SHARD_ROOT
from scripts.teaching_data.build import read_shards, shard_path
from scripts.teaching_data.candidates import (
    SUBSETS,
    carbon_candidates,
    perovskite_candidates,
    substitution_candidates,
)
from scripts.teaching_data.finalize import REFERENCES_FILE, finalize


def test_candidates_are_reproducible_per_chunk():
    first = perovskite_candidates(seed=3, chunk=5, count=4)
    again = perovskite_candidates(seed=3, chunk=5, count=4)
    other = perovskite_candidates(seed=3, chunk=6, count=4)
    formulas = lambda cs: [c.structure.composition.formula for c in cs]  # noqa: E731
    assert formulas(first) == formulas(again)
    assert formulas(first) != formulas(other)


def test_perovskites_are_abx3_and_charge_balanced():
    from smact.screening import smact_validity

    for candidate in perovskite_candidates(seed=0, chunk=0, count=10):
        structure = candidate.structure
        assert len(structure) == 5 and structure.lattice.is_orthogonal
        assert smact_validity(structure.composition)


@pytest.mark.slow
def test_substitutions_keep_the_prototype_and_balance_charge():
    from smact.screening import smact_validity

    for candidate in substitution_candidates(seed=0, chunk=1, count=6):
        assert candidate.source.startswith("prototype:")
        assert 1 <= len(candidate.structure) <= 20
        assert smact_validity(candidate.structure.composition)


def test_carbon_candidates_in_range():
    for candidate in carbon_candidates(seed=0, chunk=0, count=4):
        assert set(candidate.structure.composition.elements) == {Composition("C").elements[0]}
        assert 6 <= len(candidate.structure) <= 24


def _row(structure, energy, max_force=0.01, status="ok"):
    return {"source": "test", "status": status, "structure": structure.as_dict(), "energy_per_atom": energy,
            "max_force": max_force, "steps": 10, "converged": max_force < 0.05}


def _write_shard(root, subset, rows):
    path = root / subset / "shard_0000.jsonl.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


@pytest.fixture
def toy_build(tmp_path, srtio3):
    shards, bundled = tmp_path / "shards", tmp_path / "bundled"
    bundled.mkdir()
    references = {"Sr": -1.6, "Ba": -1.9, "Ca": -2.0, "Ti": -7.8, "Zr": -8.5, "O": -4.9}
    (bundled / REFERENCES_FILE).write_text(json.dumps({k: {"energy_per_atom": v} for k, v in references.items()}))
    rows = []
    for a in ("Sr", "Ba", "Ca"):
        for b in ("Ti", "Zr"):
            cell = srtio3.copy()
            cell.replace_species({"Sr": a, "Ti": b})
            rows.append(_row(cell, -8.0))
    # A made-up hexagonal SrTiO3 polymorph 0.07 eV/atom above the cubic one: e_above_hull must be 0.07.
    polymorph = Structure(Lattice.hexagonal(5.6, 7.0), ["Sr", "Ti", "O", "O", "O"],
                          [[0, 0, 0], [1 / 3, 2 / 3, 0.5], [0.5, 0, 0.25], [0, 0.5, 0.25], [0.5, 0.5, 0.75]])
    rows.append(_row(polymorph, -7.93))
    rows.append(_row(srtio3.copy(), -7.5))  # duplicate of cubic SrTiO3 at higher energy: dropped
    rows.append(_row(srtio3.copy(), -5.0))  # also a duplicate, but first dropped as > 1 eV/atom above the hull
    high_force = srtio3.copy()
    high_force.replace_species({"Sr": "Ba", "Ti": "Zr"})
    rows.append(_row(high_force, -8.1, max_force=2.0))  # not relaxed: dropped
    overlapping = srtio3.copy()
    overlapping.append("O", [0.0, 0.0, 0.02])
    rows.append(_row(overlapping, -8.0))  # overlapping atoms: dropped
    rows.append({"source": "test", "status": "relax_failed: boom"})
    _write_shard(shards, "perovskites", rows)
    return shards, bundled


def test_finalize_filters_dedups_labels_and_splits(toy_build):
    shards, bundled = toy_build
    summary = finalize(shards, bundled, seed=0)["subsets"]["perovskites"]
    assert summary["dropped"]["relaxation failed"] == 1
    assert summary["dropped"]["not relaxed (max force > 0.5 eV/Å)"] == 1
    assert summary["dropped"]["atoms overlap after relaxation"] == 1
    assert summary["dropped"]["more than 1 eV/atom above the hull"] == 1
    assert summary["dropped"]["duplicate of a lower-energy structure"] == 1
    assert summary["kept"] == 7
    tables = {split: read_structure_csv(bundled / "perovskites" / f"{split}.csv.gz")[1]
              for split in ("train", "val", "test")}
    assert sum(len(t) for t in tables.values()) == 7
    assert len(tables["train"]) == 6
    table = pd.concat(tables.values()).set_index("material_id")
    assert len(set(table.index)) == 7
    assert -7.5 not in table["energy_per_atom"].tolist()  # the higher-energy duplicate went
    # Formation energy against the references, by hand: (E - sum n_i mu_i) / N.
    srtio3_row = table[(table["formula"] == "SrTiO3") & (table["spacegroup_number"] == 221)].iloc[0]
    assert srtio3_row["formation_energy_per_atom"] == pytest.approx((-8.0 * 5 - (-1.6 - 7.8 - 3 * 4.9)) / 5)
    assert srtio3_row["e_above_hull"] == pytest.approx(0.0, abs=1e-6)
    polymorph = table[(table["formula"] == "SrTiO3") & (table["spacegroup_number"] != 221)].iloc[0]
    assert polymorph["e_above_hull"] == pytest.approx(0.07, abs=1e-6)


def test_finalize_is_reproducible(toy_build, tmp_path):
    shards, bundled = toy_build
    finalize(shards, bundled, seed=0)
    first = (bundled / "perovskites" / "train.csv.gz").read_bytes()
    finalize(shards, bundled, seed=0)
    assert (bundled / "perovskites" / "train.csv.gz").read_bytes() == first


def test_the_package_ships_no_build_code():
    import crystalkit.data

    package = Path(crystalkit.data.__file__).parent
    assert not list(package.glob("teaching_*.py"))
    assert (package / "DATA.md").is_file()


def test_committed_shards_are_where_the_build_resumes():
    """The build skips every shard already in SHARD_ROOT, so the committed ones must be found there, in order."""
    for subset in SUBSETS:
        first = shard_path(SHARD_ROOT, subset, 0)
        assert first.is_file(), f"no committed shards for {subset} at {first.parent}"
        rows = read_shards(SHARD_ROOT, subset)
        assert rows and all("status" in row for row in rows)
        assert rows[0]["shard"] == first.name


@pytest.mark.slow
def test_finalize_on_the_committed_shards_remakes_the_bundled_files_byte_for_byte(tmp_path):
    """The shipped CSVs are exactly what the committed shards give: the build is reproducible and up to date."""
    import crystalkit.data

    shipped = Path(crystalkit.data.__file__).parent / "bundled"
    (tmp_path / REFERENCES_FILE).write_bytes((shipped / REFERENCES_FILE).read_bytes())
    finalize(SHARD_ROOT, tmp_path, seed=0)
    made = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*.csv.gz"))
    assert made == sorted(path.relative_to(shipped) for path in shipped.rglob("*.csv.gz"))
    for name in [*made, Path("summary.json")]:
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), f"{name} differs from the shipped file"
