"""How many sampling steps does a model need? Quality against sampler cost.

Diffusion samplers take hundreds of small steps; flow-matching ODEs with
straight paths can take a few large ones. :func:`steps_versus_quality`
measures that trade-off the only honest way: sample the same targets with
each step count, score them with the published CSP metrics, and time the
sampling.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError

if TYPE_CHECKING:  # the metrics need no models at import time
    import pandas as pd

    from crystalkit.models.generator import CrystalGenerator

__all__ = ["steps_versus_quality"]


def steps_versus_quality(
    models: Mapping[str, CrystalGenerator],
    targets: Sequence[Structure],
    steps: Mapping[str, Sequence[int]],
    *,
    k: int = 1,
    seed: int = 0,
    validity: str = "published",
) -> pd.DataFrame:
    """Match rate, RMSE and sampling speed of each model at each number of sampler steps.

    Args:
        models: name -> a trained CSP model (``Diffusion`` or ``FlowMatching``).
        targets: held-out crystals; their compositions are what the models are asked for.
        steps: name -> the step counts to try for that model.
        k: samples per target (the match counts if any of the ``k`` matches).
        seed: sampling seed (the same for every row, so rows differ only in steps).
        validity: the validity rule of :func:`crystalkit.metrics.csp.csp_metrics`.

    Returns:
        A pandas DataFrame, one row per (model, steps): ``model``, ``steps``,
        ``matched`` (targets matched), ``targets``, ``match_rate``, ``rmse``,
        ``matched_rms`` (a tuple: the RMS displacement of each matched target,
        for bootstrap intervals of the RMSE), ``seconds`` (sampling wall time)
        and ``structures_per_second``.
    """
    import pandas as pd

    from crystalkit.metrics.csp import csp_metrics

    if not targets:
        raise CrystalInputError("steps_versus_quality needs at least one target structure.")
    unknown = sorted(set(steps) - set(models))
    if unknown:
        raise CrystalInputError(f"steps names models that were not given: {unknown}; models are {sorted(models)}.")
    compositions = [target.composition for target in targets]
    rows = []
    for name, counts in steps.items():
        models[name].sample(compositions[:1], num_samples=1, seed=seed, num_steps=1)  # warm-up, not timed
        for count in counts:
            started = time.perf_counter()
            samples = models[name].sample(compositions, num_samples=k, seed=seed, num_steps=int(count))
            seconds = time.perf_counter() - started
            scores = csp_metrics(samples, targets, k=k, validity=validity, progress=False)
            rows.append({
                "model": name, "steps": int(count), "matched": scores.n_matched, "targets": len(targets),
                "match_rate": scores.match_rate, "rmse": scores.rmse,
                "matched_rms": tuple(float(t.rms) for t in scores.targets if t.matched),
                "seconds": seconds, "structures_per_second": len(targets) * k / max(seconds, 1e-9),
            })
    return pd.DataFrame(rows)
