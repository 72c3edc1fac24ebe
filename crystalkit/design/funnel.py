"""The filter funnel: the checks a synthesis chemist runs on generated crystals, in order.

A generator proposes; a chemist disposes. Before anyone tries to make a
generated crystal, it has to pass a series of checks, cheapest first:

=================  ==========================================================
charge_balance     a neutral assignment of common oxidation states (SMACT)
relax              CHGNet can relax it (steps capped; unconverged ones flagged)
hull               its energy above the convex hull of known phases is small
symmetry           it has more symmetry than P1 (real crystals rarely lack it)
novelty            it matches no crystal of the reference sets (not a rediscovery)
synthesizability   a classifier scores its composition as "looks like a known one"
=================  ==========================================================

:func:`run_funnel` is a pure function of the candidates and an ordered list
of :class:`FilterStep`: each step sees only the survivors of the step
before, and every candidate that leaves says where and why (the ``dropped``
table of :class:`FunnelResult`). Nothing is dropped silently: a check that
raises counts as a drop, with the error as its reason.

A step may also *change* a candidate: ``relax`` replaces the structure by
the relaxed one, and every step writes what it measured into the
candidate's ``info`` (energy, space group, score), so the survivors carry
their whole history.

    >>> from crystalkit.design import run_funnel, filter_step
    >>> result = run_funnel(structures, ["charge_balance", filter_step("relax", max_steps=30)])  # doctest: +SKIP
    >>> result.table()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from crystalkit.design.synthesizability import SynthesizabilityModel

__all__ = [
    "FILTERS",
    "Candidate",
    "FilterStep",
    "FunnelResult",
    "Verdict",
    "as_candidates",
    "filter_step",
    "funnel_figure",
    "reference_structures",
    "run_funnel",
    "standard_steps",
]


@dataclass(frozen=True)
class Candidate:
    """One generated crystal on its way through the funnel.

    Attributes:
        id: its number among the candidates (stays the same through every step).
        structure: the crystal now (after ``relax``, the relaxed one).
        origin: where it came from, e.g. ``"diffusion, E_f = -2.5, w = 2"``.
        info: what the steps measured so far (read-only mapping).
    """

    id: int
    structure: Structure
    origin: str = ""
    info: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def formula(self) -> str:
        return self.structure.composition.reduced_formula

    def updated(self, structure: Structure | None = None, **info: Any) -> Candidate:
        """A copy with a new structure (if given) and ``info`` entries added."""
        return replace(self, structure=self.structure if structure is None else structure,
                       info=MappingProxyType({**self.info, **info}))


@dataclass(frozen=True)
class Verdict:
    """What one step decided about one candidate: keep it or not, why, and the (possibly updated) candidate."""

    keep: bool
    reason: str
    candidate: Candidate


@dataclass(frozen=True)
class FilterStep:
    """One named check: ``check(candidate) -> Verdict``."""

    name: str
    check: Callable[[Candidate], Verdict]
    description: str = ""


@dataclass(frozen=True)
class FunnelResult:
    """The funnel's outcome.

    Attributes:
        steps: the step names in order.
        counts: candidates entering, then survivors after each step: ``len(steps) + 1`` numbers.
        survivors: the candidates that passed every step (updated by the steps).
        dropped: one row per dropped candidate: ``id``, ``formula``, ``step``, ``reason``.
        verdicts: one row per (candidate, step) the candidate reached: ``id``, ``formula``,
            ``step``, ``keep``, ``reason``.
        final: every candidate as it left the funnel (dropped or surviving), in input order, with
            what the steps it reached measured in ``info``.
    """

    steps: tuple[str, ...]
    counts: tuple[int, ...]
    survivors: tuple[Candidate, ...]
    dropped: pd.DataFrame
    verdicts: pd.DataFrame
    final: tuple[Candidate, ...] = ()

    def table(self) -> pd.DataFrame:
        """One row per step: how many entered, were kept and were dropped."""
        return pd.DataFrame({"step": list(self.steps), "entered": list(self.counts[:-1]),
                             "kept": list(self.counts[1:]),
                             "dropped": [a - b for a, b in zip(self.counts[:-1], self.counts[1:], strict=True)]})

    def reasons(self, step: str) -> pd.Series:
        """How often each reason was given for the drops at ``step``."""
        return self.dropped.loc[self.dropped["step"] == step, "reason"].value_counts()


def as_candidates(items: Sequence[Structure | Candidate], origin: str = "") -> list[Candidate]:
    """Structures (or candidates) as candidates numbered 0, 1, ...; candidates keep their own id.

    Raises:
        CrystalInputError: an empty list, or an item that is neither.
    """
    if isinstance(items, (Structure, Candidate)) or not isinstance(items, Sequence) or len(items) == 0:
        raise CrystalInputError("The funnel needs a non-empty list of structures (or Candidates): nothing to filter. "
                                "Generate some candidates first.")
    candidates = []
    for index, item in enumerate(items):
        if isinstance(item, Candidate):
            candidates.append(item)
        elif isinstance(item, Structure):
            candidates.append(Candidate(index, item, origin))
        else:
            raise CrystalInputError(f"Candidate {index} is a {type(item).__name__}, not a pymatgen Structure.")
    ids = [c.id for c in candidates]
    if len(set(ids)) != len(ids):
        raise CrystalInputError("Two candidates share an id; give each Candidate its own id.")
    return candidates


def run_funnel(candidates: Sequence[Structure | Candidate], steps: Sequence[FilterStep | str]) -> FunnelResult:
    """Pass candidates through the steps in order; count the survivors and record every drop.

    Args:
        candidates: pymatgen structures (numbered 0, 1, ... in order) or :class:`Candidate` objects.
        steps: :class:`FilterStep` objects, or names from :data:`FILTERS` (default options).

    Raises:
        CrystalInputError: no candidates, no steps, an unknown step name, or two steps with one name.
    """
    current = as_candidates(candidates)
    resolved = [step if isinstance(step, FilterStep) else filter_step(step) for step in steps]
    if not resolved:
        raise CrystalInputError(f"Give at least one filter step, e.g. {list(FILTERS)}.")
    names = [step.name for step in resolved]
    if len(set(names)) != len(names):
        raise CrystalInputError(f"Step names must differ (the table is keyed by them); got {names}.")
    counts, dropped, verdicts = [len(current)], [], []
    final = {candidate.id: candidate for candidate in current}
    for step in resolved:
        kept = []
        for candidate in current:
            verdict = _judge(step, candidate)
            final[candidate.id] = verdict.candidate
            verdicts.append({"id": candidate.id, "formula": candidate.formula, "step": step.name,
                             "keep": verdict.keep, "reason": verdict.reason})
            if verdict.keep:
                kept.append(verdict.candidate)
            else:
                dropped.append({"id": candidate.id, "formula": candidate.formula, "step": step.name,
                                "reason": verdict.reason})
        current = kept
        counts.append(len(current))
    columns = ["id", "formula", "step", "reason"]
    return FunnelResult(tuple(names), tuple(counts), tuple(current), pd.DataFrame(dropped, columns=columns),
                        pd.DataFrame(verdicts, columns=["id", "formula", "step", "keep", "reason"]),
                        tuple(final.values()))


def _judge(step: FilterStep, candidate: Candidate) -> Verdict:
    """The step's verdict; a check that raises drops the candidate with the error as the reason."""
    try:
        verdict = step.check(candidate)
    except Exception as error:  # noqa: BLE001 -- recorded as the reason, never swallowed
        return Verdict(False, f"{type(error).__name__}: {error}", candidate)
    if not isinstance(verdict, Verdict):
        raise TypeError(f"Step {step.name!r} returned {type(verdict).__name__}; a check must return a Verdict.")
    return verdict


