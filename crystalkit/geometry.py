"""Small pure functions for the geometry of periodic cells, in PyTorch.

Conventions used everywhere in the kit (the same as pymatgen):

* a lattice is a ``(3, 3)`` matrix whose **rows** are the cell vectors
  a, b, c in Å; a batch of lattices is ``(B, 3, 3)``;
* fractional coordinates ``f`` and Cartesian coordinates ``r`` are related by
  ``r = f @ L`` (row vectors);
* angles are in **degrees**: alpha between b and c, beta between a and c,
  gamma between a and b.

Every function works on any leading batch shape and keeps the dtype and
device of its input, so the models can call them on GPU tensors.
"""

from __future__ import annotations

import torch

__all__ = [
    "lattice_from_parameters",
    "lattice_to_parameters",
    "cell_volume",
    "frac_to_cart",
    "cart_to_frac",
    "wrap_frac",
    "minimum_image_frac",
]


def lattice_from_parameters(lengths: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Build lattice matrices from lengths (Å) and angles (degrees).

    Uses pymatgen's standard orientation (``Lattice.from_parameters``): c lies
    along z and a lies in the xz plane, so a round trip through pymatgen gives
    the same matrix.

    Args:
        lengths: ``(..., 3)`` cell lengths a, b, c in Å.
        angles: ``(..., 3)`` cell angles alpha, beta, gamma in degrees.

    Returns:
        ``(..., 3, 3)`` lattice matrices, rows are the cell vectors.
    """
    alpha, beta, gamma = torch.deg2rad(angles).unbind(-1)
    a, b, c = lengths.unbind(-1)
    cos_alpha, cos_beta, cos_gamma = torch.cos(alpha), torch.cos(beta), torch.cos(gamma)
    sin_alpha, sin_beta = torch.sin(alpha), torch.sin(beta)
    # gamma* is the angle between the reciprocal vectors a* and b*.
    cos_gamma_star = ((cos_alpha * cos_beta - cos_gamma) / (sin_alpha * sin_beta)).clamp(-1.0, 1.0)
    gamma_star = torch.arccos(cos_gamma_star)
    zero = torch.zeros_like(a)
    vector_a = torch.stack([a * sin_beta, zero, a * cos_beta], dim=-1)
    vector_b = torch.stack(
        [-b * sin_alpha * torch.cos(gamma_star), b * sin_alpha * torch.sin(gamma_star), b * cos_alpha], dim=-1
    )
    vector_c = torch.stack([zero, zero, c], dim=-1)
    return torch.stack([vector_a, vector_b, vector_c], dim=-2)  # (..., 3, 3)


def lattice_to_parameters(lattice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lengths (Å) and angles (degrees) of lattice matrices ``(..., 3, 3)``."""
    lengths = torch.linalg.norm(lattice, dim=-1)  # (..., 3)
    a, b, c = lattice.unbind(-2)

    def angle(u: torch.Tensor, v: torch.Tensor, nu: torch.Tensor, nv: torch.Tensor) -> torch.Tensor:
        cosine = ((u * v).sum(-1) / (nu * nv)).clamp(-1.0, 1.0)
        return torch.rad2deg(torch.arccos(cosine))

    la, lb, lc = lengths.unbind(-1)
    angles = torch.stack([angle(b, c, lb, lc), angle(a, c, la, lc), angle(a, b, la, lb)], dim=-1)
    return lengths, angles


def cell_volume(lattice: torch.Tensor) -> torch.Tensor:
    """Cell volume in Å^3 of lattice matrices ``(..., 3, 3)``."""
    return torch.linalg.det(lattice).abs()


def frac_to_cart(frac: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Cartesian coordinates ``(..., N, 3)`` from fractional ones and a lattice ``(..., 3, 3)``."""
    return frac @ lattice


def cart_to_frac(cart: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Fractional coordinates ``(..., N, 3)`` from Cartesian ones and a lattice ``(..., 3, 3)``."""
    return cart @ torch.linalg.inv(lattice)


def wrap_frac(frac: torch.Tensor) -> torch.Tensor:
    """Wrap fractional coordinates into [0, 1): the crystal lives on a torus."""
    return frac - torch.floor(frac)


def minimum_image_frac(delta: torch.Tensor) -> torch.Tensor:
    """Fractional displacement wrapped into [-0.5, 0.5): the shortest way round the torus.

    For strongly skewed cells the Cartesian minimum image can differ from this
    fractional one; for the nearly-reduced cells the kit uses it is the
    standard cheap choice (as in DiffCSP and FlowMM).
    """
    return delta - torch.round(delta)

