"""The pair distribution function (PDF) of a crystal: what total scattering sees that Bragg peaks do not.

Powder XRD (:mod:`crystalkit.validation.xrd`) keeps only the Bragg peaks, which
describe the *average* unit cell. Total scattering keeps everything, the
diffuse scattering between the peaks too, and its Fourier transform is the
reduced pair distribution function

    G(r) = 4πr [ρ(r) − ρ₀] = (2/π) ∫ Q [S(Q) − 1] sin(Qr) dQ     (Å⁻², r in Å, Q in Å⁻¹)

a histogram of interatomic distances: a peak at every distance r that
occurs between two atoms, weighted by their scattering power. Because it
counts real pairs, it sees local order (a bond that is short in one cell and
long in the next), the finite size of a nanocrystal (no pair is longer than
the particle) and disorder (each peak broadens by the spread of its
distances), where the Bragg peaks only see the average.

How we compute it, in three steps:

1. Carve a finite particle out of the crystal (:func:`nanoparticle`): a sphere
   of ``radius`` Å around an atom near the middle of the cell. Disordered sites
   get one random species each (seeded), as a real random alloy would.
2. The Debye scattering equation sums over every pair of atoms i, j at
   distance r_ij, with form factors f(Q) and an isotropic displacement
   parameter B (Å²):

       I(Q) = Σ_i Σ_j f_i f_j sin(Q r_ij) / (Q r_ij) · exp(−Q² B / 8π²)   (i ≠ j terms damped)

   DebyeCalculator (Johansen et al. 2024) does this sum in PyTorch, on a GPU
   if there is one, and Fourier transforms it to G(r).
3. Optionally add seeded Gaussian noise, to play a "measured" pattern.

Normalisation: DebyeCalculator sums each pair once (i < j) and halves the
self-scattering, so its I(Q), S(Q) − 1 and G(r) are half the textbook ones
(Egami & Billinge 2012). We double them, so that for two identical atoms at
distance d, S(Q) = 1 + sin(Qd)/(Qd) exactly (tested against a numpy sum).

About the radius: with a CIF, DebyeCalculator's own ``radii`` keep every
*metal* atom within that radius of the central metal atom plus the non-metal
atoms bonded to them. We carve the particle ourselves instead, one rule for
any chemistry (a crystal with no metal, like diamond, works too): every atom
whose centre lies within ``radius`` of the centre atom. No distance in the
particle exceeds ``2 * radius``, so G(r) dies out by r = 2 · radius.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = ["PDFPattern", "simulate_pdf", "debye_pdf", "nanoparticle", "off_centre", "peak_fwhm", "rms_amplitude"]


#: Largest particle :func:`nanoparticle` builds (the Debye sum costs N² / 2 pair terms).
MAX_ATOMS = 100_000


@dataclass(frozen=True, eq=False)
class PDFPattern:
    """A reduced pair distribution function G(r) on an r grid, and the total scattering it came from.

    Attributes:
        r: distances in Å, shape ``(M,)``, increasing.
        g: G(r) in Å⁻², shape ``(M,)`` (textbook normalisation, see the module docstring).
        q: scattering vectors in Å⁻¹ of the S(Q) behind it, shape ``(K,)`` (empty for a measured PDF).
        s: total scattering structure function S(Q), shape ``(K,)``.
        radius: particle radius in Å (nan for a measured PDF).
        n_atoms: atoms in the particle (0 for a measured PDF).
        q_range: (Q_min, Q_max) of the Fourier transform, Å⁻¹.
        qdamp: instrument resolution damping, Å⁻¹: G(r) is multiplied by exp(−(r · qdamp)² / 2).
        biso: isotropic displacement parameter B in Å² (B = 8π² ⟨u²⟩).
        label: a name for plots and tables.
    """

    r: np.ndarray
    g: np.ndarray
    q: np.ndarray = field(default_factory=lambda: np.zeros(0))
    s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    radius: float = float("nan")
    n_atoms: int = 0
    q_range: tuple[float, float] = (1.0, 25.0)
    qdamp: float = 0.03
    biso: float = 0.3
    label: str = ""

    def __post_init__(self) -> None:
        r, g = np.asarray(self.r, float), np.asarray(self.g, float)
        if r.ndim != 1 or r.shape != g.shape or len(r) < 2:
            raise CrystalInputError(
                f"r and G(r) must be 1-D arrays of the same length >= 2, got shapes {r.shape} and {g.shape}."
            )
        if not np.all(np.diff(r) > 0) or r[0] < 0:
            raise CrystalInputError("The r grid must increase strictly and start at r >= 0 Å.")
        if not np.all(np.isfinite(g)):
            raise CrystalInputError("G(r) contains NaN or infinity.")
        object.__setattr__(self, "r", r)
        object.__setattr__(self, "g", g)

    def settings(self) -> dict:
        """Keyword arguments of :func:`simulate_pdf` that reproduce this pattern's grid and resolution."""
        return {
            "r_range": (float(self.r[0]), float(self.r[-1])),
            "r_step": float((self.r[-1] - self.r[0]) / (len(self.r) - 1)),
            "radius": self.radius if np.isfinite(self.radius) else 15.0,
            "q_range": self.q_range,
            "qdamp": self.qdamp,
            "biso": self.biso,
        }


