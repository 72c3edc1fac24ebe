"""Simulated powder X-ray diffraction, and scoring a candidate against a target pattern.

Powder XRD is the experiment most often used to identify a crystal: every
set of lattice planes (hkl) with spacing d diffracts at the Bragg angle

    λ = 2 d sin θ          (λ = 1.5418 Å for Cu Kα, the usual lab source)

with an intensity set by the atoms on those planes (the structure factor). A
generated crystal "explains" a measured pattern if its simulated pattern has
the same peaks in the same places with similar heights.

From crystal to pattern, in three steps:

1. pymatgen's ``XRDCalculator`` gives the *sticks*: peak positions 2θ and
   intensities (largest = 100), with atomic form factors, multiplicities and
   the Lorentz-polarisation factor.
2. Real instruments and small crystallites blur each stick into a peak of
   width ``fwhm`` (full width at half maximum, degrees 2θ). We draw each stick
   as a Gaussian or a pseudo-Voigt (a mix of Gaussian and Lorentzian) of that
   width on a regular 2θ grid; peak heights follow the stick intensities.
3. Optionally add Gaussian noise (seeded) to mimic counting noise.

Comparing two patterns (:func:`xrd_similarity`): the cosine of the angle
between the two intensity vectors on the same grid. It is 1 for identical
patterns whatever their overall scale (measured counts are in arbitrary units)
and falls towards 0 as peaks stop overlapping; the peak width sets how much
misplacement is forgiven. Cosine on *sticks* would be useless: a 0.01° shift
would make two identical phases look unrelated. Broadening makes the score
tolerant of small shifts, but not of a lattice that is 2% too large, which
moves high-angle peaks by more than a peak width. Generated and
machine-learned-relaxed crystals often have exactly that error (GGA-trained
potentials such as CHGNet overestimate lattice constants by about 1%). The
*strain-tolerant* score therefore also tries stretching the candidate's
lattice isotropically by a factor within ``1 ± max_strain`` (which moves
every peak, more at high angle, as Bragg's law says) and keeps the best cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = [
    "XRDPattern",
    "simulate_xrd",
    "xrd_similarity",
    "best_strain_similarity",
    "rank_candidates",
    "resample_pattern",
    "CU_K_ALPHA",
]

#: Cu Kα wavelength in Å (weighted mean of Kα1 and Kα2, as pymatgen's "CuKa").
CU_K_ALPHA = 1.54184


@dataclass(frozen=True, eq=False)
class XRDPattern:
    """A continuous powder pattern on a 2θ grid, with the sticks it was made from.

    Attributes:
        two_theta: grid of diffraction angles 2θ in degrees, shape ``(M,)``, increasing.
        intensity: intensity on the grid, shape ``(M,)``; highest peak = 1 before noise.
        wavelength: X-ray wavelength in Å.
        fwhm: peak full width at half maximum in degrees 2θ (nan for a measured pattern).
        profile: "gaussian", "pseudo_voigt" or "measured".
        peak_two_theta: stick positions in degrees 2θ, shape ``(P,)``.
        peak_intensity: stick heights (largest = 100), shape ``(P,)``.
        peak_hkl: Miller indices of each stick, e.g. "(1, 1, 0)".
        label: a name for plots and tables.
    """

    two_theta: np.ndarray
    intensity: np.ndarray
    wavelength: float = CU_K_ALPHA
    fwhm: float = float("nan")
    profile: str = "measured"
    peak_two_theta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak_intensity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak_hkl: tuple[str, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        two_theta, intensity = np.asarray(self.two_theta, float), np.asarray(self.intensity, float)
        if two_theta.ndim != 1 or two_theta.shape != intensity.shape or len(two_theta) < 2:
            raise CrystalInputError(
                f"two_theta and intensity must be 1-D arrays of the same length >= 2, got shapes "
                f"{two_theta.shape} and {intensity.shape}."
            )
        if not np.all(np.diff(two_theta) > 0) or two_theta[0] <= 0 or two_theta[-1] >= 180:
            raise CrystalInputError("two_theta must increase strictly and lie between 0 and 180 degrees.")
        if not np.all(np.isfinite(intensity)):
            raise CrystalInputError("The intensities contain NaN or infinity.")
        if not self.wavelength > 0:
            raise CrystalInputError(f"The wavelength must be positive (Å), got {self.wavelength}.")
        object.__setattr__(self, "two_theta", two_theta)
        object.__setattr__(self, "intensity", intensity)

    def settings(self) -> dict:
        """Keyword arguments of :func:`simulate_xrd` that reproduce this pattern's grid, peaks and wavelength.

        A measured pattern (no ``fwhm``) gets Gaussian peaks four grid steps wide.
        """
        return dict(
            two_theta_range=(float(self.two_theta[0]), float(self.two_theta[-1])),
            step=self.step,
            fwhm=self.fwhm if np.isfinite(self.fwhm) else 4 * self.step,
            profile=self.profile if self.profile in ("gaussian", "pseudo_voigt") else "gaussian",
            wavelength=self.wavelength,
        )

    @property
    def step(self) -> float:
        """Grid spacing in degrees 2θ (mean, for a measured grid)."""
        return float((self.two_theta[-1] - self.two_theta[0]) / (len(self.two_theta) - 1))


def simulate_xrd(
    structure: Structure,
    *,
    two_theta_range: tuple[float, float] = (10.0, 80.0),
    step: float = 0.02,
    fwhm: float = 0.15,
    profile: Literal["gaussian", "pseudo_voigt"] = "gaussian",
    eta: float = 0.5,
    noise: float = 0.0,
    seed: int | None = None,
    wavelength: str | float = "CuKa",
    label: str | None = None,
) -> XRDPattern:
    """Simulated powder pattern of ``structure``: sticks from pymatgen, broadened, optionally noisy.

    Args:
        structure: the crystal (disordered sites are fine: XRD sees the average).
        two_theta_range: (min, max) diffraction angle 2θ in degrees.
        step: grid spacing in degrees 2θ.
        fwhm: peak full width at half maximum in degrees 2θ; lab diffractometers
            give about 0.05-0.2°, nanocrystals more.
        profile: "gaussian", or "pseudo_voigt" (``eta`` Lorentzian + ``1 - eta`` Gaussian,
            same width: heavier tails, closer to real peaks).
        eta: Lorentzian fraction of the pseudo-Voigt, between 0 and 1.
        noise: standard deviation of additive Gaussian noise, as a fraction of
            the highest peak (e.g. 0.02). Intensities may dip below zero, like
            background-subtracted data.
        seed: seed for the noise; the same seed gives the same pattern.
        wavelength: an X-ray source known to pymatgen ("CuKa", "MoKa", ...) or a wavelength in Å.
        label: name for plots; the reduced formula by default.

    Raises:
        CrystalInputError: bad structure or parameters, or no reflection falls in the range.
    """
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    check_structure(structure, require_ordered=False)
    low, high = two_theta_range
    if not 0 < low < high < 180:
        raise CrystalInputError(f"two_theta_range must satisfy 0 < min < max < 180 degrees, got {two_theta_range}.")
    if step <= 0 or fwhm <= 0 or noise < 0 or not 0 <= eta <= 1:
        raise CrystalInputError(
            f"Need step > 0, fwhm > 0, noise >= 0 and 0 <= eta <= 1; got {step}, {fwhm}, {noise}, {eta}."
        )
    if profile not in ("gaussian", "pseudo_voigt"):
        raise CrystalInputError(f"profile must be 'gaussian' or 'pseudo_voigt', got {profile!r}.")
    calculator = XRDCalculator(wavelength=wavelength)
    try:
        sticks = calculator.get_pattern(structure, scaled=True, two_theta_range=(low, high))
        positions, heights = np.asarray(sticks.x, float), np.asarray(sticks.y, float)
    except ValueError:  # pymatgen fails on an empty set of reciprocal lattice points
        positions = np.zeros(0)
    if len(positions) == 0:
        raise CrystalInputError(
            f"{structure.composition.reduced_formula} has no reflection between {low} and {high} degrees 2θ: "
            "widen two_theta_range."
        )
    grid = np.arange(low, high + step / 2, step)  # (M,)
    intensity = _broaden(grid, positions, heights / heights.max(), fwhm, profile, eta)
    intensity /= intensity.max()
    if noise > 0:
        intensity = intensity + np.random.default_rng(seed).normal(0.0, noise, size=grid.shape)
    hkls = tuple(", ".join(str(tuple(family["hkl"])) for family in families) for families in sticks.hkls)
    return XRDPattern(
        two_theta=grid,
        intensity=intensity,
        wavelength=float(calculator.wavelength),
        fwhm=fwhm,
        profile=profile,
        peak_two_theta=positions,
        peak_intensity=heights,
        peak_hkl=hkls,
        label=label if label is not None else structure.composition.reduced_formula,
    )


def xrd_similarity(target: XRDPattern, candidate: XRDPattern, *, max_strain: float = 0.0) -> float:
    """Cosine similarity of two patterns on the target's 2θ grid, optionally strain-tolerant.

    Args:
        target: the reference pattern (e.g. measured).
        candidate: the pattern to score. It is compared through d-spacings, so it
            may use another grid or wavelength; it counts as zero outside its own range.
        max_strain: also try stretching the candidate's lattice by factors in
            ``[1 - max_strain, 1 + max_strain]`` (0.02 = ±2 %) and keep the best.

    Returns:
        A number in [-1, 1]: 1 for identical patterns (up to scale), about 0 for
        patterns whose peaks do not overlap. Negative values need noise.
    """
    return best_strain_similarity(target, candidate, max_strain=max_strain)[0]


def best_strain_similarity(
    target: XRDPattern, candidate: XRDPattern, *, max_strain: float = 0.02
) -> tuple[float, float]:
    """The best cosine similarity over isotropic strains, and the strain that gave it.

    A lattice stretched by a factor ``s`` has every d-spacing multiplied by
    ``s``, so by Bragg's law a peak at θ moves to θ' with sin θ' = sin θ / s.
    We scan ``s`` finely enough that no peak moves by more than a quarter of
    the peak width between two trials.

    Returns:
        ``(similarity, strain)`` with ``strain = s - 1`` (e.g. +0.01: the candidate's
        lattice must grow by 1 % to match the target best).
    """
    if not 0 <= max_strain < 0.5:
        raise CrystalInputError(f"max_strain must be in [0, 0.5), got {max_strain}.")
    width = target.fwhm if np.isfinite(target.fwhm) else 4 * target.step
    if np.isfinite(candidate.fwhm):
        width = min(width, candidate.fwhm)
    # d(2θ)/ds in degrees per unit strain is 2 tan θ (radians); its largest value on the grid sets the step.
    sensitivity = np.degrees(2 * np.tan(np.radians(target.two_theta[-1] / 2)))
    n_trials = 1 + 2 * int(np.ceil(max_strain * sensitivity / (width / 4))) if max_strain > 0 else 1
    best = (-np.inf, 0.0)
    for strain in np.linspace(-max_strain, max_strain, n_trials):
        score = _cosine(target.intensity, _resample(candidate, target, 1.0 + strain))
        if score > best[0] + 1e-12 or (abs(score - best[0]) <= 1e-12 and abs(strain) < abs(best[1])):
            best = (score, float(strain))
    return float(best[0]), best[1]


def rank_candidates(
    target: XRDPattern | Structure,
    candidates: Sequence[Structure | XRDPattern],
    *,
    names: Sequence[str] | None = None,
    max_strain: float = 0.02,
) -> pd.DataFrame:
    """Which candidate explains the target pattern best? One row per candidate, best first.

    Structures are simulated with the target's grid, peak width, profile and
    wavelength (and no noise), so only the crystal differs.

    Args:
        target: a measured or simulated pattern; a Structure is simulated with defaults.
        candidates: structures or patterns to score.
        names: a label per candidate (default: "candidate 0", ...).
        max_strain: lattice-stretch tolerance of the strain-tolerant score.

    Returns:
        DataFrame indexed by candidate position with columns ``name``, ``formula``,
        ``similarity`` (plain cosine), ``similarity_strained`` (best over strains),
        ``strain`` (the stretch that gave it), sorted by ``similarity_strained``.
    """
    if len(candidates) == 0:
        raise CrystalInputError("No candidates to rank: pass at least one structure or pattern.")
    names = list(names) if names is not None else [f"candidate {i}" for i in range(len(candidates))]
    if len(names) != len(candidates):
        raise CrystalInputError(f"Got {len(names)} names for {len(candidates)} candidates.")
    if isinstance(target, Structure):
        target = simulate_xrd(target, label="target")
    rows = []
    for index, (candidate, name) in enumerate(zip(candidates, names, strict=True)):
        formula = candidate.composition.reduced_formula if isinstance(candidate, Structure) else candidate.label
        pattern = candidate if isinstance(candidate, XRDPattern) else _simulate_like(candidate, target, name)
        strained, strain = best_strain_similarity(target, pattern, max_strain=max_strain)
        rows.append(
            {
                "candidate": index,
                "name": name,
                "formula": formula,
                "similarity": xrd_similarity(target, pattern),
                "similarity_strained": strained,
                "strain": strain,
            }
        )
    table = pd.DataFrame(rows).set_index("candidate")
    return table.sort_values("similarity_strained", ascending=False, kind="stable")


def resample_pattern(pattern: XRDPattern, onto: XRDPattern, strain: float = 0.0) -> XRDPattern:
    """``pattern`` moved onto the grid and wavelength of ``onto``, its lattice stretched by ``1 + strain``.

    This is what :func:`best_strain_similarity` compares, returned as a pattern
    so it can be plotted: e.g. a candidate after the best isotropic stretch.
    """
    intensity = _resample(pattern, onto, 1.0 + strain)
    scale = 1.0 + strain
    peaks = np.sin(np.radians(pattern.peak_two_theta / 2)) / scale * onto.wavelength / pattern.wavelength
    keep = peaks < 1
    return XRDPattern(
        two_theta=onto.two_theta,
        intensity=intensity,
        wavelength=onto.wavelength,
        fwhm=pattern.fwhm,
        profile=pattern.profile,
        peak_two_theta=2 * np.degrees(np.arcsin(peaks[keep])),
        peak_intensity=pattern.peak_intensity[keep],
        peak_hkl=tuple(hkl for hkl, k in zip(pattern.peak_hkl, keep, strict=True) if k),
        label=f"{pattern.label} ({100 * strain:+.1f}% lattice)" if strain else pattern.label,
    )


def _simulate_like(structure: Structure, target: XRDPattern, label: str) -> XRDPattern:
    """Simulate ``structure`` with the settings of ``target`` (noise-free)."""
    return simulate_xrd(structure, **target.settings(), label=label)


def _broaden(
    grid: np.ndarray, positions: np.ndarray, heights: np.ndarray, fwhm: float, profile: str, eta: float
) -> np.ndarray:
    """Sum of peaks of height ``heights`` at ``positions`` on ``grid`` (all degrees 2θ)."""
    offset = (grid[None, :] - positions[:, None]) / fwhm  # (P, M), in units of the width
    shape = np.exp(-4 * np.log(2) * offset**2)  # Gaussian with FWHM = fwhm, height 1
    if profile == "pseudo_voigt":
        lorentzian = 1.0 / (1.0 + 4 * offset**2)  # Lorentzian with FWHM = fwhm, height 1
        shape = eta * lorentzian + (1 - eta) * shape
    return heights @ shape  # (M,)


def _resample(candidate: XRDPattern, target: XRDPattern, scale: float) -> np.ndarray:
    """The candidate's intensity at the target's grid points, after stretching its lattice by ``scale``.

    Target angle -> d-spacing -> the d the unstretched candidate had (d / scale)
    -> the angle of that d at the candidate's wavelength -> interpolate.
    """
    sin_theta = np.sin(np.radians(target.two_theta / 2)) * scale * candidate.wavelength / target.wavelength
    inside = sin_theta < 1
    two_theta = np.full_like(sin_theta, -1.0)
    two_theta[inside] = 2 * np.degrees(np.arcsin(sin_theta[inside]))
    return np.interp(two_theta, candidate.two_theta, candidate.intensity, left=0.0, right=0.0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0
