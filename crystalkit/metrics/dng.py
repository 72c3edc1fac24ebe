"""De novo generation (DNG): validity, coverage, distributions, uniqueness, novelty, symmetry, S.U.N.

A de novo model invents crystals from nothing. No single number says
whether it is good, so papers report a panel, each answering one question:

=====================  ====================================================
validity               could these crystals exist at all? (structure, SMACT)
COV-R / COV-P          does the set cover the data / stay near the data?
Wasserstein distances  do densities and element counts look like the data?
uniqueness             are the samples different from each other?
novelty                are they different from the training set?
share of P1            are they symmetric like real crystals, or noise?
S.U.N.                 stable (near the convex hull), unique and novel
=====================  ====================================================

:func:`dng_metrics` computes the panel; validity, coverage and the
distances follow the CDVAE evaluation script (Xie et al., ICLR 2022) to
the digit. Uniqueness, novelty and S.U.N. have no single reference
definition; ours are stated in each function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics.coverage import CoverageResult, coverage
from crystalkit.metrics.coverage import coverage_cutoffs as _published_cutoffs
from crystalkit.metrics.distributions import densities, element_counts, wasserstein
from crystalkit.metrics.fingerprints import featurize, fingerprint_failure_reason, scale_composition_fingerprints
from crystalkit.metrics.matching import STRICT_MATCHER, first_matches, group_duplicates, make_matcher
from crystalkit.metrics.validity import (
    DEFAULT_OXIDATION_STATES,
    OxidationStates,
    Validity,
    compositional_validity,
    oxidation_state_list,
    structural_validity,
)

__all__ = [
    "DEFAULT_SYMPREC",
    "STABILITY_THRESHOLD",
    "DNGResult",
    "SUNResult",
    "dng_metrics",
    "novelty",
    "p1_share",
    "space_group_numbers",
    "sun_rate",
    "uniqueness",
]

#: Symmetry tolerance (Å) for spglib. Generated crystals carry small noise;
#: at pymatgen's default 0.01 Å almost every sample would look P1.
DEFAULT_SYMPREC = 0.1

#: Energy above the convex hull (eV/atom) under which a crystal counts as
#: stable for S.U.N.; MatterGen (Zeni et al., Nature 2025) uses 0.1 eV/atom,
#: stricter studies use 0.0.
STABILITY_THRESHOLD = 0.1


@dataclass(frozen=True)
class SUNResult:
    """Stable, unique and novel crystals.

    Attributes:
        rate: distinct stable-and-novel crystals divided by all crystals given.
        n_total, n_stable, n_stable_novel, n_sun: the counts behind it.
        n_unknown_energy: crystals whose energy above hull was NaN (not stable).
        threshold: stability threshold in eV/atom.
        sun: per crystal, True for the first of each distinct stable-novel crystal.
    """

    rate: float
    n_total: int
    n_stable: int
    n_stable_novel: int
    n_sun: int
    n_unknown_energy: int
    threshold: float
    sun: tuple[bool, ...]


@dataclass(frozen=True)
class DNGResult:
    """The de novo panel; shares are in 0..1, distances in the unit of their property.

    ``None`` means "not computed" (an input was not given) and the reason is in ``notes``.
    """

    n_generated: int
    n_failed: int
    struct_valid: float
    comp_valid: float
    valid: float
    coverage: CoverageResult | None
    wdist_density: float | None
    wdist_num_elements: float | None
    wdist_property: float | None
    comp_diversity: float | None
    struct_diversity: float | None
    unique_rate: float | None
    novel_rate: float | None
    unique_novel_rate: float | None
    p1_share: float | None
    p1_share_reference: float | None
    sun: SUNResult | None
    per_structure: tuple[dict, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    oxidation_states: str = DEFAULT_OXIDATION_STATES  # SMACT's list behind comp_valid and valid

    def summary(self) -> dict:
        """The headline numbers as a flat dict (coverage fields prefixed ``cov``/``amsd``/``amcd``)."""
        out = {
            "n_generated": self.n_generated, "n_failed": self.n_failed,
            "struct_valid": self.struct_valid, "comp_valid": self.comp_valid, "valid": self.valid,
        }
        if self.coverage is not None:
            c = self.coverage
            out.update(cov_recall=c.cov_recall, cov_precision=c.cov_precision, amsd_recall=c.amsd_recall,
                       amsd_precision=c.amsd_precision, amcd_recall=c.amcd_recall, amcd_precision=c.amcd_precision)
        out.update(
            wdist_density=self.wdist_density, wdist_num_elements=self.wdist_num_elements,
            wdist_property=self.wdist_property, comp_diversity=self.comp_diversity,
            struct_diversity=self.struct_diversity, unique_rate=self.unique_rate, novel_rate=self.novel_rate,
            unique_novel_rate=self.unique_novel_rate, p1_share=self.p1_share,
            p1_share_reference=self.p1_share_reference,
            sun_rate=None if self.sun is None else self.sun.rate,
        )
        return out

    def to_frame(self):
        """One row per generated crystal (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(list(self.per_structure))


def dng_metrics(
    generated: Sequence[Structure | None],
    reference: Sequence[Structure],
    train: Sequence[Structure] | None = None,
    dataset: str | None = None,
    *,
    coverage_cutoffs: tuple[float, float] | None = None,
    generated_property: Sequence[float] | None = None,
    reference_property: Sequence[float] | None = None,
    e_above_hull: Sequence[float] | None = None,
    stability_threshold: float = STABILITY_THRESHOLD,
    matcher: StructureMatcher | dict | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    symprec: float = DEFAULT_SYMPREC,
    n_jobs: int | None = None,
    progress: bool | None = None,
    oxidation_states: OxidationStates = DEFAULT_OXIDATION_STATES,
) -> DNGResult:
    """The de novo evaluation panel.

    Args:
        generated: generated crystals; ``None`` for a failed sample (invalid everywhere).
        reference: the reference set, usually the test split (COV, distances).
        train: the training set, for novelty and S.U.N. (optional).
        dataset: ``"perov_5"``, ``"carbon_24"``, ``"mp_20"`` (or a bundled
            set's name) to pick the published coverage cut-offs.
        coverage_cutoffs: ``(struc, comp)`` cut-offs overriding ``dataset``.
        generated_property, reference_property: a property per crystal
            (aligned with ``generated`` / ``reference``) for a Wasserstein distance.
        e_above_hull: energy above hull (eV/atom) per generated crystal, NaN
            where unknown, e.g. from ``crystalkit.validation``; enables S.U.N.
            (needs ``train``).
        stability_threshold: S.U.N. stability threshold in eV/atom.
        matcher: matcher for uniqueness and novelty (default
            :data:`~crystalkit.metrics.matching.STRICT_MATCHER`, pymatgen's defaults).
        n_samples: use a random subset of this many valid crystals for the
            distribution distances and diversity (CDVAE used 1,000); ``None``: all.
        seed: seed of that subset.
        symprec: spglib tolerance in Å for the P1 share.
        n_jobs, progress: parallelism and progress bar (see ``csp_metrics``).
        oxidation_states: SMACT's list of the charge test: ``"smact14"`` (published) or ``"icsd24"``.

    Raises:
        CrystalInputError: empty inputs, wrong types, misaligned property
            arrays, unknown dataset or list, or fewer valid crystals than ``n_samples``.
    """
    _check_inputs(generated, reference, train, generated_property, reference_property, e_above_hull)
    notes: list[str] = []  # what was not computed, and why

    # 1. Validity: structure, composition, fingerprint.
    checked = _validity_section(generated, reference, oxidation_states, n_jobs=n_jobs, progress=progress)
    # 2. Coverage, on every generated crystal with a fingerprint.
    cov = _coverage_section(checked, len(reference), coverage_cutoffs, dataset, notes)
    # 3. Distributions and diversity, on (a subset of) the valid crystals.
    distances = _distribution_section(checked, reference, generated_property, reference_property,
                                      n_samples, seed, notes)
    # 4. Uniqueness, novelty, symmetry on the valid crystals.
    matcher = make_matcher(matcher if matcher is not None else STRICT_MATCHER)
    repeats = _uniqueness_section(checked.valid, train, matcher, symprec, notes, n_jobs=n_jobs, progress=progress)
    # 5. S.U.N., over all generated crystals (invalid ones are not S.U.N.).
    sun = None
    if e_above_hull is not None:
        energies = np.array([e_above_hull[i] for i in checked.valid_index], dtype=float)  # (n_valid,) eV/atom
        sun = _sun_from_flags(energies, repeats.novel, checked.valid, matcher, stability_threshold,
                              n_total=len(generated), n_jobs=n_jobs, progress=progress)
        notes.append("S.U.N. over all generated crystals; invalid ones count as not S.U.N.")
    return DNGResult(
        n_generated=len(generated), n_failed=sum(s is None for s in generated),
        struct_valid=sum(bool(f and f.structural) for f in checked.flags) / len(generated),
        comp_valid=sum(bool(f and f.compositional) for f in checked.flags) / len(generated),
        valid=len(checked.valid) / len(generated),
        coverage=cov,
        **distances._asdict(),
        **repeats.rates(has_train=train is not None),
        p1_share=_share_p1(repeats.space_groups),
        p1_share_reference=_share_p1(space_group_numbers(reference, symprec=symprec)),
        per_structure=_per_structure_rows(generated, checked, repeats),
        sun=sun, notes=tuple(notes), oxidation_states=oxidation_states,
    )


class _ValiditySection(NamedTuple):
    """Section 1: validity flags and fingerprints, indexed like ``generated`` (``None`` for a failed sample)."""

    flags: list[Validity | None]
    struct_fps: list[np.ndarray | None]
    comp_fps: list[np.ndarray | None]
    ref_struct_fps: list[np.ndarray | None]
    ref_comp_fps: list[np.ndarray | None]
    valid_index: list[int]  # positions in ``generated`` of the valid crystals, in order
    valid: list[Structure]  # those crystals


class _DistanceSection(NamedTuple):
    """Section 3: distribution distances and diversity (field names as in :class:`DNGResult`)."""

    wdist_density: float | None = None
    wdist_num_elements: float | None = None
    wdist_property: float | None = None
    comp_diversity: float | None = None
    struct_diversity: float | None = None


class _UniquenessSection(NamedTuple):
    """Section 4, one entry per valid crystal (positions in the list of valid crystals)."""

    unique: list[bool]  # the first of its group of duplicates
    duplicate_of: list[int | None]  # if not, the position of that first
    novel: list[bool | None]  # matches no training crystal (None: no training set given)
    space_groups: list[int | None]  # space-group number (None where spglib fails)

    def rates(self, *, has_train: bool) -> dict[str, float | None]:
        n_valid = len(self.unique)
        with_train = bool(n_valid and has_train)
        return {
            "unique_rate": sum(self.unique) / n_valid if n_valid else None,
            "novel_rate": sum(bool(f) for f in self.novel) / n_valid if with_train else None,
            "unique_novel_rate": (sum(u and bool(v) for u, v in zip(self.unique, self.novel)) / n_valid
                                  if with_train else None),
        }


def _check_inputs(generated, reference, train, generated_property, reference_property, e_above_hull) -> None:
    """Raise before any work if a list holds something else than crystals, or an array does not fit its crystals."""
    _check_list(generated, "generated", allow_none=True)
    _check_list(reference, "reference")
    if train is not None:
        _check_list(train, "train")
    if generated_property is not None or reference_property is not None:
        if generated_property is None or reference_property is None:
            raise CrystalInputError("Pass both generated_property and reference_property (or neither).")
        _check_aligned(generated_property, generated, "generated_property")
        _check_aligned(reference_property, reference, "reference_property")
    if e_above_hull is not None:
        if train is None:
            raise CrystalInputError("S.U.N. needs the training set for novelty: pass train= with e_above_hull=.")
        _check_aligned(e_above_hull, generated, "e_above_hull")


def _validity_section(generated, reference, oxidation_states, *, n_jobs, progress) -> _ValiditySection:
    """Structural and SMACT validity and the CrystalNN fingerprint of every generated crystal (one featurize call)."""
    oxidation_state_list(oxidation_states)  # fail before the slow fingerprints
    present = [i for i, s in enumerate(generated) if s is not None]
    structures = [generated[i] for i in present]
    struct_fps_present, comp_fps_present = featurize(structures + list(reference), n_jobs=n_jobs, progress=progress)
    struct_fps: list = [None] * len(generated)
    comp_fps: list = [None] * len(generated)
    flags: list[Validity | None] = [None] * len(generated)
    for position, i in enumerate(present):
        struct_fps[i], comp_fps[i] = struct_fps_present[position], comp_fps_present[position]
        structural, reason = structural_validity(generated[i])
        compositional = compositional_validity(generated[i], oxidation_states=oxidation_states)
        fingerprint = struct_fps[i] is not None
        if reason is None and not compositional:
            reason = "not charge balanced (SMACT)"
        if reason is None and not fingerprint:
            reason = fingerprint_failure_reason(generated[i])
        flags[i] = Validity(structural, compositional, fingerprint, reason)
    valid_index = [i for i in present if flags[i].valid]
    return _ValiditySection(flags, struct_fps, comp_fps, struct_fps_present[len(structures):],
                            comp_fps_present[len(structures):], valid_index, [generated[i] for i in valid_index])


def _coverage_section(checked: _ValiditySection, n_reference: int, cutoffs, dataset,
                      notes: list[str]) -> CoverageResult | None:
    """COV-R / COV-P against the reference crystals that have a fingerprint (``None`` without cut-offs)."""
    if cutoffs is None and dataset is not None:
        cutoffs = _published_cutoffs(dataset)  # raises for an unknown dataset
    if cutoffs is None:
        notes.append("coverage not computed: pass dataset= or coverage_cutoffs=")
        return None
    ref_keep = [j for j, fp in enumerate(checked.ref_struct_fps) if fp is not None]
    if len(ref_keep) < n_reference:
        notes.append(f"{n_reference - len(ref_keep)} reference crystals without a fingerprint left out of COV")
    return coverage(checked.struct_fps, checked.comp_fps, [checked.ref_struct_fps[j] for j in ref_keep],
                    [checked.ref_comp_fps[j] for j in ref_keep], cutoffs)


def _subsample(n_valid: int, n_samples: int | None, seed: int) -> list[int]:
    """Sorted positions of the valid crystals the distances use: all, or a seeded subset of ``n_samples``."""
    if n_samples is None:
        return list(range(n_valid))
    if n_valid < n_samples:
        raise CrystalInputError(f"Only {n_valid} valid crystals, fewer than n_samples={n_samples}.")
    return sorted(np.random.default_rng(seed).choice(n_valid, n_samples, replace=False).tolist())


def _distribution_section(checked: _ValiditySection, reference, generated_property, reference_property,
                          n_samples, seed, notes: list[str]) -> _DistanceSection:
    """Wasserstein distances of density, element count and a property, and diversity, on (a subset of) the valid."""
    chosen = _subsample(len(checked.valid), n_samples, seed)
    if not chosen:
        notes.append("no valid crystals: distribution distances not computed")
    if generated_property is None:
        notes.append("property distance not computed: pass generated_property and reference_property")
    if not chosen:
        return _DistanceSection()
    sample = [checked.valid[c] for c in chosen]
    origin = [checked.valid_index[c] for c in chosen]  # positions in ``generated``
    comp_div, struct_div = _diversity([checked.comp_fps[i] for i in origin], [checked.struct_fps[i] for i in origin])
    return _DistanceSection(
        wdist_density=wasserstein(densities(sample), densities(reference)),
        wdist_num_elements=wasserstein(element_counts(sample), element_counts(reference)),
        wdist_property=None if generated_property is None else wasserstein(
            [generated_property[i] for i in origin], reference_property),
        comp_diversity=comp_div,
        struct_diversity=struct_div,
    )


def _uniqueness_section(valid, train, matcher, symprec, notes: list[str], *, n_jobs,
                        progress) -> _UniquenessSection:
    """Duplicates among the valid crystals, which of them match no training crystal, and their space groups."""
    unique, duplicate_of = _first_of_group(valid, matcher, n_jobs, progress)
    novel: list[bool | None] = [None] * len(valid)
    if train is not None:
        novel = [match is None for match in first_matches(valid, train, matcher, n_jobs=n_jobs, progress=progress)]
    else:
        notes.append("novelty not computed: pass train=")
    return _UniquenessSection(unique, duplicate_of, novel, space_group_numbers(valid, symprec=symprec))


def _per_structure_rows(generated, checked: _ValiditySection, repeats: _UniquenessSection) -> tuple[dict, ...]:
    """One row per generated crystal for :meth:`DNGResult.to_frame` (``None`` where a test did not apply)."""
    rows = []
    position_of = {i: p for p, i in enumerate(checked.valid_index)}
    for i, s in enumerate(generated):
        p, flags = position_of.get(i), checked.flags[i]
        rows.append({
            "index": i,
            "failed": s is None,
            "formula": None if s is None else s.composition.reduced_formula,
            "n_atoms": None if s is None else len(s),
            "struct_valid": bool(flags and flags.structural),
            "comp_valid": bool(flags and flags.compositional),
            "fingerprint_ok": bool(flags and flags.fingerprint),
            "valid": bool(flags and flags.valid),
            "invalid_reason": "generation failed" if s is None else flags.reason,
            "density": None if s is None or not math.isfinite(s.volume) or s.volume <= 0 else float(s.density),
            "unique": None if p is None else repeats.unique[p],
            "duplicate_of": (None if p is None or repeats.duplicate_of[p] is None
                             else checked.valid_index[repeats.duplicate_of[p]]),
            "novel": None if p is None else repeats.novel[p],
            "space_group": None if p is None else repeats.space_groups[p],
        })
    return tuple(rows)


def uniqueness(structures: Sequence[Structure], matcher: StructureMatcher | dict | None = None, *,
               n_jobs: int | None = None, progress: bool | None = None) -> float:
    """Distinct crystals divided by crystals: 1.0 when no two match (default matcher: pymatgen's defaults).

    Duplicates are found greedily like ``StructureMatcher.group_structures``.
    """
    _check_list(structures, "structures")
    flags, _ = _first_of_group(list(structures), make_matcher(matcher if matcher is not None else STRICT_MATCHER),
                               n_jobs, progress)
    return sum(flags) / len(flags)


def novelty(structures: Sequence[Structure], train: Sequence[Structure], matcher: StructureMatcher | dict | None = None,
            *, n_jobs: int | None = None, progress: bool | None = None) -> float:
    """Share of crystals that match no training crystal (``matcher.fit(crystal, train_crystal)`` never true)."""
    _check_list(structures, "structures")
    _check_list(train, "train")
    matches = first_matches(structures, train, make_matcher(matcher if matcher is not None else STRICT_MATCHER),
                            n_jobs=n_jobs, progress=progress)
    return sum(m is None for m in matches) / len(matches)


def space_group_numbers(structures: Sequence[Structure], *, symprec: float = DEFAULT_SYMPREC,
                        angle_tolerance: float = 5.0) -> list[int | None]:
    """International space-group number (1-230) of each crystal from spglib; ``None`` where spglib fails.

    Args:
        symprec: distance tolerance in Å.
        angle_tolerance: angle tolerance in degrees.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    numbers = []
    for structure in structures:
        try:
            numbers.append(int(SpacegroupAnalyzer(structure, symprec=symprec,
                                                  angle_tolerance=angle_tolerance).get_space_group_number()))
        except Exception:  # noqa: BLE001 -- spglib gives up on some broken cells: None, counted in p1_share
            numbers.append(None)
    return numbers


def p1_share(structures: Sequence[Structure], *, symprec: float = DEFAULT_SYMPREC) -> float:
    """Share of crystals whose only symmetry is translation (space group P1, number 1).

    Real crystals are rarely P1; a generator that returns mostly P1 places
    atoms without the symmetry of real materials. Crystals spglib cannot
    analyse count as P1.
    """
    _check_list(structures, "structures")
    return _share_p1(space_group_numbers(structures, symprec=symprec))


def sun_rate(
    structures: Sequence[Structure],
    e_above_hull: Sequence[float],
    train: Sequence[Structure],
    *,
    threshold: float = STABILITY_THRESHOLD,
    matcher: StructureMatcher | dict | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> SUNResult:
    """S.U.N. rate: distinct crystals that are stable and novel, over all crystals given.

    Definition used here: a crystal is *stable* if its energy above the
    convex hull is at most ``threshold`` eV/atom (NaN: unknown, not
    stable); *novel* if it matches no training crystal; stable-and-novel
    crystals that match each other count once.

    Args:
        structures: the crystals (usually relaxed ones).
        e_above_hull: energy above hull per crystal in eV/atom, e.g. from
            ``crystalkit.validation`` (CHGNet relaxation and hull); this
            function does not compute energies.
        train: the training set.
        threshold: stability threshold in eV/atom (0.1 as MatterGen; 0.0 is stricter).
        matcher: for novelty and duplicates (default pymatgen's defaults).
    """
    _check_list(structures, "structures")
    _check_list(train, "train")
    _check_aligned(e_above_hull, structures, "e_above_hull")
    matcher = make_matcher(matcher if matcher is not None else STRICT_MATCHER)
    energies = np.asarray(e_above_hull, dtype=float)
    stable = np.nan_to_num(energies, nan=np.inf) <= threshold
    novel = [None] * len(structures)
    candidates = [i for i in range(len(structures)) if stable[i]]
    for i, match in zip(candidates, first_matches([structures[i] for i in candidates], train, matcher,
                                                  n_jobs=n_jobs, progress=progress)):
        novel[i] = match is None
    return _sun_from_flags(energies, novel, list(structures), matcher, threshold, n_total=len(structures),
                           n_jobs=n_jobs, progress=progress)


def _sun_from_flags(energies, novel, structures, matcher, threshold, *, n_total, n_jobs, progress) -> SUNResult:
    stable = np.nan_to_num(np.asarray(energies, dtype=float), nan=np.inf) <= threshold
    keep = [i for i in range(len(structures)) if stable[i] and novel[i]]
    first, _ = _first_of_group([structures[i] for i in keep], matcher, n_jobs, progress)
    sun = [False] * len(structures)
    for i, is_first in zip(keep, first):
        sun[i] = is_first
    return SUNResult(
        rate=sum(sun) / n_total,
        n_total=n_total,
        n_stable=int(stable.sum()),
        n_stable_novel=len(keep),
        n_sun=sum(sun),
        n_unknown_energy=int(np.isnan(np.asarray(energies, dtype=float)).sum()),
        threshold=threshold,
        sun=tuple(sun),
    )


def _first_of_group(structures, matcher, n_jobs, progress) -> tuple[list[bool], list[int | None]]:
    """Per crystal: is it the first of its group of duplicates; and if not, the index of that first."""
    first = [True] * len(structures)
    duplicate_of: list[int | None] = [None] * len(structures)
    if not structures:
        return first, duplicate_of
    for group in group_duplicates(structures, matcher, n_jobs=n_jobs, progress=progress):
        for member in group[1:]:
            first[member], duplicate_of[member] = False, group[0]
    return first, duplicate_of


def _diversity(comp_fps, struct_fps) -> tuple[float | None, float | None]:
    """Mean pairwise distance of scaled composition and of structure fingerprints (CDVAE's diversity)."""
    from scipy.spatial.distance import pdist

    if len(comp_fps) < 2:
        return None, None
    return (float(pdist(scale_composition_fingerprints(comp_fps)).mean()),
            float(pdist(np.asarray(struct_fps, dtype=float)).mean()))


def _share_p1(numbers: Sequence[int | None]) -> float | None:
    if not numbers:
        return None
    return sum(n is None or n == 1 for n in numbers) / len(numbers)


def _check_list(items, name: str, *, allow_none: bool = False) -> None:
    if isinstance(items, Structure) or items is None:
        raise CrystalInputError(f"{name} must be a list of pymatgen Structures.")
    if len(items) == 0:
        raise CrystalInputError(f"{name} is empty: give at least one crystal.")
    for i, item in enumerate(items):
        if item is None and allow_none:
            continue
        if not isinstance(item, Structure):
            raise CrystalInputError(f"{name}[{i}] is a {type(item).__name__}, not a pymatgen Structure.")
        if not item.is_ordered:
            raise CrystalInputError(f"{name}[{i}] is disordered (partial occupancies); metrics need ordered crystals.")


def _check_aligned(values, structures, name: str) -> None:
    if len(values) != len(structures):
        raise CrystalInputError(f"{name} has {len(values)} values for {len(structures)} crystals: align them.")
