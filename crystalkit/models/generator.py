"""What every learned generator shares: conditioning, templates, sampling to structures.

`Diffusion` and `FlowMatching` differ only in *how* they corrupt crystals and
walk back; everything around that lives here, once:

* turning compositions (CSP) or nothing (de novo) into a padded template of
  atoms to place, and the finished tensors back into pymatgen structures;
* the ``sample`` / ``sample_batch`` / ``sample_trajectory`` interface shared
  with the baselines (`crystalkit.sampling.StructureGenerator`);
* property conditioning with classifier-free guidance (Ho & Salimans 2022):
  the label is embedded and, during training, replaced by a learned "unknown"
  vector for a fraction of crystals; when sampling, the prediction with the
  label is pushed away from the one without it by a guidance scale ``w``:
  ``out = out_cond + w (out_cond - out_uncond)``;
* statistics of the training data that sampling needs (how many atoms de novo
  crystals have, the scale of the label), stored as buffers so they travel
  inside checkpoints;
* a plain-dict config for safe checkpoints.

A family subclasses `CrystalGenerator` and writes three methods: ``heads``
(network features to predictions), ``loss`` and ``_sampler`` (a generator of
intermediate states).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import torch
from pymatgen.core import Composition, Structure
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import wrap_frac
from crystalkit.models.backbone import BackboneConfig, PeriodicBackbone, sinusoidal_embedding
from crystalkit.models.dense import DenseCrystals
from crystalkit.sampling import as_compositions

__all__ = ["GeneratorConfig", "CrystalGenerator", "TorusVectorHead", "as_dense", "masked_mean", "remove_mean"]


@dataclass
class GeneratorConfig:
    """Settings every family shares (each family's config extends this one)."""

    task: str = "csp"  # "csp": types given, place atoms and cell; "de_novo": choose types too
    conditional: bool = False  # learn p(crystal | label) for classifier-free guidance
    condition_dropout: float = 0.1  # share of labels hidden in training so one net also learns p(crystal)
    max_atoms: int = 64  # largest cell that de novo sampling may draw; MPTS-52 cells reach 52 atoms

    def to_dict(self) -> dict:
        return asdict(self)


def as_dense(batch: DenseCrystals | CrystalBatch, dtype: torch.dtype = torch.float32) -> DenseCrystals:
    """Accept either batch form; models compute on the padded one."""
    if isinstance(batch, DenseCrystals):
        return batch
    if isinstance(batch, CrystalBatch):
        return DenseCrystals.from_batch(batch, dtype=dtype)
    raise CrystalInputError(f"Expected a CrystalBatch or DenseCrystals, got {type(batch).__name__}.")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``(B, N, ...)`` over real atoms only (``mask`` ``(B, N)``), a scalar."""
    weights = mask.to(values.dtype).reshape(mask.shape + (1,) * (values.dim() - mask.dim()))
    per_atom_size = values[0, 0].numel() if values.dim() > 2 else 1
    return (values * weights).sum() / (weights.sum() * per_atom_size).clamp(min=1)


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
        self.mlp = nn.Sequential(nn.Linear(2 * num_frequencies, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim))
        self.unknown = nn.Parameter(torch.zeros(hidden_dim))
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def fit(self, labels: torch.Tensor) -> None:
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

    def forward(self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor], state: DenseCrystals) -> torch.Tensor:
        atoms, _, pairs = features
        batch, num_atoms, _ = atoms.shape
        delta = state.frac.unsqueeze(1) - state.frac.unsqueeze(2)  # (B, N, N, 3): f_j - f_i
        k = torch.arange(1, self.num_harmonics + 1, device=delta.device, dtype=delta.dtype)  # (K,)
        basis = torch.sin(2 * torch.pi * delta.unsqueeze(-1) * k)  # (B, N, N, 3, K)
        weights = self.per_pair(pairs).reshape(batch, num_atoms, num_atoms, 3, self.num_harmonics)
        weights = weights * state.mask[:, None, :, None, None]  # padding pushes nobody
        count = state.mask.sum(1).clamp(min=1).to(atoms.dtype)[:, None, None]  # (B, 1, 1)
        pushes = (weights * basis).sum(dim=(2, 4)) / count  # (B, N, 3)
        return remove_mean(self.per_atom(atoms) + pushes, state.mask)  # no net drift of the whole crystal


class CrystalGenerator(nn.Module):
    """Base of the learned generators: a backbone, output heads, and the shared interface.

    Subclasses set ``family`` and implement ``heads``, ``loss`` and ``_sampler``.
    """

    family: str = ""
    config_class: type = GeneratorConfig

    def __init__(self, net: PeriodicBackbone, config: GeneratorConfig) -> None:
        super().__init__()
        if config.task not in ("csp", "de_novo"):
            raise CrystalInputError(f"task must be 'csp' or 'de_novo', got {config.task!r}.")
        self.net = net
        self.config = config
        hidden = net.config.hidden_dim
        self.condition_embedding = ConditionEmbedding(hidden) if config.conditional else None
        # Histogram of atom counts in the training set: de novo sampling draws cell sizes from it.
        self.register_buffer("atom_count_weights", torch.zeros(config.max_atoms + 1))

    # ------------------------------------------------------------- overridden
    def heads(self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor], state: DenseCrystals) -> dict:
        """Backbone features ``(atoms, crystal, pairs)`` -> the family's predictions (a dict of tensors)."""
        raise NotImplementedError

    def corrupt(self, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """The training-time corruption at times ``t`` ``(B,)``: ``{"state": noisy crystals, ...targets}``."""
        raise NotImplementedError

    def loss(self, batch: DenseCrystals | CrystalBatch, generator: torch.Generator | None = None) -> dict:
        """Training losses of a batch; the key ``"loss"`` is the total to minimise."""
        raise NotImplementedError

    def state_context(self, state: DenseCrystals, time: torch.Tensor) -> torch.Tensor | None:
        """Optional ``(B, H)`` invariant summary of the noisy state in the family's own coordinates.

        The backbone already sees the lattice, but in generic units; a family
        whose process lives in other coordinates (the flow's standardised
        lattice parameters) can hand the network those too, at full resolution.
        """
        return None

    def _sampler(
        self, template: DenseCrystals, num_steps: int, generator: torch.Generator, guidance_scale: float
    ) -> Iterator[DenseCrystals]:
        """Yield the state after every step, from noise to the final crystals."""
        raise NotImplementedError

    # ------------------------------------------------------------ data stats
    @torch.no_grad()
    def fit_data_statistics(self, data: DenseCrystals) -> None:
        """Record what sampling needs to know about the training data (called by ``train``)."""
        counts = data.num_atoms.cpu()
        if int(counts.max()) > self.config.max_atoms:
            raise CrystalInputError(
                f"The training set has a cell of {int(counts.max())} atoms but max_atoms is "
                f"{self.config.max_atoms}; raise max_atoms in the model config."
            )
        histogram = torch.bincount(counts, minlength=self.config.max_atoms + 1).to(self.atom_count_weights)
        self.atom_count_weights.copy_(histogram / histogram.sum())
        if self.condition_embedding is not None:
            if data.condition is None:
                raise CrystalInputError(
                    "This model is conditional but the training data carries no labels: build the dataset "
                    "with a label column, e.g. TensorCrystalDataset.from_structures(..., labels=...)."
                )
            self.condition_embedding.fit(data.condition.cpu())

    # ------------------------------------------------------------ prediction
    def embed_condition(
        self, labels: torch.Tensor | None, num_crystals: int, hide: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The ``(B, H)`` condition vector for the backbone, or None for an unconditional model
        (which ignores any labels the data carry)."""
        if self.condition_embedding is None:
            return None
        if labels is None:
            labels = torch.full((num_crystals,), float("nan"), device=self.atom_count_weights.device)
        return self.condition_embedding(labels, hide)

    def predict(
        self,
        types: torch.Tensor,
        state: DenseCrystals,
        time: torch.Tensor,
        guidance_scale: float = 0.0,
        hide_condition: torch.Tensor | None = None,
    ) -> dict:
        """Run backbone and heads on a (noisy) state; with a label and ``guidance_scale`` > 0, apply guidance.

        Args:
            types: atomic numbers ``(B, N)`` or type weights ``(B, N, K)`` (de novo).
            state: the current crystals; only ``frac``, ``lattice``, ``mask`` and ``condition`` are read.
            time: ``(B,)`` process time.
            guidance_scale: ``w`` of classifier-free guidance; 0 uses the conditional prediction as is.
            hide_condition: ``(B,)`` labels to hide (training-time dropout).
        """
        labels = state.condition
        context = self.state_context(state, time)
        condition = self.embed_condition(labels, state.num_crystals, hide_condition)
        combined = condition if context is None else (context if condition is None else context + condition)
        out = self.heads(self.net(types, state.frac, state.lattice, state.mask, time, combined), state)
        if guidance_scale and condition is not None and labels is not None:
            plain = self.embed_condition(None, state.num_crystals)
            plain = plain if context is None else plain + context
            unconditional = self.heads(self.net(types, state.frac, state.lattice, state.mask, time, plain), state)
            out = {key: value + guidance_scale * (value - unconditional[key]) for key, value in out.items()}
        return out

    # -------------------------------------------------------------- sampling
    @property
    def device(self) -> torch.device:
        return self.atom_count_weights.device

    def template(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        condition: float | None = None,
        generator: torch.Generator | None = None,
    ) -> DenseCrystals:
        # ``generator`` (a CPU one) draws the de novo cell sizes.
        """A padded batch of atoms to place: ``num_samples`` copies of each composition (CSP, grouped by
        composition), or ``num_samples`` crystals whose sizes are drawn from the training set (de novo).

        Coordinates and lattices are zero; the sampler draws them from its prior.
        """
        if not isinstance(num_samples, int) or num_samples < 1:
            raise CrystalInputError(f"num_samples must be a positive integer, got {num_samples!r}.")
        device = self.device
        if compositions is None:
            if self.config.task != "de_novo":
                raise CrystalInputError(
                    "This model was trained for crystal structure prediction (task='csp'): pass compositions, "
                    "or train a model with task='de_novo' to generate without them."
                )
            if float(self.atom_count_weights.sum()) == 0:
                raise CrystalInputError("The model has not seen training data yet (no atom-count statistics).")
            counts = torch.multinomial(self.atom_count_weights.cpu(), num_samples, replacement=True, generator=generator)
            rows = [[0] * int(count) for count in counts]  # types are chosen by the sampler
        else:
            if self.config.task != "csp":
                raise CrystalInputError("This model generates de novo: call sample(None, ...) without compositions.")
            parsed = as_compositions(compositions)
            rows = []
            for composition in parsed:
                numbers = [element.Z for element, amount in composition.items() for _ in range(round(amount))]
                if max(numbers) > self.net.config.num_elements:
                    raise CrystalInputError(
                        f"{composition.formula} has an element beyond Z = {self.net.config.num_elements}, "
                        "which the model does not know."
                    )
                rows.extend([numbers] * num_samples)
        width = max(len(row) for row in rows)
        types = torch.zeros(len(rows), width, dtype=torch.int64)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            types[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = True
        labels = None if condition is None else torch.full((len(rows),), float(condition))
        return DenseCrystals(
            types=types, frac=torch.zeros(*types.shape, 3), lattice=torch.zeros(len(rows), 3, 3), mask=mask,
            condition=labels,
        ).to(device)

    def _check_condition(self, condition: float | None, guidance_scale: float) -> None:
        if condition is not None and self.condition_embedding is None:
            raise CrystalInputError("condition= needs a model trained with conditional=True.")
        if guidance_scale and condition is None:
            raise CrystalInputError("guidance_scale > 0 needs a condition= value to guide towards.")

    @torch.no_grad()
    def sample_trajectory(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
        num_steps: int | None = None,
        condition: float | None = None,
        guidance_scale: float = 0.0,
    ) -> list[CrystalBatch]:
        """Every intermediate state of sampling, first (pure noise) to last, as flat batches.

        Made for watching a crystal form (``crystalkit.widgets``); keep the batch
        small, since all states stay in memory.
        """
        self._check_condition(condition, guidance_scale)
        generator, cpu_generator = self._generators(seed)
        template = self.template(compositions, num_samples, condition=condition, generator=cpu_generator)
        was_training = self.training
        self.eval()
        try:
            states = [state.to_batch() for state in self._sampler(template, self._steps(num_steps), generator,
                                                                  guidance_scale)]
        finally:
            self.train(was_training)
        return states

    @torch.no_grad()
    def forward_path(
        self, structures: Sequence[Structure], times: Sequence[float], *, seed: int = 0
    ) -> list[list[Structure]]:
        """What training does to real crystals: each of ``structures`` at each process time in ``times``.

        Diffusion's clock runs from the crystal (0) to noise (1); flow matching's
        from a prior draw (0) to the crystal (1). One noise draw is used for every
        time, so the states of a crystal lie on one path and can be played as a film.

        Returns:
            One list per structure, one state per time (pymatgen structures).
        """
        if not structures:
            raise CrystalInputError("forward_path needs at least one structure.")
        data = DenseCrystals.from_batch(CrystalBatch.from_structures(list(structures))).to(self.device)
        paths: list[list[Structure]] = [[] for _ in structures]
        for t in times:
            if not 0.0 <= float(t) <= 1.0:
                raise CrystalInputError(f"Process times run from 0 to 1, got {t}.")
            generator = torch.Generator(device=self.device).manual_seed(int(seed))  # the same draw at every t
            state = self.corrupt(data, torch.full((data.num_crystals,), float(t), device=self.device), generator)
            for path, structure in zip(paths, state["state"].to_batch().to_structures()):
                path.append(structure)
        return paths

    @torch.no_grad()
    def sample_batch(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
        num_steps: int | None = None,
        condition: float | None = None,
        guidance_scale: float = 0.0,
        batch_size: int = 2048,
        progress: bool = False,
    ) -> CrystalBatch:
        """Final samples as one flat `CrystalBatch` (CSP: grouped by composition, ``num_samples`` each).

        Args:
            compositions: formulas such as ``"SrTiO3"`` (CSP), or None (de novo).
            num_samples: samples per composition (CSP) or in total (de novo).
            seed: makes sampling reproducible.
            num_steps: sampler steps; default the family's ``config.num_steps``.
            condition: property label to aim for (conditional models only).
            guidance_scale: classifier-free guidance strength ``w`` (0: none).
            batch_size: crystals sampled together; lower it to save memory.
            progress: show a progress bar over the chunks.
        """
        self._check_condition(condition, guidance_scale)
        generator, cpu_generator = self._generators(seed)
        template = self.template(compositions, num_samples, condition=condition, generator=cpu_generator)
        steps = self._steps(num_steps)
        was_training = self.training
        self.eval()
        chunks = []
        starts = range(0, template.num_crystals, batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"sampling {template.num_crystals} crystals", unit="chunk")
        try:
            for start in starts:
                part = template.index(slice(start, start + batch_size)).trimmed()
                final = None
                for final in self._sampler(part, steps, generator, guidance_scale):
                    pass
                chunks.append(final.to_batch())
        finally:
            self.train(was_training)
        return CrystalBatch(
            atomic_numbers=torch.cat([c.atomic_numbers for c in chunks]).cpu(),
            frac_coords=torch.cat([c.frac_coords for c in chunks]).cpu(),
            lattice=torch.cat([c.lattice for c in chunks]).cpu(),
            num_atoms=torch.cat([c.num_atoms for c in chunks]).cpu(),
        )

    def sample(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
        **options,
    ) -> list[list[Structure]]:
        """The kit's `StructureGenerator` interface: pymatgen structures.

        CSP: one list of ``num_samples`` structures per composition, each with
        exactly that composition and atom count. De novo (``None``): one list of
        ``num_samples`` structures. ``options`` go to :meth:`sample_batch`
        (``num_steps``, ``condition``, ``guidance_scale``, ``batch_size``, ``progress``).
        """
        structures = self.sample_batch(compositions, num_samples, seed=seed, **options).to_structures()
        if compositions is None:
            return [structures]
        return [structures[i : i + num_samples] for i in range(0, len(structures), num_samples)]

    def _steps(self, num_steps: int | None) -> int:
        steps = self.config.num_steps if num_steps is None else num_steps
        if not isinstance(steps, int) or steps < 1:
            raise CrystalInputError(f"num_steps must be a positive integer, got {steps!r}.")
        return steps

    def _generators(self, seed: int | None) -> tuple[torch.Generator, torch.Generator]:
        """Random generators on the model's device and on the CPU, both seeded from ``seed``."""
        seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else int(seed)
        return torch.Generator(device=self.device).manual_seed(seed), torch.Generator().manual_seed(seed)

    # ---------------------------------------------------------------- config
    def to_config(self) -> dict:
        """A plain dict (str, int, float, bool only) that rebuilds this model: safe to store in checkpoints."""
        return {"family": self.family, "backbone": self.net.config.to_dict(), "process": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> CrystalGenerator:
        """Rebuild an (untrained) model from :meth:`to_config`'s dict."""
        net = PeriodicBackbone(BackboneConfig(**config["backbone"]))
        return cls(net, cls.config_class(**config["process"]))


def uniform_frac(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Uniform fractional coordinates on the torus: the prior of both families."""
    return wrap_frac(torch.rand(shape, generator=generator, device=device))


def normal(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=device)
