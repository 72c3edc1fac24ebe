"""Inverse design: ask a generator for a property, then filter what it proposes as a chemist would (notebook 13).

* :mod:`~crystalkit.design.generation` guided sampling towards a target value, refusing targets outside
  the training range;
* :mod:`~crystalkit.design.funnel` the ordered filter steps (charge balance, CHGNet relaxation, energy above
  hull, symmetry, novelty, synthesizability), survivors per step and the reason for every drop;
* :mod:`~crystalkit.design.synthesizability` a known-vs-hypothetical composition classifier trained on the
  kit's own data, with its held-out accuracy, confusion and mistakes.

Nothing heavy is imported until a function needs it.
"""

from crystalkit.design.funnel import (
    FILTERS,
    Candidate,
    FilterStep,
    FunnelResult,
    Verdict,
    as_candidates,
    filter_step,
    funnel_figure,
    reference_structures,
    run_funnel,
    standard_steps,
)
from crystalkit.design.generation import (
    LabelRange,
    check_target,
    conditioned_candidates,
    label_range,
    pretrained_label_range,
)
from crystalkit.design.synthesizability import (
    SynthesizabilityModel,
    composition_features,
    known_compositions,
    substituted_compositions,
    train_synthesizability,
)

__all__ = [  # noqa: RUF022 -- grouped by module, not sorted
    # funnel
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
    # generation
    "LabelRange",
    "check_target",
    "conditioned_candidates",
    "label_range",
    "pretrained_label_range",
    # synthesizability
    "SynthesizabilityModel",
    "composition_features",
    "known_compositions",
    "substituted_compositions",
    "train_synthesizability",
]
