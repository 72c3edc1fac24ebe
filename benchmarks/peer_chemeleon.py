"""Peer CSP benchmark: train chemeleon-dng's DiffCSP-style diffusion from scratch on our split.

A side-by-side companion to ``benchmarks/csp.py``. It trains the CSP model
of the PyPI package ``chemeleon-dng`` (Park, Onwuli & Walsh, Nat. Commun.
16, 2025; its network is DiffCSP's CSPNet, Jiao et al., NeurIPS 2023) on the
*same* seeded 90 % of an upstream-format CSV, for a wall-clock budget, then
samples every held-out composition k times and writes the samples in the
upstream CSV format so that crystalkit's own evaluator scores them::

    crystalkit evaluate --generated FILE_final.csv --targets /tmp/peer_run/targets.csv --k 1

The peer is an optional benchmark dependency, never a runtime one: run this
file with the interpreter of a separate environment that has
``torch==2.13.0 chemeleon-dng`` installed (crystalkit is *not* imported).

What is the peer's and what is ours:

* data: each training structure goes through the package's own
  preprocessing (``MPDataset``: Niggli reduction, lattice re-built from its
  parameters, ``pmg_structure_to_pyg_data``) and its torch-geometric
  ``DataLoader`` (shuffled). We pre-compute the per-structure graphs once
  instead of parsing CIFs inside every step (upstream hides that cost behind
  8 loader workers; we have one core).
* model and loss: ``chemeleon_dng.script_util.create_diffusion_module``
  (a ``DiffusionModule`` LightningModule holding a ``CSPNet``, a cosine-beta
  DDPM on the lattice matrix and a wrapped-normal score-matching diffusion on
  fractional coordinates); the loss is its ``calculate_loss``.
* hyper-parameters: the upstream training config (``configs/base.yaml`` and
  ``configs/train_diffusion.yaml`` of github.com/hspark1212/chemeleon-dng,
  not shipped in the wheel): hidden 512, time embedding 256, 6 layers,
  128 distance frequencies, 256 diffusion steps, sigma 0.005-0.5,
  batch 256, Adam lr 1e-3 without weight decay, gradient values clipped at
  0.5, ReduceLROnPlateau(patience 30 validations, one every 5 epochs).
* optimisation loop: ours, written to mirror the Lightning configuration
  above (so we can stop on wall-clock time and snapshot models at given
  minutes). The plateau scheduler cannot act before 150 epochs (30 checks x
  5 epochs) of non-improving validation loss, far beyond these budgets, so a
  constant learning rate is exactly what Lightning would use here.
* sampling: ``DiffusionModule.sample(task="csp", ...)``, its default
  predictor-corrector with 256 steps (2 network calls each) and
  ``step_lr=1e-5``; all targets are sampled in one batch.

Usage (defaults mirror ``benchmarks/csp.py``)::

    /work/peer-venv/bin/python benchmarks/peer_chemeleon.py --data /work/shared/data/perov_5/val.csv \\
        --minutes 5 --checkpoints-at 1 --max-targets 200 --k 1 --out-samples /tmp/peer_run/peer.csv

writes ``peer_at1min.csv`` and ``peer_final.csv`` next to ``--out-samples``,
the targets to ``--targets-out`` and a JSON summary to ``--out`` (optional).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np

# Upstream training configuration (configs/base.yaml + configs/train_diffusion.yaml, task "csp").
MODEL_CONFIG = {"hidden_dim": 512, "time_dim": 256, "num_layers": 6, "max_atoms": 100, "act_fn": "silu",
                "dis_emb": "sin", "num_freqs": 128, "ln": True, "ip": True, "smooth": False, "cond_dim": 0,
                "pred_atom_types": False}
OPTIMIZER_CONFIG = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "scheduler": "reduce_on_plateau",
                    "patience": 30, "early_stopping": 500, "warmup_steps": 0}
DIFFUSION_CONFIG = {"num_timesteps": 256, "beta_schedule_ddpm": "cosine", "beta_schedule_d3pm": "reciprocal",
                    "max_atoms": 100, "d3pm_hybrid_coeff": 0.1, "sigma_begin": 0.005, "sigma_end": 0.5}
BATCH_SIZE = 256
GRADIENT_CLIP_VALUE = 0.5
STEP_LR = 1e-5  # DiffusionModule.sample default


def read_upstream_csv(path: str):
    """Return (frame, structures) of an upstream CSV, structures in file order (as csp.py reads them)."""
    import pandas as pd
    from pymatgen.core import Structure

    frame = pd.read_csv(path, index_col=0)
    structures = [Structure.from_str(cif, fmt="cif") for cif in frame["cif"]]
    return frame, structures


def to_peer_graph(structure):
    """The package's own preprocessing (MPDataset.__getitem__ without the CSV read)."""
    from chemeleon_dng.dataset.dataset_util import pmg_structure_to_pyg_data
    from pymatgen.core import Lattice, Structure

    reduced = structure.get_reduced_structure()
    canonical = Structure(lattice=Lattice.from_parameters(*reduced.lattice.parameters), species=reduced.species,
                          coords=reduced.frac_coords, coords_are_cartesian=False)
    return pmg_structure_to_pyg_data(canonical, cond=None)


