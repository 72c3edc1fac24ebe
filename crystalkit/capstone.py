"""The capstone: every family and both baselines on the same two tasks, scored into one table.

Notebooks 03-08 each score one family on its own terms. Here every
generator answers the same two questions with the same metrics, so the rows
compare directly (notebook ``14_capstone``):

* **CSP** (crystal structure prediction): given a test composition, predict
  the crystal. Match rate and RMSE at k = 1 and k = 20
  (:func:`crystalkit.metrics.csp_metrics`), each with a 95 % interval
  (:mod:`crystalkit.metrics.intervals`): Wilson for the match rate, a
  bootstrap over matched targets for the RMSE.
* **De novo**: invent crystals. Validity, coverage (COV-R / COV-P),
  uniqueness and novelty (:func:`crystalkit.metrics.dng_metrics`), and
  S.U.N. (stable, unique, novel) on the first few samples, with energies
  from CHGNet (single-point on the sample, or a short relaxation).
* **Cost**: seconds of training (the shipped checkpoint's manifest, or the
  run here) and milliseconds of sampling per structure.

Every contender implements :class:`crystalkit.sampling.StructureGenerator`;
:class:`TemplateFamily` is the learner's slot: a trivial working body to be
replaced by a family of one's own, scored by the same call.

    >>> table = run_capstone(CapstoneConfig(quick=True))  # doctest: +SKIP
    >>> format_table(table)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics.intervals import Interval, bootstrap_interval, wilson_interval
from crystalkit.sampling import StructureGenerator, as_compositions

__all__ = [
    "CSP_FAMILIES",
    "DENOVO_FAMILIES",
    "CapstoneConfig",
    "CapstoneTable",
    "Contender",
    "TemplateFamily",
    "TrainedFamily",
    "baseline_contenders",
    "chgnet_e_above_hull",
    "format_table",
    "model_contenders",
    "public_split_available",
    "quality_compute_figure",
    "run_capstone",
    "score_csp",
    "score_denovo",
    "train_family",
    "with_overrides",
]

#: Families that predict a crystal for a given composition, and the shipped CSP checkpoint of each.
CSP_FAMILIES = {
    "diffusion": "perovskites-diffusion-csp", "flow": "perovskites-flow-csp", "vae": "perovskites-vae-csp",
    "gan": "perovskites-gan-csp", "nf": "perovskites-nf-csp", "lm": "perovskites-lm-csp",
}
#: Families that invent crystals (``sample(None, n)``), and the shipped de novo checkpoint where there is one.
#: Flow matching and the normalizing flow are CSP-only in this kit (either invents crystals when a composition
#: is drawn first: :class:`crystalkit.sampling.CompositionFirst`, scored so in benchmarks/denovo.py); the
#: language model, the VAE and the GAN have no shipped de novo checkpoint, so they enter the de novo task only
#: when retrained (full mode).
DENOVO_FAMILIES = {
    "diffusion": "perovskites-diffusion-denovo-formation-energy", "gfn": "perovskites-gfn-formation-energy",
    "lm": None, "vae": None, "gan": None,
}
FAMILY_NAMES = {
    "diffusion": "diffusion", "flow": "flow matching", "vae": "VAE", "gan": "GAN", "nf": "normalizing flow",
    "lm": "language model", "gfn": "GFlowNet",
}


@dataclass(frozen=True)
class CapstoneConfig:
    """What the capstone scores, and how much of it.

    The quick defaults fit about a minute on two CPU cores: few targets, few
    de novo samples, S.U.N. from CHGNet single-point energies of a handful of
    samples. Full mode (``quick=False``) scores every test target and retrains
    every family with ``train_steps``.
    """

    quick: bool = True
    seed: int = 0  # seeds the target subset, sampling and training
    csp_dataset: str = "perovskites"  # bundled set for CSP (test split: targets; train split: baselines' pool)
    csp_targets: int | None = 16  # targets scored at k = 1 (None: the whole test split)
    csp_targets_multi: int | None = 3  # targets scored at k = 20 (k samples each, so far fewer)
    k_values: tuple[int, ...] = (1, 20)
    denovo_dataset: str = "perovskites"  # the shipped de novo checkpoints learned the perovskites
    denovo_samples: int = 16  # crystals each generator invents (0: skip the de novo task)
    sun_samples: int = 6  # of those, how many get a CHGNet energy for S.U.N. (CHGNet costs ~0.1-1 s each)
    sun_relax_steps: int = 0  # 0: single-point energy of the sample as made; > 0: FIRE steps of a relaxation
    train_steps: int | None = None  # None: shipped checkpoints; a number: retrain every family with this budget
    lm_temperature: float = 0.7  # the language model's sampling temperature (notebook 08's choice)
    gfn_temperature: float = 0.1  # the GFlowNet's reward temperature (eV/atom)

    @classmethod
    def full(cls, seed: int = 0, train_steps: int = 2000, denovo_dataset: str = "inorganic") -> CapstoneConfig:
        """Every test target, more samples, a relaxation for S.U.N., every family retrained here."""
        return cls(quick=False, seed=seed, csp_targets=None, csp_targets_multi=None, denovo_dataset=denovo_dataset,
                   denovo_samples=200, sun_samples=40, sun_relax_steps=100, train_steps=train_steps)


@dataclass
class Contender:
    """One row of the table: a generator, what it is, and what it cost to make.

    Attributes:
        name: the row label.
        kind: ``"model"``, ``"baseline"`` or ``"yours"``.
        family: the family key (``"diffusion"``, ...) or the baseline's name.
        csp: a generator for the CSP task, or None when this family does not do it.
        denovo: a generator for the de novo task, or None.
        train_seconds: seconds spent making it (training, or fitting a baseline).
        source: where it came from (shipped checkpoint, retrained here, fitted here).
        sample_options: extra keyword arguments for its ``sample`` call.
    """

    name: str
    kind: str
    family: str
    csp: StructureGenerator | None = None
    denovo: StructureGenerator | None = None
    train_seconds: float = float("nan")
    source: str = ""
    sample_options: dict = field(default_factory=dict)


class TemplateFamily:
    """The learner's own family: replace the body of :meth:`sample` with yours.

    The trivial body that works: for CSP, copy a training crystal of the same
    reduced formula (scaled to the requested atom count when the cell
    multiples agree), or else put the atoms at random positions in a cubic
    cell of the right volume; for de novo, copy random training crystals. It
    is a lookup table, not a model: its novelty is zero by construction,
    which the table shows.

    Args:
        training_structures: the crystals it may copy.
        volume_per_atom: Å³ per atom of the fallback cell (default: the training mean).
    """

    def __init__(self, training_structures: Sequence[Structure], volume_per_atom: float | None = None):
        if isinstance(training_structures, Structure) or len(training_structures) == 0:
            raise CrystalInputError("TemplateFamily needs a non-empty list of training structures to copy.")
        self.training = list(training_structures)
        self.by_formula: dict[str, list[Structure]] = {}
        for structure in self.training:
            self.by_formula.setdefault(structure.composition.reduced_formula, []).append(structure)
        mean_volume = float(np.mean([s.volume / len(s) for s in self.training]))
        self.volume_per_atom = mean_volume if volume_per_atom is None else float(volume_per_atom)

    def sample(self, compositions, num_samples: int = 1, *, seed: int | None = None) -> list[list[Structure]]:
        """CSP: ``num_samples`` copies or random cells per composition; de novo (None): copies of training crystals."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise CrystalInputError(f"num_samples must be a positive integer, got {num_samples!r}.")
        rng = np.random.default_rng(seed)
        if compositions is None:
            picks = rng.integers(len(self.training), size=num_samples)
            return [[self.training[int(i)].copy() for i in picks]]
        return [[self._one(c, rng) for _ in range(num_samples)] for c in as_compositions(compositions)]

    def _one(self, composition: Composition, rng: np.random.Generator) -> Structure:
        for known in self.by_formula.get(composition.reduced_formula, []):
            multiple = composition.num_atoms / known.composition.num_atoms
            if multiple == int(multiple):  # copy, as a supercell along a if the cell must be larger
                copy = known.copy()
                if multiple > 1:
                    copy.make_supercell([int(multiple), 1, 1])
                return copy
        species = [str(el) for el, count in composition.items() for _ in range(int(count))]
        side = (self.volume_per_atom * len(species)) ** (1 / 3)  # Å
        return Structure(Lattice.cubic(side), species, rng.random((len(species), 3)))


