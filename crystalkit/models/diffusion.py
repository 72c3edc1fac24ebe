"""Diffusion for crystals, DiffCSP-style (Jiao et al., NeurIPS 2023).

Training corrupts a crystal at a random time ``t`` in (0, 1] and asks the
network to say how to undo it:

* the **lattice** gets DDPM noise (`noise.CosineSchedule`); the network
  predicts the noise. Its prediction is ``phi @ L_t``: an invariant 3x3 matrix
  ``phi`` read from the crystal's features, times the noisy lattice itself, so
  rotating the crystal rotates the prediction with it (equivariance);
* **fractional coordinates** get wrapped-normal noise on the torus
  (`noise.WrappedNormal`); the network predicts the score of that noise,
  divided by its typical size so that every noise level weighs the same,
  and without its mean over the crystal's atoms (a shift of the whole crystal
  changes nothing the invariant backbone can see);
* for **de novo** generation, the atom types get DDPM noise too and the
  network predicts that noise. DiffCSP diffuses 100-dimensional one-hot
  vectors; here each element is a 16-number *chemical code* (its standardised
  descriptors from `backbone.element_descriptors` plus a few fixed random
  numbers that tell every element apart), the compact atom tokens of
  Crystalite. Noise then blurs an element into its chemical neighbours before
  it erases it, and sampling decodes each atom to the nearest code among the
  elements of the training set.

Sampling starts from noise (a Gaussian lattice, uniform coordinates) and walks
back in ``num_steps`` steps with a *predictor-corrector* scheme (Song et al.
2021): at each step an optional Langevin *corrector* move at the current noise
level refines the coordinates, then the *predictor* (a reverse-SDE step for
the coordinates, an ancestral DDPM step for lattice and types) lowers the
noise level.

The lattice is diffused as ``L / N^(1/3)`` (N atoms): cell edges grow like the
cube root of the atom count, so this puts cells of every size on one scale.
Time runs from 0 (data) to 1 (noise).

Example::

    model = Diffusion(PeriodicBackbone(), DiffusionConfig())
    train(model, dataset, config=TrainConfig(max_minutes=5))
    structures = model.sample(["SrTiO3"], num_samples=4, num_steps=200)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.models.backbone import PeriodicBackbone
from crystalkit.models.dense import DenseCrystals
from crystalkit.models.generator import (
    CrystalGenerator,
    GeneratorConfig,
    TorusVectorHead,
    as_dense,
    masked_mean,
    remove_mean,
    uniform_frac,
)
from crystalkit.models.noise import CosineSchedule, WrappedNormal

__all__ = ["DiffusionConfig", "Diffusion"]


@dataclass
class DiffusionConfig(GeneratorConfig):
    """The diffusion process; fields shared with flow matching are in `GeneratorConfig`."""

    sigma_min: float = 0.005  # coordinate noise at t -> 0 (fractional): 0.02 Å in a 4 Å cell (DiffCSP)
    sigma_max: float = 0.5  # coordinate noise at t = 1: the wrapped normal is then uniform (DiffCSP)
    cosine_offset: float = 0.008  # the s of the cosine schedule (Nichol & Dhariwal 2021)
    coord_weight: float = 1.0  # coordinate and lattice targets both have unit size, so equal weights (DiffCSP)
    lattice_weight: float = 1.0  # see coord_weight
    type_weight: float = 1.0  # de novo only: type codes have unit variance per number, like the other targets
    type_code_extra: int = 4  # de novo only: random numbers added to the 12 descriptors so no two elements share a code
    num_steps: int = 200  # sampling steps; DiffCSP uses 1,000, but on Perov-5 the RMSE was 0.149 / 0.124 / 0.122
    # at 100 / 300 / 1,000 steps (same model, same match rate), so 200 costs little quality for 5x the speed
    corrector_step: float = 5e-7  # Langevin step gamma at sigma_min (scaled by (sigma/sigma_min)^2); 0 turns
    # the corrector off; DiffCSP recommends 5e-7 for Perov-5 and Carbon-24, 1e-5 for MP-20 and MPTS-52
    min_time: float = 1e-3  # smallest training time: the first of DiffCSP's 1,000 discrete steps


class Diffusion(CrystalGenerator):
    """Joint diffusion of lattice, coordinates (and types, de novo) around a `PeriodicBackbone`.

    Args:
        net: the backbone; any `PeriodicBackbone` works, so notebooks can swap sizes.
        config: the process; ``DiffusionConfig(task="de_novo")`` also diffuses atom types.
    """

    family = "diffusion"
    config_class = DiffusionConfig

    def __init__(self, net: PeriodicBackbone, config: DiffusionConfig | None = None) -> None:
        super().__init__(net, config or DiffusionConfig())
        config = self.config
        hidden = net.config.hidden_dim
        self.lattice_noise = CosineSchedule(config.cosine_offset)
        self.coord_noise = WrappedNormal(config.sigma_min, config.sigma_max)
        self.coord_head = TorusVectorHead(hidden)  # per atom: the (scaled) score of the coordinates
        self.lattice_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 9))  # phi
        self.type_head = None
        if config.task == "de_novo":
            codes = self._element_codes(net, config.type_code_extra)
            self.register_buffer("type_codes", codes)  # (K, D) one chemical code per element
            self.register_buffer("element_seen", torch.ones(len(codes), dtype=torch.bool))  # decodable elements
            self.type_head = nn.Linear(hidden, codes.shape[1])  # per atom: the noise on its type code
        for head in (self.lattice_head[-1], self.type_head):
            if head is not None:  # start by predicting zero: a calm first few hundred steps
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    @staticmethod
    def _cell_scale(mask: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 1)`` cube root of the atom count, the scale of the diffused lattice."""
        return mask.sum(dim=1).clamp(min=1).to(torch.float32).pow(1 / 3)[:, None, None]

    def heads(self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor], state: DenseCrystals) -> dict:
        atom_features, crystal_features, _ = features
        phi = self.lattice_head(crystal_features).reshape(-1, 3, 3)  # (B, 3, 3) invariant
        scaled_lattice = state.lattice / self._cell_scale(state.mask).to(state.lattice)  # (B, 3, 3)
        out = {
            "coords": self.coord_head(features, state),  # (B, N, 3)
            "lattice": phi @ scaled_lattice,  # (B, 3, 3): rotates with the lattice
        }
        if self.type_head is not None:
            out["types"] = self.type_head(atom_features)  # (B, N, K)
        return out

    # ------------------------------------------------------- de novo types
    @staticmethod
    def _element_codes(net: PeriodicBackbone, extra: int) -> torch.Tensor:
        """``(K, 12 + extra)`` chemical codes: the backbone's element descriptors and fixed random numbers."""
        generator = torch.Generator().manual_seed(0)  # the same codes in every run
        noise = 0.5 * torch.randn(net.descriptors.shape[0], extra, generator=generator)
        return torch.cat([net.descriptors.cpu(), noise], dim=1)

    def _type_input(self, codes: torch.Tensor) -> torch.Tensor:
        """Noisy codes ``(B, N, D)`` -> type weights ``(B, N, K)`` for the backbone (a fixed linear map)."""
        return codes @ self.type_codes.T / self.type_codes.shape[1]

    def decode_types(self, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Atomic numbers ``(B, N)``: the nearest code among elements seen in training (0 in padding)."""
        distances = torch.cdist(codes.reshape(-1, codes.shape[-1]), self.type_codes)  # (B*N, K)
        distances = distances.masked_fill(~self.element_seen, float("inf"))
        return (distances.argmin(dim=-1).reshape(mask.shape) + 1) * mask

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        super().fit_data_statistics(data)
        if self.type_head is not None:
            present = torch.bincount(data.types[data.mask].cpu() - 1, minlength=len(self.type_codes)) > 0
            self.element_seen.copy_(present.to(self.element_seen.device))

    def corrupt(self, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """The forward (noising) process at times ``t`` ``(B,)``: 0 is the crystal, 1 is pure noise.

        Returns the noisy crystals (``"state"``; de novo: with each atom's type
        decoded from its noisy chemical code), the backbone's type input
        (``"types"``) and the noise the network must learn to predict.
        """
        num_crystals, max_atoms = data.types.shape
        device = data.device
        scale = self._cell_scale(data.mask)
        lattice_noise = torch.randn(num_crystals, 3, 3, generator=generator, device=device)
        lattice_t = self.lattice_noise.add_noise(data.lattice / scale, t, lattice_noise)  # (B, 3, 3) scaled
        sigma = self.coord_noise.sigma(t)  # (B,)
        coord_noise = torch.randn(num_crystals, max_atoms, 3, generator=generator, device=device)
        frac_t = self.coord_noise.add_noise(data.frac, sigma, coord_noise)  # (B, N, 3)
        score = self.coord_noise.score(frac_t - data.frac, sigma)  # (B, N, 3), true score of the noise
        # Divided by its typical size, and without each crystal's mean: a common shift of all atoms is
        # invisible to the translation-invariant backbone, so that part of the noise cannot be predicted.
        score_target = remove_mean(score / self.coord_noise.score_scale(sigma)[:, None, None], data.mask)
        state = data.replace(frac=frac_t, lattice=lattice_t * scale)
        out = {"state": state, "types": data.types, "lattice_noise": lattice_noise, "score_target": score_target}
        if self.type_head is not None:
            codes = self.type_codes[(data.types - 1).clamp(min=0)] * data.mask.unsqueeze(-1)  # (B, N, D)
            type_noise = torch.randn(codes.shape, generator=generator, device=device)
            noisy_codes = self.lattice_noise.add_noise(codes, t, type_noise)
            out.update(types=self._type_input(noisy_codes), type_noise=type_noise,
                       state=self._finished(state, noisy_codes))
        return out

    def loss(self, batch: DenseCrystals | CrystalBatch, generator: torch.Generator | None = None) -> dict:
        """Denoising losses at a random time per crystal (see the module docstring)."""
        data = as_dense(batch)
        num_crystals = data.num_crystals
        device, config = data.device, self.config
        t = config.min_time + (1 - config.min_time) * torch.rand(num_crystals, generator=generator, device=device)
        noisy = self.corrupt(data, t, generator)
        hide = None
        if self.condition_embedding is not None and self.training:
            hide = torch.rand(num_crystals, generator=generator, device=device) < config.condition_dropout
        # The backbone sees the noisy lattice and coordinates (and, de novo, the noisy type codes).
        predicted = self.predict(noisy["types"], noisy["state"], t, hide_condition=hide)

        losses = {
            "lattice": F.mse_loss(predicted["lattice"], noisy["lattice_noise"]),
            "coords": masked_mean((predicted["coords"] - noisy["score_target"]) ** 2, data.mask),
        }
        total = config.lattice_weight * losses["lattice"] + config.coord_weight * losses["coords"]
        if self.type_head is not None:
            losses["types"] = masked_mean((predicted["types"] - noisy["type_noise"]) ** 2, data.mask)
            total = total + config.type_weight * losses["types"]
        losses["loss"] = total
        return losses

    def _sampler(
        self, template: DenseCrystals, num_steps: int, generator: torch.Generator, guidance_scale: float
    ) -> Iterator[DenseCrystals]:
        """Predictor-corrector sampling from noise, yielding the state after every step."""
        device, config = template.device, self.config
        num_crystals, max_atoms = template.types.shape
        mask = template.mask
        scale = self._cell_scale(mask)

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, device=device)

        lattice = randn(num_crystals, 3, 3)  # scaled lattice, from the DDPM prior N(0, I)
        frac = uniform_frac((num_crystals, max_atoms, 3), generator, device)
        de_novo = self.type_head is not None
        codes = randn(num_crystals, max_atoms, self.type_codes.shape[1]) * mask.unsqueeze(-1) if de_novo else None
        types = self._type_input(codes) if de_novo else template.types
        state = template.replace(frac=frac, lattice=lattice * scale)
        yield self._finished(state, codes)

        times = torch.linspace(1.0, 0.0, num_steps + 1).tolist()
        for t, s in itertools.pairwise(times):
            t_batch = torch.full((num_crystals,), t, device=device)
            sigma_t = float(self.coord_noise.sigma(torch.tensor(t)))
            sigma_s = float(self.coord_noise.sigma(torch.tensor(s)))
            score_scale = self.coord_noise.score_scale(torch.tensor(sigma_t, device=device))
            if config.corrector_step > 0:  # corrector: a Langevin move at the current noise level
                predicted = self.predict(types, state, t_batch, guidance_scale)
                step = config.corrector_step * (sigma_t / config.sigma_min) ** 2
                frac = self.coord_noise.langevin_step(frac, predicted["coords"] * score_scale, step,
                                                      randn(*frac.shape))
                state = state.replace(frac=frac)
            predicted = self.predict(types, state, t_batch, guidance_scale)  # predictor: lower the noise
            frac = self.coord_noise.reverse_step(frac, predicted["coords"] * score_scale, sigma_t, sigma_s,
                                                 randn(*frac.shape))
            lattice = self.lattice_noise.reverse_step(lattice, predicted["lattice"], t, s, randn(*lattice.shape))
            if de_novo:
                codes = self.lattice_noise.reverse_step(codes, predicted["types"], t, s, randn(*codes.shape))
                codes = codes * mask.unsqueeze(-1)
                types = self._type_input(codes)
            state = state.replace(frac=frac, lattice=lattice * scale)
            yield self._finished(state, codes)

    def _finished(self, state: DenseCrystals, codes: torch.Tensor | None) -> DenseCrystals:
        """The state with atomic numbers (de novo: decoded from the current type codes)."""
        return state if codes is None else state.replace(types=self.decode_types(codes, state.mask))
