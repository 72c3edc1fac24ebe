"""From relaxed shards to the bundled teaching sets: filter, deduplicate, label, split.

Labels (all CHGNet predictions, not DFT):

* ``energy_per_atom``: CHGNet energy of the relaxed cell, eV/atom;
* ``formation_energy_per_atom``: against CHGNet elemental references
  (the lowest of a few simple phases per element, see
  :func:`.build.elemental_references`), eV/atom;
* ``e_above_hull``: distance to the convex hull built from the subset itself
  plus the elemental references, eV/atom.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure, structure_from_cif, structure_to_cif

from .build import elemental_references, read_shards
from .candidates import PEROVSKITE_A, PEROVSKITE_B, PEROVSKITE_X, SUBSETS, SUBSTITUTION_POOL

__all__ = ["finalize", "write_references", "REFERENCES_FILE"]

REFERENCES_FILE = "chgnet_elemental_references.json"
ID_PREFIX = {"perovskites": "ckp", "inorganic": "cki", "carbon": "ckc"}
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
MAX_FORCE = 0.5  # eV/Å: above this the relaxation is too far from a minimum to call the cell "relaxed"
MAX_E_ABOVE_HULL = 1.0  # eV/atom: far above any synthesizable polymorph; such cells teach the model nonsense
VOLUME_PER_ATOM = (3.0, 80.0)  # Å^3: outside this the cell has collapsed or fallen apart


def _graphite() -> Structure:
    # AB-stacked graphite, a = 2.46 Å, c = 6.71 Å: carbon's reference phase beside diamond.
    lattice = Lattice.hexagonal(2.46, 6.71)
    coords = [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    return Structure(lattice, ["C"] * 4, coords)


def write_references(shard_root: Path, bundled: Path) -> dict:
    """Compute (or extend) the CHGNet elemental references for every element the build can use."""
    bundled.mkdir(parents=True, exist_ok=True)
    path = bundled / REFERENCES_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    elements = sorted(set(PEROVSKITE_A) | set(PEROVSKITE_B) | {x for xs in PEROVSKITE_X for x in xs}
                      | set(SUBSTITUTION_POOL) | {"C"})
    missing = [e for e in elements if e not in known]
    for symbol in missing:
        started = time.perf_counter()
        known.update(elemental_references([symbol], extra={"C": [_graphite()]}))
        print(f"{symbol}: {known[symbol]['energy_per_atom']:.3f} eV/atom ({known[symbol]['phase']}), "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        path.write_text(json.dumps(dict(sorted(known.items())), indent=1))
    return known


def _hull_energies(structures: list[Structure], energies: np.ndarray, references: dict) -> np.ndarray:
    """Energy above the hull (eV/atom) of each structure, within its own chemical system.

    One phase diagram over a whole set with dozens of elements would be a convex hull in dozens of
    dimensions; instead each compound is compared with the set's entries whose elements are a subset
    of its own, plus the elemental references, as the Materials Project does per chemical system.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

    entries = [PDEntry(s.composition, float(e) * len(s)) for s, e in zip(structures, energies)]
    element_sets = [frozenset(el.symbol for el in s.composition.elements) for s in structures]
    result = np.full(len(structures), np.nan)
    by_system: dict[frozenset, list[int]] = defaultdict(list)
    for index, elements in enumerate(element_sets):
        by_system[elements].append(index)
    for system, members in by_system.items():
        competing = [i for i, other in enumerate(element_sets) if other <= system]
        pool = [entries[i] for i in competing] + [PDEntry(el, references[el]["energy_per_atom"]) for el in system]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            diagram = PhaseDiagram(pool)
            for index in members:
                result[index] = diagram.get_e_above_hull(entries[index], allow_negative=True)
    return result


