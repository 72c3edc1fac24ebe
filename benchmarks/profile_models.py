"""Where do training and sampling spend their time? A one-off profile of both model families.

Runs a few hundred training steps and one sampling pass of each family on
Perov-5-sized crystals (5 atoms; or ``--data`` for any upstream CSV), split
into phases by wall clock (batch drawing, loss forward, backward, optimizer +
EMA) and then under ``torch.profiler`` to name the operators that dominate.

Usage::

    python benchmarks/profile_models.py --data /work/shared/data/perov_5/val.csv --steps 200 --threads 1

Prints, per family: seconds per step and per phase, and the top operators by
self CPU time for training and for sampling. The figures in
``benchmarks/RESULTS.md`` come from this script.
"""

from __future__ import annotations

import argparse
import time

import torch


def phase_times(model, data, steps: int, batch_size: int) -> dict[str, float]:
    """Mean seconds per step of each phase of the kit's training step (the same calls as ``train``)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    from crystalkit.models import ExponentialMovingAverage

    ema = ExponentialMovingAverage(model, 0.999)
    generator = torch.Generator().manual_seed(0)
    totals = {"batch": 0.0, "forward (loss)": 0.0, "backward": 0.0, "optimizer + EMA": 0.0}
    for step in range(steps + 10):
        marks = [time.perf_counter()]
        batch = data.random_batch(batch_size, generator)
        marks.append(time.perf_counter())
        loss = model.loss(batch)["loss"]
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        ema.update(model)
        marks.append(time.perf_counter())
        if step >= 10:  # skip warm-up
            for key, start, end in zip(totals, marks, marks[1:]):
                totals[key] += (end - start) / steps
    return totals


def top_operators(function, rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        function()
    return profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="upstream CSV; default: the bundled perovskites")
    parser.add_argument("--steps", type=int, default=200, help="training steps timed per family")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sample-crystals", type=int, default=200, help="crystals sampled in the profile")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=12, help="operators listed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from crystalkit.commands.train import build_family
    from crystalkit.data import TensorCrystalDataset, load_dataset, read_structure_csv

    if args.data:
        structures, _ = read_structure_csv(args.data, check=False)
    else:
        structures = load_dataset("perovskites", "train").structures
    data = TensorCrystalDataset.from_structures(structures[:4000])
    compositions = [s.composition for s in structures[: args.sample_crystals]]
    print(f"{len(data)} crystals, batch {args.batch_size}, {torch.get_num_threads()} thread(s)")
    for family in ("diffusion", "flow"):
        model = build_family(family, "csp", False)
        model.fit_data_statistics(data.crystals)
        model.train()
        phases = phase_times(model, data, args.steps, args.batch_size)
        total = sum(phases.values())
        print(f"\n== {family}: training {1 / total:.1f} steps/s ({1000 * total:.1f} ms/step)")
        for name, seconds in phases.items():
            print(f"   {name:16s} {1000 * seconds:7.2f} ms  ({100 * seconds / total:4.1f} %)")

        def some_steps(model=model):
            for _ in range(20):
                loss = model.loss(data.random_batch(args.batch_size))["loss"]
                loss.backward()

        print(f"-- {family}: top operators, 20 training steps (forward + backward)")
        print(top_operators(some_steps, args.rows))
        model.eval()
        steps = model.config.num_steps
        started = time.perf_counter()
        model.sample_batch(compositions, 1, seed=args.seed)
        seconds = time.perf_counter() - started
        print(f"-- {family}: sampling {len(compositions)} crystals x {steps} steps in {seconds:.1f} s "
              f"({len(compositions) / seconds:.1f} structures/s)")
        print(top_operators(lambda model=model: model.sample_batch(compositions[:50], 1, seed=args.seed), args.rows))


if __name__ == "__main__":
    main()