# ----------------------------------------------------------------------------------------- contenders


def model_contenders(config: CapstoneConfig, progress: bool = False) -> list[Contender]:
    """The learned families: shipped checkpoints (``train_steps=None``) or retrained here with a step budget."""
    from crystalkit.models.pretrained import load_pretrained, pretrained_manifest

    manifest = pretrained_manifest()
    rows: dict[str, Contender] = {}
    for family in [*CSP_FAMILIES, *[f for f in DENOVO_FAMILIES if f not in CSP_FAMILIES]]:
        rows[family] = Contender(FAMILY_NAMES[family], "model", family)
    for family, name in CSP_FAMILIES.items():
        if config.train_steps is None:
            rows[family].csp = load_pretrained(name)
            rows[family].train_seconds = float(manifest[name]["budget"]["seconds"])
            rows[family].source = f"shipped, {manifest[name]['budget']['steps']:,} steps"
        else:
            trained = train_family(family, "csp", config.csp_dataset, seed=config.seed,
                                   max_steps=config.train_steps, progress=progress)
            rows[family].csp, rows[family].train_seconds = trained.model, trained.seconds
            rows[family].source = f"trained here, {config.train_steps:,} steps"
    for family, name in DENOVO_FAMILIES.items():
        if config.train_steps is None:
            if name is None:
                continue
            rows[family].denovo = load_pretrained(name)
            if family not in CSP_FAMILIES:
                rows[family].train_seconds = float(manifest[name]["budget"]["seconds"])
                rows[family].source = f"shipped, {manifest[name]['budget']['steps']:,} steps"
        else:
            trained = train_family(family, "de_novo", config.denovo_dataset, seed=config.seed,
                                   max_steps=config.train_steps, progress=progress)
            rows[family].denovo = trained.model
            rows[family].train_seconds = np.nansum([rows[family].train_seconds, trained.seconds])
            rows[family].source = f"trained here, {config.train_steps:,} steps"
    rows["lm"].sample_options = {"temperature": config.lm_temperature}
    rows["gfn"].sample_options = {"temperature": config.gfn_temperature}
    return list(rows.values())


