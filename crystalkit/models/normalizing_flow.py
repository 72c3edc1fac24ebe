"""A normalizing flow for crystals: exact likelihood by the change of variables.

A normalizing flow is an invertible map ``T`` from data ``x`` to a base
variable ``z = T(x)`` with a simple density ``p_Z``. The density of the data
follows from the **change of variables**::

    log p(x) = log p_Z(T(x)) + log |det dT/dx|

so the model is trained by plain maximum likelihood, and sampling runs the
map backwards, ``x = T^{-1}(z)``, in one pass (no steps). Everything hinges on
maps whose inverse and Jacobian determinant are cheap. Two kinds are used
here, one per part of a crystal (CSP: the composition is given):

* the **lattice**, as six numbers ``y`` (`LatticeParameters`: standardised
  ``log(length / N^(1/3))`` and ``(angle - 90°) / 30°``), goes through
  RealNVP **affine coupling layers** (Dinh et al. 2017, arXiv:1605.08803):
  half the numbers pass unchanged and set a scale and shift for the other
  half, ``y_b <- y_b * exp(s(y_a)) + t(y_a)``. The Jacobian is triangular, its
  log-determinant the sum of ``s``. Base: a standard normal;
* the **fractional coordinates** live on a torus, where an affine map is no
  bijection. Each coordinate goes through a **circular rational-quadratic
  spline** (Durkan et al. 2019; on the circle, Rezende et al. 2020,
  arXiv:2002.02428): a monotone map of [0, 1) onto itself built from K
  rational-quadratic pieces whose slopes at 0 and 1 agree, followed by a
  rotation (a shift mod 1, Jacobian 1). Coupling again makes the Jacobian
  triangular: one layer transforms one axis of half the atoms, its spline's
  knots read from everything else (the other axes, the other atoms, the
  lattice, the composition). Base: uniform on the torus (log-density 0).

Two choices make the likelihood well defined, and they are the family's
weak points (notebook 05 shows both):

* **order.** A flow maps a *vector*, so the atoms need an order. They are
  sorted by atomic number (heaviest first); atoms of the same element keep
  the order they came in, and the likelihood of the same crystal changes when
  two of them swap: the density is over *labelled* atoms;
* **origin.** The first atom (after sorting) is the origin: the flow models
  the others' positions relative to it, and that atom's own position is
  uniform. A shifted crystal therefore gets the same density.

The atom count is fixed by the composition; a flow cannot change the
dimension of its space, so de novo sampling (choosing N) is not offered here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import lattice_from_parameters, lattice_to_parameters, wrap_frac
from crystalkit.models.backbone import PeriodicBackbone, cube_root_atom_count
from crystalkit.models.generator import CrystalGenerator, GeneratorConfig, as_dense

__all__ = [
    "AffineCoupling",
    "LatticeParameters",
    "NormalizingFlow",
    "NormalizingFlowConfig",
    "TorusSplineCoupling",
    "build_normalizing_flow",
    "canonical_order",
    "circular_spline",
]


class LatticeParameters(nn.Module):
    """Lattices ``(B, 3, 3)`` <-> six numbers ``y`` ``(B, 6)`` on a unit scale (shared with the GAN).

    ``y[:3] = (log(length / N^(1/3)) - mean) / std`` and ``y[3:] = (angle - 90°) / 30°``:
    rotation-free, positive lengths for every ``y``, and the same for cells of any atom count.
    The mean and std are buffers fitted on the training set (``fit``).
    """

    angle_spread = 30.0  # degrees: reduced cells have angles in 60°-120°

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("log_length_mean", torch.tensor(0.9))  # log(2.5 Å) until fitted
        self.register_buffer("log_length_std", torch.tensor(0.3))

    def to_y(self, lattice: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        lengths, angles = lattice_to_parameters(lattice)  # (B, 3) Å, (B, 3) degrees
        log_lengths = torch.log(lengths / cube_root_atom_count(num_atoms, lengths.dtype)[:, None])
        return torch.cat([(log_lengths - self.log_length_mean) / self.log_length_std,
                          (angles - 90.0) / self.angle_spread], dim=-1)

    def to_lattice(self, y: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        lengths = torch.exp(y[:, :3] * self.log_length_std + self.log_length_mean)
        lengths = lengths * cube_root_atom_count(num_atoms, y.dtype)[:, None]  # (B, 3) Å
        return lattice_from_parameters(lengths, 90.0 + self.angle_spread * y[:, 3:])

    @torch.no_grad()
    def fit(self, lattice: torch.Tensor, num_atoms: torch.Tensor) -> None:
        lengths, _ = lattice_to_parameters(lattice.to(torch.float64))
        log_lengths = torch.log(lengths / cube_root_atom_count(num_atoms, torch.float64)[:, None])
        self.log_length_mean.fill_(float(log_lengths.mean()))
        self.log_length_std.fill_(max(float(log_lengths.std()), 0.02) if log_lengths.numel() > 1 else 0.3)


def canonical_order(types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` indices that sort each crystal's atoms by atomic number, heaviest first, padding last.

    The sort is stable: atoms of one element keep the order they came in.
    """
    key = torch.where(mask, -types, torch.full_like(types, 10**6))  # padding sorts after every atom
    return torch.sort(key, dim=1, stable=True).indices


