"""What the KV cache buys: the language model's sampling speed with and without it.

A Transformer predicts token ``t+1`` from tokens ``0..t``. Sampling without a
cache feeds the whole stream again at every step, so writing a ``T``-token
crystal costs ``~T^2/2`` position passes; with a cache (each block keeps the
keys and values of the positions it has seen) every step passes one position,
``~T`` in all. On the kit's ~250-token inorganic cells that is the difference
between minutes and seconds for a few hundred samples. Both paths write the
same streams (tests/test_models_language.py checks it).

Usage::

    python benchmarks/lm_sampling.py --checkpoint path/to/lm.pt --samples 200 --threads 1
    python benchmarks/lm_sampling.py --samples 50   # an untrained de novo model of the default size

Prints, for each path: wall and CPU seconds, structures per second, the mean
stream length in tokens and how many streams parse.
"""

from __future__ import annotations

import argparse
import time

import torch


def time_generation(model, samples: int, seed: int, temperature: float, kv_cache: bool) -> dict:
    """Seconds and rates of one de novo ``model.generate`` call of ``samples`` streams."""
    wall, cpu = time.perf_counter(), time.process_time()
    streams = model.generate(None, samples, seed=seed, temperature=temperature, kv_cache=kv_cache)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"kv_cache": kv_cache, "wall_s": wall, "cpu_s": cpu, "per_second": samples / wall,
            "mean_tokens": sum(len(s.tokens) for s in streams) / samples, "parsed": sum(s.ok for s in streams),
            "tokens": [s.tokens for s in streams]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a trained language model (default: an untrained one)")
    parser.add_argument("--samples", type=int, default=200, help="streams per timing")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: the machine is shared)")
    parser.add_argument("--skip-uncached", action="store_true", help="time only the cached path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from crystalkit.models import load_checkpoint
    from crystalkit.models.language import build_language_model

    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        torch.manual_seed(args.seed)
        model = build_language_model("de_novo").eval()
    print(f"model: {args.checkpoint or 'untrained de novo'}, max_length {model.config.max_length}, "
          f"{args.samples} samples, T = {args.temperature}, {args.threads} thread(s)")
    runs = [time_generation(model, args.samples, args.seed, args.temperature, kv_cache=True)]
    if not args.skip_uncached:
        runs.append(time_generation(model, args.samples, args.seed, args.temperature, kv_cache=False))
    for run in runs:
        print(f"kv_cache={run['kv_cache']!s:5}  wall {run['wall_s']:7.1f} s  CPU {run['cpu_s']:7.1f} s  "
              f"{run['per_second']:6.2f} structures/s  mean {run['mean_tokens']:.0f} tokens  "
              f"{run['parsed']}/{args.samples} parse")
    if len(runs) == 2:
        print(f"speed-up {runs[1]['wall_s'] / runs[0]['wall_s']:.1f}x; same streams: "
              f"{runs[0]['tokens'] == runs[1]['tokens']}")


if __name__ == "__main__":
    main()