# --- the standard steps ---------------------------------------------------------------------------------------


def charge_balance_step(*, oxidation_states: str = "smact14", pauling_test: bool = True) -> FilterStep:
    """SMACT charge balance of the composition (see :func:`crystalkit.validation.charge_balance`)."""
    from crystalkit.validation import charge_balance

    def check(candidate: Candidate) -> Verdict:
        result = charge_balance(candidate.structure, pauling_test=pauling_test, oxidation_states=oxidation_states)
        return Verdict(result.balanced, result.reason, candidate.updated(oxidation_states=result.assignment))

    return FilterStep("charge_balance", check, "a neutral assignment of oxidation states exists (SMACT)")


def relax_step(*, max_steps: int = 300, fmax: float = 0.05, require_converged: bool = False) -> FilterStep:
    """Relax with CHGNet (FIRE, at most ``max_steps``); the relaxed crystal replaces the generated one.

    Args:
        max_steps: step cap (quick runs use a few tens; unconverged results are flagged in ``info``).
        fmax: force threshold in eV/Å.
        require_converged: drop a candidate whose relaxation did not converge within the cap.
    """
    from crystalkit.validation import RelaxationWarning, relax

    def check(candidate: Candidate) -> Verdict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RelaxationWarning)  # recorded below as "converged"
            result = relax(candidate.structure, steps=max_steps, fmax=fmax, progress=False)
        updated = candidate.updated(result.final_structure, relax_result=result, converged=result.converged,
                                    energy_per_atom=result.energy_per_atom, relax_steps=result.steps)
        if result.converged:
            return Verdict(True, f"converged in {result.steps} steps", updated)
        reason = f"not converged in {max_steps} steps (largest force {result.max_force:.2f} eV/Å)"
        return Verdict(not require_converged, reason, updated)

    return FilterStep("relax", check, "CHGNet relaxation (FIRE), steps capped")


