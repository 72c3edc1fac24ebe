"""``crystalkit sample``: sample structures from a trained checkpoint into a CSV.

::

    crystalkit sample --checkpoint CKPT --compositions TARGETS.csv --samples K --out SAMPLES.csv

CSP: for every row of TARGETS (upstream format), K structures with that row's
composition and atom count; each sample keeps its target's ``material_id``, so
``crystalkit evaluate --generated SAMPLES.csv --targets TARGETS.csv`` scores
them. De novo models: leave out ``--compositions`` to get K new crystals.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crystalkit.errors import CrystalInputError

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sample`` parser."""
    parser = subparsers.add_parser(
        "sample",
        help="sample structures from a trained model checkpoint",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint written by crystalkit train")
    parser.add_argument("--compositions", type=Path, default=None,
                        help="CSV of targets (upstream format); omit for de novo models")
    parser.add_argument("--samples", type=int, default=1, help="structures per target (de novo: in total)")
    parser.add_argument("--out", required=True, type=Path, help="CSV to write (upstream format)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=2048, help="crystals sampled together (default 2048)")
    parser.add_argument("--condition", type=float, default=None, help="property value to aim for (conditional models)")
    parser.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance scale (default 0)")
    parser.add_argument("--weights", choices=("ema", "raw"), default="ema", help="EMA (default) or raw weights")
    parser.add_argument("--device", default="auto", help="auto (default: GPU if any), cpu, cuda ...")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Sample and write the CSV; returns the exit status."""
    import time

    import pandas as pd
    import torch

    from crystalkit.data import read_structure_csv, write_structure_csv
    from crystalkit.models import load_checkpoint
    from crystalkit.models.training import pick_device

    if args.samples < 1:
        raise CrystalInputError(f"--samples must be at least 1, got {args.samples}.")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, checkpoint = load_checkpoint(args.checkpoint, device=device, weights=args.weights)
    print(f"model: {model.family} ({model.config.task}) trained {checkpoint['step']} steps "
          f"({checkpoint['seconds'] / 60:.1f} min); device: {device}")
    if args.compositions is None:
        compositions, ids = None, [f"sample-{i}" for i in range(args.samples)]
    else:
        targets, table = read_structure_csv(args.compositions, check=False)
        compositions = [structure.composition for structure in targets]
        ids = [material_id for material_id in table["material_id"] for _ in range(args.samples)]
    started = time.perf_counter()
    batch = model.sample_batch(compositions, args.samples, seed=args.seed, num_steps=args.steps,
                               condition=args.condition, guidance_scale=args.guidance, batch_size=args.batch_size,
                               progress=not args.quiet)
    seconds = time.perf_counter() - started
    structures = batch.to_structures()
    extra = pd.DataFrame({
        "formula": [s.composition.formula.replace(" ", "") for s in structures],
        "sample": [i % args.samples for i in range(len(structures))] if compositions is not None
        else list(range(len(structures))),
    })
    write_structure_csv(args.out, structures, ids, extra)
    steps = args.steps or model.config.num_steps
    print(f"sampled {len(structures)} structures with {steps} steps in {seconds:.1f} s "
          f"({len(structures) / max(seconds, 1e-9):.1f} structures/s) on {device}; wrote {args.out}")
    return 0