def nanoparticle(
    structure: Structure, radius: float, *, seed: int | None = None, displacement: float = 0.0
) -> tuple[list[str], np.ndarray]:
    """A spherical particle cut from the crystal: element symbols and Cartesian positions (Å, centred at 0).

    Args:
        structure: the crystal; a partially occupied site becomes, in every copy, one
            species drawn with its occupancy as probability (or a vacancy, for the rest).
        radius: keep every atom whose centre lies within ``radius`` Å of the centre atom
            (the site nearest the middle of the unit cell).
        seed: seed for the random decoration and displacements.
        displacement: standard deviation (Å) of random static displacements added to every
            Cartesian coordinate of every atom (frozen disorder; 0 for none).

    Returns:
        ``(elements, xyz)`` with ``xyz`` of shape ``(N, 3)``.

    Raises:
        CrystalInputError: empty or invalid structure, radius not positive, or a particle
            of fewer than two atoms.
    """
    check_structure(structure, require_ordered=False, min_distance=0.0)
    if not np.isfinite(radius) or radius <= 0:
        raise CrystalInputError(f"The particle radius must be a positive number of Å, got {radius}.")
    if displacement < 0:
        raise CrystalInputError(f"displacement is a standard deviation in Å and must be >= 0, got {displacement}.")
    lattice = structure.lattice
    expected = 4 / 3 * np.pi * radius**3 / lattice.volume * len(structure)
    if expected > MAX_ATOMS:
        raise CrystalInputError(
            f"A particle of radius {radius} Å would hold about {expected:.0f} atoms (limit {MAX_ATOMS}): "
            "G(r) is zero beyond 2 · radius anyway, so pick a radius of half the largest r you need."
        )
    # Enough cells along each axis: radius / (spacing of the lattice planes), plus one for the atoms in a cell.
    repeats = np.ceil(radius * np.array(lattice.reciprocal_lattice_crystallographic.abc)).astype(int) + 1
    offsets = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in repeats], indexing="ij"), -1).reshape(-1, 3)
    frac = structure.frac_coords % 1.0  # (S, 3)
    to_middle = np.linalg.norm(lattice.get_cartesian_coords(frac - 0.5), axis=1)  # (S,) distance to the cell's middle
    centre = lattice.get_cartesian_coords(frac[np.argmin(to_middle)])
    xyz = lattice.get_cartesian_coords(frac[None, :, :] + offsets[:, None, :]) - centre  # (C, S, 3)
    inside = np.linalg.norm(xyz, axis=-1) <= radius + 1e-8  # (C, S)
    site_index = np.broadcast_to(np.arange(len(structure)), inside.shape)[inside]
    xyz = xyz[inside]
    rng = np.random.default_rng(seed)
    elements = _decorate(structure, site_index, rng)
    present = np.array([element is not None for element in elements], bool)
    elements, xyz = [e for e in elements if e is not None], xyz[present]
    if len(elements) < 2:
        raise CrystalInputError(
            f"A particle of radius {radius} Å holds {len(elements)} atom(s): a PDF needs pairs, use a larger radius."
        )
    if displacement > 0:
        xyz = xyz + rng.normal(0.0, displacement, size=xyz.shape)
    return elements, xyz