def hull_step(*, threshold: float = 0.1, reference_entries=None) -> FilterStep:
    """Keep candidates at most ``threshold`` eV/atom above the convex hull (MatterGen's 0.1 by default).

    Uses the relaxed energy when ``relax`` ran before, else CHGNet's single-point energy of the structure.
    """
    from crystalkit.validation import energy_above_hull

    def check(candidate: Candidate) -> Verdict:
        source = candidate.info.get("relax_result", candidate.structure)
        result = energy_above_hull(source, reference_entries)
        updated = candidate.updated(e_above_hull=result.e_above_hull,
                                    formation_energy_per_atom=result.formation_energy_per_atom)
        verb = "within" if result.e_above_hull <= threshold else "more than"
        reason = f"{1000 * result.e_above_hull:.0f} meV/atom above the hull ({verb} {1000 * threshold:.0f})"
        return Verdict(result.e_above_hull <= threshold, reason, updated)

    return FilterStep("hull", check, f"energy above hull <= {threshold} eV/atom")


def symmetry_step(*, symprec: float = 0.1) -> FilterStep:
    """Drop crystals whose only symmetry is translation (space group P1) at ``symprec`` Å."""
    from crystalkit.validation import spacegroup

    def check(candidate: Candidate) -> Verdict:
        symbol, number = spacegroup(candidate.structure, symprec=symprec)
        updated = candidate.updated(spacegroup=symbol, spacegroup_number=number)
        return Verdict(number > 1, f"space group {symbol} ({number}) at {symprec} Å", updated)

    return FilterStep("symmetry", check, f"more symmetric than P1 at symprec {symprec} Å")


def novelty_step(*, references: Sequence[Structure] | None = None, matcher=None) -> FilterStep:
    """Drop crystals that match a reference crystal (default: :func:`reference_structures`).

    Matching uses :func:`crystalkit.metrics.matching.first_matches` with the kit's strict matcher (the
    one :func:`crystalkit.metrics.novelty` uses).
    """
    from crystalkit.metrics.matching import STRICT_MATCHER, first_matches, make_matcher

    pool = list(references) if references is not None else reference_structures()[0]
    if not pool:
        raise CrystalInputError("The novelty step needs at least one reference structure.")
    chosen = make_matcher(matcher if matcher is not None else STRICT_MATCHER)

    def check(candidate: Candidate) -> Verdict:
        match = first_matches([candidate.structure], pool, chosen, n_jobs=1, progress=False)[0]
        if match is None:
            return Verdict(True, f"matches none of {len(pool)} reference crystals", candidate.updated(novel=True))
        found = pool[match].composition.reduced_formula
        return Verdict(False, f"matches reference crystal {match} ({found})", candidate.updated(novel=False))

    return FilterStep("novelty", check, "matches no reference crystal")


