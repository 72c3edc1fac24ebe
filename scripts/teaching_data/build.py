"""How the bundled teaching sets are made: screen, relax with CHGNet, label, split.

The build is the kit's own, rerunnable and seeded: a maintainer's tool, kept
outside the installed package and driven by ``scripts/build_teaching_data.py``.
It runs in *shards*: shard ``k`` of a subset regenerates the same candidates
from ``(seed, k)``, relaxes them and writes one small gzipped JSON Lines file.
A build that is stopped resumes where it was; finished shards are committed
(``scripts/teaching_data/shards/``), so the set can grow over several sessions.

Steps, for each shard:

1. candidates from :mod:`.candidates`;
2. a volume scan: every candidate is rescaled to a few volumes and CHGNet
   predicts all their energies in one batch; the volume of lowest enthalpy is
   kept (a batch of single points costs far less than relaxation steps);
3. for carbon, only the lowest-enthalpy third of the random structures is relaxed;
4. FIRE relaxation of positions and cell with CHGNet (Deng et al. 2023), with
   a step cap; unconverged relaxations are kept but flagged. Carbon is screened
   and relaxed under 10 GPa, like the AIRSS searches behind Carbon-24.

:func:`.finalize.finalize` then filters, deduplicates, labels (formation energy
and energy above the subset's own hull) and splits. Labels are CHGNet predictions,
not DFT.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from .candidates import GENERATORS, Candidate

__all__ = ["BuildConfig", "build_shard", "elemental_references", "shard_path", "read_shards"]


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one subset's build. Defaults follow ROADMAP's measured costs."""

    subset: str
    seed: int = 0
    candidates_per_shard: int = 16  # small shards: a stop loses at most a few minutes of work
    keep_fraction: float = 1.0  # share of screened candidates that get relaxed (carbon: 0.5)
    fmax: float = 0.05  # eV/Å, the usual convergence criterion for relaxations
    max_steps: int = 250  # FIRE steps before we give up and flag "unconverged"
    volume_scales: tuple[float, ...] = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4)  # volume factors of the scan
    pressure_gpa: float = 0.0  # external pressure of screening and relaxation (Carbon-24 was made at 10 GPa)


_MODEL = None


def _model():
    """CHGNet, loaded once per process (its weights ship inside the chgnet package)."""
    global _MODEL
    if _MODEL is None:
        from chgnet.model import CHGNet

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _MODEL = CHGNet.load(verbose=False)
    return _MODEL


#: Å^3 per atom below which a trial cell is not evaluated: so dense that every atom has hundreds of
#: neighbours within CHGNet's 6 Å cutoff, its graph takes gigabytes, and no real solid is that compressed
#: (diamond has 5.7, LiH 8.5).
MIN_VOLUME_PER_ATOM = 4.0


def _energies(structures: list[Structure], batch_size: int = 16) -> np.ndarray:
    """CHGNet energies in eV/atom for many structures at once (nan where the graph cannot be built)."""
    model = _model()
    out = np.full(len(structures), np.nan)
    dense = [s.volume / len(s) < MIN_VOLUME_PER_ATOM for s in structures]
    structures = [s for s, too_dense in zip(structures, dense) if not too_dense]
    evaluated = np.full(len(structures), np.nan)
    for start in range(0, len(structures), batch_size):
        chunk = structures[start : start + batch_size]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predictions = model.predict_structure(chunk, task="e", batch_size=batch_size)
            evaluated[start : start + len(chunk)] = [float(p["e"]) for p in predictions]
        except Exception:
            # One bad structure (e.g. isolated atoms beyond the cutoff) fails the whole batch: redo one by one.
            for offset, structure in enumerate(chunk):
                try:
                    evaluated[start + offset] = float(model.predict_structure(structure, task="e")["e"])
                except Exception:
                    evaluated[start + offset] = np.nan
    out[~np.array(dense, dtype=bool)] = evaluated
    return out


GPA_TO_EV_PER_A3 = 1 / 160.21766  # 1 eV/Å^3 = 160.2 GPa


def _volume_scan(
    candidates: list[Candidate], scales: tuple[float, ...], pressure_gpa: float = 0.0
) -> tuple[list[Structure], np.ndarray]:
    """Rescale each candidate to every volume factor, keep the volume of lowest enthalpy E + PV per atom."""
    trial = []
    for candidate in candidates:
        for scale in scales:
            scaled = candidate.structure.copy()
            scaled.scale_lattice(candidate.structure.volume * scale)
            trial.append(scaled)
    energies = _energies(trial)
    enthalpies = energies + pressure_gpa * GPA_TO_EV_PER_A3 * np.array([s.volume / len(s) for s in trial])
    enthalpies = enthalpies.reshape(len(candidates), len(scales))
    best = np.argmin(np.where(np.isnan(enthalpies), np.inf, enthalpies), axis=1)
    chosen = [trial[i * len(scales) + j] for i, j in enumerate(best)]
    return chosen, enthalpies[np.arange(len(candidates)), best]


