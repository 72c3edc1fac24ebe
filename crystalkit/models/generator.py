"""What every learned generator shares: conditioning, templates, the loss and sampling scaffolds.

`Diffusion` and `FlowMatching` differ only in *how* they corrupt crystals and
walk back; everything around that lives here, once:

* turning compositions (CSP) or nothing (de novo) into a padded template of
  atoms to place, and the finished tensors back into pymatgen structures;
* the ``sample`` / ``sample_batch`` / ``sample_trajectory`` interface shared
  with the baselines (`crystalkit.sampling.StructureGenerator`);
* the training loss's four steps, the same in every family: draw a process
  time per crystal, corrupt the crystals (``corrupt``), hide some labels, ask
  the network (``predict``); only the comparison (``loss_terms``) differs;
* property conditioning with classifier-free guidance (Ho & Salimans 2022):
  the label is embedded (`heads.ConditionEmbedding`) and, during training,
  replaced by a learned "unknown" vector for a fraction of crystals; when
  sampling, the prediction with the label is pushed away from the one without
  it by a guidance scale ``w``: ``out = out_cond + w (out_cond - out_uncond)``,
  field by field of the family's `Prediction`;
* statistics of the training data that sampling needs (how many atoms de novo
  crystals have, the scale of the label), stored as buffers so they travel
  inside checkpoints;
* a plain-dict config for safe checkpoints.

A family subclasses `CrystalGenerator`, declares its `Targets` (what
``corrupt`` makes) and `Prediction` (what ``heads`` make), and writes:
``training_times``, ``corrupt``, ``heads``, ``loss_terms``, its lattice prior
and lattice coordinates (``lattice_prior``, ``lattice_in_angstrom``) and
``_sampler`` (a generator of intermediate states).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace

import torch
from pymatgen.core import Composition, Structure
from torch import nn

from crystalkit.data.batch import CrystalBatch
from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.geometry import wrap_frac
from crystalkit.models.backbone import BackboneConfig, BackboneFeatures, PeriodicBackbone
from crystalkit.models.heads import ConditionEmbedding
from crystalkit.sampling import as_compositions

__all__ = [
    "GeneratorConfig",
    "CrystalGenerator",
    "Prediction",
    "Targets",
    "as_dense",
    "masked_mean",
    "uniform_frac",
]


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


def elements_present(data: DenseCrystals, num_elements: int) -> torch.Tensor:
    """``(num_elements,)`` True for each element (row ``Z - 1``) that some atom of ``data`` has: the elements a
    de novo model may choose."""
    counts = torch.bincount(data.types[data.mask].cpu() - 1, minlength=num_elements)
    return counts[:num_elements] > 0


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``(B, N, ...)`` over real atoms only (``mask`` ``(B, N)``), a scalar."""
    weights = mask.to(values.dtype).reshape(mask.shape + (1,) * (values.dim() - mask.dim()))
    per_atom_size = values[0, 0].numel() if values.dim() > 2 else 1
    return (values * weights).sum() / (weights.sum() * per_atom_size).clamp(min=1)