def atoms_to_structure(atoms):
    """ASE Atoms (what the sampler returns) -> pymatgen Structure, fractional coordinates kept."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(np.asarray(atoms.cell[:], dtype=float)), atoms.get_atomic_numbers().tolist(),
                     atoms.get_scaled_positions(wrap=True), coords_are_cartesian=False)


def sample_targets(module, targets, k: int, seed: int, batch_size: int | None):
    """k samples per target composition (the target cell's atoms), in target order."""
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed)
    jobs = [target for target in targets for _ in range(k)]
    batch_size = batch_size or len(jobs)
    structures = []
    module.eval()
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        atom_types = [int(z) for target in chunk for z in target.atomic_numbers]
        num_atoms = [len(target) for target in chunk]
        atoms_list = module.sample(task="csp", num_atoms=num_atoms, atom_types=atom_types, step_lr=STEP_LR,
                                   verbose=False)
        structures.extend(atoms_to_structure(atoms) for atoms in atoms_list)
    module.train()
    return structures


def write_samples(path: Path, structures, material_ids) -> None:
    import pandas as pd

    cifs = []
    for structure in structures:
        try:
            cifs.append(structure.to(fmt="cif"))
        except ValueError:  # a degenerate lattice: keep the row, the evaluator counts it as invalid
            cifs.append("")
    pd.DataFrame({"material_id": list(material_ids), "cif": cifs}).to_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="upstream-format CSV (e.g. /work/shared/data/perov_5/val.csv)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget (wall clock)")
    parser.add_argument("--checkpoints-at", type=float, nargs="*", default=[1.0, 5.0, 15.0],
                        help="also sample the model at these minutes of training (those within the budget)")
    parser.add_argument("--k", type=int, default=1, help="samples per target")
    parser.add_argument("--max-targets", type=int, default=None, help="use only the first N held-out targets")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the training and the sampling")
    parser.add_argument("--train-fraction", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="training batch (upstream: 256)")
    parser.add_argument("--sample-batch-size", type=int, default=None, help="crystals per sampling batch (all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-samples", type=Path, required=True,
                        help="samples CSV stem: writes STEM_at<M>min.csv and STEM_final.csv")
    parser.add_argument("--targets-out", type=Path, default=Path("/tmp/peer_run/targets.csv"))
    parser.add_argument("--out", type=Path, default=None, help="write a JSON summary here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from chemeleon_dng.script_util import create_diffusion_module
    from torch_geometric.loader import DataLoader

    clock = time.perf_counter()
    frame, structures = read_upstream_csv(args.data)
    order = np.random.default_rng(args.seed).permutation(len(structures))
    n_train = round(args.train_fraction * len(structures))
    held_out = order[n_train:]
    if args.max_targets is not None:
        held_out = held_out[: args.max_targets]
    targets = [structures[i] for i in held_out]
    target_ids = [str(frame["material_id"].iloc[i]) for i in held_out]
    args.targets_out.parent.mkdir(parents=True, exist_ok=True)
    frame.iloc[held_out].to_csv(args.targets_out)  # the original rows, CIF text untouched
    graphs = [to_peer_graph(structures[i]) for i in order[:n_train]]
    print(f"{args.data}: {len(structures)} structures, {len(graphs)} training, {len(targets)} targets, "
          f"seed {args.seed}; read + preprocessed in {time.perf_counter() - clock:.0f} s", flush=True)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # the module draws diffusion times with numpy
    module = create_diffusion_module(task="csp", model_configs=dict(MODEL_CONFIG),
                                     optimizer_configs=dict(OPTIMIZER_CONFIG), **DIFFUSION_CONFIG)
    parameters = sum(p.numel() for p in module.parameters())
    optimizer = torch.optim.Adam(module.parameters(), lr=OPTIMIZER_CONFIG["lr"],
                                 weight_decay=OPTIMIZER_CONFIG["weight_decay"])
    loader = DataLoader(graphs, batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    marks = sorted(m for m in args.checkpoints_at if m < args.minutes)
    snapshots: list[tuple[str, float, int, dict]] = []
    budget = 60 * args.minutes
    steps, losses = 0, []
    module.train()
    start = time.perf_counter()
    cpu_start = time.process_time()
    done = False
    while not done:
        for batch in loader:
            loss = module.calculate_loss(batch)["total_loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_value_(module.parameters(), GRADIENT_CLIP_VALUE)
            optimizer.step()
            steps += 1
            losses.append(float(loss))
            elapsed = time.perf_counter() - start
            while marks and elapsed >= 60 * marks[0]:
                minutes = marks.pop(0)
                snapshots.append((f"at{minutes:g}min", elapsed / 60, steps, copy.deepcopy(module.state_dict())))
                print(f"  snapshot at {elapsed / 60:.2f} min, step {steps}, "
                      f"mean loss of last 50 steps {np.mean(losses[-50:]):.3f}", flush=True)
            if elapsed >= budget:
                done = True
                break
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    # A copy: state_dict() holds references, and loading an earlier snapshot below would overwrite it.
    snapshots.append(("final", seconds / 60, steps, copy.deepcopy(module.state_dict())))
    print(f"trained chemeleon-dng CSP ({parameters / 1e6:.2f} M parameters): {steps} steps in {seconds:.0f} s wall, "
          f"{cpu_seconds:.0f} s CPU ({steps / seconds:.2f} steps/s), batch {args.batch_size}, "
          f"final loss {np.mean(losses[-50:]):.3f}, device cpu, {torch.get_num_threads()} thread(s)", flush=True)

    rows = []
    stem = args.out_samples.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    for label, _, step, state in snapshots:  # kept so that a model can be re-sampled later
        torch.save({"step": step, "state_dict": state}, stem.parent / f"{stem.name}_{label}.pt")
    for label, minutes, step, state in snapshots:
        module.load_state_dict(state)
        clock = time.perf_counter()
        samples = sample_targets(module, targets, args.k, args.seed, args.sample_batch_size)
        sample_seconds = time.perf_counter() - clock
        path = stem.parent / f"{stem.name}_{label}.csv"
        write_samples(path, samples, [m for m in target_ids for _ in range(args.k)])
        row = {"checkpoint": label, "minutes": round(minutes, 2), "steps": step, "k": args.k,
               "targets": len(targets), "sample_steps": DIFFUSION_CONFIG["num_timesteps"],
               "sample_seconds": round(sample_seconds, 1),
               "structures_per_second": round(len(samples) / sample_seconds, 2), "samples_csv": str(path)}
        rows.append(row)
        print(f"chemeleon {row['minutes']:6.2f} min {step:6d} steps  k={args.k}: {len(samples)} structures in "
              f"{row['sample_seconds']} s ({row['structures_per_second']} structures/s, "
              f"{row['sample_steps']} predictor-corrector steps) -> {path}", flush=True)
    if args.out is not None:
        summary = {"data": args.data, "seed": args.seed, "train_steps": steps, "train_seconds": seconds,
                   "train_cpu_seconds": cpu_seconds, "steps_per_second": steps / seconds,
                   "batch_size": args.batch_size, "parameters": parameters, "threads": torch.get_num_threads(),
                   "device": "cpu", "model": MODEL_CONFIG, "optimizer": OPTIMIZER_CONFIG,
                   "diffusion": DIFFUSION_CONFIG, "rows": rows, "loss_every_50": losses[::50]}
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