def _gather_atoms(values: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``values`` ``(B, N, ...)`` reordered along the atom axis by ``order`` ``(B, N)``."""
    index = order.reshape(order.shape + (1,) * (values.dim() - 2)).expand_as(values)
    return torch.gather(values, 1, index)


# --------------------------------------------------------------- the lattice
class AffineCoupling(nn.Module):
    """One RealNVP layer on ``y`` ``(B, D)``: the masked entries set scale and shift of the others.

    ``forward`` is the normalizing direction (data -> base) and returns the
    log-determinant of its Jacobian, ``sum s`` over the transformed entries.
    """

    def __init__(self, mask: torch.Tensor, context_dim: int, hidden: int, max_log_scale: float = 2.0) -> None:
        super().__init__()
        self.register_buffer("keep", mask.float())  # (D,) 1 = passes unchanged and conditions the rest
        self.max_log_scale = max_log_scale
        dim = mask.numel()
        self.net = nn.Sequential(nn.Linear(dim + context_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)  # start as the identity map
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, y: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_scale, shift = self.net(torch.cat([y * self.keep, context], dim=-1)).chunk(2, dim=-1)
        log_scale = self.max_log_scale * torch.tanh(raw_scale / self.max_log_scale)  # bounded, smooth
        change = 1 - self.keep
        return log_scale * change, shift * change  # (B, D) each, zero on the kept entries

    def forward(self, y: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_scale, shift = self._scale_shift(y, context)
        return y * torch.exp(log_scale) + shift, log_scale.sum(-1)  # (B, D), (B,)

    def inverse(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        log_scale, shift = self._scale_shift(z, context)  # the kept entries are the same in z and y
        return (z - shift) * torch.exp(-log_scale)


# --------------------------------------------------------- the coordinates
def _spline_knots(raw: torch.Tensor, min_size: float = 1e-3) -> tuple[torch.Tensor, ...]:
    """Bin edges ``xs``, ``ys`` ``(..., K+1)`` and knot slopes ``d`` ``(..., K+1)`` from ``(..., 3K)`` numbers.

    Widths and heights are softmaxes (they fill [0, 1]); slopes are softplus
    (positive), and the slope at 1 is the slope at 0, so the map is smooth on the circle.
    """
    bins = raw.shape[-1] // 3
    widths, heights, slopes = raw[..., :bins], raw[..., bins:2 * bins], raw[..., 2 * bins:]
    widths = min_size + (1 - min_size * bins) * torch.softmax(widths, dim=-1)
    heights = min_size + (1 - min_size * bins) * torch.softmax(heights, dim=-1)
    xs = F.pad(torch.cumsum(widths, dim=-1), (1, 0))
    ys = F.pad(torch.cumsum(heights, dim=-1), (1, 0))
    xs[..., -1], ys[..., -1] = 1.0, 1.0
    slopes = min_size + F.softplus(slopes + math.log(math.e - 1))  # softplus(0 + log(e - 1)) = 1: identity at init
    return xs, ys, torch.cat([slopes, slopes[..., :1]], dim=-1)


def circular_spline(x: torch.Tensor, raw: torch.Tensor, inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A monotone rational-quadratic spline of [0, 1) onto itself, and ``log |dy/dx|``.

    Args:
        x: ``(...)`` values in [0, 1) (outputs of the inverse when ``inverse``).
        raw: ``(..., 3K)`` unconstrained knot parameters (see `_spline_knots`).
        inverse: run the map backwards (solve the quadratic of each piece).

    Returns:
        ``(y, log_derivative)``, both ``(...)``; ``log_derivative`` is that of the forward map at the input
        (forward) or at the output (inverse), so it is always ``log dy/dx`` at the matching pair.
    """
    xs, ys, d = _spline_knots(raw)
    edges = ys if inverse else xs
    k = (torch.searchsorted(edges[..., 1:-1].contiguous(), x.unsqueeze(-1).contiguous(), right=True)).squeeze(-1)
    pick = lambda t: torch.gather(t, -1, k.unsqueeze(-1)).squeeze(-1)  # knot value of each bin
    x0, width = pick(xs), pick(xs[..., 1:]) - pick(xs)
    y0, height = pick(ys), pick(ys[..., 1:]) - pick(ys)
    d0, d1 = pick(d), pick(d[..., 1:])
    slope = height / width
    if inverse:  # solve a xi^2 + b xi + c = 0 for xi in [0, 1] (the root that is stable for small a)
        eta = x - y0
        a = height * (slope - d0) + eta * (d1 + d0 - 2 * slope)
        b = height * d0 - eta * (d1 + d0 - 2 * slope)
        c = -slope * eta
        xi = (2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp(min=0)))).clamp(0, 1)
    else:
        xi = (x - x0) / width
    between = xi * (1 - xi)
    denominator = slope + (d1 + d0 - 2 * slope) * between
    y = y0 + height * (slope * xi**2 + d0 * between) / denominator
    derivative = slope**2 * (d1 * xi**2 + 2 * slope * between + d0 * (1 - xi) ** 2) / denominator**2
    out = x0 + xi * width if inverse else y
    return out, torch.log(derivative)