def simulate_pdf(
    structure: Structure,
    *,
    radius: float = 15.0,
    r_range: tuple[float, float] = (1.0, 20.0),
    r_step: float = 0.01,
    q_range: tuple[float, float] = (1.0, 25.0),
    qdamp: float = 0.03,
    biso: float = 0.3,
    displacement: float = 0.0,
    noise: float = 0.0,
    seed: int | None = None,
    radiation: Literal["xray", "neutron"] = "xray",
    label: str | None = None,
) -> PDFPattern:
    """G(r) of a spherical particle of ``structure``, by the Debye equation (DebyeCalculator).

    Args:
        structure: the crystal (partially occupied sites are decorated at random, see :func:`nanoparticle`).
        radius: particle radius in Å (atoms within ``radius`` of the centre atom); G(r) vanishes beyond 2 · radius.
        r_range: (r_min, r_max) of the G(r) grid in Å, 0 <= r_min < r_max.
        r_step: grid spacing in Å.
        q_range: (Q_min, Q_max) in Å⁻¹ of the Fourier transform; a larger Q_max sharpens peaks
            (synchrotron PDF: 20-30 Å⁻¹; lab Cu Kα reaches only 8 Å⁻¹).
        qdamp: instrument resolution in Å⁻¹ (damps G(r) by exp(−(r·qdamp)²/2)); typical 0.02-0.05.
        biso: isotropic displacement parameter B in Å² (thermal motion; B = 8π²⟨u²⟩, 0.3-1 at room temperature).
        displacement: static random displacements (Å, per Cartesian component), see :func:`nanoparticle`.
        noise: standard deviation of Gaussian noise added to G(r), as a fraction of max |G|.
        seed: seed for decoration, displacements and noise.
        radiation: "xray" (form factors f(Q)) or "neutron" (scattering lengths, constant in Q).
        label: name for plots; the reduced formula by default.

    Raises:
        CrystalInputError: bad structure, r-range, Q-range or parameters.
    """
    low, high = r_range
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low < high) or not r_step > 0 or r_step >= high - low:
        raise CrystalInputError(
            f"Need 0 <= r_min < r_max (Å) and 0 < r_step < r_max - r_min; got r_range={r_range}, r_step={r_step}."
        )
    if not 0 <= q_range[0] < q_range[1]:
        raise CrystalInputError(f"q_range must satisfy 0 <= Q_min < Q_max (Å⁻¹), got {q_range}.")
    if qdamp < 0 or biso < 0 or noise < 0:
        raise CrystalInputError(f"qdamp, biso and noise must be >= 0; got {qdamp}, {biso}, {noise}.")
    if radiation not in ("xray", "neutron"):
        raise CrystalInputError(f"radiation must be 'xray' or 'neutron', got {radiation!r}.")
    rng = np.random.default_rng(seed)
    elements, xyz = nanoparticle(structure, radius, seed=int(rng.integers(2**31)), displacement=displacement)
    r, g, q, s = debye_pdf(elements, xyz, r_range=r_range, r_step=r_step, q_range=q_range, qdamp=qdamp, biso=biso,
                           radiation=radiation)
    if noise > 0:
        g = g + rng.normal(0.0, noise * np.abs(g).max(), size=g.shape)
    return PDFPattern(r=r, g=g, q=q, s=s, radius=float(radius), n_atoms=len(elements), q_range=tuple(q_range),
                      qdamp=qdamp, biso=biso,
                      label=label if label is not None else structure.composition.reduced_formula)


