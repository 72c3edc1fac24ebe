"""Hand crystals to research codes: extended XYZ for ASE-based tools, and folders of CIF files.

The kit's own files use the upstream CSV format of CDVAE and DiffCSP
(:mod:`crystalkit.data.csv_format`). Two more forms cover most other codes:

* **extended XYZ** (``.extxyz``): one frame per crystal, the lattice in the
  ``Lattice="..."`` comment field and ``pbc="T T T"``. ASE reads it
  (``ase.io.read(path, index=":")``), and so do the machine-learned potential
  codes built on ASE (CHGNet, MACE, NequIP). Per-crystal values travel in the
  comment line; here ``material_id`` and any property columns.
* **a folder of CIF files**: one ``<material_id>.cif`` per crystal (P1, as the
  benchmark CSVs store them) plus ``index.csv`` with the ids and properties in
  file order. VESTA, Mercury, GSAS-II, pymatgen and every DFT workflow read CIF.

Each writer has a reader, and the tests check that a round trip gives the same
structures (species, lattice and fractional coordinates), ids and properties.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import structure_from_cif, structure_to_cif

__all__ = ["read_cif_folder", "read_extxyz", "write_cif_folder", "write_extxyz"]

#: A material id becomes a file name: letters, digits, '-', '_' and '.' only.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_table(structures: Sequence[Structure], material_ids: Sequence[str],
                 properties: pd.DataFrame | None) -> pd.DataFrame:
    """One row per structure: ``material_id`` then the property columns (errors say what does not line up)."""
    if len(structures) == 0:
        raise CrystalInputError("No structures to write: pass at least one crystal.")
    if len(material_ids) != len(structures):
        raise CrystalInputError(f"{len(structures)} structures but {len(material_ids)} material ids: give one id each.")
    ids = [str(i) for i in material_ids]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise CrystalInputError(f"Material ids must be unique (repeated: {repeated}); they name frames and files.")
    table = pd.DataFrame({"material_id": ids})
    if properties is not None:
        if len(properties) != len(structures):
            raise CrystalInputError(f"{len(structures)} structures but {len(properties)} property rows.")
        extra = properties.reset_index(drop=True).drop(columns=["material_id"], errors="ignore")
        table = pd.concat([table, extra], axis=1)
    for structure in structures:
        if not structure.is_ordered:
            raise CrystalInputError("A structure has partially occupied sites; extxyz and these CIF folders hold "
                                    "ordered crystals. Order it first (crystalkit.disorder, notebook 11).")
    return table


def write_extxyz(path: str | Path, structures: Sequence[Structure], material_ids: Sequence[str],
                 properties: pd.DataFrame | None = None) -> Path:
    """Write crystals as one extended-XYZ file (one frame each; ids and properties in each frame's info).

    Raises:
        CrystalInputError: no structures, ids or property rows that do not match, repeated ids,
            or a disordered structure.
    """
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    table = _check_table(structures, material_ids, properties)
    frames = []
    for structure, (_, row) in zip(structures, table.iterrows()):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info.clear()  # pymatgen may leave its own keys; the file carries only ours
        for column, value in row.items():
            atoms.info[column] = value.item() if isinstance(value, np.generic) else value
        frames.append(atoms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, frames, format="extxyz")
    return path


def read_extxyz(path: str | Path) -> tuple[list[Structure], pd.DataFrame]:
    """Read an extended-XYZ file into structures and a table (``material_id`` first if present).

    Raises:
        FileNotFoundError: the file does not exist.
        CrystalInputError: the file is not extended XYZ, or a frame lacks a lattice (not a crystal).
    """
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such extxyz file: {path}.")
    try:
        frames = read(path, index=":", format="extxyz")
    except Exception as error:
        raise CrystalInputError(f"{path} is not a readable extended-XYZ file ({type(error).__name__}: {error}).") \
            from error
    structures, rows = [], []
    for number, atoms in enumerate(frames):
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise CrystalInputError(f"{path}, frame {number}: no lattice with periodic boundaries in all three "
                                    "directions, so this frame is a molecule, not a crystal.")
        structure = AseAtomsAdaptor.get_structure(atoms)
        structures.append(Structure(structure.lattice, structure.species, structure.frac_coords))
        row = dict(atoms.info)
        # ASE moves the per-frame keys it knows as calculator results ("energy", "free_energy", ...) out of
        # info and into a calculator on read: give the scalar ones back as the columns they were written from.
        if atoms.calc is not None:
            row.update({key: float(value) for key, value in atoms.calc.results.items() if np.ndim(value) == 0})
        rows.append(row)
    table = pd.DataFrame(rows)
    if "material_id" in table.columns:
        table = table[["material_id"] + [c for c in table.columns if c != "material_id"]]
        table["material_id"] = table["material_id"].astype(str)
    return structures, table


def write_cif_folder(folder: str | Path, structures: Sequence[Structure], material_ids: Sequence[str],
                     properties: pd.DataFrame | None = None) -> Path:
    """Write ``<material_id>.cif`` per crystal and ``index.csv`` (ids and properties, in order) into ``folder``.

    Raises:
        CrystalInputError: as :func:`write_extxyz`, an id that is not a safe file name, or a folder that
            already holds CIF files (write to a new folder so old and new files are never mixed).
    """
    table = _check_table(structures, material_ids, properties)
    unsafe = [i for i in table["material_id"] if not _SAFE_ID.match(i)]
    if unsafe:
        raise CrystalInputError(f"Material ids name the CIF files, so they may hold only letters, digits, '-', "
                                f"'_' and '.'; these do not: {unsafe[:5]}.")
    folder = Path(folder)
    if folder.is_dir() and any(folder.glob("*.cif")):
        raise CrystalInputError(f"{folder} already holds CIF files: write to a new, empty folder.")
    folder.mkdir(parents=True, exist_ok=True)
    for structure, material_id in zip(structures, table["material_id"]):
        (folder / f"{material_id}.cif").write_text(structure_to_cif(structure))
    table.to_csv(folder / "index.csv", index=False)
    return folder


def read_cif_folder(folder: str | Path, *, check: bool = True) -> tuple[list[Structure], pd.DataFrame]:
    """Read a folder written by :func:`write_cif_folder` (or any folder of CIFs: then sorted by file name).

    Raises:
        FileNotFoundError: the folder does not exist.
        CrystalInputError: no CIF files, an index naming a missing file, or a CIF that does not read
            (the message names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No such folder: {folder}.")
    index = folder / "index.csv"
    if index.is_file():
        table = pd.read_csv(index, dtype={"material_id": str})
        names = [f"{i}.cif" for i in table["material_id"]]
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise CrystalInputError(f"{index} lists files that are not in {folder}: {missing[:5]}.")
    else:
        names = sorted(p.name for p in folder.glob("*.cif"))
        table = pd.DataFrame({"material_id": [Path(n).stem for n in names]})
    if not names:
        raise CrystalInputError(f"{folder} holds no .cif files.")
    structures = []
    for name in names:
        try:
            structures.append(structure_from_cif((folder / name).read_text(), check=check))
        except CrystalInputError as error:
            raise CrystalInputError(f"{folder / name}: {error}") from error
    return structures, table