@dataclass
class TrainedFamily:
    """What :func:`train_family` returns: the model and what its training did."""

    model: StructureGenerator  # in eval mode, with the weights train() leaves (the EMA average)
    steps: int
    seconds: float  # wall clock
    cpu_seconds: float  # process CPU time: on a shared machine, the fairer cost
    trained_on: str  # the bundled set it learned from (the GFlowNet's differs, see train_family)
    train_crystals: int


def train_family(family: str, task: str, dataset: str, *, seed: int = 0, max_steps: int | None = None,
                 max_minutes: float | None = None, checkpoint_path: str | None = None,
                 max_length: int | None = None, progress: bool = False) -> TrainedFamily:
    """A fresh ``family`` model (``crystalkit train --family``'s defaults) trained on ``dataset``'s training split.

    Give a step budget (``max_steps``) or a wall-clock one (``max_minutes``).
    The GFlowNet is the exception to ``dataset``: it learns its reward from
    formation energies in its space of ABX3 cells, so it always trains on the
    bundled perovskites. ``checkpoint_path`` saves the trained model there
    (safe checkpoint, ``load_checkpoint`` reads it); ``max_length`` is the
    language model's context.
    """
    import torch

    from crystalkit.commands.train import build_family
    from crystalkit.data import TensorCrystalDataset
    from crystalkit.data.datasets import bundled_path
    from crystalkit.models.training import TrainConfig, train

    if (max_steps is None) == (max_minutes is None):
        raise CrystalInputError("Give train_family exactly one budget: max_steps or max_minutes.")
    label = None
    if family == "gfn":
        dataset, label = "perovskites", "formation_energy_per_atom"
    data = TensorCrystalDataset.from_csv(bundled_path(dataset, "train"), label=label)
    torch.manual_seed(seed)
    model = build_family(family, task, label is not None, max_length=max_length)
    config = TrainConfig(max_minutes=max_minutes, max_steps=max_steps, seed=seed, progress=progress, device="cpu",
                         checkpoint_path=checkpoint_path)
    cpu_clock = time.process_time()
    result = train(model, data, config=config)
    return TrainedFamily(model.eval(), int(result.steps), float(result.seconds), time.process_time() - cpu_clock,
                         dataset, len(data))