def _relax(structure: Structure, fmax: float, max_steps: int, pressure_gpa: float = 0.0) -> dict:
    """FIRE relaxation of positions and cell with CHGNet as the ASE calculator, at a given pressure."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = CHGNetCalculator(model=_model())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = FIRE(FrechetCellFilter(atoms, scalar_pressure=pressure_gpa * GPA_TO_EV_PER_A3), logfile=None)
        optimizer.run(fmax=fmax, steps=max_steps)
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    # Only lattice, species and positions: the calculator's site properties (float32 magmoms) are not data.
    final = Structure(relaxed.lattice, relaxed.species, relaxed.frac_coords)
    prediction = _model().predict_structure(final, task="ef")
    max_force = float(np.linalg.norm(prediction["f"], axis=1).max())
    return {
        "structure": final,
        "energy_per_atom": float(prediction["e"]),
        "max_force": max_force,
        "steps": int(optimizer.nsteps),
        "converged": bool(max_force <= fmax * 1.05),
    }


def shard_path(root: Path, subset: str, index: int) -> Path:
    return Path(root) / subset / f"shard_{index:04d}.jsonl.gz"


def build_shard(config: BuildConfig, index: int, root: Path) -> Path:
    """Screen and relax the candidates of one shard and write them; skip if already written."""
    path = shard_path(root, config.subset, index)
    if path.exists():
        return path
    import torch

    torch.manual_seed(config.seed)
    started = time.perf_counter()
    candidates = GENERATORS[config.subset](config.seed, index, config.candidates_per_shard)
    screened, scan_energies = _volume_scan(candidates, config.volume_scales, config.pressure_gpa)
    order = np.argsort(np.where(np.isnan(scan_energies), np.inf, scan_energies))
    keep = order[: max(1, int(round(config.keep_fraction * len(candidates))))]
    rows = []
    for position in sorted(keep.tolist()):
        if not np.isfinite(scan_energies[position]):
            rows.append({"source": candidates[position].source, "status": "screen_failed"})
            continue
        t0 = time.perf_counter()
        try:
            relaxed = _relax(screened[position], config.fmax, config.max_steps, config.pressure_gpa)
        except Exception as error:  # recorded, never silently dropped
            rows.append({"source": candidates[position].source, "status": f"relax_failed: {error}"})
            continue
        rows.append(
            {
                "source": candidates[position].source,
                "status": "ok",
                "structure": relaxed["structure"].as_dict(),
                "energy_per_atom": relaxed["energy_per_atom"],
                "max_force": relaxed["max_force"],
                "steps": relaxed["steps"],
                "converged": relaxed["converged"],
                "relax_seconds": round(time.perf_counter() - t0, 2),
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with gzip.open(partial, "wt") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.write(json.dumps({"shard_seconds": round(time.perf_counter() - started, 1), "pid": os.getpid()}) + "\n")
    partial.rename(path)
    return path


def read_shards(root: Path, subset: str) -> list[dict]:
    """Every row of every finished shard of a subset, in shard order (footer lines skipped)."""
    rows = []
    for path in sorted((Path(root) / subset).glob("shard_*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            for line in handle:
                row = json.loads(line)
                if "status" in row:
                    row["shard"] = path.name
                    rows.append(row)
    return rows


# ----------------------------------------------------------------- references
_ELEMENT_PROTOTYPES = {
    # name: (lattice builder from a length, fractional coordinates)
    "fcc": (lambda a: Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), [[0, 0, 0]]),
    "bcc": (lambda a: Lattice([[-a / 2, a / 2, a / 2], [a / 2, -a / 2, a / 2], [a / 2, a / 2, -a / 2]]), [[0, 0, 0]]),
    "hcp": (lambda a: Lattice.hexagonal(a, a * 1.633), [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]),
    "sc": (lambda a: Lattice.cubic(a), [[0, 0, 0]]),
    "diamond": (
        lambda a: Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]),
        [[0, 0, 0], [0.25, 0.25, 0.25]],
    ),
}


def elemental_references(elements: list[str], extra: dict[str, list[Structure]] | None = None) -> dict[str, dict]:
    """CHGNet reference energy (eV/atom) of each element: the lowest of a few simple phases.

    For every element we try fcc, bcc, hcp, simple cubic, diamond and a dimer in
    a 12 Å box (for the gases), scan each over size, relax the best two with
    CHGNet, and keep the lowest energy per atom. Elements whose real ground
    state is more complex (P, S, B, Ga, ...) get an upper bound; ``extra`` lets
    the build add known phases (e.g. graphite for carbon).
    """
    from pymatgen.core import Element

    references = {}
    for symbol in elements:
        radius = Element(symbol).atomic_radius or 1.5
        trials, labels = [], []
        for name, (make_lattice, coords) in _ELEMENT_PROTOTYPES.items():
            nearest = {"fcc": 2**0.5, "bcc": 2 / 3**0.5, "hcp": 1.0, "sc": 1.0, "diamond": 4 / 3**0.5}[name]
            for factor in (0.85, 0.95, 1.05, 1.15):
                length = 2 * radius * factor * nearest
                trials.append(Structure(make_lattice(length), [symbol] * len(coords), coords))
                labels.append(name)
        for factor in (0.8, 0.9, 1.0, 1.1, 1.3):
            bond = 2 * radius * factor  # Å
            trials.append(Structure(Lattice.cubic(12.0), [symbol, symbol], [[0, 0, 0], [bond / 12.0, 0, 0]]))
            labels.append("dimer")
        for structure in (extra or {}).get(symbol, []):
            trials.append(structure)
            labels.append("extra")
        energies = _energies(trials)
        best = {}
        for label, structure, energy in zip(labels, trials, energies):
            if np.isfinite(energy) and (label not in best or energy < best[label][1]):
                best[label] = (structure, energy)
        ranked = sorted(best.items(), key=lambda item: item[1][1])[:2]
        results = []
        for label, (structure, _) in ranked:
            try:
                relaxed = _relax(structure, 0.05, 300)
                results.append((relaxed["energy_per_atom"], label))
            except Exception:
                continue
        if not results:
            raise RuntimeError(f"No reference phase of {symbol} could be relaxed with CHGNet.")
        energy, label = min(results)
        references[symbol] = {"energy_per_atom": energy, "phase": label}
    return references
