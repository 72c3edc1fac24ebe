"""De novo benchmark: every family that invents crystals, trained and scored on one bundled set.

Each family is trained from scratch on the bundled set's training split for
the same wall-clock budget (issue 4's protocol: 10 minutes, seed 0), then
invents ``--samples`` crystals, scored with the kit's de novo panel against
the set's test split (coverage) and training split (novelty):

* validity (the published rule, SMACT-14), COV-R / COV-P (the cut-offs of
  MP-20 for the inorganic set), uniqueness and novelty
  (:func:`crystalkit.metrics.dng.dng_metrics`);
* S.U.N. on the first ``--sun-samples`` of them, with energies above the
  kit's hull from CHGNet after at most ``--sun-relax-steps`` FIRE steps;
* sampling speed in structures per second.

Diffusion, the language model, the GFlowNet, the VAE (which reads the atom
count and the formula off its latent, as CDVAE does) and the GAN (which draws
each atom's element by a straight-through Gumbel-max choice) invent crystals
themselves. Flow matching and the normalizing flow are CSP models in this
kit: they are trained for CSP on the same split and invent crystals
composition first (:class:`crystalkit.sampling.CompositionFirst`: a cell
composition drawn from the training split, then the model's crystal for it),
so their samples can be novel structures but never novel compositions. The
"route" field of each result says which way a row was made.

The GFlowNet is the exception to "same data": it builds five-atom ABX3 cells,
so it learns its reward (formation energy per atom) on the bundled
perovskites, and its coverage of the inorganic set is low by construction.
The two baselines (random symmetric crystals from PyXtal, and the template
that copies training crystals) are fitted on the same training split.

Every family's result is written to ``--out`` as soon as it is scored, and a
family already there is skipped, so an interrupted run carries on where it
stopped. Each trained model is kept in ``--workdir`` with its training record
beside it (``<checkpoint>.json``); ``--reuse-checkpoints`` scores those again
without training (to rescore with a changed metric into a new ``--out``).
Usage::

    python benchmarks/denovo.py --dataset inorganic --minutes 10 --samples 200 --sun-samples 40 \\
        --out benchmark_runs/denovo_inorganic.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

#: The families that invent crystals themselves (``crystalkit train --task de_novo``).
DENOVO_FAMILIES = ("diffusion", "lm", "gfn", "vae", "gan")
#: The CSP-only families, which invent crystals composition first.
CSP_ONLY_FAMILIES = ("flow", "nf")
BASELINES = ("random", "template")


def trained_model(family: str, args, workdir: Path):
    """A ``family`` model trained for the budget (or reused); returns (model, record of what the training did).

    A CSP-only family is trained for CSP and returned as is: the caller draws its compositions."""
    from crystalkit.capstone import train_family

    checkpoint = workdir / f"{args.dataset}_{family}_seed{args.seed}.pt"
    record_path = checkpoint.with_suffix(".json")
    if args.reuse_checkpoints and checkpoint.exists() and record_path.exists():  # no data, no fresh model
        from crystalkit.models import load_checkpoint

        model, _ = load_checkpoint(checkpoint)  # the EMA weights, as train() leaves them
        record = json.loads(record_path.read_text())
        print(f"{family}: reused {checkpoint} ({record['steps']} steps), not trained", flush=True)
        return model, record
    task = "csp" if family in CSP_ONLY_FAMILIES else "de_novo"
    trained = train_family(family, task, args.dataset, seed=args.seed,
                           max_steps=args.max_steps, max_minutes=None if args.max_steps else args.minutes,
                           checkpoint_path=str(checkpoint), max_length=args.max_length if family == "lm" else None)
    record = {"trained_on": trained.trained_on, "task": task, "train_crystals": trained.train_crystals,
              "steps": trained.steps, "train_seconds": round(trained.seconds, 1),
              "train_cpu_seconds": round(trained.cpu_seconds, 1), "checkpoint": str(checkpoint)}
    record_path.write_text(json.dumps(record, indent=2))
    print(f"{family}: {trained.steps} steps in {trained.seconds:.0f} s wall, {trained.cpu_seconds:.0f} s CPU",
          flush=True)
    return trained.model, record


def baseline(name: str, train_structures, seed: int):
    """The capstone's fitted baseline ``name`` (``"random"`` or ``"template"``) and what fitting it cost."""
    from crystalkit.capstone import baseline_contenders

    (row,) = [c for c in baseline_contenders(train_structures, seed) if c.family == name]
    return row.denovo, {"trained_on": "fitted", "train_seconds": round(row.train_seconds, 2)}


ROW_NAMES = {"random": "random symmetric (PyXtal)", "template": "template (copies training crystals)",
             "diffusion": "diffusion", "lm": "language model", "gfn": "GFlowNet", "flow": "flow matching",
             "vae": "VAE", "gan": "GAN", "nf": "normalizing flow"}


