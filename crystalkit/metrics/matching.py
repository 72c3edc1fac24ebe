"""Are two crystals the same? pymatgen's StructureMatcher, made fast without changing one answer.

Every matching metric (CSP match rate and RMSE, uniqueness, novelty,
duplicates, leakage) rests on pymatgen's ``StructureMatcher`` (Ong et al.,
Comput. Mater. Sci. 2013). For two crystals it

1. reduces both to a Niggli-reduced primitive cell,
2. scales both to the same volume,
3. looks for lattice vectors of one that agree with the other's within
   ``ltol`` (fractional length) and ``angle_tol`` (degrees), and
4. for each such lattice and each trial translation, pairs up the atoms and
   accepts when every atom moved less than ``stol`` x (V/N)^(1/3), the
   average free length per atom.

``get_rms_dist`` returns the root-mean-square displacement of the best
pairing, in units of (V/N)^(1/3): that is the "RMSE" of CSP papers.

Why this module is faster than a plain loop of ``get_rms_dist`` calls, with
the same answers:

* each crystal is reduced (step 1) once, not once per pair;
* two crystals whose reduced formulas or primitive atom counts differ cannot
  match (the matcher's own atom pairing would fail), so they are never
  handed to steps 2-4;
* independent pairs run on several cores (:mod:`crystalkit.metrics._parallel`).

The fast path calls the same pymatgen internals that ``get_rms_dist`` and
``fit`` call, on the same reduced cells, so the floats are identical; the
tests compare it with the plain loop. If a future pymatgen renames those
internals, this module falls back to the public ``get_rms_dist``/``fit``.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from types import MappingProxyType

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics._parallel import run_ordered

__all__ = [
    "LOOSE_MATCHER",
    "STANDARD_MATCHER",
    "STRICT_MATCHER",
    "PreparedStructure",
    "first_matches",
    "fits",
    "group_duplicates",
    "make_matcher",
    "prepare",
    "prepare_many",
    "rms_dist",
]

#: The CSP tolerances of CDVAE (Xie et al. 2022) and DiffCSP (Jiao et al.
#: 2023): site tolerance 0.5 (x (V/N)^(1/3)), lattice lengths 30 %, angles 10°.
STANDARD_MATCHER: Mapping[str, float] = MappingProxyType({"stol": 0.5, "ltol": 0.3, "angle_tol": 10.0})

#: pymatgen's own defaults, stricter than the CSP standard; offered beside it
#: so that a reported match rate can be checked at a tighter tolerance.
STRICT_MATCHER: Mapping[str, float] = MappingProxyType({"stol": 0.3, "ltol": 0.2, "angle_tol": 5.0})

#: Deliberately loose tolerances, for showing how they flatter a model.
LOOSE_MATCHER: Mapping[str, float] = MappingProxyType({"stol": 1.0, "ltol": 0.5, "angle_tol": 20.0})


def make_matcher(
    settings: Mapping[str, float] | StructureMatcher | None = None, **overrides: float
) -> StructureMatcher:
    """A ``StructureMatcher`` from a settings dict (default :data:`STANDARD_MATCHER`) plus overrides.

    Example:
        ``make_matcher(STRICT_MATCHER)``, ``make_matcher(stol=0.3)``.
    """
    if isinstance(settings, StructureMatcher):
        if overrides:
            raise CrystalInputError("Pass either a StructureMatcher or settings with overrides, not both.")
        return settings
    merged = dict(STANDARD_MATCHER if settings is None else settings)
    merged.update(overrides)
    try:
        return StructureMatcher(**merged)
    except TypeError as error:
        raise CrystalInputError(f"Unknown StructureMatcher setting in {merged}: {error}.") from error


@dataclass(frozen=True)
class PreparedStructure:
    """A crystal made ready for many comparisons.

    Attributes:
        original: the structure as given.
        reduced: the Niggli-reduced primitive cell the matcher would compute
            (``None`` on the slow path or when reduction failed).
        key: ``(formula hash, primitive atom count or -1)``: crystals with
            different keys cannot match under this matcher.
        error: why reduction failed (``None`` when it worked).
    """

    original: Structure
    reduced: Structure | None
    key: tuple[str, int] | None
    error: str | None = None


def prepare(structure: Structure, matcher: StructureMatcher) -> PreparedStructure:
    """Reduce a crystal once, as ``matcher`` would before every comparison. Never raises for a bad crystal."""
    if not isinstance(structure, Structure):
        raise CrystalInputError(f"Expected a pymatgen Structure, got {type(structure).__name__}.")
    subset, supercell = getattr(matcher, "_subset", True), getattr(matcher, "_supercell", True)
    try:
        formula = None if subset else matcher._comparator.get_hash(structure.composition)
        if not _fast_path(matcher):
            return PreparedStructure(structure, None, None if formula is None else (formula, -1))
        processed = matcher._process_species([structure])[0]
        reduced = matcher._get_reduced_structure(processed, matcher._primitive_cell, True)
    except Exception as error:  # noqa: BLE001 -- a broken crystal: the published loop would also fail on it
        return PreparedStructure(structure, None, None, f"{type(error).__name__}: {error}")
    count = -1 if supercell else len(reduced)
    return PreparedStructure(structure, reduced, None if formula is None else (formula, count))


def prepare_many(
    structures: Sequence[Structure], matcher: StructureMatcher, *, n_jobs: int | None = None,
    progress: bool | None = None,
) -> list[PreparedStructure]:
    """:func:`prepare` over a list, in parallel, in order."""
    return run_ordered(partial(prepare, matcher=matcher), list(structures), n_jobs=n_jobs, progress=progress,
                       description="reducing cells")


def could_match(a: PreparedStructure, b: PreparedStructure) -> bool:
    """False only when the two crystals certainly do not match (different formula or atom count)."""
    return a.key is None or b.key is None or a.key == b.key


def rms_dist(a: PreparedStructure, b: PreparedStructure, matcher: StructureMatcher) -> tuple[float, float] | None:
    """``matcher.get_rms_dist(a, b)``: (normalised RMS displacement, largest displacement) or ``None``.

    Raises:
        Exception: whatever pymatgen raises on a broken crystal (the caller records it).
    """
    for prepared in (a, b):
        if prepared.error is not None:
            raise RuntimeError(f"could not reduce the cell ({prepared.error})")
    if not could_match(a, b):
        return None
    if a.reduced is None or b.reduced is None:
        return matcher.get_rms_dist(a.original, b.original)
    s1, s2, fu, s1_supercell = matcher._preprocess(a.reduced, b.reduced, skip_structure_reduction=True)
    match = matcher._match(s1, s2, fu, s1_supercell, use_rms=True, break_on_match=False)
    if match is None:
        return None
    return match[0], max(match[1])


def fits(a: PreparedStructure, b: PreparedStructure, matcher: StructureMatcher) -> bool:
    """``matcher.fit(a, b)`` on prepared crystals (``False`` when either could not be reduced)."""
    if a.error is not None or b.error is not None or not could_match(a, b):
        return False
    if a.reduced is None or b.reduced is None:
        return bool(matcher.fit(a.original, b.original))
    return bool(matcher.fit(a.reduced, b.reduced, skip_structure_reduction=True))


def group_duplicates(
    structures: Sequence[Structure],
    matcher: StructureMatcher | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> list[list[int]]:
    """Group crystals that match each other; the same groups as ``matcher.group_structures``.

    Greedy, like pymatgen: the first crystal of a group is its reference and
    every later crystal that fits it joins. Crystals whose cell could not be
    reduced each form their own group.

    Returns:
        Groups as lists of indices into ``structures``, each group sorted,
        groups ordered by their first index. ``len(groups)`` is the number
        of distinct crystals.
    """
    matcher = make_matcher(matcher if matcher is not None else STRICT_MATCHER)
    prepared = prepare_many(structures, matcher, n_jobs=n_jobs, progress=progress)
    buckets: dict[object, list[int]] = defaultdict(list)
    for index, item in enumerate(prepared):
        buckets[("error", index) if item.error else item.key].append(index)
    tasks = [(matcher, [(i, prepared[i]) for i in members]) for members in buckets.values()]
    grouped = run_ordered(_greedy_groups, tasks, n_jobs=n_jobs, progress=progress, description="grouping")
    return sorted((group for groups in grouped for group in groups), key=lambda group: group[0])


def _greedy_groups(task: tuple[StructureMatcher, list[tuple[int, PreparedStructure]]]) -> list[list[int]]:
    matcher, unmatched = task
    groups = []
    while unmatched:
        (first, reference), rest = unmatched[0], unmatched[1:]
        joined = [fits(reference, other, matcher) for _, other in rest]
        groups.append([first] + [i for (i, _), ok in zip(rest, joined) if ok])
        unmatched = [item for item, ok in zip(rest, joined) if not ok]
    return groups


def first_matches(
    queries: Sequence[Structure],
    references: Sequence[Structure],
    matcher: StructureMatcher | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> list[int | None]:
    """For each query, the index of the first reference it fits (``matcher.fit(query, reference)``), or ``None``.

    The same answer as ``next((j for j, r in enumerate(references) if
    matcher.fit(q, r)), None)`` for every query, but references whose
    reduced formula no query shares are never even reduced.
    """
    matcher = make_matcher(matcher if matcher is not None else STRICT_MATCHER)
    wanted = {_formula_hash(matcher, q) for q in queries}
    keep = [j for j, r in enumerate(references) if None in wanted or _formula_hash(matcher, r) in wanted]
    prepared_queries = prepare_many(queries, matcher, n_jobs=n_jobs, progress=progress)
    prepared_refs = dict(zip(keep, prepare_many([references[j] for j in keep], matcher, n_jobs=n_jobs,
                                                progress=progress)))
    by_key: dict[object, list[int]] = defaultdict(list)
    for j, item in prepared_refs.items():
        if item.error is None:
            by_key[item.key].append(j)
    tasks = []
    for query in prepared_queries:
        candidates = list(prepared_refs) if query.key is None else by_key.get(query.key, [])
        tasks.append((matcher, query, [(j, prepared_refs[j]) for j in candidates]))
    return run_ordered(_first_match, tasks, n_jobs=n_jobs, progress=progress, description="matching")


def _first_match(task: tuple[StructureMatcher, PreparedStructure, list[tuple[int, PreparedStructure]]]) -> int | None:
    matcher, query, candidates = task
    return next((j for j, reference in candidates if fits(query, reference, matcher)), None)


def _formula_hash(matcher: StructureMatcher, structure: Structure) -> str | None:
    if getattr(matcher, "_subset", True):
        return None
    return matcher._comparator.get_hash(structure.composition)


@lru_cache(maxsize=8)
def _fast_path_supported(matcher_class: type) -> bool:
    needed = ("_process_species", "_get_reduced_structure", "_preprocess", "_match")
    if not all(hasattr(matcher_class, name) for name in needed):
        return False
    try:
        return "skip_structure_reduction" in inspect.signature(matcher_class._preprocess).parameters and (
            "skip_structure_reduction" in inspect.signature(matcher_class.fit).parameters)
    except (TypeError, ValueError):
        return False


def _fast_path(matcher: StructureMatcher) -> bool:
    return _fast_path_supported(type(matcher)) and hasattr(matcher, "_primitive_cell")

