"""Crystal structure prediction (CSP): match rate and RMSE, as CDVAE and DiffCSP compute them.

In CSP a model receives a composition (say ``SrTiO3``, five atoms) and must
return the crystal structure. It is scored on held-out targets:

* **match rate**: the share of targets for which a prediction *matches*
  under ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)``;
* **RMSE**: over matched targets, the mean of the matcher's RMS
  displacement (first value of ``get_rms_dist``), which is normalised by
  (V/N)^(1/3), the average free length per atom, so it is unitless.

With ``k`` samples per target (DiffCSP's "multi-eval", k = 20 in the paper)
a target matches if *any* of its samples does, and its RMSE is the best
(smallest) over its valid matching samples. :func:`csp_table` scores several
methods at several k in one call and returns the table the notebooks show.

**The published validity rule** (``validity="published"``, the default):
a prediction is tried only if it is *valid* by the de novo definition of
:mod:`crystalkit.metrics.validity`: atoms >= 0.5 Å apart, volume >= 0.1 Å^3,
SMACT charge balanced (Pauling test; elements and all-metal compositions
pass), and a computable CrystalNN fingerprint. At ``k = 1`` DiffCSP also
requires the *target* to be valid, so a target that SMACT does not find
charge balanced can never be matched. The charge test uses SMACT's SMACT-14
oxidation states by default, as smact 2.2.1 did when the published numbers
were made; ``oxidation_states="icsd24"`` uses SMACT 3+'s default list
(see :mod:`crystalkit.metrics.validity`). ``validity="structural"`` only requires the prediction to
be structurally valid, ``validity="none"`` tries everything; neither checks
the target unless ``require_valid_target=True``.

Speed: the published scripts compute every crystal's CrystalNN fingerprint
(tens of ms per crystal) before matching. Here the fingerprint is computed
only where it can change the answer: for matched samples, best RMS first,
stopping at the first valid one (and for the target of a matched pair at
``k = 1``). Cells are reduced once, mismatched formulas are never matched,
and targets run in parallel (``n_jobs``; forked workers inherit matminer,
imported once beforehand). The numbers are the same.

Where the time goes (100 Perov-5 targets, k = 1, one process): the
fingerprints of the matched pairs are about 85 % of it (some 50-75 ms per
five-atom crystal), matching about 10 %, SMACT and cell reduction about 2 %.
So at k = 1, where a matched pair needs both its fingerprints, the kit
cannot be much faster than the plain loop when most targets match: only the
fingerprints of unmatched pairs are saved. At larger k it saves the
fingerprints of every sample behind the best valid one, and the gain grows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import fingerprints as _fingerprints
from crystalkit.metrics._parallel import AUTO_PROGRESS_MIN_TASKS, forks_workers, resolve_jobs, run_ordered
from crystalkit.metrics.matching import STANDARD_MATCHER, make_matcher, prepare, rms_dist
from crystalkit.metrics.validity import (
    DEFAULT_OXIDATION_STATES,
    OxidationStates,
    Validity,
    compositional_validity,
    oxidation_state_list,
    structural_validity,
)

if TYPE_CHECKING:
    import pandas as pd

    from crystalkit.sampling import StructureGenerator

__all__ = ["CSPResult", "SampleResult", "TargetResult", "ValidityMode", "csp_metrics", "csp_table"]

ValidityMode = Literal["published", "structural", "none"]
_MODES = ("published", "structural", "none")


@dataclass(frozen=True)
class SampleResult:
    """One predicted sample for one target.

    Attributes:
        index: position among the target's samples (0 .. k-1).
        failed: the generator returned no structure (``None``).
        validity: the validity tests (``None`` for a failed sample).
        eligible: the sample passed the validity rule and was compared.
        rms: normalised RMS displacement to the target, ``None`` if not
            compared or not matched.
        error: what pymatgen raised while matching, if anything.
    """

    index: int
    failed: bool
    validity: Validity | None
    eligible: bool
    rms: float | None
    error: str | None = None


@dataclass(frozen=True)
class TargetResult:
    """The outcome for one target.

    Attributes:
        index: position of the target in ``targets``.
        matched: some valid sample matches the target under the rule.
        rms: the best valid sample's RMS displacement (``None`` if unmatched).
        best_sample: index of that sample (``None`` if unmatched).
        target_validity: validity tests of the target.
        samples: one :class:`SampleResult` per sample.
    """

    index: int
    matched: bool
    rms: float | None
    best_sample: int | None
    target_validity: Validity
    samples: tuple[SampleResult, ...]


@dataclass(frozen=True)
class CSPResult:
    """Match rate, RMSE and everything behind them.

    Attributes:
        match_rate: share of targets matched (0..1).
        rmse: mean RMS displacement over matched targets (``nan`` if none matched).
        k: samples per target the protocol allowed.
        validity: the validity rule used.
        require_valid_target: whether an invalid target counted as unmatched.
        matcher: the matcher tolerances.
        targets: one :class:`TargetResult` per target, in input order.
        oxidation_states: SMACT's oxidation-state list of the charge test.
    """

    match_rate: float
    rmse: float
    k: int
    validity: str
    require_valid_target: bool
    matcher: dict
    targets: tuple[TargetResult, ...]
    oxidation_states: str = DEFAULT_OXIDATION_STATES

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    @property
    def n_matched(self) -> int:
        return sum(t.matched for t in self.targets)

    @property
    def n_errors(self) -> int:
        """How many comparisons raised inside pymatgen (counted as not matched, as published)."""
        return sum(s.error is not None for t in self.targets for s in t.samples)

    def summary(self) -> dict:
        """The headline numbers as a plain dict."""
        return {
            "match_rate": self.match_rate,
            "rmse": self.rmse,
            "n_targets": self.n_targets,
            "n_matched": self.n_matched,
            "k": self.k,
            "validity": self.validity,
            "require_valid_target": self.require_valid_target,
            "oxidation_states": self.oxidation_states,
            "n_match_errors": self.n_errors,
            **{f"matcher_{name}": value for name, value in self.matcher.items()},
        }

    def to_frame(self):
        """One row per target (a pandas DataFrame)."""
        import pandas as pd

        rows = []
        for t in self.targets:
            rows.append({
                "target": t.index,
                "matched": t.matched,
                "rms": t.rms,
                "best_sample": t.best_sample,
                "target_valid": t.target_validity.valid,
                "target_charge_balanced": t.target_validity.compositional,
                "n_samples": len(t.samples),
                "n_failed": sum(s.failed for s in t.samples),
                "n_eligible": sum(s.eligible for s in t.samples),
                "n_errors": sum(s.error is not None for s in t.samples),
            })
        return pd.DataFrame(rows)


def csp_metrics(
    predicted: Sequence[Structure | None | Sequence[Structure | None]],
    targets: Sequence[Structure],
    k: int | None = None,
    validity: ValidityMode = "published",
    matcher: StructureMatcher | dict | None = None,
    n_jobs: int | None = None,
    *,
    require_valid_target: bool | None = None,
    progress: bool | None = None,
    oxidation_states: OxidationStates = DEFAULT_OXIDATION_STATES,
) -> CSPResult:
    """CSP match rate and RMSE, by default exactly as the published scripts compute them.

    Args:
        predicted: for each target, a Structure, ``None`` (the generator
            failed: counts as not matched), or a list of up to ``k`` of these.
        targets: the true structures.
        k: samples allowed per target; default: the longest list given (1
            when every entry is a single structure).
        validity: ``"published"`` (default): a sample counts only if it is
            structurally valid, SMACT charge balanced and has a CrystalNN
            fingerprint (CDVAE/DiffCSP); ``"structural"``: distances and
            volume only; ``"none"``: every sample is compared.
        matcher: a StructureMatcher or a settings dict; default
            :data:`~crystalkit.metrics.matching.STANDARD_MATCHER`.
        n_jobs: processes (``1``, ``k``, ``-1`` all cores, ``None`` auto).
        require_valid_target: count a target that fails the validity rule
            as unmatched; default: ``True`` for ``validity="published"`` at
            ``k == 1`` (DiffCSP), else ``False`` (DiffCSP at k > 1, CDVAE).
        progress: show a progress bar (``None``: for long runs only).
        oxidation_states: SMACT's list for the charge test: ``"smact14"``
            (default, the list the published numbers were computed with) or
            ``"icsd24"`` (SMACT 3+'s default; it balances some formulas SMACT-14 does not, and vice versa).

    Returns:
        A :class:`CSPResult` with ``match_rate``, ``rmse`` and per-target results.

    Raises:
        CrystalInputError: lengths differ, a list is empty, ``k < 1``, a
            list is longer than ``k``, an entry is not a Structure, a crystal
            is disordered, or ``validity`` or ``oxidation_states`` is unknown.
    """
    samples, k_used = _normalise_inputs(predicted, targets, k)
    if validity not in _MODES:
        raise CrystalInputError(f"validity must be one of {_MODES}, got {validity!r}.")
    oxidation_state_list(oxidation_states)
    require_target = (validity == "published" and k_used == 1) if require_valid_target is None else bool(
        require_valid_target)
    matcher = make_matcher(matcher if isinstance(matcher, StructureMatcher) else (matcher or STANDARD_MATCHER))
    tasks = [(i, target, samples[i], validity, require_target, matcher, oxidation_states)
             for i, target in enumerate(targets)]
    n_pairs = sum(len(s) for s in samples)
    jobs = min(resolve_jobs(n_jobs, n_pairs), len(tasks))
    show = n_pairs >= AUTO_PROGRESS_MIN_TASKS if progress is None else progress
    if jobs > 1 and validity == "published" and forks_workers():
        _fingerprints.load_featurizers()  # import matminer once here, not once per worker
    outcomes = run_ordered(_evaluate_target, tasks, n_jobs=jobs, progress=show, description="CSP matching")
    for _, new_fingerprints in outcomes:  # workers computed these: keep them for the next call
        _fingerprints.remember_fingerprints(new_fingerprints)
    results = tuple(result for result, _ in outcomes)
    matched = [t.rms for t in results if t.matched]
    return CSPResult(
        match_rate=len(matched) / len(results),
        rmse=_mean_in_order(matched),
        k=k_used,
        validity=validity,
        require_valid_target=require_target,
        matcher={"stol": matcher.stol, "ltol": matcher.ltol, "angle_tol": matcher.angle_tol},
        targets=results,
        oxidation_states=oxidation_states,
    )


def csp_table(
    methods: Mapping[str, StructureGenerator | Sequence[Sequence[Structure | None]]],
    targets: Sequence[Structure],
    ks: Iterable[int] = (1,),
    *,
    seed: int = 0,
    validity: ValidityMode = "published",
    matcher: StructureMatcher | dict | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    oxidation_states: OxidationStates = DEFAULT_OXIDATION_STATES,
) -> pd.DataFrame:
    """Match rate and RMSE of several methods at several k: one row per (method, k), in the order given.

    At each k a method is scored on the *first* k samples of every target, as
    :func:`csp_metrics` with ``k=k`` scores them: comparing k = 1 with k = 20
    shows how much a method gains from being allowed more guesses.

    Example::

        csp_table({"substitution": baseline, "diffusion": samples}, targets, ks=(1, 20))

    Args:
        methods: name -> the samples, one list per target in the order of
            ``targets`` (at least ``max(ks)`` samples each; ``None`` marks a
            failed sample), or a generator with ``.sample(compositions,
            num_samples, seed=...)``, which is asked once for ``max(ks)``
            samples of each target's composition.
        targets: the true structures.
        ks: the numbers of samples per target to score at, e.g. ``(1, 20)``.
        seed: the seed passed to generators (samples given as lists ignore it).
        validity, matcher, n_jobs, progress, oxidation_states: as in :func:`csp_metrics`.

    Returns:
        A pandas DataFrame with columns ``method``, ``k``, ``match rate``
        (0..1), ``RMSE`` (``nan`` when nothing matched), ``matched`` and
        ``targets`` (the counts behind the rate) and ``valid samples`` (the mean
        over targets of the share of the k samples that passed the validity
        rule and were compared with their target).

    Raises:
        CrystalInputError: no methods, a k that is not a positive integer, a
            method with a sample list count different from the targets', or
            fewer than ``max(ks)`` samples for a target, or an unknown ``oxidation_states``.
    """
    import pandas as pd

    ks = _check_ks(ks)
    oxidation_state_list(oxidation_states)
    if not isinstance(methods, Mapping) or not methods:
        raise CrystalInputError("methods must be a non-empty mapping: {name: samples or generator, ...}.")
    if isinstance(targets, Structure) or len(targets) == 0:
        raise CrystalInputError("targets must be a non-empty list of pymatgen Structures.")
    rows = []
    for name, method in methods.items():
        samples = _samples_of(name, method, targets, max(ks), seed)
        for k in ks:
            result = csp_metrics([entry[:k] for entry in samples], targets, k=k, validity=validity, matcher=matcher,
                                 n_jobs=n_jobs, progress=progress, oxidation_states=oxidation_states)
            per_target = result.to_frame()
            rows.append({
                "method": name,
                "k": k,
                "match rate": result.match_rate,
                "RMSE": result.rmse,
                "matched": result.n_matched,
                "targets": result.n_targets,
                "valid samples": float(per_target.eval("n_eligible / n_samples").mean()),
            })
    return pd.DataFrame(rows)


def _check_ks(ks: Iterable[int]) -> list[int]:
    ks = [ks] if isinstance(ks, int) else list(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise CrystalInputError(f"ks must be positive integers (samples per target), e.g. ks=(1, 20); got {ks!r}.")
    return ks


def _samples_of(name: str, method, targets: Sequence[Structure], k_max: int, seed: int) -> list[tuple]:
    """A method's samples as one tuple per target, asking a generator for ``k_max`` per composition."""
    if not isinstance(method, Sequence) and callable(getattr(method, "sample", None)):  # a StructureGenerator
        method = method.sample([target.composition for target in targets], num_samples=k_max, seed=seed)
    if isinstance(method, (str, Structure)) or not isinstance(method, Sequence):
        raise CrystalInputError(
            f"methods[{name!r}] is a {type(method).__name__}: give a generator or one list of samples per target."
        )
    if len(method) != len(targets):
        raise CrystalInputError(
            f"methods[{name!r}] has {len(method)} sample lists for {len(targets)} targets: "
            "give one list per target, in the order of targets."
        )
    samples = [(entry,) if entry is None or isinstance(entry, Structure) else tuple(entry) for entry in method]
    for i, entry in enumerate(samples):
        if len(entry) < k_max:
            raise CrystalInputError(
                f"methods[{name!r}] has {len(entry)} samples for target {i} but ks asks for up to {k_max}: "
                "draw more samples or lower ks."
            )
    return samples


def _mean_in_order(values: list[float]) -> float:
    """Mean summed left to right, as numpy sums the published script's object array (``nan`` if empty).

    Python >= 3.12's ``sum`` compensates rounding and can differ in the last digit.
    """
    if not values:
        return math.nan
    total = 0.0
    for value in values:
        total += value
    return float(total / len(values))


def _normalise_inputs(predicted, targets, k) -> tuple[list[tuple[Structure | None, ...]], int]:
    if isinstance(targets, Structure) or isinstance(predicted, Structure):
        raise CrystalInputError("Pass lists: targets=[structure, ...], predicted=[structure or list, ...].")
    if len(targets) == 0 or len(predicted) == 0:
        raise CrystalInputError("Nothing to evaluate: predicted and targets must be non-empty lists.")
    if len(predicted) != len(targets):
        raise CrystalInputError(
            f"predicted has {len(predicted)} entries but targets has {len(targets)}: "
            "give one entry (a structure or a list of k structures) per target, in the same order."
        )
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise CrystalInputError(f"k must be a positive integer (samples per target), got {k!r}.")
    for i, target in enumerate(targets):
        _check_crystal(target, f"targets[{i}]")
    samples = []
    for i, entry in enumerate(predicted):
        entry = (entry,) if entry is None or isinstance(entry, Structure) else tuple(entry)
        if len(entry) == 0:
            raise CrystalInputError(f"predicted[{i}] is an empty list: give at least one sample (None for a failure).")
        if k is not None and len(entry) > k:
            raise CrystalInputError(f"predicted[{i}] holds {len(entry)} samples but k={k}: pass at most k per target.")
        for j, sample in enumerate(entry):
            if sample is not None:
                _check_crystal(sample, f"predicted[{i}][{j}]")
        samples.append(entry)
    return samples, k if k is not None else max(len(entry) for entry in samples)


def _check_crystal(structure: object, name: str) -> None:
    if not isinstance(structure, Structure):
        raise CrystalInputError(f"{name} is a {type(structure).__name__}, not a pymatgen Structure.")
    if not structure.is_ordered:
        raise CrystalInputError(f"{name} is disordered (partial occupancies); CSP metrics need ordered crystals.")


def _cheap_validity(structure: Structure, oxidation_states: str) -> Validity:
    """Structural and compositional tests (fast); the fingerprint is left for later."""
    structural, reason = structural_validity(structure)
    compositional = compositional_validity(structure, oxidation_states=oxidation_states)
    if reason is None and not compositional:
        reason = f"{structure.composition.reduced_formula} is not charge balanced (SMACT)"
    return Validity(structural, compositional, None, reason)


def _passes(flags: Validity, mode: str) -> bool:
    if mode == "published":
        return flags.structural and flags.compositional and flags.fingerprint is not False
    if mode == "structural":
        return flags.structural
    return True


def _with_fingerprint(structure: Structure, flags: Validity, found: dict) -> Validity:
    value = _fingerprints.structure_fingerprint(structure)
    found[_fingerprints.content_key(structure)] = value
    ok = value is not None
    return replace(flags, fingerprint=ok, reason=flags.reason or (None if ok else _fingerprints.fingerprint_failure_reason(structure)))


def _evaluate_target(task) -> tuple[TargetResult, dict]:
    """All samples of one target (runs in a worker process)."""
    index, target, samples, mode, require_target, matcher, oxidation_states = task
    found: dict = {}
    target_flags = _cheap_validity(target, oxidation_states)
    flags = [None if s is None else _cheap_validity(s, oxidation_states) for s in samples]
    eligible = [j for j, s in enumerate(samples) if s is not None and _passes(flags[j], mode)]
    rms: dict[int, float | None] = {}
    errors: dict[int, str] = {}
    if eligible and (not require_target or _passes(target_flags, mode)):
        prepared_target = prepare(target, matcher)
        for j in eligible:
            try:
                value = rms_dist(prepare(samples[j], matcher), prepared_target, matcher)
            except Exception as error:  # noqa: BLE001 -- the published loop maps any matcher error to "no match"
                errors[j], value = f"{type(error).__name__}: {error}", None
            rms[j] = None if value is None else float(value[0])
    ranked = sorted((value, j) for j, value in rms.items() if value is not None)
    best = None
    if mode == "published" and ranked:
        if require_target:
            target_flags = _with_fingerprint(target, target_flags, found)
            ranked = ranked if target_flags.fingerprint else []
        for value, j in ranked:  # best RMS first; stop at the first sample whose fingerprint works
            flags[j] = _with_fingerprint(samples[j], flags[j], found)
            if flags[j].fingerprint:
                best = (value, j)
                break
    elif ranked:
        best = ranked[0]
    sample_results = tuple(
        SampleResult(
            index=j,
            failed=s is None,
            validity=flags[j],
            eligible=j in rms and (flags[j].fingerprint is not False),
            rms=rms.get(j),
            error=errors.get(j),
        )
        for j, s in enumerate(samples)
    )
    result = TargetResult(
        index=index,
        matched=best is not None,
        rms=None if best is None else best[0],
        best_sample=None if best is None else best[1],
        target_validity=target_flags,
        samples=sample_results,
    )
    return result, found
