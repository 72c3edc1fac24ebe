"""The upstream CSV format of the crystal-generation benchmarks, read and written.

CDVAE (Xie et al., ICLR 2022) distributed Perov-5, Carbon-24 and MP-20 as CSV
files, and DiffCSP (Jiao et al., NeurIPS 2023) added MPTS-52 in the same form:
an unnamed index column, ``material_id``, ``cif`` (a P1 CIF written by
pymatgen) and then property columns such as ``heat_ref`` (Perov-5),
``energy_per_atom`` (Carbon-24) or ``formation_energy_per_atom`` (MP-20).
The kit's own teaching sets and every sample file it writes use it too, so one
reader serves them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import structure_from_cif, structure_to_cif

__all__ = ["read_structure_csv", "write_structure_csv"]

REQUIRED_COLUMNS = ("material_id", "cif")


def read_structure_csv(path: str | Path, *, check: bool = True) -> tuple[list[Structure], pd.DataFrame]:
    """Read an upstream-format CSV (optionally gzipped) into structures and a table of the other columns.

    Args:
        path: the ``.csv`` or ``.csv.gz`` file.
        check: validate every structure (no overlapping atoms, real elements, ...).

    Returns:
        ``(structures, labels)``: structures in file order, and a DataFrame with
        every column except ``cif`` (``material_id`` first), one row per structure.

    Raises:
        FileNotFoundError: the file does not exist.
        CrystalInputError: a required column is missing or a row's CIF is bad;
            the message names the row and its ``material_id``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such structure file: {path}. Check the path (it should be a .csv or .csv.gz).")
    try:
        frame = pd.read_csv(path, index_col=0)
    except Exception as error:
        raise CrystalInputError(f"{path} is not a readable CSV file: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise CrystalInputError(
            f"{path} lacks the column(s) {missing}; the upstream format has an unnamed index column, "
            f"then 'material_id', 'cif' and property columns. Found: {list(frame.columns)}."
        )
    structures = []
    for row, (material_id, cif) in enumerate(zip(frame["material_id"], frame["cif"])):
        if not isinstance(cif, str):
            raise CrystalInputError(f"{path}, row {row} ({material_id}): the 'cif' cell is empty.")
        try:
            structures.append(structure_from_cif(cif, check=check))
        except CrystalInputError as error:
            raise CrystalInputError(f"{path}, row {row} ({material_id}): {error}") from error
    labels = frame.drop(columns=["cif"]).reset_index(drop=True)
    return structures, labels


def write_structure_csv(
    path: str | Path,
    structures: Sequence[Structure],
    material_ids: Sequence[str],
    properties: pd.DataFrame | None = None,
) -> Path:
    """Write structures in the upstream format (gzipped if the name ends in ``.gz``).

    Raises:
        CrystalInputError: the number of ids or property rows differs from the number of structures.
    """
    if len(material_ids) != len(structures):
        raise CrystalInputError(f"{len(structures)} structures but {len(material_ids)} material ids: give one id each.")
    frame = pd.DataFrame({"material_id": list(material_ids), "cif": [structure_to_cif(s) for s in structures]})
    if properties is not None:
        if len(properties) != len(structures):
            raise CrystalInputError(f"{len(structures)} structures but {len(properties)} property rows.")
        frame = pd.concat([frame, properties.reset_index(drop=True).drop(columns=["material_id"], errors="ignore")],
                          axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=True)
    return path
