"""Experimental validation of generated crystals: would this structure survive contact with reality?

A generated crystal is only a proposal. This package runs the checks a
materials scientist would run before believing it, each in its own module:

* :mod:`~crystalkit.validation.relax` relax it with the CHGNet universal potential
  (energy in eV/atom, converged or clearly flagged), and batched single-point energies;
* :mod:`~crystalkit.validation.hull` its energy above the convex hull of known
  phases, and what it would decompose into;
* :mod:`~crystalkit.validation.symmetry` its space group at several tolerances,
  and a symmetrised copy;
* :mod:`~crystalkit.validation.oxidation` oxidation states (bond valence) and
  SMACT charge balance;
* :mod:`~crystalkit.validation.coordination` coordination environments (CrystalNN);
* :mod:`~crystalkit.validation.xrd` simulated powder XRD, pattern similarity and
  ranking candidates against a target pattern;
* :mod:`~crystalkit.validation.pdf` the pair distribution function G(r) of a
  nanoparticle of the crystal (DebyeCalculator), which sees local order, size and disorder;
* :mod:`~crystalkit.validation.ranking` ranking candidates against a noisy measured
  XRD or PDF pattern (Rwp or Pearson), and how noise and broadening change the answer.

Nothing heavy is imported until a function needs it (CHGNet loads on the first
relaxation and is then cached).
"""

from crystalkit.validation.coordination import coordination_environments
from crystalkit.validation.hull import (
    HullResult,
    default_reference_entries,
    elemental_references,
    energy_above_hull,
    formation_energies,
    formation_energy_per_atom,
)
from crystalkit.validation.oxidation import ChargeBalance, OxidationResult, charge_balance, oxidation_states
from crystalkit.validation.pdf import (
    PDFPattern,
    debye_pdf,
    nanoparticle,
    off_centre,
    peak_fwhm,
    rms_amplitude,
    simulate_pdf,
)
from crystalkit.validation.ranking import profile_agreement, rank_against_measured, ranking_sweep
from crystalkit.validation.relax import (
    RelaxationNotConvergedError,
    RelaxationWarning,
    RelaxResult,
    SparseElementWarning,
    check_chgnet_input,
    load_chgnet,
    predict_energies,
    relax,
)
from crystalkit.validation.symmetry import spacegroup, spacegroup_table, symmetrize
from crystalkit.validation.xrd import (
    XRDPattern,
    best_strain_similarity,
    rank_candidates,
    resample_pattern,
    simulate_xrd,
    xrd_similarity,
)

__all__ = [
    # relax
    "relax",
    "RelaxResult",
    "RelaxationWarning",
    "RelaxationNotConvergedError",
    "SparseElementWarning",
    "predict_energies",
    "load_chgnet",
    "check_chgnet_input",
    # hull
    "energy_above_hull",
    "formation_energy_per_atom",
    "formation_energies",
    "HullResult",
    "default_reference_entries",
    "elemental_references",
    # symmetry
    "spacegroup",
    "spacegroup_table",
    "symmetrize",
    # chemistry
    "oxidation_states",
    "OxidationResult",
    "charge_balance",
    "ChargeBalance",
    "coordination_environments",
    # XRD
    "simulate_xrd",
    "XRDPattern",
    "xrd_similarity",
    "best_strain_similarity",
    "rank_candidates",
    "resample_pattern",
    # PDF and ranking against a measured pattern
    "simulate_pdf",
    "PDFPattern",
    "debye_pdf",
    "nanoparticle",
    "off_centre",
    "peak_fwhm",
    "rms_amplitude",
    "profile_agreement",
    "rank_against_measured",
    "ranking_sweep",
]
