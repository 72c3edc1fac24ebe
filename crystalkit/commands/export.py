"""``crystalkit export``: turn a kit CSV (a teaching set, samples) into extxyz or a folder of CIFs.

::

    crystalkit export --input samples.csv --to extxyz --out samples.extxyz
    crystalkit export --input samples.csv --to cif --out samples_cif/

The CSV is the upstream format every kit command writes (CDVAE / DiffCSP). extxyz is what ASE-based tools
read (CHGNet, MACE, NequIP); a CIF folder is what VESTA, GSAS-II and DFT workflows read. Ids that repeat (a
CSP sample file holds k rows per target) get the sample number appended, ``<id>-<n>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` parser."""
    parser = subparsers.add_parser(
        "export",
        help="write a kit CSV as extended XYZ (ASE) or a folder of CIF files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, type=Path, help="CSV in the upstream format (.csv or .csv.gz)")
    parser.add_argument("--to", required=True, choices=("extxyz", "cif"), help="extxyz (one file) or cif (a folder)")
    parser.add_argument("--out", required=True, type=Path, help="the .extxyz file or the (new) folder to write")
    parser.set_defaults(run=run)


def unique_ids(material_ids: list[str]) -> list[str]:
    """Ids made unique by appending ``-<n>`` (the n-th row of that id) where an id repeats."""
    counts: dict[str, int] = {}
    for material_id in material_ids:
        counts[material_id] = counts.get(material_id, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for material_id in material_ids:
        if counts[material_id] == 1:
            out.append(material_id)
        else:
            out.append(f"{material_id}-{seen.get(material_id, 0)}")
            seen[material_id] = seen.get(material_id, 0) + 1
    return out


def run(args: argparse.Namespace) -> int:
    """Read the CSV, write the chosen format; returns the exit status."""
    from crystalkit.data import read_structure_csv
    from crystalkit.data.exchange import write_cif_folder, write_extxyz

    structures, labels = read_structure_csv(args.input)
    ids = unique_ids([str(i) for i in labels["material_id"]])
    properties = labels.drop(columns=["material_id"])
    write = write_extxyz if args.to == "extxyz" else write_cif_folder
    write(args.out, structures, ids, properties if len(properties.columns) else None)
    print(f"wrote {len(structures)} crystals from {args.input} to {args.out} ({args.to})")
    return 0