class TorusSplineCoupling(nn.Module):
    """One coupling layer on the relative coordinates ``c`` ``(B, N, 3)``: axis ``axis`` of one group of atoms.

    The atoms in ``group`` (slots with ``slot % 2 == group``) move along one
    axis by a circular spline and a rotation; their parameters come from every
    *other* number: the other axes of all atoms and this axis of the other
    group (as sin/cos, so periodic), the atoms' elements and slots, the
    crystal's context. Nothing that moves feeds its own parameters, so the
    Jacobian is triangular and ``log|det|`` is the sum of the splines' log-slopes.
    """

    def __init__(self, axis: int, group: int, hidden: int, max_atoms: int, num_bins: int = 8) -> None:
        super().__init__()
        self.axis, self.group, self.num_bins = axis, group, num_bins
        self.read = nn.Linear(6 + 3 + 1, hidden)  # sin/cos of 3 axes, which axes are visible, moves or not
        self.slot_embedding = nn.Embedding(max_atoms, hidden)
        self.per_atom = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.out = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 3 * num_bins + 1))
        nn.init.zeros_(self.out[-1].weight)  # start as the identity map
        nn.init.zeros_(self.out[-1].bias)

    def moving(self, flow_mask: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` True for the atoms this layer moves."""
        slots = torch.arange(flow_mask.shape[1], device=flow_mask.device)
        return flow_mask & (slots % 2 == self.group)

    def _spline_parameters(self, c: torch.Tensor, atoms: torch.Tensor, context: torch.Tensor,
                    flow_mask: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        moves = self.moving(flow_mask)  # (B, N)
        visible = torch.ones_like(c)  # (B, N, 3)
        visible[..., self.axis] = (~moves).to(c.dtype)
        angles = 2 * math.pi * c
        seen = torch.cat([torch.sin(angles) * visible, torch.cos(angles) * visible, visible,
                          moves.unsqueeze(-1).to(c.dtype)], dim=-1)  # (B, N, 10)
        slots = self.slot_embedding(torch.arange(c.shape[1], device=c.device))  # (N, H)
        h = self.per_atom(self.read(seen) + atoms + slots + context.unsqueeze(1)) * mask.unsqueeze(-1)  # (B, N, H)
        pooled = h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(h.dtype)  # (B, H)
        return self.out(torch.cat([h, pooled.unsqueeze(1).expand_as(h)], dim=-1))  # (B, N, 3K + 1)

    def forward(self, c, atoms, context, flow_mask, mask, inverse: bool = False):
        """``c`` ``(B, N, 3)`` -> (transformed ``c``, ``(B,)`` log|det| of the forward map at this pair)."""
        raw = self._spline_parameters(c, atoms, context, flow_mask, mask)
        spline, rotation = raw[..., :-1], raw[..., -1]  # (B, N, 3K), (B, N)
        moves = self.moving(flow_mask)
        x = c[..., self.axis]
        if inverse:
            y, log_derivative = circular_spline(wrap_frac(x - rotation), spline, inverse=True)
        else:
            y, log_derivative = circular_spline(x, spline)
            y = wrap_frac(y + rotation)
        out = c.clone()
        out[..., self.axis] = torch.where(moves, y, x)
        return out, (log_derivative * moves).sum(-1)


# -------------------------------------------------------------- the model
@dataclass
class NormalizingFlowConfig(GeneratorConfig):
    """The flow's sizes and its smoothing of the data."""

    num_steps: int = 1  # one pass from base to crystal: the family is "one-shot"
    lattice_layers: int = 8  # affine couplings on the 6 lattice numbers (alternating halves and parities)
    coord_blocks: int = 2  # each block moves every axis of both atom groups once: 6 spline couplings
    hidden: int = 48  # width of the conditioners: 48 keeps the shipped file under 1.5 MB
    num_bins: int = 8  # spline pieces per coordinate map: room for a few peaks on each circle
    lattice_noise: float = 0.02  # std of the noise added to y in training: the data's cells are exactly cubic,
    # a density on a set of zero volume is infinite, so the flow learns the data blurred a little (dequantisation)
    coord_noise: float = 0.01  # std of the same for coordinates, in cells (~0.04 Å, thermal-vibration scale)


class NormalizingFlow(CrystalGenerator):
    """Exact-likelihood CSP: affine couplings for the lattice, torus spline couplings for the coordinates.

    Args:
        net: a `PeriodicBackbone`; only its element table is used (to embed the
            composition), so ``num_layers=0`` is enough (see `build_normalizing_flow`).
        config: sizes and smoothing.
    """

    family = "nf"
    config_class = NormalizingFlowConfig

    def __init__(self, net: PeriodicBackbone, config: NormalizingFlowConfig | None = None) -> None:
        config = config or NormalizingFlowConfig()
        if config.task != "csp" or config.conditional:
            raise CrystalInputError("The normalizing flow does crystal structure prediction only (task='csp', "
                                    "unconditional): a flow cannot change the number of atoms it models.")
        super().__init__(net, config)
        width, hidden = net.config.hidden_dim, config.hidden
        self.lattice = LatticeParameters()
        self.atom_projection = nn.Linear(width, hidden)  # element table -> conditioner width
        self.composition = nn.Sequential(nn.Linear(hidden + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.lattice_context = nn.Sequential(nn.Linear(6, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        halves = [torch.arange(6) < 3, torch.arange(6) >= 3, torch.arange(6) % 2 == 0, torch.arange(6) % 2 == 1]
        self.lattice_flow = nn.ModuleList(AffineCoupling(halves[i % 4], hidden, hidden)
                                          for i in range(config.lattice_layers))
        self.coord_flow = nn.ModuleList(TorusSplineCoupling(axis, group, hidden, config.max_atoms, config.num_bins)
                                        for _ in range(config.coord_blocks) for axis in range(3) for group in (0, 1))

    # ---------------------------------------------------------- conditioning
    def lattice_in_angstrom(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.lattice.to_lattice(lattice, mask.sum(dim=1))

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        super().fit_data_statistics(data)
        self.lattice.fit(data.lattice, data.num_atoms)

    def _conditioning(self, types: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-atom embeddings ``(B, N, H)`` and the composition's context ``(B, H)`` (mean over its atoms)."""
        atoms = self.atom_projection(self.net.embed_types(types)) * mask.unsqueeze(-1)  # (B, N, H)
        count = mask.sum(1, keepdim=True).to(atoms.dtype)  # (B, 1)
        mean = atoms.sum(1) / count.clamp(min=1)
        return atoms, self.composition(torch.cat([mean, count.pow(1 / 3)], dim=-1))

    @staticmethod
    def _canonical(data: DenseCrystals) -> DenseCrystals:
        """The same crystals with atoms sorted heaviest first (see `canonical_order`)."""
        order = canonical_order(data.types, data.mask)
        return data.replace(types=torch.gather(data.types, 1, order), frac=_gather_atoms(data.frac, order),
                            mask=torch.gather(data.mask, 1, order))

    # ------------------------------------------------------------ likelihood
    def encode(self, batch: DenseCrystals) -> dict[str, torch.Tensor]:
        """Run the normalizing direction ``z = T(x)`` on crystals (atoms in canonical order).

        Returns ``z_lattice`` ``(B, 6)``, ``z_coords`` ``(B, N, 3)`` (relative coordinates after the flow; the
        origin atom's and padding rows stay 0) and the two log-determinants ``logdet_lattice``, ``logdet_coords``
        ``(B,)``.
        """
        data = self._canonical(as_dense(batch))
        mask = data.mask
        y = self.lattice.to_y(data.lattice, data.num_atoms)  # (B, 6)
        atoms, composition = self._conditioning(data.types, mask)
        z, logdet_lattice = y, torch.zeros_like(y[:, 0])
        for layer in self.lattice_flow:
            z, change = layer(z, composition)
            logdet_lattice = logdet_lattice + change
        context = composition + self.lattice_context(y)  # the coordinates' density depends on the cell
        flow_mask = mask.clone()
        flow_mask[:, 0] = False  # the origin atom is not modelled
        c = wrap_frac(data.frac - data.frac[:, :1]) * flow_mask.unsqueeze(-1)  # (B, N, 3) relative to atom 0
        logdet_coords = torch.zeros_like(logdet_lattice)
        for layer in self.coord_flow:
            c, change = layer(c, atoms, context, flow_mask, mask)
            logdet_coords = logdet_coords + change
        return {"z_lattice": z, "z_coords": c, "logdet_lattice": logdet_lattice, "logdet_coords": logdet_coords}

    def log_prob(self, batch: DenseCrystals) -> dict[str, torch.Tensor]:
        """Exact ``log p(x)`` per crystal ``(B,)``: ``"lattice"`` (of y), ``"coords"`` and their sum ``"total"``.

        Units: nats, for a density over y (6 numbers) and over the fractional coordinates (3N numbers, the
        origin atom's uniform: log-density 0). Base: standard normal for y, uniform on the torus for coordinates.
        """
        out = self.encode(batch)
        base_lattice = -0.5 * (out["z_lattice"] ** 2).sum(-1) - 3 * math.log(2 * math.pi)  # log N(z; 0, I_6)
        lattice = base_lattice + out["logdet_lattice"]
        coords = out["logdet_coords"]  # + log p_Z = 0 for the uniform base on the torus
        return {"lattice": lattice, "coords": coords, "total": lattice + coords}

    def loss(self, batch: DenseCrystals, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Negative log-likelihood per crystal (nats) of the data blurred by ``lattice_noise`` and ``coord_noise``.

        Draws from ``generator``: the coordinate noise ``(B, N, 3)``, then the lattice noise ``(B, 6)``.
        """
        data = as_dense(batch)
        config = self.config
        frac = wrap_frac(data.frac + config.coord_noise * torch.randn(data.frac.shape, generator=generator,
                                                                      device=data.device))
        y = self.lattice.to_y(data.lattice, data.num_atoms)
        y = y + config.lattice_noise * torch.randn(y.shape, generator=generator, device=data.device)
        blurred = data.replace(frac=frac, lattice=self.lattice.to_lattice(y, data.num_atoms))
        log_p = self.log_prob(blurred)
        losses = {"lattice": -log_p["lattice"].mean(), "coords": -log_p["coords"].mean()}
        losses["loss"] = losses["lattice"] + losses["coords"]
        return losses

    # -------------------------------------------------------------- sampling
    def decode(self, z_lattice: torch.Tensor, z_coords: torch.Tensor, template: DenseCrystals,
               origin: torch.Tensor) -> DenseCrystals:
        """The generative direction ``x = T^{-1}(z)`` for a template whose atoms are in canonical order.

        Args:
            z_lattice: ``(B, 6)`` base draws for the lattice.
            z_coords: ``(B, N, 3)`` base draws for the relative coordinates.
            template: the atoms to place (``types``, ``mask``).
            origin: ``(B, 3)`` where the origin atom goes.
        """
        mask = template.mask
        atoms, composition = self._conditioning(template.types, mask)
        y = z_lattice
        for layer in reversed(self.lattice_flow):
            y = layer.inverse(y, composition)
        context = composition + self.lattice_context(y)
        flow_mask = mask.clone()
        flow_mask[:, 0] = False
        c = z_coords * flow_mask.unsqueeze(-1)
        for layer in reversed(self.coord_flow):
            c, _ = layer(c, atoms, context, flow_mask, mask, inverse=True)
        frac = wrap_frac(c + origin.unsqueeze(1)) * mask.unsqueeze(-1)
        return template.replace(frac=frac, lattice=self.lattice.to_lattice(y, mask.sum(1)))

    def _sampler(self, template: DenseCrystals, num_steps: int, generator: torch.Generator,
                 guidance_scale: float) -> Iterator[DenseCrystals]:
        """Yield the base draw (drawn as a crystal) and then, one pass later, the sample.

        Draws: lattice ``(B, 6)`` normal, relative coordinates ``(B, N, 3)`` uniform, origin ``(B, 3)`` uniform.
        """
        template = self._canonical(template)
        device = template.device
        z_lattice = torch.randn(template.num_crystals, 6, generator=generator, device=device)
        z_coords = torch.rand(template.frac.shape, generator=generator, device=device)
        origin = torch.rand(template.num_crystals, 3, generator=generator, device=device)
        base = template.replace(frac=wrap_frac(z_coords + origin.unsqueeze(1)) * template.mask.unsqueeze(-1),
                                lattice=self.lattice.to_lattice(z_lattice, template.num_atoms))
        yield base
        yield self.decode(z_lattice, z_coords, template, origin)


def build_normalizing_flow(task: str = "csp", conditional: bool = False, hidden: int | None = None,
                           layers: int | None = None) -> NormalizingFlow:
    """A fresh flow with the kit's defaults: the backbone only lends its element table (no message layers)."""
    from crystalkit.models.backbone import BackboneConfig

    if task != "csp" or conditional:
        raise CrystalInputError("--family nf supports --task csp without --condition only.")
    net = PeriodicBackbone(BackboneConfig(hidden_dim=hidden or 64, num_layers=0))
    config = NormalizingFlowConfig()
    if layers is not None:
        config.coord_blocks = layers
    return NormalizingFlow(net, config)