def synthesizability_step(*, classifier: SynthesizabilityModel | None = None, threshold: float = 0.5) -> FilterStep:
    """Keep compositions the classifier scores at least ``threshold`` (see :mod:`.synthesizability`)."""
    if classifier is None:
        raise CrystalInputError("The synthesizability step needs classifier=... (train one with "
                                "crystalkit.design.train_synthesizability).")
    if not 0.0 <= threshold <= 1.0:
        raise CrystalInputError(f"threshold is a probability between 0 and 1, got {threshold}.")

    def check(candidate: Candidate) -> Verdict:
        score = float(classifier.score([candidate.structure.composition])[0])
        verb = ">=" if score >= threshold else "<"
        return Verdict(score >= threshold, f"score {score:.2f} {verb} {threshold}",
                       candidate.updated(synthesizability=score))

    return FilterStep("synthesizability", check, f"classifier score >= {threshold}")


#: The steps by name, in the order a chemist would usually run them; each value makes a FilterStep.
FILTERS: dict[str, Callable[..., FilterStep]] = {
    "charge_balance": charge_balance_step,
    "relax": relax_step,
    "hull": hull_step,
    "symmetry": symmetry_step,
    "novelty": novelty_step,
    "synthesizability": synthesizability_step,
}


def standard_steps(*, relax_steps: int = 300, fmax: float = 0.05, hull_threshold: float = 0.1,
                   references: Sequence[Structure] | None = None,
                   classifier: SynthesizabilityModel | None = None) -> list[FilterStep]:
    """The chemist's order: charge balance, relax, hull, symmetry, novelty, then synthesizability (if a
    ``classifier`` is given). Quick runs cap ``relax_steps`` and loosen ``fmax``."""
    steps = [charge_balance_step(), relax_step(max_steps=relax_steps, fmax=fmax), hull_step(threshold=hull_threshold),
             symmetry_step(), novelty_step(references=references)]
    return steps + ([synthesizability_step(classifier=classifier)] if classifier is not None else [])


def filter_step(name: str, **options: Any) -> FilterStep:
    """The standard step ``name`` with ``options`` (e.g. ``filter_step("relax", max_steps=30)``).

    Raises:
        CrystalInputError: an unknown name or option.
    """
    if name not in FILTERS:
        raise CrystalInputError(f"Unknown filter {name!r}; the kit has {list(FILTERS)} (or pass your own FilterStep).")
    try:
        return FILTERS[name](**options)
    except TypeError as error:
        raise CrystalInputError(f"Filter {name!r} does not take these options ({error}).") from error


def reference_structures(
    bundled: Sequence[str] = ("perovskites", "inorganic", "carbon"),
    benchmarks: Sequence[str] = ("perov_5",),
) -> tuple[list[Structure], dict[str, int]]:
    """Every split of the bundled sets, plus the benchmarks already on this machine (never downloaded).

    Returns:
        ``(structures, counts)`` where ``counts`` says how many came from each set
        (a benchmark that is not cached is absent from ``counts``).
    """
    from crystalkit.data import load_dataset
    from crystalkit.errors import DatasetNotAvailableError

    structures: list[Structure] = []
    counts: dict[str, int] = {}
    for name in [*bundled, *benchmarks]:
        try:
            found = [s for split in ("train", "val", "test")
                     for s in load_dataset(name, split, download=False).structures]
        except DatasetNotAvailableError:
            continue  # not cached here: novelty is judged against what is available, and counts say so
        structures += found
        counts[name] = len(found)
    return structures, counts


def funnel_figure(result: FunnelResult, *, title: str | None = None, height: int = 360) -> go.Figure:
    """The funnel as a plotly figure: candidates generated, then the survivors of each step."""
    import plotly.graph_objects as go

    labels = ["generated", *result.steps]
    start = result.counts[0]
    figure = go.Figure(go.Funnel(y=labels, x=list(result.counts), textinfo="value+percent initial",
                                 marker={"color": "#4c78a8"}))
    share = result.counts[-1] / start if start else math.nan
    figure.update_layout(height=height, margin={"l": 120, "r": 20, "t": 50, "b": 20},
                         title=title or f"{result.counts[-1]} of {start} candidates survive ({share:.0%})")
    return figure
