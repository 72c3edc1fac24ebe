"""Output heads and conditioning that every family builds on the backbone's features.

The backbone (`backbone.PeriodicBackbone`) says what it sees; a head turns
that into what a generative process needs:

* :class:`TorusVectorHead` — one vector per atom on the torus of fractional
  coordinates: diffusion reads it as a (scaled) score, flow matching as a
  velocity. It is invariant to rotations and translations of the crystal and
  permuted with its atoms, like the features it is built from;
* :class:`ConditionEmbedding` — a property label (a formation energy in
  eV/atom, a band gap in eV) as a vector added to the backbone's crystal
  context, with a learned vector for "unknown" that classifier-free guidance
  needs (see `generator.CrystalGenerator.predict`);
* :func:`remove_mean` — per-atom vectors without their mean over the crystal:
  a common shift of all atoms is invisible to the invariant backbone, so no
  head should predict one.
"""

from __future__ import annotations

import torch
from torch import nn

from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.models.backbone import BackboneFeatures, sinusoidal_embedding

__all__ = ["ConditionEmbedding", "TorusVectorHead", "remove_mean"]


def remove_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Subtract each crystal's mean over its atoms from per-atom vectors ``(B, N, 3)`` (padding stays 0)."""
    weights = mask.unsqueeze(-1).to(values.dtype)  # (B, N, 1)
    mean = (values * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1)  # (B, 1, 3)
    return (values - mean) * weights


class ConditionEmbedding(nn.Module):
    """A scalar property label -> ``(B, H)`` vector, with a learned vector for "unknown".

    Labels are standardised with the training set's mean and standard
    deviation (buffers filled by ``fit``), so the same code serves eV/atom and
    band gaps in eV. NaN marks an unknown label.
    """

    def __init__(self, hidden_dim: int, num_frequencies: int = 16) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies
        self.mlp = nn.Sequential(
            nn.Linear(2 * num_frequencies, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.unknown = nn.Parameter(torch.zeros(hidden_dim))
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def fit(self, labels: torch.Tensor) -> None:
        """Take the labels' mean and spread from the training set ``(B,)`` (NaN entries ignored)."""
        known = labels[~torch.isnan(labels)]
        if known.numel() == 0:
            raise CrystalInputError("A conditional model needs labels, but every training label is NaN or missing.")
        self.mean.fill_(float(known.mean()))
        self.std.fill_(float(known.std()) if known.numel() > 1 and float(known.std()) > 0 else 1.0)

    def forward(self, labels: torch.Tensor, hide: torch.Tensor | None = None) -> torch.Tensor:
        """``labels`` (B,) in the label's units, NaN = unknown; ``hide`` (B,) bool hides some on purpose."""
        unknown = torch.isnan(labels) if hide is None else torch.isnan(labels) | hide
        scaled = torch.nan_to_num((labels - self.mean) / self.std)  # (B,) about unit scale
        # Squash to (0, 1) so the sinusoids see a bounded input, then embed.
        embedded = self.mlp(sinusoidal_embedding(torch.sigmoid(scaled), self.num_frequencies, max_period=100.0))
        return torch.where(unknown.unsqueeze(-1), self.unknown.expand_as(embedded), embedded)  # (B, H)


class TorusVectorHead(nn.Module):
    """Per-atom vectors on the torus (a score or a velocity of fractional coordinates).

    Two parts, both unchanged by rotations and translations of the crystal and
    permuted with its atoms:

    * a per-atom term, a linear map of the atom's features;
    * a sum of pair "forces": atom j pushes atom i along each axis by
      ``sum_k w_ijk sin(2 pi k (f_j - f_i))``, with weights ``w`` read from the
      pair's features. The sines make the push periodic and smooth (it vanishes
      when j sits exactly half a cell away, where "towards j" is ambiguous),
      and expressing the output through the pair geometry itself lets the
      network place an atom precisely relative to its neighbours.

    Both parts start at zero, so an untrained model predicts no motion.
    """

    def __init__(self, hidden_dim: int, num_harmonics: int = 2) -> None:
        super().__init__()
        self.num_harmonics = num_harmonics
        self.per_atom = nn.Linear(hidden_dim, 3)
        self.per_pair = nn.Linear(hidden_dim, 3 * num_harmonics)
        for layer in (self.per_atom, self.per_pair):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, features: BackboneFeatures, state: DenseCrystals) -> torch.Tensor:
        """``(B, N, 3)`` vectors in fractional units per unit time, without a net drift of any crystal."""
        batch, num_atoms, _ = features.atoms.shape
        delta = state.frac.unsqueeze(1) - state.frac.unsqueeze(2)  # (B, N, N, 3): f_j - f_i
        k = torch.arange(1, self.num_harmonics + 1, device=delta.device, dtype=delta.dtype)  # (K,)
        basis = torch.sin(2 * torch.pi * delta.unsqueeze(-1) * k)  # (B, N, N, 3, K)
        weights = self.per_pair(features.pairs).reshape(batch, num_atoms, num_atoms, 3, self.num_harmonics)
        weights = weights * state.mask[:, None, :, None, None]  # padding pushes nobody
        count = state.mask.sum(1).clamp(min=1).to(features.atoms.dtype)[:, None, None]  # (B, 1, 1)
        pushes = (weights * basis).sum(dim=(2, 4)) / count  # (B, N, 3)
        return remove_mean(self.per_atom(features.atoms) + pushes, state.mask)  # no net drift of the whole crystal
