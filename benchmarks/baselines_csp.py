"""CSP match rate and RMSE of the two baselines on an upstream benchmark CSV.

The bar every generative model must clear, measured the published way
(:func:`crystalkit.metrics.csp.csp_metrics`, CDVAE/DiffCSP validity rule).
Only the validation split of the public sets is on this machine, so the
script splits it itself: a seeded 90 % is the "training" pool (prototypes for
substitution, space-group statistics and compositions for the random
baseline), the other 10 % are the targets.

Usage::

    python benchmarks/baselines_csp.py --data /work/shared/data/perov_5/val.csv --max-targets 200
    python benchmarks/baselines_csp.py --data /work/shared/data/carbon_24/val.csv --k 1 20

Prints one row per (baseline, k) with match rate, RMSE and the time spent
sampling and scoring; ``--out results.json`` also writes them.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="upstream-format CSV (e.g. /work/shared/data/perov_5/val.csv)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 90/10 split and of the samplers")
    parser.add_argument("--train-fraction", type=float, default=0.9)
    parser.add_argument("--max-targets", type=int, default=None, help="score only the first N held-out targets")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 20], help="samples per target to score")
    parser.add_argument("--baselines", nargs="+", default=["substitution", "random"],
                        choices=["substitution", "random"])
    parser.add_argument("--similarity", default="substitution", choices=["substitution", "chemistry"])
    parser.add_argument("--symprec", type=float, default=0.1, help="tolerance (Å) for training space groups")
    parser.add_argument("--n-jobs", type=int, default=1, help="processes for the metric")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from crystalkit.baselines import PrototypeSubstitutionBaseline, RandomSymmetricBaseline, spacegroup_counts
    from crystalkit.data import read_structure_csv
    from crystalkit.metrics.csp import csp_metrics

    warnings.filterwarnings("ignore")  # pymatgen/pyxtal chatter; every failure is counted explicitly below
    clock = time.perf_counter()
    structures, labels = read_structure_csv(args.data)
    order = np.random.default_rng(args.seed).permutation(len(structures))
    n_train = int(round(args.train_fraction * len(structures)))
    train = [structures[i] for i in order[:n_train]]
    train_ids = [str(labels["material_id"].iloc[i]) for i in order[:n_train]]
    held_out = order[n_train:]
    if args.max_targets is not None:
        held_out = held_out[: args.max_targets]
    targets = [structures[i] for i in held_out]
    compositions = [t.composition for t in targets]
    print(f"{args.data}: {len(structures)} structures read in {time.perf_counter() - clock:.0f} s; "
          f"{len(train)} training, {len(targets)} targets (of {len(structures) - n_train} held out), seed {args.seed}")

    clock = time.perf_counter()
    groups = spacegroup_counts(train, symprec=args.symprec)
    fit_time = time.perf_counter() - clock
    common = ", ".join(f"{g}: {n}" for g, n in groups.most_common(5))
    print(f"training space groups at symprec {args.symprec} Å ({fit_time:.0f} s): {len(groups)} groups, top {common}")
    random_baseline = RandomSymmetricBaseline(groups, training_compositions=[s.composition for s in train])
    generators = {
        "substitution": PrototypeSubstitutionBaseline(
            train, names=train_ids, similarity=args.similarity, fallback=random_baseline
        ),
        "random": random_baseline,
    }

    k_max = max(args.k)
    rows = []
    for name in args.baselines:
        clock = time.perf_counter()
        samples = generators[name].sample(compositions, num_samples=k_max, seed=args.seed)
        sample_time = time.perf_counter() - clock
        notes = _provenance(samples)
        print(f"{name}: {len(targets) * k_max} samples in {sample_time:.0f} s ({notes})")
        for k in sorted(args.k):
            clock = time.perf_counter()
            result = csp_metrics([s[:k] for s in samples], targets, k=k, validity="published", n_jobs=args.n_jobs,
                                 progress=False)
            rows.append({
                "dataset": Path(args.data).parent.name or args.data,
                "baseline": name,
                "k": k,
                "match_rate": result.match_rate,
                "rmse": result.rmse,
                "n_targets": result.n_targets,
                "n_matched": result.n_matched,
                "sample_s": sample_time * k / k_max,
                "metric_s": time.perf_counter() - clock,
                "notes": notes,
            })
            print(f"  k={k}: match rate {100 * result.match_rate:.1f} %, RMSE {result.rmse:.4f} "
                  f"({rows[-1]['metric_s']:.0f} s to score)")

    print()
    print(f"{'dataset':<10} {'baseline':<13} {'k':>3} {'match %':>8} {'RMSE':>7} {'targets':>7} "
          f"{'sample s':>9} {'score s':>8}")
    for row in rows:
        print(f"{row['dataset']:<10} {row['baseline']:<13} {row['k']:>3} {100 * row['match_rate']:>8.2f} "
              f"{row['rmse']:>7.4f} {row['n_targets']:>7} {row['sample_s']:>9.1f} {row['metric_s']:>8.1f}")
    print("(sample s for k < max k is the pro-rata share of one k_max sampling run)")
    if args.out is not None:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))


def _provenance(samples) -> str:
    """How the crystals were made: prototype fallbacks and P1 fallbacks, counted."""
    properties = [crystal.properties for crystals in samples for crystal in crystals]
    fallbacks = sum(bool(p.get("fallback")) for p in properties)
    groups = Counter(p.get("spacegroup") for p in properties if p.get("generator") == "random_symmetric")
    parts = []
    if any(p.get("generator") == "prototype_substitution" for p in properties):
        supercells = sum(p.get("supercell", 1) > 1 for p in properties)
        parts.append(f"{fallbacks} from the random fallback, {supercells} prototype supercells")
    if groups:
        parts.append(f"{groups.get(1, 0)} of {sum(groups.values())} random crystals in P1")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
