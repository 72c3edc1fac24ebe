"""Steering a VAE through its latent space: a property head on ``z`` and gradient steps on it.

Gómez-Bombarelli et al. (ACS Cent. Sci. 2018) showed the recipe for molecules, and CDVAE (Xie et al.,
ICLR 2022) used it for crystals: train a small network ``f(z)`` that predicts a property from a
crystal's latent vector, then move ``z`` down (or up) the gradient of ``f`` and decode the result.
Two things keep it honest:

* the decoder only knows the region of latent space that training crystals occupy, so each step also
  pays ``prior_weight * |z|^2 / 2`` (the negative log-density of the standard-normal prior, up to a
  constant): without it, ``z`` runs off to where ``f`` extrapolates and the decoder has never been;
* ``f`` is a model of the property, not the property: a gain ``f`` promises has to be checked on the
  decoded crystal by an independent calculation (notebook 04 uses CHGNet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Structure
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.errors import CrystalInputError

__all__ = ["LatentPath", "LatentPropertyHead", "fit_latent_property_head", "latent_means", "optimize_latent"]


class LatentPropertyHead(nn.Module):
    """``f(z)``: a two-layer MLP from a latent vector ``(B, D)`` to one property value ``(B,)``.

    The target is standardised inside (``mean`` and ``std`` buffers), so the network learns a unit-scale
    number and ``forward`` returns the property in its own units.
    """

    def __init__(self, latent_dim: int, hidden: int = 64) -> None:
        super().__init__()
        if latent_dim < 1 or hidden < 1:
            raise CrystalInputError(f"latent_dim and hidden must be positive, got {latent_dim} and {hidden}.")
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("std", torch.tensor(1.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise CrystalInputError(f"z must be (num_crystals, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.net(z).squeeze(-1) * self.std + self.mean


@torch.no_grad()
def latent_means(vae, structures: Sequence[Structure], batch_size: int = 256) -> torch.Tensor:
    """``(B, D)`` the posterior mean ``mu`` of each crystal under ``vae`` (its encoder, in chunks)."""
    structures = list(structures)
    if not structures:
        raise CrystalInputError("latent_means needs at least one structure.")
    chunks = []
    with vae._in_eval_mode():
        for start in range(0, len(structures), batch_size):
            mu, _ = vae.encode(CrystalBatch.from_structures(structures[start : start + batch_size]))
            chunks.append(mu.cpu())
    return torch.cat(chunks)


def fit_latent_property_head(
    z: torch.Tensor, values: Sequence[float] | np.ndarray, *, hidden: int = 64, steps: int = 500,
    learning_rate: float = 3e-3, weight_decay: float = 1e-3, seed: int = 0,
) -> LatentPropertyHead:
    """Fit ``f(z) ~ values`` by full-batch AdamW on the mean squared error (seeded, deterministic).

    Raises:
        CrystalInputError: ``z`` is not 2-D, the counts differ, fewer than 8 crystals, or a value is not finite.
    """
    values = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if z.dim() != 2:
        raise CrystalInputError(f"z must be (num_crystals, latent_dim), got shape {tuple(z.shape)}.")
    if values.dim() != 1 or len(values) != len(z):
        raise CrystalInputError(f"{len(z)} latent vectors but {tuple(values.shape)} values: give one value each.")
    if len(values) < 8:
        raise CrystalInputError(f"Only {len(values)} crystals: a property head needs at least 8 to fit.")
    if not torch.isfinite(values).all():
        raise CrystalInputError("Some property values are NaN or infinite: drop those crystals first.")
    torch.manual_seed(seed)
    head = LatentPropertyHead(z.shape[1], hidden)
    head.mean.fill_(values.mean())
    head.std.fill_(values.std().clamp_min(1e-6))
    target = (values - head.mean) / head.std
    z = z.detach().float()
    optimizer = torch.optim.AdamW(head.net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(steps):
        loss = ((head.net(z).squeeze(-1) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval()


@dataclass
class LatentPath:
    """Where gradient steps took each latent vector.

    Attributes:
        z: ``(steps + 1, B, D)``, ``z[0]`` the start.
        predicted: ``(steps + 1, B)`` the head's property at each point.
    """

    z: torch.Tensor
    predicted: torch.Tensor

    @property
    def start(self) -> torch.Tensor:
        return self.z[0]

    @property
    def end(self) -> torch.Tensor:
        return self.z[-1]


def optimize_latent(
    head: LatentPropertyHead, z_start: torch.Tensor, *, direction: str = "lower", steps: int = 100,
    step_size: float = 0.05, prior_weight: float = 1.0, max_distance: float | None = None,
) -> LatentPath:
    """Plain gradient steps on ``sign * f(z) + prior_weight * |z|^2 / 2`` from ``z_start`` ``(B, D)``.

    ``direction="lower"`` (sign +1) lowers the predicted property, ``"higher"`` (sign -1) raises it. Each
    crystal moves on its own (the objective is a sum over crystals, so one's gradient never touches another).
    ``max_distance`` is a trust region: after each step a latent further than this from its start is pulled
    back onto that sphere (projected gradient descent), so the head is never asked far from where it was fitted.

    Raises:
        CrystalInputError: an unknown direction, a negative step count, step size or prior weight, or a
            ``z_start`` of the wrong shape.
    """
    if direction not in ("lower", "higher"):
        raise CrystalInputError(f"direction must be 'lower' or 'higher', got {direction!r}.")
    if steps < 0 or step_size <= 0 or prior_weight < 0 or (max_distance is not None and max_distance <= 0):
        raise CrystalInputError(f"Need steps >= 0, step_size > 0, prior_weight >= 0 and max_distance > 0 (or None); "
                                f"got {steps}, {step_size}, {prior_weight}, {max_distance}.")
    if z_start.dim() != 2 or z_start.shape[1] != head.latent_dim:
        raise CrystalInputError(f"z_start must be (num_crystals, {head.latent_dim}), got {tuple(z_start.shape)}.")
    sign = 1.0 if direction == "lower" else -1.0
    z = z_start.detach().clone().float()
    path, predicted = [z.clone()], []
    for _ in range(steps):
        z.requires_grad_(True)
        value = head(z)
        objective = (sign * value + 0.5 * prior_weight * (z**2).sum(-1)).sum()
        (gradient,) = torch.autograd.grad(objective, z)
        predicted.append(value.detach())
        z = (z - step_size * gradient).detach()
        if max_distance is not None:
            offset = z - z_start
            length = offset.norm(dim=-1, keepdim=True)
            z = torch.where(length > max_distance, z_start + offset * (max_distance / length), z)
        path.append(z.clone())
    with torch.no_grad():
        predicted.append(head(z))
    return LatentPath(torch.stack(path), torch.stack(predicted))
