"""CSP benchmark of the kit's generative families: match rate and RMSE against training time.

Trains a model family on a seeded 90 % of an upstream-format CSV for a time
budget, saving checkpoints (EMA weights) along the way, then samples every
held-out composition k times from each checkpoint and scores the samples the
published way (:func:`crystalkit.metrics.csp.csp_metrics`, CDVAE/DiffCSP
validity rule). The split is the one ``benchmarks/baselines_csp.py`` uses, so
the two tables compare directly.

Usage::

    python benchmarks/csp.py --data /work/shared/data/perov_5/val.csv --family flow --minutes 15 \\
        --checkpoints-at 1 5 15 --k 1 20 --max-targets 200

The learning-rate schedule follows the *whole* budget, so the 1- and
5-minute checkpoints of a 15-minute run were taken at a high learning rate;
a run with ``--minutes 5`` gives the better 5-minute model. Prints one row per
(checkpoint, k): minutes, steps, match rate, RMSE, sampling time and
throughput (earlier checkpoints are scored at k = 1 only, the final one at
every ``--k``); ``--out results.json`` also writes them.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

#: The families that predict a structure for a given composition (``crystalkit train --task csp``).
CSP_FAMILIES = ("diffusion", "flow", "vae", "gan", "nf", "lm")


def train_with_marks(args, data, device):
    """Train for the budget, saving checkpoints at ``--checkpoints-at`` minutes.

    Returns ``(result, cpu_seconds, saved, final)``: saved lists (minutes, path) of every checkpoint.
    """
    import torch

    from crystalkit.commands.train import build_family
    from crystalkit.models import TrainConfig, train

    torch.manual_seed(args.seed)
    model = build_family(args.family, "csp", False, args.hidden, args.layers, args.max_length)
    options = {"max_minutes": None if args.max_steps else args.minutes, "max_steps": args.max_steps,
               "seed": args.seed, "device": str(device), "progress": True}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.lr is not None:
        options["learning_rate"] = args.lr
    if args.weight_decay is not None:
        options["weight_decay"] = args.weight_decay
    run_dir = args.workdir / f"{Path(args.data).parent.name}_{args.family}_seed{args.seed}_{args.minutes:g}min"
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / "final.pt"
    config = TrainConfig(**options, checkpoint_path=str(final), checkpoint_every_minutes=1e9)
    marks = sorted(m for m in args.checkpoints_at if args.max_steps or m < args.minutes)
    saved: list[tuple[float, Path]] = []

    def save_at_marks(state) -> None:
        while marks and state.seconds >= 60 * marks[0]:
            minutes = marks.pop(0)
            saved.append((minutes, state.save(run_dir / f"at_{minutes:g}min.pt")))

    cpu_clock = time.process_time()
    result = train(model, data, config=config, callbacks=[save_at_marks] if not args.max_steps else [])
    cpu_seconds = time.process_time() - cpu_clock
    saved.append((result.seconds / 60, final))
    print(f"trained {args.family}: {result.steps} steps in {result.seconds:.0f} s wall, {cpu_seconds:.0f} s CPU "
          f"({result.steps_per_second:.1f} steps/s) on {result.device}, {torch.get_num_threads()} thread(s)")

    return result, cpu_seconds, saved, final


def sampler_settings(args) -> list[tuple[str, int, float, float] | None]:
    """``--flow-samplers`` parsed into (solver, steps, time power, anneal) tuples; ``[None]``: the checkpoint's own."""
    if not args.flow_samplers:
        return [None]
    settings = []
    for spec in args.flow_samplers:
        try:
            solver, steps, power, anneal = spec.split("/")
            settings.append((solver, int(steps), float(power), float(anneal)))
        except ValueError as error:
            raise SystemExit(f"--flow-samplers wants SOLVER/STEPS/POWER/ANNEAL such as heun/5/2/2, got {spec!r}") \
                from error
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="upstream-format CSV (e.g. /work/shared/data/perov_5/val.csv)")
    parser.add_argument("--family", choices=CSP_FAMILIES, default="flow",
                        help="any family that does CSP (the GFlowNet samples de novo only)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget (wall clock)")
    parser.add_argument("--max-steps", type=int, default=None, help="step budget instead of minutes")
    parser.add_argument("--checkpoints-at", type=float, nargs="*", default=[1.0, 5.0, 15.0],
                        help="also evaluate the model at these minutes of training (those within the budget)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 20], help="samples per target to score")
    parser.add_argument("--max-targets", type=int, default=None, help="score only the first N held-out targets")
    parser.add_argument("--target-offset", type=int, default=0,
                        help="skip the first N held-out crystals (e.g. 200: a validation slice for sampler settings, "
                             "disjoint from the first 200 targets)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="score this trained checkpoint instead of training (same split, same targets)")
    parser.add_argument("--max-targets-multi", type=int, default=None,
                        help="cap on targets for k > 1 (sampling and matching k times as many crystals)")
    parser.add_argument("--sample-steps", type=int, default=None, help="sampler steps (default: the family's)")
    parser.add_argument("--flow-samplers", nargs="+", default=None, metavar="SOLVER/STEPS/POWER/ANNEAL",
                        help="flow only: score each sampler setting in turn, e.g. euler/50/1/2 heun/5/2/2 "
                             "(solver, steps, time-grid power, coordinate anneal); default: the checkpoint's own")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the training and the sampling")
    parser.add_argument("--train-fraction", type=float, default=0.9)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None,
                        help="language model only: tokens it can hold (Carbon-24's 24-atom cells need ~285)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: the machine is shared)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--validity", default="published", choices=["published", "structural", "none"])
    parser.add_argument("--n-jobs", type=int, default=1, help="processes for the metric")
    parser.add_argument("--workdir", type=Path, default=Path("benchmark_runs"), help="where checkpoints go")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from crystalkit.data import TensorCrystalDataset, read_structure_csv
    from crystalkit.metrics.csp import csp_metrics
    from crystalkit.models import load_checkpoint
    from crystalkit.models.training import pick_device

    warnings.filterwarnings("ignore")  # pymatgen chatter; failures are counted by the metric
    device = pick_device(args.device)
    clock = time.perf_counter()
    structures, _ = read_structure_csv(args.data, check=False)
    order = np.random.default_rng(args.seed).permutation(len(structures))
    n_train = round(args.train_fraction * len(structures))
    train_structures = [structures[i] for i in order[:n_train]]
    held_out = order[n_train:][args.target_offset:]
    if args.max_targets is not None:
        held_out = held_out[: args.max_targets]
    targets = [structures[i] for i in held_out]
    print(f"{args.data}: {len(structures)} structures read in {time.perf_counter() - clock:.0f} s; "
          f"{len(train_structures)} training, {len(targets)} targets, seed {args.seed}")
    data = TensorCrystalDataset.from_structures(train_structures, device=device)

    if args.checkpoint is None:
        result, cpu_seconds, saved, final = train_with_marks(args, data, device)
    else:
        final = args.checkpoint
        saved = [(float("nan"), final)]
        result, cpu_seconds = None, float("nan")

    rows = []
    for minutes, path, sampler in [(m, p, s) for m, p in saved for s in sampler_settings(args)]:
        trained, checkpoint = load_checkpoint(path, device=device)
        if sampler is not None:
            if trained.family != "flow":
                raise SystemExit("--flow-samplers applies to flow checkpoints only")
            solver, steps, power, anneal = sampler
            trained.set_sampler(solver=solver, time_power=power, coord_anneal=anneal)
            args.sample_steps = steps
        # Earlier checkpoints get k = 1 only (the time-to-quality curve); the final one every k asked for.
        for k in args.k if path == final else [1]:
            count = len(targets) if k == 1 or args.max_targets_multi is None else min(len(targets),
                                                                                        args.max_targets_multi)
            chosen = targets[:count]
            clock = time.perf_counter()
            # The language model has no sampler steps: it decodes its prompt token by token (constrained, the
            # kit's default), and a stream that does not parse stays None, which the metric counts as invalid.
            options = {} if trained.family == "lm" else {"num_steps": args.sample_steps}
            samples = trained.sample([t.composition for t in chosen], num_samples=k, seed=args.seed, **options)
            sample_seconds = time.perf_counter() - clock
            clock = time.perf_counter()
            scores = csp_metrics(samples, chosen, k=k, validity=args.validity, n_jobs=args.n_jobs)
            score_seconds = time.perf_counter() - clock
            row = {
                "family": trained.family, "minutes": round(minutes, 2), "steps": checkpoint["step"], "k": k,
                "targets": count, "match_rate": scores.match_rate, "rmse": scores.rmse,
                "sample_seconds": round(sample_seconds, 1),
                "structures_per_second": round(count * k / max(sample_seconds, 1e-9), 1),
                "score_seconds": round(score_seconds, 1), "device": str(device),
                "sample_steps": args.sample_steps or getattr(trained.config, "num_steps", None),
            }
            if trained.family == "flow":
                from crystalkit.models.flow import function_evaluations

                row.update(solver=trained.config.solver, time_power=trained.config.time_power,
                           coord_anneal=trained.config.coord_anneal,
                           network_calls=function_evaluations(row["sample_steps"], trained.config.solver))
            rows.append(row)
            sampler_note = ("" if "solver" not in row else f"{row['solver']}/{row['sample_steps']}/"
                            f"{row['time_power']:g}/{row['coord_anneal']:g} ({row['network_calls']} calls)  ")
            print(f"{row['family']:9s} {sampler_note}{row['minutes']:6.2f} min {row['steps']:6d} steps  k={k:<3d} "
                  f"match {100 * row['match_rate']:5.1f} %  RMSE {row['rmse']:.4f}  "
                  f"({count} targets, sampling {row['sample_seconds']} s = {row['structures_per_second']} "
                  f"structures/s, scoring {row['score_seconds']} s)", flush=True)
    if args.out is not None:
        summary = {"data": args.data, "seed": args.seed, "target_offset": args.target_offset, "rows": rows,
                   "checkpoint": None if args.checkpoint is None else str(args.checkpoint)}
        if result is not None:
            summary.update(train_steps=result.steps, train_seconds=result.seconds, train_cpu_seconds=cpu_seconds,
                           history=result.history)
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
