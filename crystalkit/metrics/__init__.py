"""Evaluation metrics of crystal generative models, as the literature computes them, fast.

Two tasks, two entry points:

* :func:`csp_metrics`: crystal structure prediction (composition given):
  match rate and RMSE against targets, k samples per target, with the
  published validity rule of CDVAE / DiffCSP by default (SMACT's SMACT-14
  oxidation states, as the published runs used; ``oxidation_states="icsd24"``
  for SMACT 3+'s default list); :func:`csp_table`
  scores several methods at several k as one table.
* :func:`dng_metrics`: de novo generation: validity, coverage (COV-R /
  COV-P), Wasserstein distances, uniqueness, novelty, share of P1, S.U.N.

Each metric also exists as a small function (:func:`compositional_validity`,
:func:`coverage`, :func:`novelty`, ...), and :mod:`crystalkit.metrics.pitfalls`
turns the known traps (duplicates, split leakage, loose tolerances) into
checks. Notebook ``09_evaluation`` teaches all of them.

Modules: ``validity``, ``fingerprints``, ``matching``, ``csp``, ``coverage``,
``distributions``, ``dng``, ``pitfalls``.
"""

from crystalkit.metrics.coverage import COVERAGE_CUTOFFS, CoverageResult, coverage, coverage_cutoffs
from crystalkit.metrics.csp import CSPResult, SampleResult, TargetResult, csp_metrics, csp_table
from crystalkit.metrics.distributions import density_distance, num_elements_distance, wasserstein
from crystalkit.metrics.dng import (
    DNGResult,
    SUNResult,
    dng_metrics,
    novelty,
    p1_share,
    space_group_numbers,
    sun_rate,
    uniqueness,
)
from crystalkit.metrics.fingerprints import (
    clear_fingerprint_cache,
    composition_fingerprint,
    featurize,
    scale_composition_fingerprints,
    structure_fingerprint,
)
from crystalkit.metrics.matching import (
    LOOSE_MATCHER,
    STANDARD_MATCHER,
    STRICT_MATCHER,
    first_matches,
    group_duplicates,
    make_matcher,
)
from crystalkit.metrics.pitfalls import (
    LeakageReport,
    duplicate_fraction,
    duplicates_within,
    split_leakage,
    tolerance_sweep,
)
from crystalkit.metrics.sampler_steps import steps_versus_quality
from crystalkit.metrics.validity import (
    DEFAULT_OXIDATION_STATES,
    OXIDATION_STATE_LISTS,
    Validity,
    check_validity,
    compositional_validity,
    structural_validity,
)

__all__ = [  # noqa: RUF022 -- grouped by topic, not sorted
    # CSP
    "csp_metrics", "csp_table", "CSPResult", "TargetResult", "SampleResult",
    # de novo
    "dng_metrics", "DNGResult", "uniqueness", "novelty", "p1_share", "space_group_numbers", "sun_rate", "SUNResult",
    # building blocks
    "check_validity", "Validity", "structural_validity", "compositional_validity",
    "OXIDATION_STATE_LISTS", "DEFAULT_OXIDATION_STATES",
    "structure_fingerprint", "composition_fingerprint", "scale_composition_fingerprints", "featurize",
    "clear_fingerprint_cache",
    "coverage", "CoverageResult", "COVERAGE_CUTOFFS", "coverage_cutoffs",
    "wasserstein", "density_distance", "num_elements_distance",
    # matching
    "STANDARD_MATCHER", "STRICT_MATCHER", "LOOSE_MATCHER", "make_matcher", "group_duplicates", "first_matches",
    # pitfalls
    "duplicates_within", "duplicate_fraction", "split_leakage", "LeakageReport", "tolerance_sweep",
    # sampler cost against quality
    "steps_versus_quality",
]
