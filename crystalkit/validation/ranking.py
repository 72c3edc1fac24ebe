"""Which generated candidate is the measured phase? Scoring simulated patterns against a noisy measurement.

The measured pattern fixes the grid: every candidate is simulated with the
measurement's settings (grid, peak width or resolution, no noise) and then
compared point by point. Two agreement measures, both blind to the overall
scale (measured counts are in arbitrary units):

* **Rwp**, the weighted-profile R factor of Rietveld refinement, here with unit
  weights and the best scale factor c = Σ y·m / Σ m²:

      Rwp = sqrt( Σ (y − c·m)² / Σ y² )          (0 = perfect, 1 = no better than zero)

* **Pearson correlation** r of the two curves (1 = identical shape, 0 = unrelated).

Both work for XRD (intensity against 2θ) and PDF (G(r) against r).
Generated and relaxed crystals often have a lattice a per cent or two off,
which moves every XRD peak and every PDF distance; ``max_strain`` lets each
candidate's lattice stretch isotropically (the best score is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation.pdf import PDFPattern, simulate_pdf
from crystalkit.validation.xrd import XRDPattern, resample_pattern, simulate_xrd

__all__ = ["profile_agreement", "rank_against_measured", "ranking_sweep"]

Metric = Literal["rwp", "pearson"]
Pattern = XRDPattern | PDFPattern


def profile_agreement(
    x: np.ndarray, measured: np.ndarray, model_x: np.ndarray, model: np.ndarray, metric: Metric = "rwp"
) -> float:
    """Agreement of a model curve with a measured one, on the measured grid.

    Args:
        x: measured grid (2θ in degrees or r in Å), shape ``(M,)``, increasing.
        measured: measured values on ``x``, shape ``(M,)``.
        model_x: the model's grid, increasing; it must cover ``x`` (same units).
        model: model values on ``model_x``; linearly interpolated onto ``x``.
        metric: "rwp" (lower is better) or "pearson" (higher is better).

    Raises:
        CrystalInputError: arrays of different lengths, grids not increasing, or a model grid
            that does not cover the measured one.
    """
    x, measured, model_x, model = (np.asarray(a, float) for a in (x, measured, model_x, model))
    for name, grid, values in (("measured", x, measured), ("model", model_x, model)):
        if grid.ndim != 1 or grid.shape != values.shape or len(grid) < 2:
            raise CrystalInputError(
                f"The {name} grid and values must be 1-D arrays of the same length >= 2, got shapes "
                f"{grid.shape} and {values.shape}."
            )
        if not np.all(np.diff(grid) > 0):
            raise CrystalInputError(f"The {name} grid must increase strictly.")
    span = model_x[-1] - model_x[0]
    if x[0] < model_x[0] - 1e-6 * span or x[-1] > model_x[-1] + 1e-6 * span:
        raise CrystalInputError(
            f"The model grid [{model_x[0]:.3g}, {model_x[-1]:.3g}] does not cover the measured grid "
            f"[{x[0]:.3g}, {x[-1]:.3g}]: simulate the model on the measured range (pattern.settings())."
        )
    return _score(measured, np.interp(x, model_x, model), metric)


def rank_against_measured(
    measured: Pattern,
    candidates: Sequence[Structure | Pattern],
    *,
    names: Sequence[str] | None = None,
    metric: Metric = "rwp",
    max_strain: float = 0.0,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Score every candidate against a measured XRD or PDF pattern; best first.

    Args:
        measured: an :class:`XRDPattern` or :class:`PDFPattern` (simulated with noise, or measured).
        candidates: structures (simulated with the measured pattern's settings, noise-free) or
            patterns of the same kind.
        names: a label per candidate (default "candidate 0", ...).
        metric: "rwp" or "pearson" (see the module docstring).
        max_strain: also try isotropic lattice stretches within ±max_strain (0.02 = ±2 %).
        seed: seed for the random decoration of disordered candidates' particles (PDF only).

    Returns:
        DataFrame indexed by candidate position with columns ``name``, ``formula``, ``score``
        (the metric at the best strain), ``strain`` and ``rank`` (1 = best).
    """
    if not isinstance(measured, (XRDPattern, PDFPattern)):
        raise CrystalInputError(f"measured must be an XRDPattern or a PDFPattern, got {type(measured).__name__}.")
    if metric not in ("rwp", "pearson"):
        raise CrystalInputError(f"metric must be 'rwp' or 'pearson', got {metric!r}.")
    if len(candidates) == 0:
        raise CrystalInputError("No candidates to rank: pass at least one structure or pattern.")
    if not 0 <= max_strain < 0.5:
        raise CrystalInputError(f"max_strain must be in [0, 0.5), got {max_strain}.")
    names = list(names) if names is not None else [f"candidate {i}" for i in range(len(candidates))]
    if len(names) != len(candidates):
        raise CrystalInputError(f"Got {len(names)} names for {len(candidates)} candidates.")
    rows = []
    for index, (candidate, name) in enumerate(zip(candidates, names, strict=True)):
        pattern = _simulate_like(candidate, measured, name, seed, max_strain)
        score, strain = _best_over_strains(measured, pattern, metric, max_strain)
        if isinstance(measured, PDFPattern) and isinstance(candidate, Structure) and strain != 0:
            # Stretching G(r) along r is only nearly a bigger lattice (the density, hence the baseline
            # -4πρ₀r, changes too): score a particle of the stretched crystal itself.
            stretched = candidate.copy()
            stretched.scale_lattice(candidate.volume * (1 + strain) ** 3)
            score = _best_over_strains(measured, _simulate_like(stretched, measured, name, seed, 0.0), metric, 0.0)[0]
        formula = candidate.composition.reduced_formula if isinstance(candidate, Structure) else candidate.label
        rows.append({"candidate": index, "name": name, "formula": formula, "score": score, "strain": strain})
    table = pd.DataFrame(rows).set_index("candidate")
    table = table.sort_values("score", ascending=metric == "rwp", kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def ranking_sweep(
    truth: Structure,
    candidates: Sequence[Structure],
    names: Sequence[str],
    *,
    kind: Literal["xrd", "pdf"],
    noises: Sequence[float],
    broadenings: Sequence[float],
    answer: str,
    metric: Metric = "rwp",
    max_strain: float = 0.02,
    seed: int = 0,
) -> pd.DataFrame:
    """How measurement noise and peak broadening change which candidate wins.

    For every (noise, broadening) pair the true structure is "measured" (XRD: peak width
    ``fwhm`` = broadening in degrees 2θ; PDF: displacement parameter ``biso`` = broadening
    in Å²), with seeded noise, and the candidates are ranked against it.

    Args:
        truth: the structure that made the measurement.
        candidates, names: what to rank, and their labels.
        kind: "xrd" or "pdf".
        noises: noise levels (fraction of the highest point).
        broadenings: XRD fwhm values (degrees) or PDF biso values (Å²).
        answer: the name of the candidate that is the measured phase.
        metric, max_strain: as in :func:`rank_against_measured`.
        seed: seed of the measurement noise.

    Returns:
        One row per (noise, broadening): ``winner``, ``answer_rank``, ``answer_score``,
        ``best_other`` (the best wrong candidate) and ``margin`` (how far it is behind the
        answer, in the metric's units; negative when a wrong candidate wins).
    """
    if kind not in ("xrd", "pdf"):
        raise CrystalInputError(f"kind must be 'xrd' or 'pdf', got {kind!r}.")
    if answer not in names:
        raise CrystalInputError(f"The answer {answer!r} is not one of the candidate names {list(names)}.")
    rows = []
    for noise in noises:
        for broadening in broadenings:
            if kind == "xrd":
                measured = simulate_xrd(truth, fwhm=broadening, noise=noise, seed=seed, label="measured")
            else:
                measured = simulate_pdf(truth, biso=broadening, noise=noise, seed=seed, label="measured")
            table = rank_against_measured(measured, candidates, names=names, metric=metric, max_strain=max_strain)
            mine = table[table["name"] == answer].iloc[0]
            best_other = table[table["name"] != answer].iloc[0]
            sign = -1 if metric == "rwp" else 1
            rows.append({"noise": noise, "broadening": broadening, "winner": table["name"].iloc[0],
                         "answer_rank": int(mine["rank"]), "answer_score": float(mine["score"]),
                         "best_other": best_other["name"], "margin": sign * float(mine["score"] - best_other["score"])})
    return pd.DataFrame(rows)


def _simulate_like(
    candidate: Structure | Pattern, measured: Pattern, name: str, seed: int | None, max_strain: float
) -> Pattern:
    """The candidate as a noise-free pattern with the measured pattern's settings.

    A PDF is simulated on an r range wider by ``max_strain`` at both ends, so that every
    stretched copy still covers the measured range.
    """
    if isinstance(candidate, Structure):
        if isinstance(measured, XRDPattern):
            return simulate_xrd(candidate, **measured.settings(), label=name)
        settings = measured.settings()
        low, high = settings["r_range"]
        settings["r_range"] = (low / (1 + max_strain), high / (1 - max_strain) + settings["r_step"])
        return simulate_pdf(candidate, **settings, seed=seed, label=name)
    if type(candidate) is not type(measured):
        raise CrystalInputError(
            f"Cannot compare a {type(candidate).__name__} with a measured {type(measured).__name__}: "
            "pass structures, or patterns of the measured kind."
        )
    return candidate


def _strain_step(measured: Pattern) -> float:
    """A strain step small enough that no peak moves by more than a quarter of its width between two trials.

    XRD: a stretch s moves a peak at 2θ by about 2 tan θ · s (radians). PDF: a distance r moves by r · s,
    and a peak is about 0.1 Å wide.
    """
    if isinstance(measured, XRDPattern):
        width = measured.fwhm if np.isfinite(measured.fwhm) else 4 * measured.step
        return width / 4 / np.degrees(2 * np.tan(np.radians(measured.two_theta[-1] / 2)))
    return 0.1 / 4 / measured.r[-1]


def _best_over_strains(measured: Pattern, pattern: Pattern, metric: Metric, max_strain: float) -> tuple[float, float]:
    """The best score over isotropic stretches 1 + s of the candidate lattice, |s| <= max_strain."""
    strains = np.linspace(-max_strain, max_strain, 1 + 2 * int(np.ceil(max_strain / _strain_step(measured))))
    best = (np.inf, 0.0)
    for strain in strains:
        if isinstance(measured, XRDPattern):
            model_x, model = measured.two_theta, resample_pattern(pattern, measured, strain).intensity
            x, y = measured.two_theta, measured.intensity
        else:  # a stretched lattice has every distance multiplied by 1 + s
            model_x, model, x, y = pattern.r * (1 + strain), pattern.g, measured.r, measured.g
            inside = (x >= model_x[0]) & (x <= model_x[-1])
            x, y = x[inside], y[inside]
        score = profile_agreement(x, y, model_x, model, metric)
        loss = score if metric == "rwp" else -score
        if loss < best[0] - 1e-12 or (abs(loss - best[0]) <= 1e-12 and abs(strain) < abs(best[1])):
            best = (loss, float(strain))
    return (best[0] if metric == "rwp" else -best[0]), best[1]


def _score(measured: np.ndarray, model: np.ndarray, metric: Metric) -> float:
    if metric == "pearson":
        a, b = measured - measured.mean(), model - model.mean()
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(a @ b / norm) if norm > 0 else 0.0
    if metric != "rwp":
        raise CrystalInputError(f"metric must be 'rwp' or 'pearson', got {metric!r}.")
    scale = float(model @ measured / (model @ model)) if model @ model > 0 else 0.0
    return float(np.sqrt(np.sum((measured - scale * model) ** 2) / np.sum(measured**2)))