def markdown_table(results: dict, dataset: str) -> str:
    """The results as one markdown table, rates in per cent, S.U.N. with its 95 % Wilson interval."""

    def rate(value) -> str:
        return "-" if value is None else f"{100 * value:.1f}"

    lines = [("| family | route | trained (steps, CPU s) | valid % | COV-R % | COV-P % | unique % | novel % "
             "| S.U.N. % (95 % interval, n) | structures/s |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for family, r in results.items():
        route = "baseline" if family in BASELINES else r["route"]
        trained = f"{r['steps']:,} steps, {r['train_cpu_seconds']:.0f} s" if "steps" in r else "fitted"
        if "steps" in r and r["trained_on"] != r.get("dataset", dataset):
            trained += f", on {r['trained_on']}"
        sun = r["sun"]
        sun_text = (f"{100 * sun['estimate']:.1f} ({100 * sun['low']:.1f}-{100 * sun['high']:.1f}, "
                    f"{r['n_sun_scored']})" if sun else "-")
        lines.append(f"| {ROW_NAMES.get(family, family)} | {route} | {trained} | "
                     f"{rate(r['valid'])} | {rate(r['cov_recall'])} | {rate(r['cov_precision'])} | "
                     f"{rate(r['unique'])} | {rate(r['novel'])} | {sun_text} | {r['structures_per_second']:,.1f} |")
    return "\n".join(lines)


def interval_dict(interval) -> dict | None:
    if interval is None:
        return None
    return {"estimate": interval.estimate, "low": interval.low, "high": interval.high}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="inorganic", help="bundled set to learn and score on")
    parser.add_argument("--families", nargs="+", default=[*BASELINES, *DENOVO_FAMILIES, *CSP_ONLY_FAMILIES],
                        choices=[*BASELINES, *DENOVO_FAMILIES, *CSP_ONLY_FAMILIES])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per family (wall clock)")
    parser.add_argument("--max-steps", type=int, default=None, help="a step budget instead of minutes")
    parser.add_argument("--samples", type=int, default=200, help="crystals each family invents")
    parser.add_argument("--sun-samples", type=int, default=40, help="of those, how many get a CHGNet energy")
    parser.add_argument("--sun-relax-steps", type=int, default=100, help="FIRE steps before the energy (0: none)")
    parser.add_argument("--max-length", type=int, default=None, help="the language model's context in tokens")
    parser.add_argument("--lm-temperature", type=float, default=0.7)
    parser.add_argument("--gfn-temperature", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the training and the sampling")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: the machine is shared)")
    parser.add_argument("--workdir", type=Path, default=Path("benchmark_runs"), help="where checkpoints go")
    parser.add_argument("--out", type=Path, required=True, help="JSON of the results (read back to resume)")
    parser.add_argument("--reuse-checkpoints", action="store_true",
                        help="load a family's model from --workdir (with its training record) instead of training")
    parser.add_argument("--table", action="store_true", help="print the results in --out as a markdown table, "
                        "train nothing")
    args = parser.parse_args(argv)
    if args.table:
        if not args.out.exists():
            parser.error(f"--table reads {args.out}, which does not exist yet: run the benchmark first.")
        print(markdown_table(json.loads(args.out.read_text()), args.dataset))
        return

    import torch

    from crystalkit.capstone import score_denovo
    from crystalkit.data import load_dataset
    from crystalkit.sampling import CompositionFirst

    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    test, train = load_dataset(args.dataset, "test"), load_dataset(args.dataset, "train")
    options = {"lm": {"temperature": args.lm_temperature}, "gfn": {"temperature": args.gfn_temperature}}
    for family in args.families:
        if family in results:
            print(f"{family}: already scored in {args.out}, skipped", flush=True)
            continue
        if family in BASELINES:
            generator, record = baseline(family, train.structures, args.seed)
            record["route"] = "baseline"
        else:
            generator, record = trained_model(family, args, args.workdir)
            record["route"] = "composition first" if family in CSP_ONLY_FAMILIES else "native"
            if family in CSP_ONLY_FAMILIES:
                generator = CompositionFirst.from_structures(generator, train.structures)
        clock = time.perf_counter()
        scores = score_denovo(generator, test.structures, train.structures, args.samples, dataset=args.dataset,
                              seed=args.seed, sun_samples=args.sun_samples, sun_relax_steps=args.sun_relax_steps,
                              sample_options=options.get(family))
        record.update({key: scores[key] for key in ("valid", "cov_recall", "cov_precision", "unique", "novel",
                                                    "n_generated", "n_sun_scored")})
        record["sun"] = interval_dict(scores["sun"])
        record["structures_per_second"] = scores["n_generated"] / scores["sample_seconds"]
        record["score_seconds"] = round(time.perf_counter() - clock, 1)
        record.update(dataset=args.dataset, samples=args.samples, sun_relax_steps=args.sun_relax_steps, seed=args.seed,
                      threads=args.threads, machine=f"{platform.machine()}, {platform.processor() or 'cpu'}")
        results[family] = record
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        sun = record["sun"]
        sun_text = (f"S.U.N. {sun['estimate']:.1%} ({sun['low']:.1%}-{sun['high']:.1%}) of {record['n_sun_scored']}"
                    if sun else "S.U.N. not scored")
        print(f"{family}: valid {record['valid']:.1%}, COV-R {record['cov_recall'] or 0:.1%}, "
              f"COV-P {record['cov_precision'] or 0:.1%}, unique {record['unique']:.1%}, novel {record['novel']:.1%}, "
              f"{sun_text}, {record['structures_per_second']:.1f} structures/s, "
              f"scored in {record['score_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