def debye_pdf(
    elements: list[str],
    xyz: np.ndarray,
    *,
    r_range: tuple[float, float] = (1.0, 20.0),
    r_step: float = 0.01,
    q_range: tuple[float, float] = (1.0, 25.0),
    qdamp: float = 0.03,
    biso: float = 0.3,
    radiation: str = "xray",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(r, G(r), Q, S(Q))`` of a finite cluster of atoms from DebyeCalculator, in textbook normalisation.

    Args:
        elements: element symbols, length N.
        xyz: Cartesian positions in Å, shape ``(N, 3)``.
        (the rest as in :func:`simulate_pdf`)
    """
    import torch
    from debyecalculator import DebyeCalculator

    xyz = np.asarray(xyz, float)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or len(elements) != len(xyz) or len(xyz) < 2:
        raise CrystalInputError(f"Need at least two atoms with N symbols and (N, 3) positions, got "
                                f"{len(elements)} symbols and positions of shape {xyz.shape}.")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DebyeCalculator warns about devices and q steps
        calculator = DebyeCalculator(
            qmin=q_range[0], qmax=q_range[1], qdamp=qdamp, rmin=r_range[0], rmax=r_range[1] + r_step / 2,
            rstep=r_step, biso=biso, device=device, radiation_type=radiation, dtype=torch.float64,
        )
        source = (list(elements), torch.from_numpy(xyz))
        r, g = calculator.gr(source)
        q, s_half = calculator.sq(source)
    # DebyeCalculator counts each pair once: double S(Q) - 1 and G(r) to the textbook (both orders) sums.
    return np.asarray(r, float), 2.0 * np.asarray(g, float), np.asarray(q, float), 1.0 + 2.0 * np.asarray(s_half)


def peak_fwhm(pattern: PDFPattern, near: float, window: float = 0.4) -> float:
    """Full width at half maximum (Å) of the highest G(r) peak within ``window`` Å of ``near``.

    A G(r) peak sits on a sloping negative baseline (the −4πρ₀r term), so half maximum is
    measured from the mean of the lowest G on either side of the peak within the window.
    """
    r, g = pattern.r, pattern.g
    around = np.flatnonzero(np.abs(r - near) <= window)
    if len(around) < 3:
        raise CrystalInputError(f"No G(r) points within {window} Å of r = {near} Å: pick a peak inside the grid.")
    top = around[np.argmax(g[around])]
    if top in (around[0], around[-1]):
        raise CrystalInputError(f"G(r) has no peak within {window} Å of r = {near} Å (it rises to the window's edge).")
    base = (g[around[0]:top].min() + g[top:around[-1] + 1].min()) / 2
    half = (g[top] + base) / 2
    left, right = top, top
    while g[left] > half:
        left -= 1
    while g[right] > half:
        right += 1
    # Linear interpolation of the two half-maximum crossings.
    r_left = np.interp(half, [g[left], g[left + 1]], [r[left], r[left + 1]])
    r_right = np.interp(half, [g[right], g[right - 1]], [r[right], r[right - 1]])
    return float(r_right - r_left)


def rms_amplitude(pattern: PDFPattern, r_range: tuple[float, float]) -> float:
    """Root-mean-square G(r) (Å⁻²) over ``r_range``: how much pair correlation is left at those distances."""
    inside = (pattern.r >= r_range[0]) & (pattern.r <= r_range[1])
    if inside.sum() < 2:
        raise CrystalInputError(f"The window {r_range} Å holds fewer than two points of the r grid.")
    return float(np.sqrt(np.mean(pattern.g[inside] ** 2)))


def _decorate(structure: Structure, site_index: np.ndarray, rng: np.random.Generator) -> list[str | None]:
    """One species per particle atom; a partially occupied site draws one (or a vacancy, None) per copy."""
    choices = []
    for site in structure:
        symbols = [species.symbol for species in site.species]
        weights = list(site.species.values())
        choices.append((symbols + [None], np.array(weights + [max(0.0, 1.0 - sum(weights))])))
    elements = []
    for index in site_index:
        symbols, weights = choices[index]
        if weights[0] == 1.0:
            elements.append(symbols[0])
        else:
            elements.append(symbols[rng.choice(len(symbols), p=weights / weights.sum())])
    return elements


def off_centre(structure: Structure, element: str, distance: float, *, seed: int | None = None) -> Structure:
    """A copy with every ``element`` atom moved ``distance`` Å along one of the eight body diagonals ⟨111⟩, at random.

    The classic model of local order without long-range order (Ti in BaTiO₃ above its Curie
    temperature): each atom is off-centre, but the directions are random, so the *average*
    cell keeps its symmetry and the Bragg peaks barely change, while every bond to the
    moved atoms becomes short or long. Use a supercell, so that the directions can differ.
    """
    check_structure(structure)
    if distance < 0:
        raise CrystalInputError(f"distance must be >= 0 Å, got {distance}.")
    indices = [i for i, site in enumerate(structure) if site.specie.symbol == element]
    if not indices:
        raise CrystalInputError(f"No {element} atom in {structure.composition.reduced_formula} to move.")
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(len(indices), 3))  # (K, 3)
    moved = structure.copy()
    for index, sign in zip(indices, signs, strict=True):
        moved.translate_sites([index], distance * sign / np.sqrt(3), frac_coords=False)
    return moved
