"""Flow matching for crystals, FlowMM-style (Miller et al., ICML 2024).

Flow matching learns a velocity field that carries samples of a simple prior
to the data along prescribed paths (Lipman et al. 2023). The paths here are
the straightest ones each space allows:

* **fractional coordinates** start uniform on the torus and move along the
  geodesic, the shortest way round: ``f_t = wrap(f_0 + t * u)`` with
  ``u = minimum_image(f_1 - f_0)``, so the velocity to learn is the constant
  ``u``. A shift of the whole crystal is invisible to the invariant backbone,
  so each crystal's mean velocity is removed from target and prediction alike;
* the **lattice** moves in a space of its six parameters, where straight lines
  stay sensible cells: ``log(length / N^(1/3))``, standardised with the
  training set's mean and spread, and ``(angle - 90°) / 30°``. The prior is a
  standard normal for the lengths and uniform 60°-120° angles (FlowMM).

Sampling integrates the learned ODE with ``num_steps`` Euler steps. Few steps
work because the paths are straight: this is the family's speed lever over
diffusion. Optionally the coordinate velocity is scaled by ``1 + s t`` late in
sampling (FlowMM's inference "anti-annealing"), which settles atoms onto their
sites more firmly.

Time runs from 0 (prior) to 1 (data), the usual convention of the flow
matching papers (the opposite of diffusion's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import lattice_from_parameters, lattice_to_parameters, minimum_image_frac, wrap_frac
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

__all__ = ["FlowConfig", "FlowMatching"]


@dataclass
class FlowConfig(GeneratorConfig):
    """The flow; fields shared with diffusion are in `GeneratorConfig`."""

    num_steps: int = 50  # Euler steps when sampling; straight paths need few (FlowMM reports good CSP at 50-250)
    coord_weight: float = 10.0  # coordinate velocities (std ~0.29 of a cell) weigh ~as much as lattice ones (~1)
    lattice_weight: float = 1.0  # see coord_weight
    angle_spread: float = 30.0  # degrees: prior angles are uniform in 90 +- 30, where reduced cells live
    coord_anneal: float = 2.0  # s in the velocity factor 1 + s t when sampling (0: the ODE as learned); on Perov-5
    # s = 2 cut the RMSE from 0.23 to 0.13 for one point of match rate (FlowMM also anneals)


class FlowMatching(CrystalGenerator):
    """Riemannian flow matching of lattice and coordinates around a `PeriodicBackbone` (CSP).

    Args:
        net: the backbone.
        config: the flow.
    """

    family = "flow"
    config_class = FlowConfig

    def __init__(self, net: PeriodicBackbone, config: FlowConfig | None = None) -> None:
        config = config or FlowConfig()
        if config.task != "csp":
            raise CrystalInputError(
                "FlowMatching here does crystal structure prediction only (task='csp'); "
                "for de novo generation use Diffusion(net, DiffusionConfig(task='de_novo'))."
            )
        super().__init__(net, config)
        hidden = net.config.hidden_dim
        self.coord_head = TorusVectorHead(hidden)  # per atom: velocity on the torus (cells per unit time)
        self.lattice_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 6))
        nn.init.zeros_(self.lattice_head[-1].weight)
        nn.init.zeros_(self.lattice_head[-1].bias)
        # The current lattice in flow coordinates, for the network: raw log lengths vary by a few
        # per cent across a data set, too little for the backbone's generic features to resolve.
        self.lattice_state = nn.Sequential(nn.Linear(6, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        # Standardisation of log(length / N^(1/3)), fitted on the training set by fit_data_statistics.
        self.register_buffer("log_length_mean", torch.tensor(0.9))  # log(2.5 Å), a typical value
        self.register_buffer("log_length_std", torch.tensor(0.3))

    # ---------------------------------------------------- lattice parameters
    @staticmethod
    def _cube_root_atoms(mask: torch.Tensor) -> torch.Tensor:
        return mask.sum(dim=1).clamp(min=1).to(torch.float32).pow(1 / 3).unsqueeze(-1)  # (B, 1)

    def lattice_to_flow(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 6)`` flow coordinates of lattices ``(B, 3, 3)``: standardised log lengths, scaled angles."""
        lengths, angles = lattice_to_parameters(lattice)  # Å, degrees
        log_lengths = torch.log(lengths / self._cube_root_atoms(mask))
        return torch.cat([(log_lengths - self.log_length_mean) / self.log_length_std,
                          (angles - 90.0) / self.config.angle_spread], dim=-1)

    def flow_to_lattice(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Lattices ``(B, 3, 3)`` in Å from flow coordinates ``(B, 6)``."""
        lengths = torch.exp(y[:, :3] * self.log_length_std + self.log_length_mean) * self._cube_root_atoms(mask)
        angles = 90.0 + self.config.angle_spread * y[:, 3:]
        return lattice_from_parameters(lengths, angles)

    def lattice_prior(
        self, num_crystals: int, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        """``(B, 6)`` draws from the prior: normal log lengths, uniform angles in 90 +- angle_spread."""
        lengths = torch.randn(num_crystals, 3, generator=generator, device=device)
        angles = 2 * torch.rand(num_crystals, 3, generator=generator, device=device) - 1
        return torch.cat([lengths, angles], dim=-1)

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        super().fit_data_statistics(data)
        lengths, _ = lattice_to_parameters(data.lattice.to(torch.float64))
        log_lengths = torch.log(lengths / self._cube_root_atoms(data.mask).to(torch.float64))
        self.log_length_mean.fill_(float(log_lengths.mean()))
        self.log_length_std.fill_(max(float(log_lengths.std()), 0.05) if log_lengths.numel() > 1 else 0.3)

    # ------------------------------------------------------------ the model
    def state_context(self, state: DenseCrystals, time: torch.Tensor) -> torch.Tensor:
        return self.lattice_state(self.lattice_to_flow(state.lattice, state.mask))  # (B, H)

    def heads(self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor], state: DenseCrystals) -> dict:
        return {
            "coords": self.coord_head(features, state),  # (B, N, 3)
            "lattice": self.lattice_head(features[1]),  # (B, 6) from the crystal features
        }

    def corrupt(self, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Points on the straight paths at times ``t`` ``(B,)``: 0 is a prior draw, 1 is the crystal.

        Returns the crystals on the way (``"state"``) and the constant velocities
        that carry them (``"coords"`` on the torus, ``"lattice"`` in parameter space).
        """
        num_crystals, max_atoms = data.types.shape
        device = data.device
        frac0 = uniform_frac((num_crystals, max_atoms, 3), generator, device)
        velocity = minimum_image_frac(data.frac - frac0)  # (B, N, 3): the geodesic's constant velocity
        frac_t = wrap_frac(frac0 + t[:, None, None] * velocity)
        y1 = self.lattice_to_flow(data.lattice, data.mask)  # (B, 6)
        y0 = self.lattice_prior(num_crystals, generator, device)
        y_t = y0 + t[:, None] * (y1 - y0)
        state = data.replace(frac=frac_t, lattice=self.flow_to_lattice(y_t, data.mask))
        return {"state": state, "coords": velocity, "lattice": y1 - y0}

    def loss(self, batch: DenseCrystals | CrystalBatch, generator: torch.Generator | None = None) -> dict:
        """Flow matching losses at a random time per crystal (see the module docstring)."""
        data = as_dense(batch)
        num_crystals = data.num_crystals
        device, config = data.device, self.config
        t = torch.rand(num_crystals, generator=generator, device=device)  # (B,)
        path = self.corrupt(data, t, generator)
        hide = None
        if self.condition_embedding is not None and self.training:
            hide = torch.rand(num_crystals, generator=generator, device=device) < config.condition_dropout
        predicted = self.predict(data.types, path["state"], t, hide_condition=hide)

        losses = {
            "coords": masked_mean((predicted["coords"] - remove_mean(path["coords"], data.mask)) ** 2, data.mask),
            "lattice": F.mse_loss(predicted["lattice"], path["lattice"]),
        }
        losses["loss"] = config.coord_weight * losses["coords"] + config.lattice_weight * losses["lattice"]
        return losses

    def _sampler(
        self, template: DenseCrystals, num_steps: int, generator: torch.Generator, guidance_scale: float
    ) -> Iterator[DenseCrystals]:
        """Euler integration of the learned ODE from the prior (t = 0) to crystals (t = 1)."""
        device = template.device
        num_crystals, max_atoms = template.types.shape
        frac = uniform_frac((num_crystals, max_atoms, 3), generator, device)
        y = self.lattice_prior(num_crystals, generator, device)
        state = template.replace(frac=frac, lattice=self.flow_to_lattice(y, template.mask))
        yield state
        dt = 1.0 / num_steps
        for step in range(num_steps):
            t = step * dt
            predicted = self.predict(template.types, state, torch.full((num_crystals,), t, device=device),
                                     guidance_scale)
            frac = wrap_frac(frac + dt * (1 + self.config.coord_anneal * t) * predicted["coords"])
            y = y + dt * predicted["lattice"]
            state = state.replace(frac=frac, lattice=self.flow_to_lattice(y, template.mask))
            yield state
