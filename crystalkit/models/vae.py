"""A variational autoencoder for crystals, CDVAE-style (Xie et al., ICLR 2022, arXiv:2110.06197).

An autoencoder squeezes each crystal through a short vector ``z`` (the
*latent*) and learns to rebuild it; a **variational** one (Kingma & Welling
2013, arXiv:1312.6114) makes the squeeze probabilistic so that ``z`` drawn
from a standard normal also decodes to a crystal. Three parts:

* the **encoder** ``q(z | x)``: a `PeriodicBackbone` (so ``z`` does not change
  when the crystal is rotated, shifted or its atoms reordered), its per-crystal
  features mapped to a mean ``mu`` and a log-variance ``logvar`` of a diagonal
  Gaussian, ``(B, D)`` each;
* the **lattice decoder**: a small network from ``z`` (and the composition,
  which crystal structure prediction is given) to the six lattice coordinates
  flow matching uses (`lattice_coordinates`): ``log(length / N^(1/3))``
  standardised on the training set, and ``(angle - 90°) / 30°``;
* the **coordinate decoder**. A plain decoder would output a list of ``N``
  positions from ``z``, but which atom comes first and where the origin sits
  are arbitrary, so the same crystal has many "right answers" and a
  regression lands on their average (notebook 04 shows it, with
  :class:`PlainDecoder`). CDVAE's answer is to decode coordinates with a
  **score-based denoiser conditioned on z**: start from uniform noise on the
  torus and walk towards the crystal along the learned score. The noise, its
  score and the reverse steps are diffusion's (`noise.WrappedNormal`, used
  here, not rewritten); what is new is that the network also reads ``z``.

The training loss is the negative ELBO: reconstruction terms (lattice squared
error; the denoising score-matching loss for coordinates, CDVAE's stand-in for
a coordinate likelihood) plus ``beta`` times the KL divergence from the
posterior to the prior. With a decoder this strong, the optimiser can ignore
``z`` altogether and drive the KL to zero (*posterior collapse*, Bowman et al.
2015, arXiv:1511.06349); **free bits** (Kingma et al. 2016) leave the first
``free_bits`` nats of every latent dimension unpenalised, so using ``z`` a
little costs nothing.

For crystal structure prediction (``task="csp"``) the decoder is told the
composition. For de novo generation (``task="de_novo"``) it first reads the
crystal's **size and formula** off ``z``, as CDVAE's decoder does: one head
gives the probability of each atom count, another a probability for each
element (trained against the crystal's element fractions, so the ELBO gains
``-log p(N | z) - sum_k f_k log p_k(z)``). Decoding takes the likeliest count
``N`` and splits it among the elements seen in training in proportion to
``p`` (the largest remainders get the leftover atoms), then decodes lattice
and coordinates for that formula exactly as in CSP. Sampling draws
``z ~ N(0, I)`` and decodes.

Example::

    model = VAE(PeriodicBackbone(), VAEConfig(latent_dim=16))
    train(model, dataset, config=TrainConfig(max_minutes=5))
    mu, logvar = model.encode(batch)
    rebuilt = model.decode(mu, compositions, seed=0)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from pymatgen.core import Composition, Structure
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import lattice_from_parameters, lattice_to_parameters
from crystalkit.models.backbone import PeriodicBackbone, cube_root_atom_count
from crystalkit.models.generator import CrystalGenerator, GeneratorConfig, as_dense, elements_present, masked_mean
from crystalkit.models.heads import TorusVectorHead, remove_mean
from crystalkit.models.noise import WrappedNormal

__all__ = ["VAEConfig", "VAE", "PlainDecoder", "gaussian_kl", "load_vae", "plain_decoder_loss", "relabel"]


@dataclass
class VAEConfig(GeneratorConfig):
    """The VAE; fields shared with the other families are in `GeneratorConfig`."""

    latent_dim: int = 16  # a perovskite's geometry has few free numbers (a lattice, a tilt or two); 16 is plenty
    encoder_layers: int = 2  # the encoder only summarises a clean crystal: half the denoiser's depth suffices
    beta: float = 1.0  # weight of the KL term; 1 is the true ELBO, other values the beta-VAE (Higgins et al. 2017)
    free_bits: float = 0.25  # nats per latent dimension (batch mean) left unpenalised against posterior collapse;
    # 0 turns the fix off. 16 x 0.25 = 4 nats per crystal, enough to tell a few dozen geometries apart
    lattice_weight: float = 1.0  # the six lattice coordinates are standardised, so unit weight (as in the flow)
    coord_weight: float = 1.0  # the coordinate score target has unit size at every noise level (as in diffusion)
    angle_spread: float = 30.0  # degrees: angles are coded as (angle - 90°) / 30°, flow matching's coordinates
    sigma_min: float = 0.005  # coordinate noise range of the denoiser, diffusion's (DiffCSP) values
    sigma_max: float = 0.5  # at 0.5 of a cell edge the wrapped normal is uniform: decoding starts there
    min_time: float = 1e-3  # smallest training noise level, as in diffusion
    num_steps: int = 100  # denoising steps when decoding (CDVAE: annealed Langevin dynamics over its noise levels)
    corrector_step: float = 5e-7  # Langevin corrector step at sigma_min, diffusion's Perov-5 value; 0 turns it off
    count_weight: float = 1.0  # de novo only: weight of -log p(N | z), the atom count's cross-entropy
    composition_weight: float = 1.0  # de novo only: weight of the element fractions' cross-entropy


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` KL( N(mu, exp(logvar)) || N(0, 1) ) per latent dimension, in nats (closed form).

    ``KL = (mu^2 + sigma^2 - 1 - log sigma^2) / 2``: zero exactly when the
    posterior is the prior (``mu = 0``, ``sigma = 1``).
    """
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)


