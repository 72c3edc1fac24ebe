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

Sampling integrates the learned ODE with ``num_steps`` steps. Few steps
work because the paths are straight: this is the family's speed lever over
diffusion. Optionally the coordinate velocity is scaled by
``1 + coord_anneal * t``, more and more towards the end of sampling (FlowMM's
inference "anti-annealing"), which settles atoms onto their sites more firmly.

Two sampler choices trade network calls for accuracy (``FlowConfig.solver``,
``FlowConfig.time_power``):

* **Euler** takes one velocity per step: ``x <- x + dt v(x, t)``. Each
  crystal's individual path is straight, but the learned field is the
  *average* over all the paths through a point, and that field bends, so
  large Euler steps cut the corners.
* **Heun** (the explicit trapezoidal rule) looks ahead once and averages:
  ``x' = x + dt v(x, t)``, then ``x <- x + dt (v(x, t) + v(x', t + dt)) / 2``.
  Its error falls as ``dt^2`` instead of ``dt``, for two network calls per
  step (the last step's look-ahead at ``t = 1`` is skipped: one call fewer).
* A **time grid** ``t_i = 1 - (1 - i/n)^p`` with ``p > 1`` spends the steps
  late, where atoms settle onto their sites; ``p = 1`` is the uniform grid.

Report the number of network calls (``function_evaluations``), not the
number of steps, when comparing samplers: that is what sampling costs.

Measured on Perov-5 (benchmarks/RESULTS.md, issue 15): Heun loses to Euler
here, because the anneal factor makes the sampler's field differ from the
learned one and the look-ahead at the sped-up velocity overshoots; fewer
steps raise the match rate and worsen the RMSE (loosely placed atoms pass
the matcher's tolerance for more targets). So the default stays 50 Euler
steps on the uniform grid; ``euler``, 10 steps, ``time_power=2`` was the best
10-call setting, at a 40 % worse RMSE.

Lattice lengths are measured per cube root of the atom count
(`backbone.cube_root_atom_count`), as in diffusion and the backbone.

Time runs from 0 (prior) to 1 (data), the usual convention of the flow
matching papers (the opposite of diffusion's).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import lattice_from_parameters, lattice_to_parameters, minimum_image_frac, wrap_frac
from crystalkit.models.backbone import BackboneFeatures, PeriodicBackbone, cube_root_atom_count
from crystalkit.models.generator import CrystalGenerator, GeneratorConfig, Prediction, Targets, masked_mean
from crystalkit.models.heads import TorusVectorHead, remove_mean

__all__ = [
    "FLOW_SOLVERS",
    "FlowConfig",
    "FlowMatching",
    "FlowPrediction",
    "FlowTargets",
    "function_evaluations",
    "time_grid",
]

#: The ODE solvers the sampler offers.
FLOW_SOLVERS = ("euler", "heun")


def time_grid(num_steps: int, power: float = 1.0) -> torch.Tensor:
    """``num_steps + 1`` times from 0 to 1 (float64), ``t_i = 1 - (1 - i / n)^power`` (uniform when ``power == 1``)."""
    if num_steps < 1:
        raise CrystalInputError(f"num_steps must be a positive integer, got {num_steps!r}.")
    if power == 1.0:  # exactly i / n, as a plain Euler loop computes it
        return torch.tensor([step * (1.0 / num_steps) for step in range(num_steps + 1)], dtype=torch.float64)
    fractions = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    return 1 - (1 - fractions) ** power


def function_evaluations(num_steps: int, solver: str = "euler") -> int:
    """Network calls of one sampling run: ``n`` for Euler, ``2n - 1`` for Heun (no look-ahead past t = 1)."""
    if solver not in FLOW_SOLVERS:
        raise CrystalInputError(f"solver must be one of {FLOW_SOLVERS}, got {solver!r}.")
    return num_steps if solver == "euler" else 2 * num_steps - 1


@dataclass
class FlowConfig(GeneratorConfig):
    """The flow; fields shared with diffusion are in `GeneratorConfig`."""

    num_steps: int = 50  # Euler steps when sampling; straight paths need few (FlowMM reports good CSP at 50-250)
    coord_weight: float = 10.0  # coordinate velocities (std ~0.29 of a cell) weigh ~as much as lattice ones (~1)
    lattice_weight: float = 1.0  # see coord_weight
    angle_spread: float = 30.0  # degrees: prior angles are uniform in 90 +- 30, where reduced cells live
    coord_anneal: float = 2.0  # a in the coordinate velocity factor 1 + a t when sampling (0: the ODE as learned);
    # 2 settles atoms onto their sites, a far lower RMSE for little match rate (benchmarks/RESULTS.md; FlowMM too)
    solver: str = "euler"  # "euler" (one network call per step) or "heun" (two; second order)
    time_power: float = 1.0  # time grid t_i = 1 - (1 - i/n)^p: 1 uniform, > 1 more steps near the crystal (t = 1)

    def __post_init__(self) -> None:
        if self.solver not in FLOW_SOLVERS:
            raise CrystalInputError(f"FlowConfig.solver must be one of {FLOW_SOLVERS}, got {self.solver!r}.")
        if not self.time_power > 0:
            raise CrystalInputError(f"FlowConfig.time_power must be positive, got {self.time_power}.")


@dataclass(frozen=True)
class FlowTargets(Targets):
    """What ``FlowMatching.corrupt`` makes: crystals on their paths and the constant velocities along them."""

    coord_velocity: torch.Tensor  # (B, N, 3) on the torus, cells per unit time (its mean is removed in the loss)
    lattice_velocity: torch.Tensor  # (B, 6) in flow coordinates (standardised log lengths, scaled angles)


@dataclass(frozen=True)
class FlowPrediction(Prediction):
    """The network's velocity at a point of the path: its estimate of each `FlowTargets` velocity."""

    coord_velocity: torch.Tensor  # (B, N, 3), without a mean over the crystal
    lattice_velocity: torch.Tensor  # (B, 6)


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
    def lattice_to_flow(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 6)`` flow coordinates of lattices ``(B, 3, 3)``: standardised log lengths, scaled angles."""
        lengths, angles = lattice_to_parameters(lattice)  # Å, degrees
        log_lengths = torch.log(lengths / cube_root_atom_count(mask.sum(dim=1))[:, None])  # (B, 3)
        return torch.cat([(log_lengths - self.log_length_mean) / self.log_length_std,
                          (angles - 90.0) / self.config.angle_spread], dim=-1)

    def flow_to_lattice(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Lattices ``(B, 3, 3)`` in Å from flow coordinates ``(B, 6)``."""
        per_root = torch.exp(y[:, :3] * self.log_length_std + self.log_length_mean)  # (B, 3) length / N^(1/3)
        lengths = per_root * cube_root_atom_count(mask.sum(dim=1))[:, None]  # (B, 3) Å
        angles = 90.0 + self.config.angle_spread * y[:, 3:]
        return lattice_from_parameters(lengths, angles)

    def lattice_in_angstrom(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The shared name of `flow_to_lattice`: lattices in Å from flow coordinates ``(B, 6)``."""
        return self.flow_to_lattice(lattice, mask)

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
        log_lengths = torch.log(lengths / cube_root_atom_count(data.mask.sum(dim=1))[:, None].to(torch.float64))
        self.log_length_mean.fill_(float(log_lengths.mean()))
        self.log_length_std.fill_(max(float(log_lengths.std()), 0.05) if log_lengths.numel() > 1 else 0.3)

    # ------------------------------------------------------------ the model
    def state_context(self, state: DenseCrystals, time: torch.Tensor) -> torch.Tensor:
        return self.lattice_state(self.lattice_to_flow(state.lattice, state.mask))  # (B, H)

    def heads(self, features: BackboneFeatures, state: DenseCrystals) -> FlowPrediction:
        return FlowPrediction(
            coord_velocity=self.coord_head(features, state),  # (B, N, 3)
            lattice_velocity=self.lattice_head(features.crystal),  # (B, 6) from the crystal features
        )

    # ------------------------------------------------------------- training
    def training_times(
        self, num_crystals: int, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        """``(B,)`` uniform in [0, 1): every point of the paths, from prior to crystal."""
        return torch.rand(num_crystals, generator=generator, device=device)

    def corrupt(self, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None = None) -> FlowTargets:
        """Points on the straight paths at times ``t`` ``(B,)``: 0 is a prior draw, 1 is the crystal.

        Returns the crystals on the way and the constant velocities that carry
        them (on the torus, and in lattice-parameter space). Draws: the
        coordinate prior, then the lattice prior.
        """
        frac0 = self.coordinate_prior(data, generator)  # (B, N, 3)
        velocity = minimum_image_frac(data.frac - frac0)  # (B, N, 3): the geodesic's constant velocity
        frac_t = wrap_frac(frac0 + t[:, None, None] * velocity)
        y1 = self.lattice_to_flow(data.lattice, data.mask)  # (B, 6)
        y0 = self.lattice_prior(data.num_crystals, generator, data.device)
        y_t = y0 + t[:, None] * (y1 - y0)
        return FlowTargets(state=self.with_geometry(data, frac_t, y_t), types=data.types, coord_velocity=velocity,
                           lattice_velocity=y1 - y0)

    def loss_terms(
        self, predicted: FlowPrediction, targets: FlowTargets, mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Mean squared errors of the velocities (see the module docstring)."""
        config = self.config
        coord_error = predicted.coord_velocity - remove_mean(targets.coord_velocity, mask)  # (B, N, 3)
        losses = {
            "coords": masked_mean(coord_error**2, mask),
            "lattice": F.mse_loss(predicted.lattice_velocity, targets.lattice_velocity),
        }
        losses["loss"] = config.coord_weight * losses["coords"] + config.lattice_weight * losses["lattice"]
        return losses

    # ------------------------------------------------------------- sampling
    def set_sampler(self, *, solver: str | None = None, time_power: float | None = None,
                    coord_anneal: float | None = None) -> None:
        """Change how this model samples (``None`` keeps a setting); bad values raise `CrystalInputError`.

        The weights do not depend on these: they choose how the learned ODE is integrated.
        """
        chosen = {name: value for name, value in (("solver", solver), ("time_power", time_power),
                                                   ("coord_anneal", coord_anneal)) if value is not None}
        self.config = dataclasses.replace(self.config, **chosen)  # FlowConfig checks the new values

    def _sampler(
        self, template: DenseCrystals, num_steps: int, generator: torch.Generator, guidance_scale: float
    ) -> Iterator[DenseCrystals]:
        """Integrate the learned ODE from the prior (t = 0) to crystals (t = 1); see the module docstring."""
        device = template.device
        frac = self.coordinate_prior(template, generator)  # (B, N, 3); drawn first, then the lattice
        y = self.lattice_prior(template.num_crystals, generator, device)  # (B, 6)
        state = self.with_geometry(template, frac, y)
        yield state
        times = time_grid(num_steps, self.config.time_power).tolist()
        for t, t_next in itertools.pairwise(times):
            dt = 1.0 / num_steps if self.config.time_power == 1.0 else t_next - t
            speedup, coord_v, lattice_v = self._velocity(template, state, t, guidance_scale)
            if self.config.solver == "heun" and t_next < 1.0:  # look ahead, then average the two slopes
                ahead = self.with_geometry(state, wrap_frac(frac + dt * speedup * coord_v), y + dt * lattice_v)
                speedup_ahead, coord_ahead, lattice_ahead = self._velocity(template, ahead, t_next, guidance_scale)
                coord_v = (speedup * coord_v + speedup_ahead * coord_ahead) / (2 * speedup)
                lattice_v = (lattice_v + lattice_ahead) / 2
            frac = wrap_frac(frac + dt * speedup * coord_v)
            y = y + dt * lattice_v
            state = self.with_geometry(state, frac, y)
            yield state

    def _velocity(
        self, template: DenseCrystals, state: DenseCrystals, t: float, guidance_scale: float
    ) -> tuple[float, torch.Tensor, torch.Tensor]:
        """The sampler's view at time ``t``: the coordinate anneal factor and the two predicted velocities."""
        times = torch.full((template.num_crystals,), t, device=template.device)
        predicted = self.predict(template.types, state, times, guidance_scale)
        speedup = 1 + self.config.coord_anneal * t  # the anneal factor: 1 at the prior, 1 + coord_anneal at t = 1
        return speedup, predicted.coord_velocity, predicted.lattice_velocity
