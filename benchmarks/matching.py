"""How much faster is crystalkit.metrics than the plain loops of the published scripts? Same answers?

Three workloads, each timed cold (caches cleared) for the kit (1 process
and ``--jobs`` processes) and for a plain loop, with an assertion that both
give the same answers:

1. CSP, published protocol: the plain loop does what the CDVAE / DiffCSP
   scripts do: validity of every crystal (distances, SMACT, CrystalNN
   fingerprint), then ``StructureMatcher.get_rms_dist`` for every valid
   pair, best over the k samples.
2. CSP, matching only (``validity="none"``): a plain ``get_rms_dist`` loop.
3. Novelty: ``any(matcher.fit(query, reference) for reference in references)``.

Predictions are the targets rewritten (rotated, shifted, permuted, doubled
cell) and rattled by a random amount, so some match and some do not.

    python benchmarks/matching.py --data /work/shared/data/perov_5/val.csv --n 200 --k 1 5
    python benchmarks/matching.py            # synthetic perovskites and rock salts, no files

Data files are for benchmarks only; the tests never read them.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import time
import warnings

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from crystalkit.metrics import (
    STANDARD_MATCHER,
    STRICT_MATCHER,
    check_validity,
    clear_fingerprint_cache,
    csp_metrics,
    first_matches,
)
from crystalkit.metrics import validity as validity_module
from crystalkit.metrics.examples import cubic_perovskite, equivalent_copy, rattle, rock_salt


def load_targets(path: str | None, n: int, seed: int) -> list[Structure]:
    """``n`` structures from an upstream CSV, or synthetic ones built in code."""
    if path:
        import pandas as pd

        frame = pd.read_csv(path, nrows=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [Structure.from_str(cif, fmt="cif") for cif in frame["cif"]]
    rng = np.random.default_rng(seed)
    a_sites, b_sites = ["Sr", "Ba", "Ca", "Pb", "K", "Na"], ["Ti", "Zr", "Nb", "Ta", "Sn", "Hf"]
    out = []
    for i in range(n):
        if i % 3 == 2:
            cation, anion = ["Na", "K", "Li"][(i // 3) % 3], ["Cl", "F", "Br"][i % 4 % 3]
            out.append(rock_salt(a=5.0 + rng.random(), cation=cation, anion=anion))
        else:
            a_site, b_site = a_sites[i % 6], b_sites[(i // 6) % 6]
            out.append(cubic_perovskite(a=3.8 + 0.3 * rng.random(), a_site=a_site, b_site=b_site))
    return out


def make_predictions(targets: list[Structure], k: int, seed: int) -> list[list[Structure]]:
    """k rewritten and rattled copies per target (Gaussian rattle of 0.02-1.2 Å per axis: about half match)."""
    rng = np.random.default_rng(seed)
    predicted = []
    for i, target in enumerate(targets):
        samples = []
        for j in range(k):
            copy = equivalent_copy(target, seed=int(rng.integers(1 << 30)), supercell=(1, 1, 1 + (j % 2)))
            samples.append(rattle(copy, float(rng.uniform(0.02, 1.2)), seed=int(rng.integers(1 << 30))))
        predicted.append(samples)
    return predicted


def clear_caches() -> None:
    StructureMatcher._get_reduced_istructure.cache_clear()
    validity_module._smact_valid.cache_clear()
    clear_fingerprint_cache()


def plain_published(predicted, targets, k):
    """The published protocol as a plain loop (DiffCSP RecEval at k = 1, RecEvalBatch at k > 1)."""
    matcher = StructureMatcher(**STANDARD_MATCHER)
    best = []
    for samples, target in zip(predicted, targets):
        target_valid = check_validity(target, fingerprint=True).valid  # the scripts build every crystal's fingerprint
        values = []
        for sample in samples:
            if not check_validity(sample, fingerprint=True).valid or (k == 1 and not target_valid):
                continue
            try:
                result = matcher.get_rms_dist(sample, target)
            except Exception:  # noqa: BLE001 -- as the published loop
                result = None
            if result is not None:
                values.append(result[0])
        best.append(min(values) if values else None)
    return best


def plain_matching(predicted, targets):
    matcher = StructureMatcher(**STANDARD_MATCHER)
    best = []
    for samples, target in zip(predicted, targets):
        values = [r[0] for r in (matcher.get_rms_dist(s, target) for s in samples) if r is not None]
        best.append(min(values) if values else None)
    return best


def plain_novelty(queries, references):
    matcher = StructureMatcher(**STRICT_MATCHER)
    return [next((j for j, r in enumerate(references) if matcher.fit(q, r)), None) for q in queries]


def timed(function, *args, **kwargs):
    """``(value, wall seconds, CPU seconds of this process and its finished children)``, caches cleared first."""
    clear_caches()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start, _cpu_seconds() - cpu_start


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def same(a: list, b: list) -> bool:
    return all((x is None and y is None) or (x is not None and y is not None and x == y) for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="upstream CSV (e.g. perov_5/val.csv); default synthetic")
    parser.add_argument("--n", type=int, default=60, help="number of targets")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5], help="samples per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=-1, help="processes for the parallel kit run (-1: all cores)")
    parser.add_argument("--skip-published", action="store_true", help="skip the slow published-protocol loop")
    args = parser.parse_args()
    jobs = os.cpu_count() if args.jobs == -1 else args.jobs
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores visible; parallel runs use {jobs} processes")
    print(f"data: {args.data or 'synthetic'}, {args.n} targets, seed {args.seed}\n")
    targets = load_targets(args.data, args.n, args.seed)
    header = (f"{'workload':<24} {'pairs':>6} {'plain wall':>10} {'plain cpu':>9} {'kit1 wall':>9} {'kit1 cpu':>8} "
              f"{'kitN wall':>9} {'x cpu 1p':>8} {'x wall Np':>9}  rate")
    print(header)
    print("-" * len(header), flush=True)
    for k in args.k:
        predicted = make_predictions(targets, k, args.seed + k)
        if not args.skip_published:
            expected, *plain = timed(plain_published, predicted, targets, k)
            kit1, *one = timed(csp_metrics, predicted, targets, k=k, n_jobs=1, progress=False)
            kitn, *many = timed(csp_metrics, predicted, targets, k=k, n_jobs=jobs, progress=False)
            assert same(expected, [t.rms for t in kit1.targets]) and kit1 == kitn, "published CSP answers differ"
            report(f"CSP published, k={k}", len(targets) * k, plain, one, many, kit1.match_rate,
                   f"  fingerprints {fingerprints_computed(kit1)}/{len(targets) + len(targets) * k}")
        expected, *plain = timed(plain_matching, predicted, targets)
        kit1, *one = timed(csp_metrics, predicted, targets, k=k, validity="none", n_jobs=1, progress=False)
        kitn, *many = timed(csp_metrics, predicted, targets, k=k, validity="none", n_jobs=jobs, progress=False)
        assert same(expected, [t.rms for t in kit1.targets]) and kit1 == kitn, "matching answers differ"
        report(f"CSP matching only, k={k}", len(targets) * k, plain, one, many, kit1.match_rate)
    queries = [samples[0] for samples in make_predictions(targets, 1, args.seed + 99)]
    expected, *plain = timed(plain_novelty, queries, targets)
    kit1, *one = timed(first_matches, queries, targets, STRICT_MATCHER, n_jobs=1, progress=False)
    kitn, *many = timed(first_matches, queries, targets, STRICT_MATCHER, n_jobs=jobs, progress=False)
    assert expected == kit1 == kitn, "novelty answers differ"
    report(f"novelty {len(queries)} x {len(targets)}", len(queries) * len(targets), plain, one, many,
           sum(m is None for m in kit1) / len(kit1))
    print("\nAll answers identical to the plain loops (asserted). 'rate': match rate (CSP) or novel share.")
    print("'x cpu 1p': plain CPU time / kit CPU time on one process (robust to other load on the machine);")
    print("'x wall Np': plain wall time / kit wall time on N processes (needs idle cores to mean anything).")
    print("'fingerprints': CrystalNN fingerprints the kit computed / the plain loop computed (published rows).")


def fingerprints_computed(result) -> int:
    """How many CrystalNN fingerprints the kit computed: crystals whose fingerprint flag is not ``None``.

    The plain loop computes one per target and one per sample; fingerprints
    are most of the published protocol's cost, so the ratio bounds the kit's gain.
    """
    targets = sum(t.target_validity.fingerprint is not None for t in result.targets)
    samples = sum(s.validity is not None and s.validity.fingerprint is not None for t in result.targets
                  for s in t.samples)
    return targets + samples


def report(name: str, pairs: int, plain: list, one: list, many: list, rate: float, note: str = "") -> None:
    """One row: wall and CPU seconds of the plain loop and the kit, and the two speed-ups."""
    print(f"{name:<24} {pairs:>6} {plain[0]:>10.2f} {plain[1]:>9.2f} {one[0]:>9.2f} {one[1]:>8.2f} {many[0]:>9.2f} "
          f"{plain[1] / one[1]:>8.1f} {plain[0] / many[0]:>9.1f}  {rate:.3f}{note}", flush=True)


if __name__ == "__main__":
    main()
