"""Helpers for the model tests: tiny crystals, symmetry transforms, one-line invariance checks."""

from __future__ import annotations

import math

import torch
from pymatgen.core import Lattice, Structure

from crystalkit.data import DenseCrystals
from crystalkit.models import BackboneConfig, PeriodicBackbone

TINY = BackboneConfig(hidden_dim=16, num_layers=2, num_frequencies=3, num_distance_features=6, time_frequencies=4,
                      num_heads=2)

# (formula sites, lattice constant Å) of cubic ABX3 perovskites: A at the corner, B at the centre.
PEROVSKITES = [
    (("Sr", "Ti", "O"), 3.905),
    (("Ba", "Ti", "O"), 4.00),
    (("Ca", "Ti", "O"), 3.84),
    (("K", "Nb", "O"), 4.02),
    (("La", "Al", "O"), 3.79),
    (("Na", "Ta", "O"), 3.93),
]


def perovskite(a_site: str, b_site: str, anion: str, length: float) -> Structure:
    return Structure(
        Lattice.cubic(length),
        [a_site, b_site, anion, anion, anion],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def perovskites() -> list[Structure]:
    return [perovskite(*sites, length) for sites, length in PEROVSKITES]


def tiny_backbone(seed: int = 0) -> PeriodicBackbone:
    torch.manual_seed(seed)
    return PeriodicBackbone(TINY)


def random_crystals(num_crystals: int = 3, num_atoms: int = 6, seed: int = 0,
                    dtype: torch.dtype = torch.float64) -> DenseCrystals:
    """Random triclinic cells with random atoms (no symmetry to hide a bug)."""
    generator = torch.Generator().manual_seed(seed)
    frac = torch.rand(num_crystals, num_atoms, 3, generator=generator, dtype=dtype)
    lattice = torch.eye(3, dtype=dtype) * 4.0 + torch.rand(num_crystals, 3, 3, generator=generator, dtype=dtype)
    types = torch.randint(1, 90, (num_crystals, num_atoms), generator=generator)
    mask = torch.ones(num_crystals, num_atoms, dtype=torch.bool)
    return DenseCrystals(types=types, frac=frac, lattice=lattice, mask=mask)


def random_rotation(seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A proper rotation matrix (det +1) from the QR decomposition of a random matrix."""
    generator = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def rotate(crystals: DenseCrystals, rotation: torch.Tensor) -> DenseCrystals:
    """Rotate every crystal in space: each cell vector (a row of L) becomes R @ vector."""
    return crystals.replace(lattice=crystals.lattice @ rotation.T)


def permute(crystals: DenseCrystals, order: torch.Tensor) -> DenseCrystals:
    """Reorder the atoms of every crystal."""
    return crystals.replace(types=crystals.types[:, order], frac=crystals.frac[:, order],
                            mask=crystals.mask[:, order])


def translate(crystals: DenseCrystals, shift: torch.Tensor) -> DenseCrystals:
    """Shift every atom by the same fractional vector, wrapping back into the cell."""
    frac = crystals.frac + shift
    return crystals.replace(frac=frac - torch.floor(frac))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, tolerance: float = 1e-9) -> None:
    error = float((actual - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    assert error <= tolerance * scale, f"{what}: max deviation {error:.3g} (scale {scale:.3g})"
    assert math.isfinite(error)
