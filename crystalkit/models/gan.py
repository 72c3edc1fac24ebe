"""A Wasserstein GAN with gradient penalty for crystal structure prediction.

A generative adversarial network (Goodfellow et al. 2014, arXiv:1406.2661)
trains two networks against each other: a **generator** ``G`` turns noise
(here: noise and a composition) into crystals, and a **critic** ``D`` scores
crystals, high for real ones, low for generated ones. No likelihood is ever
computed; the generator learns only through the critic's gradient.

The Wasserstein GAN (Arjovsky et al. 2017, arXiv:1701.07875) reads the
critic's score as a witness of the earth mover's distance between data and
samples (Kantorovich-Rubinstein duality)::

    W(p_data, p_G) = max over 1-Lipschitz D of  E_data[D(x)] - E_G[D(x)]

so the critic maximises the gap and the generator minimises ``-E_G[D(G(z))]``.
The 1-Lipschitz condition is enforced softly by the **gradient penalty** of
Gulrajani et al. (2017, arXiv:1704.00028): on points between a real and a
generated crystal the critic's gradient should have norm 1::

    critic loss    = E[D(fake)] - E[D(real)] + lambda E[(||grad D(x_hat)|| - 1)^2]
    generator loss = -E[D(fake)]

Crystals add two twists:

* **symmetry.** The critic is the kit's `PeriodicBackbone` (invariant to atom
  order, rotation and origin) pooled to one number, so it cannot be fooled or
  distracted by how a crystal is written. The generator (`AtomSetGenerator`)
  is a Transformer over the composition's atoms, so permuting the input atoms
  permutes its output; each atom draws its own noise, which is what lets
  three oxygens of one formula go to three different sites;
* **periodicity.** The interpolates of the penalty go the short way round the
  torus (``x_hat = wrap(fake + eps * minimum_image(real - fake))``) and
  straight in the lattice's six numbers (`LatticeParameters`), where every
  point between two cells is a cell.

**De novo: choosing the elements.** With ``task="de_novo"`` the generator
also writes the formula: the atoms start blank (their number drawn from the
training set's cell sizes, as every de novo family here does), and each reads
off logits over the elements seen in training. An element is a discrete
choice, and a critic's gradient cannot flow through a discrete choice. The
generator therefore draws it with the **Gumbel-max trick** (Jang et al. 2017,
arXiv:1611.01144; Maddison et al. 2017, arXiv:1611.00712): ``argmax(logits +
g)`` with Gumbel noise ``g`` is an exact sample of ``softmax(logits)``, and the
*straight-through* estimator hands the critic that one-hot choice while the
gradient flows through ``softmax((logits + g) / tau)``. Real crystals reach
the critic as one-hot vectors too, so it cannot tell fakes by their softness.
The penalty's interpolates mix the one-hot rows as well. The one-shot
generator picks every atom's element at once: nothing but attention between
the blank atoms makes a formula charge balanced, and the metrics show how
often it is not.

**One optimizer.** The kit trains every family with one loop and one optimizer
on ``model.loss(batch)["loss"]``. A GAN fits it like this: the critic's loss
is computed on *detached* fakes (so it moves only the critic); the generator's
loss goes through a copy of the critic whose weights are *detached*
(``torch.func.functional_call`` with detached parameters), so it moves only
the generator. One backward pass on their sum then gives each network exactly
its own gradient. The generator takes part only every ``n_critic``-th step
(WGAN-GP's five critic updates per generator update): on the other steps its
gradients are ``None`` and the optimizer skips it, moments and all. What the
shared loop imposes: one learning rate and Adam's default betas for both, and
gradient clipping of their joint norm.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import minimum_image_frac, wrap_frac
from crystalkit.models.backbone import BackboneConfig, PeriodicBackbone, element_descriptors
from crystalkit.models.generator import CrystalGenerator, GeneratorConfig, as_dense, elements_present
from crystalkit.models.normalizing_flow import LatticeParameters

__all__ = [
    "GAN",
    "AtomSetGenerator",
    "Fakes",
    "GANConfig",
    "build_gan",
    "crystal_descriptors",
    "diversity",
    "train_with_history",
]


@dataclass
class GANConfig(GeneratorConfig):
    """The adversarial game; fields shared with the other families are in `GeneratorConfig`."""

    num_steps: int = 1  # one pass of the generator per sample: the family is "one-shot"
    noise_dim: int = 16  # noise per crystal and per atom; enough to spread a few sites
    generator_hidden: int = 64  # width of the generator's Transformer
    generator_layers: int = 3  # attention layers: atoms agree on where each goes
    n_critic: int = 5  # critic steps per generator step (Gulrajani et al. 2017)
    gp_weight: float = 10.0  # lambda of the gradient penalty (Gulrajani et al. 2017); 0 turns it off
    drift_weight: float = 1e-3  # keeps the critic's scores near 0 (Karras et al. 2018); WGAN scores float freely
    objective: str = "wasserstein"  # or "minimax": Goodfellow's original game (non-saturating), for comparison
    type_temperature: float = 1.0  # de novo only: tau of the straight-through Gumbel-softmax (module docstring)


@dataclass(frozen=True)
class Fakes:
    """What the generator makes: lattice numbers ``y`` ``(B, 6)``, fractional coordinates ``(B, N, 3)`` and,
    de novo, the atoms' elements as one-hot rows ``(B, N, K)`` that carry the gradient of their softmax
    (``None`` in CSP, where the elements are given)."""

    y: torch.Tensor
    frac: torch.Tensor
    types: torch.Tensor | None = None

    def atomic_numbers(self, mask: torch.Tensor) -> torch.Tensor | None:
        """De novo: the chosen elements as atomic numbers ``(B, N)`` (0 in padding); CSP: ``None``."""
        return None if self.types is None else (self.types.argmax(-1) + 1) * mask


class AtomSetGenerator(nn.Module):
    """Noise + composition -> lattice and coordinates, equivariant to the order of the atoms.

    Each atom starts as its element's embedding plus its own noise and the
    crystal's noise; Transformer layers (no positional encoding: a set, not a
    sequence) let the atoms agree on a cell and on who sits where. Each atom
    reads off its coordinates; the mean over atoms reads off the lattice.
    With ``choose_types`` (de novo) every atom starts from one learned blank
    embedding instead and also reads off logits over the elements.
    """

    def __init__(self, noise_dim: int, hidden: int, layers: int, num_elements: int = 100,
                 choose_types: bool = False) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.register_buffer("descriptors", element_descriptors(num_elements))  # (K, 12)
        self.element_embedding = nn.Parameter(torch.randn(num_elements, hidden) * 0.1)
        self.descriptor_projection = nn.Linear(self.descriptors.shape[1], hidden)
        self.noise_projection = nn.Linear(2 * noise_dim + 1, hidden)
        layer = nn.TransformerEncoderLayer(hidden, nhead=4, dim_feedforward=2 * hidden, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.coords = nn.Linear(hidden, 3)
        self.lattice = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 6))
        self.choose_types = choose_types
        if choose_types:
            self.blank = nn.Parameter(torch.randn(hidden) * 0.1)  # every atom's start before it has an element
            self.element_logits = nn.Linear(hidden, num_elements)

    def forward(self, types: torch.Tensor, mask: torch.Tensor, atom_noise: torch.Tensor,
                crystal_noise: torch.Tensor, type_noise: torch.Tensor | None = None,
                allowed: torch.Tensor | None = None, temperature: float = 1.0) -> Fakes:
        """``types``/``mask`` ``(B, N)``, noise ``(B, N, Z)`` and ``(B, Z)`` -> `Fakes`.

        De novo (``choose_types``): ``types`` is ignored (only ``mask`` says which atoms exist),
        ``type_noise`` ``(B, N, K)`` holds uniform numbers in (0, 1) for the Gumbel-max draw, and
        ``allowed`` ``(K,)`` marks the elements the generator may choose.
        """
        count = mask.sum(1, keepdim=True).to(atom_noise.dtype)  # (B, 1)
        noise = torch.cat([atom_noise, crystal_noise.unsqueeze(1).expand_as(atom_noise),
                           count.pow(1 / 3).unsqueeze(1).expand(-1, mask.shape[1], 1)], dim=-1)  # (B, N, 2Z + 1)
        if self.choose_types:
            start = self.blank.expand(*mask.shape, -1)  # (B, N, H) the atoms differ only by their noise
        else:
            table = self.element_embedding + self.descriptor_projection(self.descriptors)  # (K, H)
            start = table[(types - 1).clamp(min=0)]  # (B, N, H)
        h = start + self.noise_projection(noise)  # (B, N, H)
        h = self.encoder(h, src_key_padding_mask=~mask)  # (B, N, H)
        h = h * mask.unsqueeze(-1)
        frac = wrap_frac(self.coords(h)) * mask.unsqueeze(-1)  # (B, N, 3): the torus has no edge to learn
        raw = self.lattice(h.sum(1) / count.clamp(min=1))  # (B, 6)
        # Lengths within 4 spreads of the training set's, angles within 66°-114°: a bounded box of cells, so
        # a critic that is briefly wrong cannot throw the generator to absurd ones (three angles of 120° make a
        # flat cell, whose geometry has no gradient).
        y = torch.cat([4 * torch.tanh(raw[:, :3] / 4), 0.8 * torch.tanh(raw[:, 3:])], dim=-1)
        if not self.choose_types:
            return Fakes(y=y, frac=frac)
        if type_noise is None or allowed is None:
            raise CrystalInputError("A de novo generator needs type_noise (B, N, K) and the allowed elements (K,).")
        logits = self.element_logits(h).masked_fill(~allowed, float("-inf"))  # (B, N, K) only elements seen
        gumbel = -torch.log(-torch.log(type_noise.clamp(1e-12, 1 - 1e-12)))  # (B, N, K) Gumbel(0, 1)
        soft = torch.softmax((logits + gumbel) / temperature, dim=-1)  # (B, N, K) carries the gradient
        hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)  # (B, N, K) the Gumbel-max sample
        # Straight through: exactly the one-hot rows forward, the softmax's gradient backward.
        chosen = (hard + (soft - soft.detach())) * mask.unsqueeze(-1)
        return Fakes(y=y, frac=frac, types=chosen)


class GAN(CrystalGenerator):
    """WGAN-GP: `AtomSetGenerator` against a critic built on the `PeriodicBackbone`, for CSP or de novo.

    Args:
        net: the critic's backbone.
        config: the game.
    """

    family = "gan"
    config_class = GANConfig

    def __init__(self, net: PeriodicBackbone, config: GANConfig | None = None) -> None:
        config = config or GANConfig()
        if config.objective not in ("wasserstein", "minimax"):
            raise CrystalInputError(f"objective must be 'wasserstein' or 'minimax', got {config.objective!r}.")
        if config.task not in ("csp", "de_novo") or config.conditional:
            raise CrystalInputError("The GAN here is unconditional, for task='csp' or task='de_novo'; for "
                                    "property-conditioned generation use the diffusion family.")
        super().__init__(net, config)
        hidden = net.config.hidden_dim
        self.lattice = LatticeParameters()
        self.critic_lattice = nn.Sequential(nn.Linear(6, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.critic_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.generator = AtomSetGenerator(config.noise_dim, config.generator_hidden, config.generator_layers,
                                          net.config.num_elements, choose_types=self.de_novo)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))  # training steps taken (n_critic)
        if self.de_novo:  # which elements occur in the training set: the only ones the generator may choose
            self.register_buffer("element_seen", torch.ones(net.config.num_elements, dtype=torch.bool))

    @property
    def de_novo(self) -> bool:
        return self.config.task == "de_novo"

    def critic_types(self, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the critic reads as the real atoms' types: atomic numbers (CSP) or one-hot rows (de novo,
        the form the generator's choices take)."""
        if not self.de_novo:
            return types
        one_hot = F.one_hot((types - 1).clamp(min=0), self.net.config.num_elements)  # (B, N, K)
        return one_hot.to(self.critic_head[0].weight.dtype) * mask.unsqueeze(-1)

    # ------------------------------------------------------------- the two players
    def forward(self, types: torch.Tensor, frac: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The critic: ``(B,)`` scores of crystals given by types (atomic numbers ``(B, N)`` or type weights
        ``(B, N, K)``), coordinates and lattice numbers ``y``.

        The backbone sees the lattice in Å and, at full resolution, its six numbers (both rotation-free).
        """
        lattice = self.lattice.to_lattice(y, mask.sum(1))  # (B, 3, 3) Å
        time = torch.zeros(y.shape[0], device=y.device, dtype=y.dtype)  # a GAN has no process time
        features = self.net(types, frac, lattice, mask, time, self.critic_lattice(y))
        return self.critic_head(features.crystal).squeeze(-1)  # (B,)

    def generate(self, types: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> Fakes:
        """Fakes for the atoms ``types``/``mask`` ``(B, N)``; draws per-atom noise, then per-crystal noise, then
        (de novo) the uniform numbers of the element draw."""
        batch, atoms = types.shape
        device, dtype = self.atom_count_weights.device, self.critic_head[0].weight.dtype
        atom_noise = torch.randn(batch, atoms, self.config.noise_dim, generator=generator, device=device, dtype=dtype)
        crystal_noise = torch.randn(batch, self.config.noise_dim, generator=generator, device=device, dtype=dtype)
        if not self.de_novo:
            return self.generator(types, mask, atom_noise, crystal_noise)
        type_noise = torch.rand(batch, atoms, self.net.config.num_elements, generator=generator, device=device,
                                dtype=dtype)
        return self.generator(types, mask, atom_noise, crystal_noise, type_noise, self.element_seen,
                              self.config.type_temperature)

    def critic_parameters(self) -> dict[str, torch.Tensor]:
        """The critic's weights, detached: a critic that passes gradients to its input but learns nothing."""
        return {name: p.detach() for name, p in self.named_parameters() if not name.startswith("generator.")}

    # ---------------------------------------------------------------- the losses
    def gradient_penalty(self, data: DenseCrystals, y_real: torch.Tensor, fakes: Fakes,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``E[(||grad D(x_hat)|| - 1)^2]`` on periodic interpolates ``x_hat`` (one ``eps`` ``(B,)`` per crystal),
        and the mean slope ``E||grad D(x_hat)||`` (a 1-Lipschitz critic has slopes of at most 1).

        The gradient is taken with respect to the coordinates of the real atoms and the six lattice numbers
        (de novo also the atoms' type rows), and its norm is per crystal. The penalty is differentiable (for
        training) only when ``gp_weight > 0``; otherwise both numbers are only measured.
        """
        eps = torch.rand(data.num_crystals, generator=generator, device=data.device, dtype=y_real.dtype)  # (B,)
        step = minimum_image_frac(data.frac - fakes.frac.detach())  # (B, N, 3) the short way round
        learn = self.training and torch.is_grad_enabled() and self.config.gp_weight > 0
        with torch.enable_grad():  # also when called under no_grad (validation)
            frac_hat = wrap_frac(fakes.frac.detach() + eps[:, None, None] * step).requires_grad_(True)
            y_hat = (fakes.y.detach() + eps[:, None] * (y_real - fakes.y.detach())).requires_grad_(True)
            inputs = [frac_hat, y_hat]
            types_hat = data.types
            if fakes.types is not None:  # de novo: the elements are mixed too, row by row
                real_types = self.critic_types(data.types, data.mask)
                fake_types = fakes.types.detach()
                types_hat = (fake_types + eps[:, None, None] * (real_types - fake_types)).requires_grad_(True)
                inputs.append(types_hat)
            score = self(types_hat, frac_hat, y_hat, data.mask)
            grads = torch.autograd.grad(score.sum(), inputs, create_graph=learn)
        squared = (grads[0]**2 * data.mask.unsqueeze(-1)).sum(dim=(1, 2)) + (grads[1]**2).sum(-1)  # (B,)
        if len(grads) == 3:
            squared = squared + (grads[2]**2 * data.mask.unsqueeze(-1)).sum(dim=(1, 2))
        slope = torch.sqrt(squared + 1e-12)
        return ((slope - 1) ** 2).mean(), slope.mean().detach()

    def generator_turn(self) -> bool:
        """True on the training steps where the generator learns too (every ``n_critic``-th)."""
        return int(self.updates) % max(1, self.config.n_critic) == 0

    def loss(self, batch: DenseCrystals, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Critic and generator losses of one batch; ``"loss"`` is their sum (see the module docstring).

        Draws from ``generator``: the fakes' noise (per atom, then per crystal), then the penalty's ``eps``.
        Keys: ``critic`` (its whole loss), ``wasserstein`` (``E D(real) - E D(fake)``, the critic's estimate of
        the distance), ``penalty`` and ``slope`` (measured even when ``gp_weight = 0``), ``generator``, ``loss``.
        In training, each call counts one step.
        """
        data = as_dense(batch)
        config = self.config
        y_real = self.lattice.to_y(data.lattice, data.num_atoms)  # (B, 6)
        fakes = self.generate(data.types, data.mask, generator)  # de novo: only the mask (atom counts) is used
        real_types = self.critic_types(data.types, data.mask)  # de novo: one-hot rows, as the fakes' choices
        fake_types = data.types if fakes.types is None else fakes.types
        real_score = self(real_types, data.frac, y_real, data.mask)  # (B,)
        fake_score = self(fake_types.detach() if fakes.types is not None else fake_types,
                          fakes.frac.detach(), fakes.y.detach(), data.mask)  # moves the critic only
        penalty, slope = self.gradient_penalty(data, y_real, fakes, generator)
        wasserstein = real_score.mean() - fake_score.mean()
        if config.objective == "minimax":  # -log sigmoid(D(real)) - log(1 - sigmoid(D(fake)))
            critic = F.softplus(-real_score).mean() + F.softplus(fake_score).mean() + config.gp_weight * penalty
        else:
            critic = -wasserstein + config.gp_weight * penalty + config.drift_weight * (real_score**2).mean()
        learning = self.training and torch.is_grad_enabled()
        with torch.set_grad_enabled(learning and self.generator_turn()):  # off: the generator skips this step
            scored = functional_call(self, self.critic_parameters(), (fake_types, fakes.frac, fakes.y, data.mask))
            # moves the generator only; minimax: the non-saturating -log sigmoid(D(fake)) of Goodfellow et al.
            generator_loss = F.softplus(-scored).mean() if config.objective == "minimax" else -scored.mean()
        if learning:
            self.updates += 1
        total = critic + generator_loss  # off-turn, generator_loss is a constant: the gradient is the critic's
        return {"loss": total, "critic": critic.detach(), "wasserstein": wasserstein.detach(),
                "penalty": penalty.detach(), "slope": slope, "generator": generator_loss.detach()}

    # ------------------------------------------------------ what the kit needs
    def lattice_in_angstrom(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.lattice.to_lattice(lattice, mask.sum(dim=1))

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        super().fit_data_statistics(data)
        self.lattice.fit(data.lattice, data.num_atoms)
        if self.de_novo:
            self.element_seen.copy_(elements_present(data, self.net.config.num_elements).to(self.element_seen.device))

    def _sampler(self, template: DenseCrystals, num_steps: int, generator: torch.Generator,
                 guidance_scale: float) -> Iterator[DenseCrystals]:
        """One state: the generator's crystals for the template's atoms (de novo: and their elements)."""
        fakes = self.generate(template.types, template.mask, generator)
        chosen = fakes.atomic_numbers(template.mask)
        state = template if chosen is None else template.replace(types=chosen)
        yield self.with_geometry(state, fakes.frac, fakes.y)


def build_gan(task: str = "csp", conditional: bool = False, hidden: int | None = None,
              layers: int | None = None) -> GAN:
    """A fresh GAN with the kit's defaults: a smaller critic (32 channels, 3 layers) than the other families'
    backbone, because the gradient penalty differentiates it twice at every step."""
    if task not in ("csp", "de_novo") or conditional:
        raise CrystalInputError("--family gan supports --task csp or --task de_novo, without --condition.")
    net = PeriodicBackbone(BackboneConfig(hidden_dim=hidden or 32, num_layers=layers or 3))
    return GAN(net, GANConfig(task=task))


# ------------------------------------------------------------ diversity
def crystal_descriptors(crystals: DenseCrystals) -> torch.Tensor:
    """``(B, 8)`` numbers that tell crystals apart but not the ways of writing one down.

    Sorted ``log(length / N^(1/3))`` (3), sorted cosines of the angles (3), and the shortest and the mean
    nearest-neighbour distance per ``N^(1/3)`` (2, minimum image): unchanged by rotation, origin and atom order.
    """
    from crystalkit.geometry import lattice_to_parameters
    from crystalkit.models.backbone import cube_root_atom_count

    data = crystals.to("cpu").replace(frac=crystals.frac.double().cpu(), lattice=crystals.lattice.double().cpu())
    lengths, angles = lattice_to_parameters(data.lattice)
    root = cube_root_atom_count(data.num_atoms, torch.float64)[:, None]  # (B, 1)
    delta = minimum_image_frac(data.frac.unsqueeze(1) - data.frac.unsqueeze(2))  # (B, N, N, 3)
    distance = torch.einsum("bijk,bkl->bijl", delta, data.lattice).norm(dim=-1)  # (B, N, N) Å
    pairs = data.mask.unsqueeze(1) & data.mask.unsqueeze(2) & ~torch.eye(data.mask.shape[1], dtype=torch.bool)
    nearest = distance.masked_fill(~pairs, math.inf).min(dim=2).values  # (B, N)
    nearest = torch.where(torch.isfinite(nearest), nearest, torch.zeros_like(nearest)) * data.mask
    count = data.mask.sum(1).clamp(min=1)
    return torch.cat([torch.log(lengths / root).sort(-1).values, torch.cos(torch.deg2rad(angles)).sort(-1).values,
                      nearest.masked_fill(~data.mask, math.inf).min(1, keepdim=True).values.clamp(max=1e3) / root,
                      (nearest.sum(1) / count)[:, None] / root], dim=-1)


def diversity(generated: DenseCrystals, reference: DenseCrystals) -> float:
    """How varied the generated crystals are, relative to ``reference`` (e.g. the real crystals of the same
    compositions): the mean pairwise distance of their `crystal_descriptors`, divided by the reference's.

    Each descriptor is scaled by the reference's spread (at least 0.05, as cubic cells have no spread of
    angles). About 1: as varied as the data; near 0: **mode collapse**, one crystal whatever the composition.
    """
    ref, gen = crystal_descriptors(reference), crystal_descriptors(generated)
    scale = ref.std(0).clamp(min=0.05)
    spread = lambda x: torch.cdist(x / scale, x / scale).mean()
    return float(spread(gen) / spread(ref).clamp(min=1e-12))


def train_with_history(model: GAN, train_data, val_data=None, config=None, *, probe: Sequence | None = None,
                       seed: int = 0, keep_generators: bool = False) -> tuple[list[dict], list[dict]]:
    """Train with the kit's `train` and record, at every logged step, the critic's numbers and the diversity.

    Args:
        model, train_data, val_data, config: as for `crystalkit.models.training.train`.
        probe: structures whose compositions are sampled (one each, fixed ``seed``; de novo: as many crystals
            as there are probes) at every log and compared with themselves by `diversity`; default: up to 64
            of the training structures.
        keep_generators: also keep a copy of the generator's weights at every log (for a slider over training).

    Returns:
        ``(rows, snapshots)``: one dict per log (``step``, ``critic``, ``wasserstein``, ``penalty``, ``slope``,
        ``generator``, ``diversity``) and, if asked, one generator state dict per log (else an empty list).
    """
    from crystalkit.data.batch import CrystalBatch
    from crystalkit.models.training import train

    structures = list(probe) if probe is not None else list(train_data)[:64]
    reference = DenseCrystals.from_batch(CrystalBatch.from_structures(structures))
    compositions = [s.composition for s in structures]
    rows, snapshots = [], []

    def record(state) -> None:
        if model.de_novo:  # as many crystals as the probe, elements and all
            generated = DenseCrystals.from_batch(model.sample_batch(None, len(structures), seed=seed))
        else:
            generated = DenseCrystals.from_batch(model.sample_batch(compositions, 1, seed=seed))
        rows.append({"step": state.step, **{k: state.losses[k] for k in ("critic", "wasserstein", "penalty",
                                                                           "slope", "generator")},
                     "diversity": diversity(generated, reference)})
        if keep_generators:
            snapshots.append({k: v.detach().clone().cpu() for k, v in model.generator.state_dict().items()})

    train(model, train_data, val_data, config, callbacks=[record])
    return rows, snapshots
