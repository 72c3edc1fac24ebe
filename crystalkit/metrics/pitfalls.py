"""Pitfalls of the standard metrics, as functions you can run on your own data.

A metric is only as honest as the data and tolerances behind it. Three
pitfalls recur in the crystal-generation literature (see Martirossyan et
al., "All that structure matches does not glitter", arXiv 2509.12178):

1. **Duplicates inside a dataset.** If the test set holds the same crystal
   several times, every correct prediction is counted several times, and a
   model that memorised one prototype scores on all its copies. Carbon-24,
   for example, holds far fewer distinct structures than rows.
2. **Leakage between splits.** A test crystal whose structure is also in
   the training set is recall, not prediction. Two kinds: the *same
   structure* in both splits (true leakage) and *polymorphs* (same formula,
   different structure). For CSP both inflate scores: the composition is
   the model's input, so a test formula seen in training is not held out
   (Martirossyan et al. 2025, arXiv 2509.12178, who propose splits grouped
   by composition).
3. **Loose tolerances.** StructureMatcher with ``stol=0.5`` accepts atoms
   displaced by half the mean interatomic spacing; loosen further and
   nearly anything with the right formula "matches". Always read a match
   rate with its tolerances, and check it at a stricter setting.

These functions default to the CSP matcher
(:data:`~crystalkit.metrics.matching.STANDARD_MATCHER`), so "duplicate"
means "what the CSP metric would count as the same crystal".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics.csp import ValidityMode, csp_metrics
from crystalkit.metrics.matching import (
    LOOSE_MATCHER,
    STANDARD_MATCHER,
    STRICT_MATCHER,
    first_matches,
    group_duplicates,
    make_matcher,
)

__all__ = ["LeakageReport", "duplicate_fraction", "duplicates_within", "split_leakage", "tolerance_sweep"]


def duplicates_within(
    structures: Sequence[Structure],
    matcher: StructureMatcher | Mapping[str, float] | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> list[list[int]]:
    """Groups of two or more crystals in one set that match each other (indices, sorted)."""
    _require(structures, "structures")
    groups = group_duplicates(structures, make_matcher(matcher or STANDARD_MATCHER), n_jobs=n_jobs, progress=progress)
    return [group for group in groups if len(group) > 1]


def duplicate_fraction(
    structures: Sequence[Structure],
    matcher: StructureMatcher | Mapping[str, float] | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> float:
    """Share of rows that repeat an earlier crystal: ``1 - distinct / rows``."""
    _require(structures, "structures")
    groups = group_duplicates(structures, make_matcher(matcher or STANDARD_MATCHER), n_jobs=n_jobs, progress=progress)
    return 1.0 - len(groups) / len(structures)


@dataclass(frozen=True)
class LeakageReport:
    """How each test crystal relates to the training set.

    Attributes:
        same_structure: test indices whose structure matches a training crystal.
        polymorph: test indices whose reduced formula is in the training set
            but whose structure is not.
        new_composition: test indices whose reduced formula the training set lacks.
        train_match: per test crystal, the index of a matching training crystal or ``None``.
    """

    same_structure: tuple[int, ...]
    polymorph: tuple[int, ...]
    new_composition: tuple[int, ...]
    train_match: tuple[int | None, ...]

    def summary(self) -> dict:
        """Counts and shares of the three kinds."""
        n = len(self.train_match)
        return {
            "n_test": n,
            "same_structure": len(self.same_structure),
            "polymorph": len(self.polymorph),
            "new_composition": len(self.new_composition),
            "same_structure_share": len(self.same_structure) / n,
            "polymorph_share": len(self.polymorph) / n,
        }


def split_leakage(
    train: Sequence[Structure],
    test: Sequence[Structure],
    matcher: StructureMatcher | Mapping[str, float] | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> LeakageReport:
    """Classify every test crystal: same structure in train, polymorph of a train formula, or new formula."""
    _require(train, "train")
    _require(test, "test")
    matches = first_matches(test, train, make_matcher(matcher or STANDARD_MATCHER), n_jobs=n_jobs, progress=progress)
    train_formulas = {s.composition.reduced_formula for s in train}
    same, polymorph, new = [], [], []
    for i, (structure, match) in enumerate(zip(test, matches)):
        if match is not None:
            same.append(i)
        elif structure.composition.reduced_formula in train_formulas:
            polymorph.append(i)
        else:
            new.append(i)
    return LeakageReport(tuple(same), tuple(polymorph), tuple(new), tuple(matches))


def tolerance_sweep(
    predicted: Sequence,
    targets: Sequence[Structure],
    settings: Mapping[str, Mapping[str, float]] | None = None,
    *,
    k: int | None = None,
    validity: ValidityMode = "published",
    n_jobs: int | None = None,
    progress: bool | None = None,
):
    """CSP match rate and RMSE of the same predictions under several matcher tolerances.

    Args:
        predicted, targets, k, validity: as in :func:`~crystalkit.metrics.csp_metrics`.
        settings: name -> matcher settings; default strict, standard and loose.

    Returns:
        A pandas DataFrame with one row per setting: ``setting, stol, ltol,
        angle_tol, match_rate, rmse``. If the loose row is far above the
        standard one, the model's "matches" are rough.
    """
    import pandas as pd

    settings = settings or {"strict": STRICT_MATCHER, "standard": STANDARD_MATCHER, "loose": LOOSE_MATCHER}
    rows = []
    for name, values in settings.items():
        result = csp_metrics(predicted, targets, k=k, validity=validity, matcher=make_matcher(values),
                             n_jobs=n_jobs, progress=progress)
        rows.append({"setting": name, **result.matcher, "match_rate": result.match_rate, "rmse": result.rmse})
    return pd.DataFrame(rows)


def _require(structures, name: str) -> None:
    if isinstance(structures, Structure) or len(structures) == 0:
        raise CrystalInputError(f"{name} must be a non-empty list of pymatgen Structures.")
    for i, structure in enumerate(structures):
        if not isinstance(structure, Structure):
            raise CrystalInputError(f"{name}[{i}] is a {type(structure).__name__}, not a pymatgen Structure.")