def baseline_contenders(train_structures: Sequence[Structure], seed: int = 0) -> list[Contender]:
    """Random symmetric crystals (PyXtal), prototype substitution, and the learner's template, fitted on a training set."""
    from crystalkit.baselines import PrototypeSubstitutionBaseline, RandomSymmetricBaseline

    clock = time.perf_counter()
    random_symmetric = RandomSymmetricBaseline.from_structures(list(train_structures))
    random_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    substitution = PrototypeSubstitutionBaseline(list(train_structures), fallback=random_symmetric)
    substitution_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    template = TemplateFamily(train_structures)
    template_seconds = time.perf_counter() - clock
    return [
        Contender("random symmetric (PyXtal)", "baseline", "random", random_symmetric, random_symmetric,
                  random_seconds, "fitted here"),
        Contender("prototype substitution", "baseline", "substitution", substitution, None,
                  substitution_seconds, "fitted here"),
        Contender("your family (template)", "yours", "template", template, template, template_seconds, "fitted here"),
    ]


# ----------------------------------------------------------------------------------------- scoring


def score_csp(generator: StructureGenerator, targets: Sequence[Structure], k: int, *, seed: int = 0,
              sample_options: dict | None = None) -> dict:
    """Match rate and RMSE of ``generator`` on ``targets`` with ``k`` samples each, with 95 % intervals.

    A sample the generator could not make (``None``, e.g. a language-model
    stream that did not parse) stays in the list and counts as invalid.

    Returns:
        ``{"match": Interval, "rmse": Interval | None, "n_targets", "n_matched", "sample_seconds"}``;
        the RMSE interval is None when nothing matched.
    """
    from crystalkit.metrics.csp import csp_metrics

    if len(targets) == 0:
        raise CrystalInputError("score_csp needs at least one target structure.")
    clock = time.perf_counter()
    samples = generator.sample([t.composition for t in targets], k, seed=seed, **(sample_options or {}))
    seconds = time.perf_counter() - clock
    if len(samples) != len(targets):
        raise CrystalInputError(f"The generator returned {len(samples)} lists for {len(targets)} targets; "
                                "a StructureGenerator returns one list per composition.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen chatter; failures are counted by the metric
        result = csp_metrics(samples, list(targets), k=k)
    rms = [t.rms for t in result.targets if t.matched]
    return {
        "match": wilson_interval(result.n_matched, result.n_targets),
        "rmse": bootstrap_interval(rms, seed=seed) if rms else None,
        "n_targets": result.n_targets, "n_matched": result.n_matched,
        "sample_seconds": seconds, "n_structures": len(targets) * k,
    }


def score_denovo(generator: StructureGenerator, reference: Sequence[Structure], train: Sequence[Structure],
                 num_samples: int, *, dataset: str | None = None, seed: int = 0, sun_samples: int = 6,
                 sun_relax_steps: int = 0, sample_options: dict | None = None,
                 energy_fn: Callable[[Sequence[Structure]], list[float]] | None = None) -> dict:
    """The de novo panel of ``num_samples`` invented crystals, and S.U.N. on the first ``sun_samples``.

    S.U.N. needs an energy above the hull per crystal. ``energy_fn`` maps
    structures to energies above hull in eV/atom (NaN: unknown, counted as
    not stable), or to ``(energies, relaxed structures)``; by default
    :func:`chgnet_e_above_hull` with ``sun_relax_steps``. Uniqueness and
    novelty for S.U.N. are judged on the relaxed crystals, as MatterGen's
    evaluation does: a sample that relaxes onto a training crystal is not
    novel, however far from it the generator put its atoms. (The panel's own
    uniqueness and novelty columns are of the samples as generated, as CDVAE
    reports them.) Invalid samples are never given an energy: they are not S.U.N.

    Returns:
        ``{"valid", "cov_recall", "cov_precision", "unique", "novel", "sun": Interval | None,
        "n_generated", "n_sun_scored", "sample_seconds", "sun_relaxed_steps"}``; rates in 0..1.
    """
    from crystalkit.metrics.dng import dng_metrics, sun_rate

    if num_samples < 1:
        raise CrystalInputError(f"num_samples must be at least 1, got {num_samples}.")
    clock = time.perf_counter()
    generated = list(generator.sample(None, num_samples, seed=seed, **(sample_options or {}))[0])
    seconds = time.perf_counter() - clock
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = dng_metrics(generated, list(reference), list(train), dataset=dataset)
    row = {
        "valid": panel.valid, "unique": panel.unique_rate, "novel": panel.novel_rate,
        "cov_recall": panel.coverage.cov_recall if panel.coverage else None,
        "cov_precision": panel.coverage.cov_precision if panel.coverage else None,
        "n_generated": len(generated), "sample_seconds": seconds, "sun": None, "n_sun_scored": 0,
        "sun_relaxed_steps": sun_relax_steps,
    }
    if sun_samples > 0:
        chosen = generated[:sun_samples]
        valid = [bool(r.get("valid")) for r in panel.per_structure[:sun_samples]]
        energy_fn = energy_fn or (lambda structures: chgnet_e_above_hull(structures, relax_steps=sun_relax_steps,
                                                                         return_structures=True))
        scored = [s for s, ok in zip(chosen, valid, strict=True) if ok]
        answer = energy_fn(scored) if scored else []
        energies, relaxed = answer if isinstance(answer, tuple) else (answer, scored)
        if len(energies) != len(scored) or len(relaxed) != len(scored):
            raise CrystalInputError(f"energy_fn returned {len(energies)} energies and {len(relaxed)} structures "
                                    f"for {len(scored)} crystals; it must return one of each per crystal.")
        energies, relaxed = iter(energies), iter(relaxed)
        e_hull = [next(energies) if ok else float("nan") for ok in valid]
        # the relaxed crystal where there is one; invalid samples carry NaN (never S.U.N.) and a stand-in structure
        judged = [next(relaxed) if ok else train[0] for ok in valid]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sun = sun_rate(judged, e_hull, list(train))
        row["sun"] = wilson_interval(sun.n_sun, sun.n_total)
        row["n_sun_scored"] = len(chosen)
    return row


def chgnet_e_above_hull(structures: Sequence[Structure], relax_steps: int = 0, *,
                        return_structures: bool = False) -> list[float] | tuple[list[float], list[Structure]]:
    """Energy above the kit's default hull (eV/atom) of each structure; NaN where CHGNet or the hull cannot say.

    ``relax_steps = 0`` uses the CHGNet single-point energy of the structure as
    made (one batched call: the cheap path; an unrelaxed energy is an upper
    bound on the relaxed one, so stability is judged conservatively);
    ``relax_steps > 0`` relaxes each structure for at most that many FIRE steps first.
    ``return_structures=True`` also returns the structure each energy belongs to
    (the relaxed one; the input where nothing was relaxed or CHGNet refused).
    """
    from crystalkit.validation import energy_above_hull, predict_energies, relax

    if not structures:
        return ([], []) if return_structures else []
    finals = list(structures)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if relax_steps > 0:
            entries = []
            for index, structure in enumerate(structures):
                try:
                    result = relax(structure, steps=relax_steps, progress=False)
                    entries.append((result.final_structure.composition, result.energy_per_atom))
                    finals[index] = result.final_structure
                except (CrystalInputError, RuntimeError, ValueError):  # CHGNet refuses some inputs: unknown
                    entries.append((structure.composition, float("nan")))
        else:
            energies = predict_energies(list(structures), on_invalid="nan")
            entries = [(s.composition, float(e)) for s, e in zip(structures, energies, strict=True)]
        out = []
        for composition, energy in entries:
            if not math.isfinite(energy):
                out.append(float("nan"))
                continue
            try:
                out.append(energy_above_hull((composition, energy)).e_above_hull)
            except CrystalInputError:  # an element without a reference energy: stability unknown
                out.append(float("nan"))
    return (out, finals) if return_structures else out


# ----------------------------------------------------------------------------------------- the table


@dataclass
class CapstoneTable:
    """The capstone's results: one row per contender (``rows``) and what was scored (``config``, counts)."""

    rows: pd.DataFrame
    config: CapstoneConfig
    n_csp_targets: dict[int, int]
    n_test: int
    seconds: float

    def extended(self, other: CapstoneTable) -> CapstoneTable:
        """This table with ``other``'s rows added (scored with the same config: e.g. your own family's row)."""
        if other.config != self.config:
            raise CrystalInputError("The rows were scored with another CapstoneConfig; score them with the same one.")
        return replace(self, rows=pd.concat([self.rows, other.rows]), seconds=self.seconds + other.seconds)

    def row(self, name: str) -> pd.Series:
        """The row of the contender ``name`` (e.g. ``"diffusion"``)."""
        if name not in self.rows.index:
            raise CrystalInputError(f"No row {name!r} in the capstone table; rows: {list(self.rows.index)}.")
        return self.rows.loc[name]


def run_capstone(config: CapstoneConfig = CapstoneConfig(), contenders: Sequence[Contender] | None = None,
                 extra: Sequence[Contender] = (), progress: bool = False) -> CapstoneTable:
    """Score every contender on CSP and de novo with the same targets, samples and metrics.

    Args:
        config: sizes and modes (:class:`CapstoneConfig`).
        contenders: the rows to score; default the learned families, both baselines and the template.
        extra: more rows (e.g. your own family as a :class:`Contender`).
        progress: print one line per contender and task.
    """
    from crystalkit.data import load_dataset

    clock = time.perf_counter()
    test = load_dataset(config.csp_dataset, "test")
    train = load_dataset(config.csp_dataset, "train")
    dn_test, dn_train = (test, train) if config.denovo_dataset == config.csp_dataset else (
        load_dataset(config.denovo_dataset, "test"), load_dataset(config.denovo_dataset, "train"))
    order = np.random.default_rng(config.seed).permutation(len(test))
    counts = {k: len(order) if limit is None else min(limit, len(order))
              for k, limit in ((k, config.csp_targets if k == 1 else config.csp_targets_multi)
                               for k in config.k_values)}
    if contenders is None:
        contenders = [*model_contenders(config, progress), *baseline_contenders(train.structures, config.seed)]
        if dn_train is not train:  # de novo baselines learn from the de novo set
            for row, fitted in zip(contenders[-3:], baseline_contenders(dn_train.structures, config.seed),
                                   strict=True):
                row.denovo = fitted.denovo
    records = []
    for contender in [*contenders, *extra]:
        record = {"generator": contender.name, "kind": contender.kind, "source": contender.source,
                  "train_s": contender.train_seconds}
        if contender.csp is not None:
            for k in config.k_values:
                targets = [test.structures[int(i)] for i in order[:counts[k]]]
                scores = score_csp(contender.csp, targets, k, seed=config.seed,
                                   sample_options=contender.sample_options)
                record[f"match@{k}"], record[f"rmse@{k}"] = scores["match"], scores["rmse"]
                if k == 1:
                    record["sample_ms"] = 1000 * scores["sample_seconds"] / scores["n_structures"]
                _say(progress, contender.name, f"CSP k={k}: {scores['match']:.0%}")
        if contender.denovo is not None and config.denovo_samples > 0:
            scores = score_denovo(contender.denovo, dn_test.structures, dn_train.structures, config.denovo_samples,
                                  dataset=config.denovo_dataset, seed=config.seed, sun_samples=config.sun_samples,
                                  sun_relax_steps=config.sun_relax_steps, sample_options=contender.sample_options)
            record.update(valid=scores["valid"], cov_r=scores["cov_recall"], cov_p=scores["cov_precision"],
                          unique=scores["unique"], novel=scores["novel"], sun=scores["sun"])
            if "sample_ms" not in record:
                record["sample_ms"] = 1000 * scores["sample_seconds"] / scores["n_generated"]
            _say(progress, contender.name, f"de novo: valid {scores['valid']:.0%}")
        records.append(record)
    frame = pd.DataFrame.from_records(records).set_index("generator")
    return CapstoneTable(frame, config, counts, len(test), time.perf_counter() - clock)


def public_split_available(name: str = "perov_5", split: str = "test") -> bool:
    """Whether a copy of a public benchmark split is at hand ($CRYSTALKIT_DATA_DIR or the cache); never downloads."""
    from crystalkit.data import load_dataset
    from crystalkit.errors import DatasetNotAvailableError

    try:
        load_dataset(name, split, download=False)
    except (DatasetNotAvailableError, FileNotFoundError):
        return False
    return True


def _say(progress: bool, name: str, text: str) -> None:
    if progress:
        print(f"{name}: {text}", flush=True)


def format_table(table: CapstoneTable) -> pd.DataFrame:
    """The table as text: rates as ``"52 % (30-73)"`` (estimate and 95 % interval), RMSE in units of the
    cube root of the volume per atom, seconds as numbers, and a dash where a contender does not do the task."""

    def missing(value) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    def cell(column: str, value) -> str:
        if missing(value):
            return "-"
        if column.startswith("rmse"):
            return f"{value.estimate:.4f} ({value.low:.4f}-{value.high:.4f})"
        if isinstance(value, Interval):
            return f"{100 * value.estimate:.0f} % ({100 * value.low:.0f}-{100 * value.high:.0f})"
        if column in ("train_s", "sample_ms"):
            return f"{value:,.1f}"
        if isinstance(value, float):
            return f"{100 * value:.0f} %"
        return str(value)

    out = pd.DataFrame(index=table.rows.index)
    for column in table.rows.columns:
        out[column] = [cell(column, v) for v in table.rows[column]]
    return out


def quality_compute_figure(table: CapstoneTable, k: int = 1, height: int = 420):
    """Plotly scatter: CSP match rate at ``k`` (with its interval) against compute, one point per contender.

    The x axis is the training seconds plus the sampling seconds of the scored
    targets (log scale): what it cost to get that match rate.
    """
    import plotly.graph_objects as go

    column = f"match@{k}"
    if column not in table.rows.columns:
        raise CrystalInputError(f"The table has no column {column!r}; k values scored: {table.config.k_values}.")
    fig = go.Figure()
    n = table.n_csp_targets[k]
    for kind, symbol in (("model", "circle"), ("baseline", "square"), ("yours", "star")):
        rows = table.rows[(table.rows["kind"] == kind) & table.rows[column].map(lambda v: isinstance(v, Interval))]
        if rows.empty:
            continue
        compute = [max(float(np.nan_to_num(r["train_s"])), 0.0) + r["sample_ms"] * n * k / 1000 + 1e-3
                   for _, r in rows.iterrows()]
        match = [100 * v.estimate for v in rows[column]]
        fig.add_trace(go.Scatter(
            x=compute, y=match, mode="markers+text", name=kind, text=list(rows.index), textposition="top center",
            marker={"symbol": symbol, "size": 11},
            error_y={"type": "data", "symmetric": False,
                     "array": [100 * (v.high - v.estimate) for v in rows[column]],
                     "arrayminus": [100 * (v.estimate - v.low) for v in rows[column]]},
        ))
    fig.update_layout(height=height, xaxis={"type": "log", "title": "compute: training + sampling (CPU seconds)"},
                      yaxis={"title": f"CSP match rate at k = {k} (%)", "range": [-5, 105]},
                      title=f"Quality against compute ({n} targets, k = {k}, 95 % intervals)")
    return fig


def with_overrides(config: CapstoneConfig, **changes) -> CapstoneConfig:
    """A copy of ``config`` with ``changes`` (unknown names raise a clear error)."""
    unknown = sorted(set(changes) - set(CapstoneConfig.__dataclass_fields__))
    if unknown:
        raise CrystalInputError(f"CapstoneConfig has no field(s) {unknown}; fields: "
                                f"{sorted(CapstoneConfig.__dataclass_fields__)}.")
    return replace(config, **changes)