def uniform_frac(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform fractional coordinates on the torus: the coordinate prior of both families."""
    return wrap_frac(torch.rand(shape, generator=generator, device=device))


@dataclass(frozen=True)
class Prediction:
    """Base of a family's network outputs: one tensor per field, None where the task has no such output."""

    def guided(self, unconditional: Prediction, scale: float) -> Prediction:
        """Classifier-free guidance, field by field: ``self + scale * (self - unconditional)``."""
        changes = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                changes[field.name] = value + scale * (value - getattr(unconditional, field.name))
        return replace(self, **changes)


@dataclass(frozen=True)
class Targets:
    """Base of what a family's ``corrupt`` returns; each family adds the targets its network must learn."""

    state: DenseCrystals  # the corrupted crystals, as the network sees them
    types: torch.Tensor  # what the backbone reads as atom types: (B, N) atomic numbers or (B, N, K) weights


class CrystalGenerator(nn.Module):
    """Base of the learned generators: a backbone, output heads, and the shared interface.

    Subclasses set ``family`` and ``config_class`` and implement the methods of
    the "overridden" section below (the module docstring lists them); ``loss``,
    ``predict`` and the sampling entry points are written here once.
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
    def training_times(
        self, num_crystals: int, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        """``(B,)`` process times at which ``loss`` corrupts the crystals (drawn from ``generator``)."""
        raise NotImplementedError

    def corrupt(self, data: DenseCrystals, t: torch.Tensor, generator: torch.Generator | None = None) -> Targets:
        """The training-time corruption at times ``t`` ``(B,)``: the noisy crystals and the family's targets."""
        raise NotImplementedError

    def heads(self, features: BackboneFeatures, state: DenseCrystals) -> Prediction:
        """Backbone features -> the family's predictions."""
        raise NotImplementedError

    def loss_terms(self, predicted: Prediction, targets: Targets, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each part's loss and their weighted total under ``"loss"``; ``mask`` ``(B, N)`` marks real atoms."""
        raise NotImplementedError

    def lattice_prior(self, num_crystals: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """Draws of the lattice from the prior, in the family's own lattice coordinates."""
        raise NotImplementedError

    def lattice_in_angstrom(self, lattice: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Lattices ``(B, 3, 3)`` in Å from the family's lattice coordinates (``mask`` gives the atom counts)."""
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

    # ---------------------------------------------------------------- shared
    def loss(
        self, batch: DenseCrystals | CrystalBatch, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Training losses of a batch at a random process time per crystal; ``"loss"`` is the total to minimise.

        The random draws come from ``generator`` in this order: times, the
        family's corruption, the labels to hide (conditional models in training).
        """
        data = as_dense(batch)
        t = self.training_times(data.num_crystals, generator, data.device)  # (B,)
        targets = self.corrupt(data, t, generator)
        hide = self._labels_to_hide(data.num_crystals, generator, data.device)
        predicted = self.predict(targets.types, targets.state, t, hide_condition=hide)
        return self.loss_terms(predicted, targets, data.mask)

    def _labels_to_hide(
        self, num_crystals: int, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor | None:
        """``(B,)`` True for the labels hidden in this training step (condition dropout); None if no label is used."""
        if self.condition_embedding is None or not self.training:
            return None
        return torch.rand(num_crystals, generator=generator, device=device) < self.config.condition_dropout

    def coordinate_prior(self, template: DenseCrystals, generator: torch.Generator | None) -> torch.Tensor:
        """``(B, N, 3)`` uniform fractional coordinates, one per atom slot of ``template`` (padding included)."""
        return uniform_frac(template.frac.shape, generator, template.device)

    def with_geometry(self, state: DenseCrystals, frac: torch.Tensor, lattice: torch.Tensor) -> DenseCrystals:
        """``state`` with coordinates ``frac`` and a lattice given in the family's coordinates (stored in Å)."""
        return state.replace(frac=frac, lattice=self.lattice_in_angstrom(lattice, state.mask))

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
    ) -> Prediction:
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
            out = out.guided(unconditional, guidance_scale)
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
        return self.template_from_rows(rows, condition)

    def template_from_rows(self, rows: Sequence[Sequence[int]], condition: float | None = None) -> DenseCrystals:
        """A padded batch with one crystal per row of atomic numbers (0: an atom whose type the sampler
        chooses); coordinates and lattices are zero."""
        width = max(len(row) for row in rows)
        types = torch.zeros(len(rows), width, dtype=torch.int64)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            types[i, : len(row)] = torch.tensor(list(row), dtype=torch.int64)
            mask[i, : len(row)] = True
        labels = None if condition is None else torch.full((len(rows),), float(condition))
        return DenseCrystals(
            types=types, frac=torch.zeros(*types.shape, 3), lattice=torch.zeros(len(rows), 3, 3), mask=mask,
            condition=labels,
        ).to(self.device)

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
        template, steps, generator = self._start_sampling(compositions, num_samples, seed, num_steps, condition,
                                                          guidance_scale)
        with self._in_eval_mode():
            return [state.to_batch() for state in self._sampler(template, steps, generator, guidance_scale)]

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
            targets = self.corrupt(data, torch.full((data.num_crystals,), float(t), device=self.device), generator)
            for path, structure in zip(paths, targets.state.to_batch().to_structures()):
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
        template, steps, generator = self._start_sampling(compositions, num_samples, seed, num_steps, condition,
                                                          guidance_scale)
        chunks = []
        starts = range(0, template.num_crystals, batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"sampling {template.num_crystals} crystals", unit="chunk")
        with self._in_eval_mode():
            for start in starts:
                part = template.index(slice(start, start + batch_size)).trimmed()
                final = None
                for final in self._sampler(part, steps, generator, guidance_scale):
                    pass
                chunks.append(final.to_batch())
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

    def _start_sampling(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int,
        seed: int | None,
        num_steps: int | None,
        condition: float | None,
        guidance_scale: float,
    ) -> tuple[DenseCrystals, int, torch.Generator]:
        """What every sampling entry point does first: check the request, seed, build the template.

        Returns the template, the number of sampler steps and the generator the
        sampler draws from (the de novo cell sizes come from a CPU twin of it).
        """
        self._check_condition(condition, guidance_scale)
        generator, cpu_generator = self._generators(seed)
        template = self.template(compositions, num_samples, condition=condition, generator=cpu_generator)
        return template, self._steps(num_steps), generator

    @contextlib.contextmanager
    def _in_eval_mode(self) -> Iterator[None]:
        """Sample in eval mode, then put the model back in the mode it was in (even after an error)."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

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
        """Rebuild an (untrained) model from :meth:`to_config`'s dict; a config of another family is refused."""
        cls._refuse_other_family(config)
        net = PeriodicBackbone(BackboneConfig(**config["backbone"]))
        return cls(net, cls.config_class(**config["process"]))

    @classmethod
    def _refuse_other_family(cls, config: dict) -> None:
        """Raise unless ``config`` names this class's family (every family's ``from_config`` calls it)."""
        family = config.get("family") if isinstance(config, dict) else None
        if family != cls.family:
            raise CrystalInputError(f"This is a {family!r} model config, not a {cls.family!r} one: load the "
                                    "checkpoint with crystalkit.models.load_checkpoint, which builds its own family.")

    @classmethod
    def load(cls, path, *, device: str | torch.device = "cpu", weights: str = "ema") -> CrystalGenerator:
        """A trained model of this family from a kit checkpoint; a checkpoint of another family is refused."""
        from crystalkit.models.checkpoint import load_checkpoint, read_checkpoint

        family = read_checkpoint(path)["model_config"].get("family")
        if family != cls.family:
            raise CrystalInputError(f"{path} holds a {family} model, not a {cls.__name__} ({cls.family!r}): load it "
                                    f"with crystalkit.models.load_checkpoint, or train one with "
                                    f"`crystalkit train --family {cls.family}`.")
        model, _ = load_checkpoint(path, device=device, weights=weights)
        return model