class VAE(CrystalGenerator):
    """Encoder to a Gaussian latent, lattice decoder, and a z-conditioned coordinate denoiser; de novo, also
    heads that read the atom count and the formula off ``z``.

    ``net`` is the denoiser's backbone; the encoder is a second, shallower
    `PeriodicBackbone` of the same width (``config.encoder_layers`` layers).

    Args:
        net: the denoiser backbone.
        config: latent size, KL weight and free bits, denoiser noise range.
    """

    family = "vae"
    config_class = VAEConfig

    def __init__(self, net: PeriodicBackbone, config: VAEConfig | None = None) -> None:
        config = config or VAEConfig()
        if config.task not in ("csp", "de_novo"):
            raise CrystalInputError(f"task must be 'csp' or 'de_novo', got {config.task!r}.")
        if config.conditional:
            raise CrystalInputError("The VAE is unconditional (conditional=False); to steer it, optimise in its "
                                    "latent space (notebook 04) or use a conditional Diffusion model.")
        if config.latent_dim < 1:
            raise CrystalInputError(f"latent_dim must be a positive integer, got {config.latent_dim}.")
        super().__init__(net, config)
        hidden, latent = net.config.hidden_dim, config.latent_dim
        self.encoder = PeriodicBackbone(replace(net.config, num_layers=config.encoder_layers))
        self.to_latent = nn.Linear(hidden, 2 * latent)  # crystal features -> (mu, logvar)
        nn.init.zeros_(self.to_latent.weight)  # start at the prior: mu = 0, logvar = 0
        nn.init.zeros_(self.to_latent.bias)
        self.lattice_decoder = nn.Sequential(nn.Linear(latent + hidden, hidden), nn.SiLU(),
                                             nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 6))
        self.latent_context = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.coord_noise = WrappedNormal(config.sigma_min, config.sigma_max)  # diffusion's torus noise
        self.coord_head = TorusVectorHead(hidden)  # per atom: the (scaled) score, as in diffusion
        # Standardisation of log(length / N^(1/3)), fitted on the training set (as in flow matching).
        self.register_buffer("log_length_mean", torch.tensor(0.9))
        self.register_buffer("log_length_std", torch.tensor(0.3))
        if self.de_novo:  # z -> the atom count and the formula (CDVAE's first decoding steps)
            self.count_head = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(),
                                            nn.Linear(hidden, config.max_atoms + 1))
            self.composition_head = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(),
                                                  nn.Linear(hidden, net.config.num_elements))
            self.register_buffer("element_seen", torch.ones(net.config.num_elements, dtype=torch.bool))

    @property
    def de_novo(self) -> bool:
        return self.config.task == "de_novo"

    # ---------------------------------------------------------- the lattice
    def lattice_coordinates(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 6)`` decoder coordinates of lattices ``(B, 3, 3)`` in Å: standardised log lengths, scaled angles."""
        lengths, angles = lattice_to_parameters(lattice)  # Å, degrees
        log_lengths = torch.log(lengths / cube_root_atom_count(mask.sum(dim=1), lengths.dtype)[:, None])
        return torch.cat([(log_lengths - self.log_length_mean) / self.log_length_std,
                          (angles - 90.0) / self.config.angle_spread], dim=-1)

    def lattice_in_angstrom(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Lattices ``(B, 3, 3)`` in Å from decoder coordinates ``(B, 6)``."""
        per_root = torch.exp(lattice[:, :3] * self.log_length_std + self.log_length_mean)  # (B, 3)
        lengths = per_root * cube_root_atom_count(mask.sum(dim=1), lattice.dtype)[:, None]  # (B, 3) Å
        return lattice_from_parameters(lengths, 90.0 + self.config.angle_spread * lattice[:, 3:])

    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        """The shared statistics and the mean and spread of the training set's log lengths per N^(1/3)."""
        super().fit_data_statistics(data)
        lengths, _ = lattice_to_parameters(data.lattice.to(torch.float64))
        log_lengths = torch.log(lengths / cube_root_atom_count(data.mask.sum(dim=1), torch.float64)[:, None])
        self.log_length_mean.fill_(float(log_lengths.mean()))
        self.log_length_std.fill_(max(float(log_lengths.std()), 0.05) if log_lengths.numel() > 1 else 0.3)
        if self.de_novo:
            self.element_seen.copy_(elements_present(data, self.net.config.num_elements).to(self.element_seen.device))

    # ------------------------------------------------------------- encoder
    def encode(self, batch: DenseCrystals | CrystalBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior ``q(z | x)`` of each crystal: ``(mu, logvar)``, ``(B, D)`` each.

        Invariant, like the backbone: rotating a crystal, shifting its origin or
        reordering its atoms gives the same ``mu`` and ``logvar``.
        """
        data = as_dense(batch).to(self.device)
        clean = torch.zeros(data.num_crystals, device=data.device)  # the encoder sees clean crystals: time 0
        features = self.encoder(data.types, data.frac, data.lattice, data.mask, clean)
        mu, logvar = self.to_latent(features.crystal).chunk(2, dim=-1)  # (B, D) each
        return mu, logvar.clamp(-12.0, 6.0)  # keep exp(logvar) finite early in training

    # ------------------------------------------------------------- decoder
    def _check_latent(self, z: torch.Tensor, num_crystals: int) -> None:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise CrystalInputError(f"z must be a (num_crystals, {self.config.latent_dim}) tensor for this model "
                                    f"(latent_dim={self.config.latent_dim}), got {shape}.")
        if z.shape[0] != num_crystals:
            raise CrystalInputError(f"z has {z.shape[0]} rows but {num_crystals} compositions were given: "
                                    "pass one latent vector per composition.")

    def element_fractions(self, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` each crystal's share of every element (rows sum to 1): the composition head's target."""
        one_hot = F.one_hot((types - 1).clamp(min=0), self.net.config.num_elements).to(torch.float32)
        return _masked_mean_rows(one_hot, mask)

    def decode_composition(self, z: torch.Tensor) -> list[list[int]]:
        """De novo: the atoms (atomic numbers) each latent vector ``(B, D)`` decodes to.

        The count is the likeliest under the count head among the cell sizes seen in training; the formula
        splits it in proportion to the composition head's probabilities over the elements seen in training,
        each element getting ``floor(N p_k)`` atoms and the largest remainders the rest (ties to the lower Z).
        """
        if not self.de_novo:
            raise CrystalInputError("This VAE was trained for CSP: it decodes the compositions it is given.")
        self._check_latent(z, z.shape[0] if isinstance(z, torch.Tensor) and z.dim() == 2 else 0)  # shape only
        with torch.no_grad():
            count_logits = self.count_head(z).masked_fill(self.atom_count_weights <= 0, float("-inf"))
            counts = count_logits.argmax(dim=-1).cpu()  # (B,)
            shares = torch.softmax(self.composition_head(z).masked_fill(~self.element_seen, float("-inf")), -1)
            shares = shares.double().cpu()  # (B, K)
        rows = []
        for n, p in zip(counts.tolist(), shares):
            exact = n * p  # (K,) atoms each element would get, unrounded
            atoms = exact.floor()
            leftover = n - int(atoms.sum())
            order = torch.argsort(-(exact - atoms), stable=True)  # largest remainder first, lower Z on ties
            atoms[order[:leftover]] += 1
            rows.append([z_number for z_number in range(1, len(p) + 1) for _ in range(int(atoms[z_number - 1]))])
        return rows

    def composition_features(self, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, H)`` the mean element embedding of each crystal's atoms: what the lattice decoder knows of them."""
        return _masked_mean_rows(self.encoder.embed_types(types), mask)

    def decode_lattice(self, z: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 6)`` lattice coordinates predicted from ``z`` ``(B, D)`` and the composition."""
        return self.lattice_decoder(torch.cat([z, self.composition_features(types, mask)], dim=-1))

    def denoise(self, types: torch.Tensor, state: DenseCrystals, time: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``(B, N, 3)`` the scaled coordinate score of a noisy ``state`` at ``time`` ``(B,)``, given ``z``."""
        features = self.net(types, state.frac, state.lattice, state.mask, time, self.latent_context(z))
        return self.coord_head(features, state)

    def decode_states(self, template: DenseCrystals, z: torch.Tensor, num_steps: int,
                      generator: torch.Generator) -> Iterator[DenseCrystals]:
        """Decode ``z`` for the atoms of ``template``: the lattice at once, then coordinates from noise.

        Yields the state after every denoising step (the lattice stays the decoded
        one throughout, as in CDVAE). Draws: the coordinate prior, then per step
        the corrector's and the predictor's noise.
        """
        self._check_latent(z, template.num_crystals)
        device, config = template.device, self.config
        lattice = self.lattice_in_angstrom(self.decode_lattice(z, template.types, template.mask), template.mask)
        frac = self.coordinate_prior(template, generator)  # (B, N, 3) uniform on the torus
        state = template.replace(frac=frac, lattice=lattice)
        yield state
        times = torch.linspace(1.0, 0.0, num_steps + 1).tolist()
        for t, t_next in itertools.pairwise(times):  # annealed from sigma_max down to 0
            t_batch = torch.full((template.num_crystals,), t, device=device)
            sigma_t = float(self.coord_noise.sigma(torch.tensor(t)))
            sigma_next = float(self.coord_noise.sigma(torch.tensor(t_next)))
            scale = self.coord_noise.score_scale(torch.tensor(sigma_t, device=device))
            if config.corrector_step > 0:
                step = config.corrector_step * (sigma_t / config.sigma_min) ** 2
                score = self.denoise(template.types, state, t_batch, z) * scale
                frac = self.coord_noise.langevin_step(frac, score, step, _randn(frac, generator))
                state = state.replace(frac=frac)
            score = self.denoise(template.types, state, t_batch, z) * scale
            frac = self.coord_noise.reverse_step(frac, score, sigma_t, sigma_next, _randn(frac, generator))
            state = state.replace(frac=frac)
            yield state

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, compositions: Sequence[Composition | str] | None = None, *, seed: int | None = None,
        num_steps: int | None = None,
    ) -> CrystalBatch:
        """Crystals decoded from latent vectors ``z`` ``(B, D)``, one per composition (in order); de novo
        (``compositions`` None) the formula is decoded from ``z`` too (`decode_composition`).

        Raises:
            CrystalInputError: ``z`` is not ``(len(compositions), latent_dim)``.
        """
        if compositions is None:
            if not self.de_novo:
                raise CrystalInputError("This VAE does CSP: pass one composition per latent vector.")
            template = self.template_from_rows(self.decode_composition(z.to(self.device, torch.float32)))
        elif self.de_novo:  # a de novo model told the formula: decode only the geometry
            template = self.csp_template(compositions)
        else:
            template = self.template(compositions, 1)
        self._check_latent(z, template.num_crystals)
        generator, _ = self._generators(seed)
        final = None
        with self._in_eval_mode():
            for final in self.decode_states(template, z.to(self.device, torch.float32), self._steps(num_steps),
                                            generator):
                pass
        return final.to_batch()

    def reconstruct(
        self, structures: Sequence[Structure], *, seed: int | None = None, num_steps: int | None = None,
        sample_latent: bool = False,
    ) -> list[Structure]:
        """``decode(encode(x))`` for each structure (at the posterior mean, or a draw if ``sample_latent``)."""
        if not structures:
            raise CrystalInputError("reconstruct needs at least one structure.")
        structures = list(structures)
        with torch.no_grad(), self._in_eval_mode():
            mu, logvar = self.encode(CrystalBatch.from_structures(structures))
        z = mu
        if sample_latent:
            generator = torch.Generator(device=self.device).manual_seed(0 if seed is None else int(seed) + 1)
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, device=mu.device)
        compositions = None if self.de_novo else [s.composition for s in structures]  # de novo: from z too
        return self.decode(z, compositions, seed=seed, num_steps=num_steps).to_structures()

    def csp_template(self, compositions: Sequence[Composition | str]) -> DenseCrystals:
        """The atoms of ``compositions``, one crystal each, for a de novo model told the formulas."""
        from crystalkit.sampling import as_compositions

        parsed = as_compositions(compositions)
        return self.template_from_rows([[element.Z for element, amount in composition.items()
                                         for _ in range(round(amount))] for composition in parsed])

    def _sampler(self, template: DenseCrystals, num_steps: int, generator: torch.Generator,
                 guidance_scale: float) -> Iterator[DenseCrystals]:
        """Prior sampling: ``z ~ N(0, I)`` (the first draw), then (de novo) the formula `decode_composition`
        reads off ``z`` (the template's drawn cell sizes are not used: the count comes from ``z``), then
        `decode_states`."""
        z = torch.randn(template.num_crystals, self.config.latent_dim, generator=generator, device=template.device)
        if self.de_novo:
            template = self.template_from_rows(self.decode_composition(z))
        yield from self.decode_states(template, z, num_steps, generator)

    # ------------------------------------------------------------- training
    def loss(
        self, batch: DenseCrystals | CrystalBatch, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """The negative ELBO of a batch (with free bits); ``"loss"`` is the total to minimise.

        Draws from ``generator`` in this order: the latent noise ``(B, D)``, the
        noise times ``(B,)``, the coordinate noise ``(B, N, 3)``.

        Returns ``loss``, ``lattice``, ``coords``, ``kl`` (the true KL per crystal,
        summed over dimensions) and ``kl_penalised`` (what the loss charges after
        free bits); de novo also ``count`` (``-log p(N | z)``) and ``composition``
        (``-sum_k f_k log p_k(z)``), both batch means.
        """
        data = as_dense(batch)
        config, mask = self.config, data.mask
        mu, logvar = self.encode(data)  # (B, D) each
        eps = torch.randn(mu.shape, generator=generator, device=data.device)
        z = mu + (0.5 * logvar).exp() * eps  # reparameterisation: gradients reach mu and logvar
        lattice = F.mse_loss(self.decode_lattice(z, data.types, mask), self.lattice_coordinates(data.lattice, mask))
        t = config.min_time + (1 - config.min_time) * torch.rand(data.num_crystals, generator=generator,
                                                                 device=data.device)
        sigma = self.coord_noise.sigma(t)  # (B,)
        noise = torch.randn(data.frac.shape, generator=generator, device=data.device)  # (B, N, 3)
        frac_t = self.coord_noise.add_noise(data.frac, sigma, noise)
        target = self.coord_noise.score(frac_t - data.frac, sigma) / self.coord_noise.score_scale(sigma)[:, None, None]
        predicted = self.denoise(data.types, data.replace(frac=frac_t), t, z)  # the true lattice: teacher forcing
        coords = masked_mean((predicted - remove_mean(target, mask)) ** 2, mask)
        kl_per_dim = gaussian_kl(mu, logvar).mean(dim=0)  # (D,) batch mean per latent dimension
        kl_penalised = kl_per_dim.clamp(min=config.free_bits).sum()  # free bits: no pull below the floor
        total = config.lattice_weight * lattice + config.coord_weight * coords + config.beta * kl_penalised
        terms = {"lattice": lattice, "coords": coords, "kl": kl_per_dim.sum(), "kl_penalised": kl_penalised}
        if self.de_novo:  # the size and the formula are read off z too
            terms["count"] = F.cross_entropy(self.count_head(z), data.num_atoms.long())
            fractions = self.element_fractions(data.types, mask).to(z.dtype)  # (B, K)
            terms["composition"] = -(fractions * F.log_softmax(self.composition_head(z), dim=-1)).sum(-1).mean()
            total = total + config.count_weight * terms["count"] + config.composition_weight * terms["composition"]
        return {"loss": total, **terms}

    # The base class's per-step scaffolding (training_times/corrupt/heads/loss_terms) is not used: the
    # VAE's loss above reads as one piece, and decoding goes through `decode_states`.


def _masked_mean_rows(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, H)`` mean of per-atom rows ``(B, N, H)`` over each crystal's real atoms."""
    weights = mask.unsqueeze(-1).to(values.dtype)
    return (values * weights).sum(1) / weights.sum(1).clamp(min=1)


def _randn(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


# ------------------------------------------------ the plain decoder, to fail
class PlainDecoder(nn.Module):
    """The obvious decoder that does not work: ``z`` -> one position per atom slot, in one shot.

    It must name the atoms in some order and the cell in some origin, but both
    are arbitrary: the invariant encoder gives the same ``z`` for every
    reordering and shift of a crystal, so the decoder cannot know which of the
    equivalent answers it is graded against. Trained with a squared error on
    fractional coordinates, it learns their average: atoms drift to the middle
    of the cell (:func:`plain_decoder_loss`, :func:`relabel`).

    Args:
        latent_dim: size of ``z``.
        max_atoms: atom slots it writes (a crystal uses its first ``N``).
        hidden: width of the two hidden layers.
    """

    def __init__(self, latent_dim: int, max_atoms: int, hidden: int = 128) -> None:
        super().__init__()
        self.max_atoms = max_atoms
        self.mlp = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 3 * max_atoms))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, max_atoms, 3)`` fractional coordinates in [0, 1)."""
        return torch.sigmoid(self.mlp(z)).reshape(z.shape[0], self.max_atoms, 3)


def plain_decoder_loss(predicted: torch.Tensor, data: DenseCrystals) -> torch.Tensor:
    """Mean squared error between slot ``i`` of the prediction and atom ``i`` of the data (real atoms only).

    This is the loss a plain decoder has to use, and its flaw: it compares
    positions slot by slot, so a reordered or shifted copy of the same crystal
    scores differently.
    """
    width = data.frac.shape[1]
    return masked_mean((predicted[:, :width] - data.frac) ** 2, data.mask)


def relabel(data: DenseCrystals, generator: torch.Generator | None = None) -> DenseCrystals:
    """The same crystals, written differently: atoms shuffled and every crystal shifted by a random vector.

    Padding stays at the end of each row. Invariant models see no change; a plain decoder's targets do.
    """
    keys = torch.rand(data.mask.shape, generator=generator, device=data.device) + (~data.mask) * 2.0  # pad last
    order = keys.argsort(dim=1)  # (B, N)

    def gather(x: torch.Tensor) -> torch.Tensor:  # reorder the atom axis of (B, N) or (B, N, 3)
        return torch.gather(x, 1, order.reshape(order.shape + (1,) * (x.dim() - 2)).expand_as(x))

    shift = torch.rand(data.num_crystals, 1, 3, generator=generator, device=data.device)
    frac = gather(data.frac) + shift
    return data.replace(types=gather(data.types), frac=(frac - frac.floor()) * data.mask.unsqueeze(-1),
                        mask=gather(data.mask))


def load_vae(path, *, device: str | torch.device = "cpu", weights: str = "ema") -> VAE:
    """A trained VAE from a kit checkpoint (``VAE.load``); refuses a checkpoint of another family."""
    return VAE.load(path, device=device, weights=weights)