def _deduplicate(structures: list[Structure], energies: np.ndarray) -> list[int]:
    """Indices to keep: within each group of StructureMatcher-equivalent cells, the lowest energy."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()  # default tolerances (ltol 0.2, stol 0.3, angle_tol 5)
    by_formula: dict[str, list[int]] = defaultdict(list)
    for index, structure in enumerate(structures):
        by_formula[structure.composition.reduced_formula].append(index)
    keep = []
    for indices in by_formula.values():
        representatives: list[int] = []
        for index in sorted(indices, key=lambda i: energies[i]):
            if not any(matcher.fit(structures[index], structures[r]) for r in representatives):
                representatives.append(index)
        keep.extend(representatives)
    return sorted(keep)


def _usable_rows(rows: list[dict], references: dict) -> tuple[list[Structure], np.ndarray, list[dict], Counter]:
    """The relaxed cells that pass the per-structure filters, their energies (eV/atom), rows and drop counts.

    Each row is dropped for the first reason that applies, in this order: screening or
    relaxation failed; atoms overlap; volume per atom out of range; not relaxed; an
    element without a reference energy.
    """
    reasons: Counter = Counter()
    structures, energies, meta = [], [], []
    for row in rows:
        if row["status"] == "screen_failed":
            reasons["no trial volume gave a finite energy"] += 1
            continue
        if row["status"] != "ok":
            reasons["relaxation failed"] += 1
            continue
        structure = Structure.from_dict(row["structure"])
        volume = structure.volume / len(structure)
        try:
            check_structure(structure)
        except CrystalInputError:
            reasons["atoms overlap after relaxation"] += 1
            continue
        if not VOLUME_PER_ATOM[0] <= volume <= VOLUME_PER_ATOM[1]:
            reasons["volume per atom out of range"] += 1
            continue
        if row["max_force"] > MAX_FORCE or not np.isfinite(row["energy_per_atom"]):
            reasons["not relaxed (max force > 0.5 eV/Å)"] += 1
            continue
        if any(el.symbol not in references for el in structure.composition.elements):
            reasons["element without reference"] += 1
            continue
        structures.append(structure)
        energies.append(row["energy_per_atom"])
        meta.append(row)
    return structures, np.array(energies), meta, reasons


def _near_hull_and_unique(
    structures: list[Structure], energies: np.ndarray, references: dict, reasons: Counter
) -> list[int]:
    """Indices of the cells within ``MAX_E_ABOVE_HULL`` of the hull, duplicates removed (counted in ``reasons``)."""
    e_hull = _hull_energies(structures, energies, references)
    keep = [i for i in range(len(structures)) if e_hull[i] <= MAX_E_ABOVE_HULL]
    reasons["more than 1 eV/atom above the hull"] += len(structures) - len(keep)
    kept_unique = _deduplicate([structures[i] for i in keep], energies[keep])
    reasons["duplicate of a lower-energy structure"] += len(keep) - len(kept_unique)
    return [keep[i] for i in kept_unique]


def _labelled_records(
    subset: str, structures: list[Structure], energies: np.ndarray, meta: list[dict], references: dict
) -> list[dict]:
    """One CSV record per final structure: id, CIF and labels (energies in eV/atom).

    The hull is recomputed on the final set, so ``e_above_hull`` refers to what ships.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    hull = _hull_energies(structures, energies, references)
    records = []
    for number, structure in enumerate(structures):
        composition = structure.composition
        reference = sum(references[el.symbol]["energy_per_atom"] * n for el, n in composition.items())
        formation = (energies[number] * len(structure) - reference) / len(structure)
        cif = structure_to_cif(structure)
        # The label describes the crystal as stored: the CIF rounds coordinates, and a site that close to a
        # symmetry tolerance's edge can change the space group (one inorganic crystal read R-3c before, R3c after).
        stored = structure_from_cif(cif, check=False)
        records.append({
            "material_id": f"{ID_PREFIX[subset]}-{number:05d}",
            "cif": cif,
            "formula": composition.reduced_formula,
            "num_atoms": len(structure),
            "spacegroup_number": SpacegroupAnalyzer(stored, symprec=0.1).get_space_group_number(),
            "energy_per_atom": round(float(energies[number]), 5),
            "formation_energy_per_atom": round(float(formation), 5),
            "e_above_hull": round(float(max(hull[number], 0.0)), 5),
            "relax_converged": bool(meta[number]["converged"]),
            "source": meta[number]["source"],
        })
    return records


def _write_splits(frame: pd.DataFrame, folder: Path, seed: int) -> dict[str, np.ndarray]:
    """Split the rows at random (``SPLIT_FRACTIONS``, seeded) and write ``folder/{train,val,test}.csv.gz``.

    The gzip header's timestamp is fixed (``mtime=0``), so the same rows give byte-identical files.
    """
    order = np.random.default_rng(seed).permutation(len(frame))
    cut_train = int(round(SPLIT_FRACTIONS["train"] * len(frame)))
    cut_val = cut_train + int(round(SPLIT_FRACTIONS["val"] * len(frame)))
    parts = {"train": order[:cut_train], "val": order[cut_train:cut_val], "test": order[cut_val:]}
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows_in_split in parts.items():
        part = frame.iloc[np.sort(rows_in_split)].reset_index(drop=True)
        part.to_csv(folder / f"{split}.csv.gz", index=True, compression={"method": "gzip", "mtime": 0})
    return parts


def finalize(shard_root: Path, bundled: Path, seed: int = 0) -> dict:
    """Write ``bundled/<subset>/{train,val,test}.csv.gz`` and ``bundled/summary.json`` from the shards.

    Per subset: drop unusable cells, keep those near the hull without duplicates,
    label them, split them. The same shards and seed give byte-identical files.
    """
    references = json.loads((bundled / REFERENCES_FILE).read_text())
    summary = {"seed": seed, "subsets": {}}
    for subset in SUBSETS:
        rows = read_shards(shard_root, subset)
        if not rows:
            continue
        structures, energies, meta, reasons = _usable_rows(rows, references)
        keep = _near_hull_and_unique(structures, energies, references, reasons)
        records = _labelled_records(
            subset, [structures[i] for i in keep], energies[keep], [meta[i] for i in keep], references
        )
        frame = pd.DataFrame.from_records(records)
        parts = _write_splits(frame, bundled / subset, seed)
        summary["subsets"][subset] = {
            "candidates_relaxed": len(rows),
            "kept": len(frame),
            "splits": {k: int(len(v)) for k, v in parts.items()},
            "dropped": dict(reasons),
            "unconverged_kept": int((~frame["relax_converged"]).sum()),
        }
        print(subset, summary["subsets"][subset], flush=True)
    (bundled / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
