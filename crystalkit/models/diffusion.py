"""Diffusion for crystals, DiffCSP-style (Jiao et al., NeurIPS 2023).

Training corrupts a crystal at a random time ``t`` in (0, 1] and asks the
network to say how to undo it:

* the **lattice** gets DDPM noise (`noise.CosineSchedule`, the model's
  ``ddpm_schedule``); the network predicts the noise. Its prediction is ``phi @ L_t``: an invariant 3x3 matrix
  ``phi`` read from the crystal's features, times the noisy lattice itself, so
  rotating the crystal rotates the prediction with it (equivariance);
* **fractional coordinates** get wrapped-normal noise on the torus
  (`noise.WrappedNormal`); the network predicts the score of that noise,
  divided by its typical size so that every noise level weighs the same,
  and without its mean over the crystal's atoms (a shift of the whole crystal
  changes nothing the invariant backbone can see);
* for **de novo** generation, the atom types get DDPM noise too (the same
  ``ddpm_schedule``) and the network predicts that noise. DiffCSP diffuses 100-dimensional one-hot
  vectors; here each element is a 16-number *chemical code* (its standardised
  descriptors from `backbone.element_descriptors` plus a few fixed random
  numbers that tell every element apart), the compact atom tokens of
  Crystalite. Noise then blurs an element into its chemical neighbours before
  it erases it, and sampling decodes each atom to the nearest code among the
  elements of the training set. The type-code process is written in one
  section at the end of the class, so the rest reads as CSP diffusion.

Sampling starts from noise (a Gaussian lattice, uniform coordinates) and walks
back in ``num_steps`` steps with a *predictor-corrector* scheme (Song et al.
2021): at each step an optional Langevin *corrector* move at the current noise
level refines the coordinates, then the *predictor* (a reverse-SDE step for
the coordinates, an ancestral DDPM step for lattice and types) lowers the
noise level.

The lattice is diffused as ``L / N^(1/3)`` (N atoms, `backbone.cube_root_atom_count`):
cell edges grow like the cube root of the atom count, so this puts cells of
every size on one scale.
Time runs from 0 (data) to 1 (noise).

Example::

    model = Diffusion(PeriodicBackbone(), DiffusionConfig())
    train(model, dataset, config=TrainConfig(max_minutes=5))
    structures = model.sample(["SrTiO3"], num_samples=4, num_steps=200)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from crystalkit.data.dense import DenseCrystals
from crystalkit.models.backbone import BackboneFeatures, PeriodicBackbone, cube_root_atom_count
from crystalkit.models.generator import (
    CrystalGenerator,
    GeneratorConfig,
    Prediction,
    Targets,
    elements_present,
    masked_mean,
)
from crystalkit.models.heads import TorusVectorHead, remove_mean
from crystalkit.models.noise import CosineSchedule, WrappedNormal

__all__ = ["DiffusionConfig", "Diffusion", "DiffusionTargets", "DiffusionPrediction"]


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
    num_steps: int = 200  # sampling steps; DiffCSP uses 1,000, but on Perov-5 200 cost little quality for a
    # fifth of the time (measured: benchmarks/RESULTS.md, "Sampler settings")
    corrector_step: float = 5e-7  # Langevin step gamma at sigma_min (scaled by (sigma/sigma_min)^2); 0 turns
    # the corrector off; DiffCSP recommends 5e-7 for Perov-5 and Carbon-24, 1e-5 for MP-20 and MPTS-52
    min_time: float = 1e-3  # smallest training time: the first of DiffCSP's 1,000 discrete steps


@dataclass(frozen=True)
class DiffusionTargets(Targets):
    """What ``Diffusion.corrupt`` makes: the noisy crystals (``state``, ``types``) and the noise to name."""

    coord_score: torch.Tensor  # (B, N, 3) score of the coordinate noise, over its typical size, mean removed
    lattice_noise: torch.Tensor  # (B, 3, 3) the standard normal noise added to the scaled lattice
    type_noise: torch.Tensor | None = None  # (B, N, D) de novo: the noise added to the type codes


@dataclass(frozen=True)
class DiffusionPrediction(Prediction):
    """What the network says about a noisy crystal: its estimate of each `DiffusionTargets` field."""

    coord_score: torch.Tensor  # (B, N, 3)
    lattice_noise: torch.Tensor  # (B, 3, 3), rotates with the lattice
    type_noise: torch.Tensor | None = None  # (B, N, D), de novo only


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
        self.ddpm_schedule = CosineSchedule(config.cosine_offset)  # DDPM noise of the lattice (and type codes)
        self.coord_noise = WrappedNormal(config.sigma_min, config.sigma_max)
        self.coord_head = TorusVectorHead(hidden)  # per atom: the (scaled) score of the coordinates
        self.lattice_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 9))  # phi
        self.type_head = None
        if config.task == "de_novo":  # the type-code process: see the last section of the class
            codes = self._element_codes(net, config.type_code_extra)
            self.register_buffer("type_codes", codes)  # (K, D) one chemical code per element
            self.register_buffer("element_seen", torch.ones(len(codes), dtype=torch.bool))  # decodable elements
            self.type_head = nn.Linear(hidden, codes.shape[1])  # per atom: the noise on its type code
        for head in (self.lattice_head[-1], self.type_head):
            if head is not None:  # start by predicting zero: a calm first few hundred steps
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    # ----------------------------------------------------------- the lattice
    def scaled_lattice(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 3)`` the diffused form of lattices in Å: ``L / N^(1/3)``."""
        return lattice / cube_root_atom_count(mask.sum(dim=1)).to(lattice)[:, None, None]

    def lattice_in_angstrom(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 3)`` lattices in Å from their scaled form ``L / N^(1/3)``."""
        return lattice * cube_root_atom_count(mask.sum(dim=1)).to(lattice)[:, None, None]

    def lattice_prior(self, num_crystals: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """``(B, 3, 3)`` scaled lattices from the DDPM prior, a standard normal per entry."""
        return torch.randn(num_crystals, 3, 3, generator=generator, device=device)

    # ----------------------------------------------------------- the network
    def heads(self, features: BackboneFeatures, state: DenseCrystals) -> DiffusionPrediction:
        phi = self.lattice_head(features.crystal).reshape(-1, 3, 3)  # (B, 3, 3) invariant
        return DiffusionPrediction(
            coord_score=self.coord_head(features, state),  # (B, N, 3)
            lattice_noise=phi @ self.scaled_lattice(state.lattice, state.mask),  # (B, 3, 3): rotates with L
            type_noise=None if self.type_head is None else self.type_head(features.atoms),  # (B, N, D)
        )

    # ------------------------------------------------------------- training
    def training_times(
        self, num_crystals: int, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        """``(B,)`` uniform in ``[min_time, 1)``: every noise level but the very cleanest."""
        config = self.config
        return config.min_time + (1 - config.min_time) * torch.rand(num_crystals, generator=generator, device=device)

    def corrupt(
        self, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> DiffusionTargets:
        """The forward (noising) process at times ``t`` ``(B,)``: 0 is the crystal, 1 is pure noise.

        Returns the noisy crystals (de novo: with each atom's type decoded from
        its noisy chemical code), the backbone's type input and the noise the
        network must learn to predict. Draws: lattice noise, coordinate noise,
        then (de novo) type-code noise.
        """
        lattice_noise = torch.randn(data.num_crystals, 3, 3, generator=generator, device=data.device)
        lattice_t = self.ddpm_schedule.add_noise(self.scaled_lattice(data.lattice, data.mask), t, lattice_noise)
        sigma = self.coord_noise.sigma(t)  # (B,)
        coord_noise = torch.randn(data.frac.shape, generator=generator, device=data.device)  # (B, N, 3)
        frac_t = self.coord_noise.add_noise(data.frac, sigma, coord_noise)  # (B, N, 3)
        score = self.coord_noise.score(frac_t - data.frac, sigma)  # (B, N, 3), true score of the noise
        # Divided by its typical size, and without each crystal's mean: a common shift of all atoms is
        # invisible to the translation-invariant backbone, so that part of the noise cannot be predicted.
        coord_score = remove_mean(score / self.coord_noise.score_scale(sigma)[:, None, None], data.mask)
        targets = DiffusionTargets(state=self.with_geometry(data, frac_t, lattice_t), types=data.types,
                                   coord_score=coord_score, lattice_noise=lattice_noise)
        return targets if self.type_head is None else self._noise_type_codes(targets, data, t, generator)

    def loss_terms(
        self, predicted: DiffusionPrediction, targets: DiffusionTargets, mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Mean squared errors of the predicted noise and scores (see the module docstring)."""
        config = self.config
        losses = {
            "lattice": F.mse_loss(predicted.lattice_noise, targets.lattice_noise),
            "coords": masked_mean((predicted.coord_score - targets.coord_score) ** 2, mask),
        }
        total = config.lattice_weight * losses["lattice"] + config.coord_weight * losses["coords"]
        if targets.type_noise is not None:
            losses["types"] = masked_mean((predicted.type_noise - targets.type_noise) ** 2, mask)
            total = total + config.type_weight * losses["types"]
        losses["loss"] = total
        return losses

    # ------------------------------------------------------------- sampling
    def _sampler(
        self, template: DenseCrystals, num_steps: int, generator: torch.Generator, guidance_scale: float
    ) -> Iterator[DenseCrystals]:
        """Predictor-corrector sampling from noise, yielding the state after every step."""
        device, config = template.device, self.config

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, device=device)

        # The order of the draws is what a seed means: lattice, coordinates, (de novo) type codes.
        lattice = self.lattice_prior(template.num_crystals, generator, device)  # (B, 3, 3) scaled
        frac = self.coordinate_prior(template, generator)  # (B, N, 3)
        codes = self._type_code_prior(template, generator)  # (B, N, D); None for CSP
        types = template.types if codes is None else self._type_input(codes)
        state = self.with_geometry(template, frac, lattice)
        yield self._with_decoded_types(state, codes)

        times = torch.linspace(1.0, 0.0, num_steps + 1).tolist()
        for t, t_next in itertools.pairwise(times):  # t_next < t: towards the data
            t_batch = torch.full((template.num_crystals,), t, device=device)
            sigma_t = float(self.coord_noise.sigma(torch.tensor(t)))
            sigma_next = float(self.coord_noise.sigma(torch.tensor(t_next)))
            score_scale = self.coord_noise.score_scale(torch.tensor(sigma_t, device=device))
            if config.corrector_step > 0:  # corrector: a Langevin move at the current noise level
                predicted = self.predict(types, state, t_batch, guidance_scale)
                step = config.corrector_step * (sigma_t / config.sigma_min) ** 2
                frac = self.coord_noise.langevin_step(frac, predicted.coord_score * score_scale, step,
                                                      randn(*frac.shape))
                state = state.replace(frac=frac)
            predicted = self.predict(types, state, t_batch, guidance_scale)  # predictor: lower the noise
            frac = self.coord_noise.reverse_step(frac, predicted.coord_score * score_scale, sigma_t, sigma_next,
                                                 randn(*frac.shape))
            lattice = self.ddpm_schedule.reverse_step(lattice, predicted.lattice_noise, t, t_next,
                                                      randn(*lattice.shape))
            if codes is not None:
                codes, types = self._type_code_step(codes, predicted.type_noise, t, t_next, template.mask, generator)
            state = self.with_geometry(state, frac, lattice)
            yield self._with_decoded_types(state, codes)

    # ------------------------------------------- de novo: the type-code process
    # Everything below runs only for task="de_novo" (``type_head`` is not None): each element has a
    # chemical code, atoms carry noisy codes, and the network predicts the noise on them (DDPM, with
    # the same ddpm_schedule as the lattice). A CSP model never calls these.
    @staticmethod
    def _element_codes(net: PeriodicBackbone, extra: int) -> torch.Tensor:
        """``(K, 12 + extra)`` chemical codes: the backbone's element descriptors and fixed random numbers."""
        generator = torch.Generator().manual_seed(0)  # the same codes in every run
        noise = 0.5 * torch.randn(net.descriptors.shape[0], extra, generator=generator)
        return torch.cat([net.descriptors.cpu(), noise], dim=1)

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        """The shared statistics and, de novo, which elements occur in training (only those are decoded)."""
        super().fit_data_statistics(data)
        if self.type_head is not None:
            self.element_seen.copy_(elements_present(data, len(self.type_codes)).to(self.element_seen.device))

    def _type_input(self, codes: torch.Tensor) -> torch.Tensor:
        """Noisy codes ``(B, N, D)`` -> type weights ``(B, N, K)`` for the backbone (a fixed linear map)."""
        return codes @ self.type_codes.T / self.type_codes.shape[1]

    def decode_types(self, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Atomic numbers ``(B, N)``: the nearest code among elements seen in training (0 in padding)."""
        distances = torch.cdist(codes.reshape(-1, codes.shape[-1]), self.type_codes)  # (B*N, K)
        distances = distances.masked_fill(~self.element_seen, float("inf"))
        return (distances.argmin(dim=-1).reshape(mask.shape) + 1) * mask

    def _with_decoded_types(self, state: DenseCrystals, codes: torch.Tensor | None) -> DenseCrystals:
        """``state`` with each atom's type decoded from its current code (CSP, ``codes`` None: unchanged)."""
        return state if codes is None else state.replace(types=self.decode_types(codes, state.mask))

    def _noise_type_codes(
        self, targets: DiffusionTargets, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None
    ) -> DiffusionTargets:
        """Training: noise every atom's code; the network reads the noisy codes and must name the noise."""
        codes = self.type_codes[(data.types - 1).clamp(min=0)] * data.mask.unsqueeze(-1)  # (B, N, D)
        type_noise = torch.randn(codes.shape, generator=generator, device=data.device)
        noisy_codes = self.ddpm_schedule.add_noise(codes, t, type_noise)
        return replace(targets, types=self._type_input(noisy_codes), type_noise=type_noise,
                       state=self._with_decoded_types(targets.state, noisy_codes))

    def _type_code_prior(self, template: DenseCrystals, generator: torch.Generator) -> torch.Tensor | None:
        """Sampling starts from standard normal codes ``(B, N, D)`` (zero in padding); None for CSP."""
        if self.type_head is None:
            return None
        codes = torch.randn(*template.types.shape, self.type_codes.shape[1], generator=generator,
                            device=template.device)
        return codes * template.mask.unsqueeze(-1)

    def _type_code_step(
        self, codes: torch.Tensor, predicted_noise: torch.Tensor, t: float, t_next: float, mask: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral DDPM step of the codes from ``t`` to ``t_next``: ``(codes, type weights for the net)``."""
        noise = torch.randn(codes.shape, generator=generator, device=codes.device)
        codes = self.ddpm_schedule.reverse_step(codes, predicted_noise, t, t_next, noise) * mask.unsqueeze(-1)
        return codes, self._type_input(codes)
