"""A synthesizability score: does a composition look like the ones that made it into a data set?

Whether a crystal *can be made* depends on kinetics, precursors and chance,
none of which a formula shows. A common proxy (SynthNN: Antoniuk et al.,
npj Comput. Mater. 9, 155 (2023); Jang et al., J. Am. Chem. Soc. 142, 18836
(2020)) is a classifier trained to tell **known** compositions from
**hypothetical** ones. Here both come from the kit's own data:

* known: the reduced formulas of the bundled teaching sets (every one passed
  SMACT, relaxed with CHGNet and lies within 1 eV/atom of the hull: see
  ``crystalkit/data/DATA.md``); they stand in for "made in a lab";
* hypothetical: random element substitutions of known formulas (same
  stoichiometry, new elements from the same pool) that are charge-balanced
  but absent from the known set (:func:`substituted_compositions`).

**The PU-learning caveat.** The hypothetical set is *unlabelled*, not
negative: some substituted formulas are perfectly makeable, they are just not
in our data (positive-unlabelled learning, Elkan & Noto, KDD 2008). A score
near 1 means "resembles the known set", not "will be synthesised"; a low score
can be a missed opportunity. And because the bundled "known" formulas are
themselves the kit's own substitutions, the classifier learns the build's
element choices as much as chemistry: read its mistakes
(:attr:`SynthesizabilityModel.mistakes`) before trusting it.

Each formula becomes the 132 Magpie element-property statistics the
coverage metrics use (:func:`crystalkit.metrics.fingerprints.composition_fingerprint`),
and a random forest (scikit-learn) separates the two classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from crystalkit.errors import CrystalInputError

__all__ = [
    "SynthesizabilityModel",
    "composition_features",
    "known_compositions",
    "substituted_compositions",
    "train_synthesizability",
]


def known_compositions(datasets: Sequence[str] = ("perovskites", "inorganic")) -> list[str]:
    """Sorted distinct reduced formulas of every split of the bundled ``datasets``."""
    from crystalkit.data import load_dataset

    formulas = {structure.composition.reduced_formula for name in datasets
                for split in ("train", "val", "test") for structure in load_dataset(name, split).structures}
    if not formulas:
        raise CrystalInputError(f"No compositions in {list(datasets)}.")
    return sorted(formulas)


def substituted_compositions(known: Sequence[str], count: int, *, seed: int = 0, charge_balanced: bool = True,
                             max_tries: int = 100_000) -> list[str]:
    """``count`` hypothetical formulas: a known formula with each element swapped for another of the pool.

    The pool is every element that appears in ``known``; a substitution keeps
    the stoichiometry (ABX3 stays ABX3), uses distinct elements, and is kept
    only if its reduced formula is not known, not already drawn and (with
    ``charge_balanced``) passes SMACT's test, so the classifier cannot win by
    charge balance alone.

    Raises:
        CrystalInputError: ``known`` empty, ``count`` < 1, or fewer than ``count`` found in ``max_tries`` draws.
    """
    from crystalkit.validation import charge_balance

    if not known:
        raise CrystalInputError("Need at least one known formula to substitute into.")
    if not isinstance(count, int) or count < 1:
        raise CrystalInputError(f"count must be a positive integer, got {count!r}.")
    parents = [Composition(f).get_el_amt_dict() for f in known]
    pool = sorted({element for amounts in parents for element in amounts})
    seen = {Composition(f).reduced_formula for f in known}
    rng = np.random.default_rng(seed)
    found: list[str] = []
    for _ in range(max_tries):
        amounts = parents[rng.integers(len(parents))]
        if len(amounts) > len(pool):
            continue
        new = rng.choice(pool, size=len(amounts), replace=False)
        formula = Composition(dict(zip(new, amounts.values(), strict=True))).reduced_formula
        if formula in seen or (charge_balanced and not charge_balance(formula).balanced):
            continue
        seen.add(formula)
        found.append(formula)
        if len(found) == count:
            return found
    raise CrystalInputError(f"Found only {len(found)} of {count} new substitutions in {max_tries} draws; ask for "
                            "fewer or allow charge-unbalanced ones.")


def composition_features(compositions: Sequence[Composition | str]) -> np.ndarray:
    """``(n, 132)`` Magpie statistics, standardised as the coverage metrics do (missing data -> 0)."""
    from crystalkit.metrics.fingerprints import composition_fingerprint, scale_composition_fingerprints

    if len(compositions) == 0:
        raise CrystalInputError("No compositions to featurise.")
    return scale_composition_fingerprints([composition_fingerprint(c) for c in compositions])


@dataclass(frozen=True)
class SynthesizabilityModel:
    """A trained known-vs-hypothetical classifier and how it did on held-out formulas.

    Attributes:
        classifier: the fitted scikit-learn model (``predict_proba`` column 1 = "known").
        accuracy: share of held-out formulas classified right (threshold 0.5).
        baseline_accuracy: what always guessing the larger class would score on the same formulas.
        confusion: 2 x 2 counts, rows = truth, columns = prediction ("known", "hypothetical").
        held_out: every held-out formula with its truth and score.
        mistakes: the held-out formulas it got wrong, most confident first.
        n_train: formulas it learned from.
    """

    classifier: Any = field(repr=False)
    accuracy: float
    baseline_accuracy: float
    confusion: pd.DataFrame = field(repr=False)
    held_out: pd.DataFrame = field(repr=False)
    mistakes: pd.DataFrame = field(repr=False)
    n_train: int

    def score(self, compositions: Sequence[Composition | str]) -> np.ndarray:
        """``(n,)`` probability-like score that each composition is of the "known" kind."""
        return self.classifier.predict_proba(composition_features(compositions))[:, 1]


def train_synthesizability(known: Sequence[str], hypothetical: Sequence[str], *, seed: int = 0,
                           test_fraction: float = 0.25, trees: int = 100) -> SynthesizabilityModel:
    """Fit a random forest on known (label 1) vs hypothetical (label 0) formulas; score it on a held-out part.

    Args:
        known, hypothetical: reduced formulas (the two must not overlap).
        seed: seeds the split and the forest.
        test_fraction: share of each class held out for the accuracy, confusion and mistakes.
        trees: trees in the forest.

    Raises:
        CrystalInputError: a class with fewer than 4 formulas, overlapping classes, or a bad fraction.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    if min(len(known), len(hypothetical)) < 4:
        raise CrystalInputError("Each class needs at least 4 formulas to split into training and held-out parts.")
    overlap = {Composition(f).reduced_formula for f in known} & {Composition(f).reduced_formula for f in hypothetical}
    if overlap:
        raise CrystalInputError(f"{len(overlap)} formulas are both known and hypothetical, e.g. {sorted(overlap)[:3]}.")
    if not 0.0 < test_fraction < 1.0:
        raise CrystalInputError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    formulas = np.array([*known, *hypothetical])
    labels = np.r_[np.ones(len(known), dtype=int), np.zeros(len(hypothetical), dtype=int)]
    features = composition_features(list(formulas))  # (n, 132)
    train_rows, test_rows = train_test_split(np.arange(len(formulas)), test_size=test_fraction, random_state=seed,
                                             stratify=labels)
    forest = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
    forest.fit(features[train_rows], labels[train_rows])
    scores = forest.predict_proba(features[test_rows])[:, 1]
    return _evaluate(forest, formulas[test_rows], labels[test_rows], scores, len(train_rows))


def _evaluate(forest, formulas: np.ndarray, truth: np.ndarray, scores: np.ndarray, n_train: int) -> SynthesizabilityModel:
    predicted = (scores >= 0.5).astype(int)
    names = {1: "known", 0: "hypothetical"}
    held_out = pd.DataFrame({"formula": formulas, "truth": [names[t] for t in truth], "score": scores,
                             "predicted": [names[p] for p in predicted]})
    confusion = pd.crosstab(held_out["truth"], held_out["predicted"]).reindex(
        index=["known", "hypothetical"], columns=["known", "hypothetical"], fill_value=0)
    confusion.index.name, confusion.columns.name = "truth", "predicted"
    wrong = held_out[held_out["truth"] != held_out["predicted"]].copy()
    wrong["confidence"] = (wrong["score"] - 0.5).abs()
    mistakes = wrong.sort_values("confidence", ascending=False).drop(columns="confidence").reset_index(drop=True)
    majority = max(truth.mean(), 1 - truth.mean())
    return SynthesizabilityModel(forest, float((predicted == truth).mean()), float(majority), confusion, held_out,
                                 mistakes, n_train)
