"""Is a generated crystal even a candidate? Structural and compositional validity.

The CDVAE evaluation (Xie et al., ICLR 2022), reused unchanged by DiffCSP
(Jiao et al., NeurIPS 2023) and most later papers, calls a crystal *valid*
when three tests pass:

1. **Structural validity**: no two atoms closer than 0.5 Å (periodic images
   of *other* atoms included) and a cell volume of at least 0.1 Å^3.
2. **Compositional validity** (SMACT; Davies et al., JOSS 2019): some
   choice of the elements' common oxidation states makes the formula charge
   neutral, with cations less electronegative than anions (Pauling test).
   Single-element crystals and all-metal compositions (alloys) pass.
3. **A computable fingerprint**: matminer's CrystalNN fingerprint of every
   site can be computed (see :mod:`crystalkit.metrics.fingerprints`); a
   crystal whose fingerprint raises is counted invalid. So is a cell too
   absurd to try (a sub-ångström lattice translation, or an edge of over
   100 Å in the reduced cell: the kit's one departure, which spares minutes
   per crystal and changes no real crystal's result).

Everything here is a pure function of one structure and never raises for a
bad crystal: a bad crystal is *invalid*, and the reason is returned.

Details that change numbers (kept exactly as the published scripts do):

* counts are divided by their greatest common divisor before the SMACT test
  (``Fe4O6`` is tested as ``Fe2O3``) and the largest reduced count is the
  stoichiometry threshold;
* a single-atom cell is structurally valid whatever its lattice: the
  published test never looks at an atom's distance to its own images;
* an element without SMACT oxidation states (He, Ne, No, ...) makes a
  multi-element formula invalid (the published script crashes there);
* the oxidation states are SMACT's **SMACT-14** list
  (``oxidation_states="smact14"``, the default). The published scripts ran
  with smact 2.2.1 (pinned by CDVAE's environment), whose
  ``Element.oxidation_states`` was that list. In December 2024 (SMACT pull
  request 346) SMACT made the list of states seen in the 2024 ICSD
  its default; SMACT 4 keeps the old list as
  ``Element.oxidation_states_smact14``. Pass ``oxidation_states="icsd24"``
  for the new list. It is not simply narrower: it drops rare states (Ca+1,
  Fe-2, O+2) and adds others (Sn+3, Sb+4), so the same samples can score a
  higher or a lower validity;
* SMACT 4 changed ``neutral_ratios`` to return a list instead of a
  ``(bool, list)`` pair; :func:`compositional_validity` accepts both.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache, reduce
from typing import Literal

import numpy as np
from pymatgen.core import Composition, Element, Structure

from crystalkit.errors import CrystalInputError

__all__ = [
    "DEFAULT_OXIDATION_STATES",
    "MIN_DISTANCE",
    "MIN_VOLUME",
    "OXIDATION_STATE_LISTS",
    "OxidationStates",
    "Validity",
    "check_validity",
    "composition_counts",
    "compositional_validity",
    "oxidation_state_list",
    "structural_validity",
]

#: Closest approach (Å) of two atoms in a structurally valid crystal (CDVAE).
MIN_DISTANCE = 0.5

#: Smallest cell volume (Å^3) of a structurally valid crystal (CDVAE).
MIN_VOLUME = 0.1

#: Which of SMACT's oxidation-state lists the charge-balance test uses.
OxidationStates = Literal["smact14", "icsd24"]

#: The lists on offer, mapped to the attribute of ``smact.Element`` that holds them:
#: "smact14" is the list of smact <= 2 (the published protocol), "icsd24" SMACT 3+'s default.
OXIDATION_STATE_LISTS: dict[str, str] = {
    "smact14": "oxidation_states_smact14",
    "icsd24": "oxidation_states_icsd24",
}

#: The published protocol's list (CDVAE / DiffCSP ran with smact 2.2.1).
DEFAULT_OXIDATION_STATES: OxidationStates = "smact14"


@dataclass(frozen=True)
class Validity:
    """The validity tests of one crystal.

    Attributes:
        structural: distances >= 0.5 Å and volume >= 0.1 Å^3.
        compositional: SMACT charge neutral with the Pauling test.
        fingerprint: the CrystalNN fingerprint could be computed; ``None``
            when it was not computed (it could not change the result).
        reason: why the crystal is invalid (``None`` when nothing failed).
    """

    structural: bool
    compositional: bool
    fingerprint: bool | None = None
    reason: str | None = None

    @property
    def valid(self) -> bool:
        """Valid by the published definition (a fingerprint not computed counts as fine)."""
        return self.structural and self.compositional and self.fingerprint is not False


def structural_validity(
    structure: Structure, *, min_distance: float = MIN_DISTANCE, min_volume: float = MIN_VOLUME
) -> tuple[bool, str | None]:
    """Whether no two atoms are closer than ``min_distance`` Å and the volume is >= ``min_volume`` Å^3.

    Distances are minimum-image distances between *different* sites (as in
    CDVAE); an atom's distance to its own periodic images is not tested.

    Returns:
        ``(is_valid, reason)`` with ``reason`` ``None`` when valid.
    """
    _require_structure(structure)
    matrix = structure.lattice.matrix
    if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(structure.frac_coords))):
        return False, "lattice or coordinates contain NaN or infinity"
    volume = structure.volume
    if not volume >= min_volume:
        return False, f"cell volume {volume:.3g} Å^3 below {min_volume} Å^3"
    if len(structure) > 1:
        distances = structure.distance_matrix
        np.fill_diagonal(distances, np.inf)
        closest = float(distances.min())
        if not closest >= min_distance:
            return False, f"two atoms {closest:.3f} Å apart, closer than {min_distance} Å"
    return True, None


def composition_counts(composition: Composition | Structure | str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Atomic numbers (sorted) and gcd-reduced integer counts, as the SMACT test sees a formula.

    Example:
        ``composition_counts("Fe4O6") == ((8, 26), (3, 2))``: O then Fe, counts of Fe2O3.

    Raises:
        CrystalInputError: the formula is empty, has fractional counts, or names no real element.
    """
    if isinstance(composition, Structure):
        composition = composition.composition
    if isinstance(composition, str):
        try:
            composition = Composition(composition)
        except Exception as error:  # pymatgen raises several error types for bad formulas
            raise CrystalInputError(f"Cannot read the formula {composition!r}: {error}.") from error
    elements = composition.element_composition.get_el_amt_dict()
    if not elements:
        raise CrystalInputError("The composition is empty: it holds no atoms.")
    pairs = []
    for symbol, amount in elements.items():
        if abs(amount - round(amount)) > 1e-6 or round(amount) < 1:
            raise CrystalInputError(
                f"The composition {composition.formula} has a non-integer count {amount} of {symbol}: "
                "the charge-neutrality test needs whole atoms (is the structure disordered?)."
            )
        pairs.append((Element(symbol).Z, round(amount)))
    pairs.sort()
    numbers = tuple(z for z, _ in pairs)
    counts = [c for _, c in pairs]
    divisor = reduce(math.gcd, counts)
    return numbers, tuple(c // divisor for c in counts)


def oxidation_state_list(oxidation_states: str) -> str:
    """Check a choice of oxidation-state list and return it (``"smact14"`` or ``"icsd24"``).

    Raises:
        CrystalInputError: the choice is not one of :data:`OXIDATION_STATE_LISTS`.
    """
    if oxidation_states not in OXIDATION_STATE_LISTS:
        raise CrystalInputError(
            f"oxidation_states must be one of {tuple(OXIDATION_STATE_LISTS)}, got {oxidation_states!r}: "
            "'smact14' reproduces the published protocol (smact 2.2.1), 'icsd24' is SMACT 3+'s default."
        )
    return oxidation_states


def compositional_validity(composition: Composition | Structure | str, *, use_pauling_test: bool = True,
                           include_alloys: bool = True,
                           oxidation_states: OxidationStates = DEFAULT_OXIDATION_STATES) -> bool:
    """SMACT charge neutrality (with the Pauling electronegativity test), as CDVAE computes it.

    ``NaCl`` is valid (Na+ Cl-); ``NaCl2`` is not (no common states balance
    it with Na less electronegative than Cl); ``Fe3Al`` is valid (all
    metals: an alloy); ``C8`` is valid (a single element). The answer can
    depend on the list: ``Li2Fe`` balances under SMACT-14 (Fe -2) but not
    under ICSD-24.

    Args:
        composition: a formula, a pymatgen Composition, or a Structure.
        use_pauling_test: also require cations to be less electronegative than anions.
        include_alloys: count all-metal compositions as valid.
        oxidation_states: ``"smact14"`` (default, the published protocol) or ``"icsd24"``.

    Raises:
        CrystalInputError: an unreadable formula or an unknown ``oxidation_states``.
    """
    oxidation_state_list(oxidation_states)
    numbers, counts = composition_counts(composition)
    return _smact_valid(numbers, counts, use_pauling_test, include_alloys, oxidation_states)


@lru_cache(maxsize=65536)  # one entry per (formula, options, list): the lists never share an answer
def _smact_valid(numbers: tuple[int, ...], counts: tuple[int, ...], use_pauling_test: bool,
                 include_alloys: bool, oxidation_states: str = DEFAULT_OXIDATION_STATES) -> bool:
    import smact

    symbols = tuple(Element.from_Z(z).symbol for z in numbers)
    if len(set(symbols)) == 1:
        return True
    if include_alloys and all(symbol in smact.metals for symbol in symbols):
        return True
    try:
        space = smact.element_dictionary(symbols)
    except KeyError:  # an element SMACT has no data for (e.g. Og): it cannot be balanced
        return False
    elements = [space[symbol] for symbol in symbols]
    electronegativities = [element.pauling_eneg for element in elements]
    # No known oxidation states (noble gases, heavy actinides): nothing to balance with.
    # (The published script crashes on these; we call the formula invalid.)
    attribute = OXIDATION_STATE_LISTS[oxidation_states]
    oxidation_choices = [tuple(getattr(element, attribute) or ()) for element in elements]
    if use_pauling_test and any(value is None for value in electronegativities):
        # SMACT's own test decides what a missing electronegativity means (SMACT 4: fail; older: an error,
        # which the published script let pass): ask it, through the published loop.
        return _smact_valid_by_enumeration(oxidation_choices, counts, electronegativities, use_pauling_test)
    return _balances(oxidation_choices, counts, electronegativities if use_pauling_test else None)


def _balances(oxidation_choices: list[tuple[int, ...]], counts: tuple[int, ...],
              electronegativities: list[float] | None) -> bool:
    """Is there one oxidation state per element that makes ``sum(state * count) = 0`` (and, given
    electronegativities, passes Pauling's test)? The published loop's answer, without its enumeration.

    The published loop tries every combination of states: the product of the list lengths, which for a
    ten-element formula runs to billions. The same question has a short answer. Pauling's test (SMACT's
    ``eneg_states_test``) asks that every element with a positive state be less electronegative than every
    element with a negative one. So a passing choice has a cut in the sorted electronegativities: elements at
    or below it take states >= 0, elements above it states <= 0. For each of the (at most n + 1) cuts, the
    charges a choice can reach are built up element by element as a set of sums; the formula balances when
    0 is reachable for some cut. Without the test there is one "cut" allowing every state.
    """
    if electronegativities is None:
        cuts = [None]
    else:
        cuts = [-math.inf, *sorted(set(electronegativities))]  # -inf: no element may be positive
    for cut in cuts:
        reachable = {0}
        for states, count, eneg in zip(oxidation_choices, counts, electronegativities or [None] * len(counts)):
            if cut is not None:
                states = tuple(s for s in states if (s >= 0 if eneg <= cut else s <= 0))
            reachable = {total + state * count for total in reachable for state in states}
            if not reachable:
                break
        if 0 in reachable:
            return True
    return False


def _smact_valid_by_enumeration(oxidation_choices: list[tuple[int, ...]], counts: tuple[int, ...],
                                electronegativities: list, use_pauling_test: bool) -> bool:
    """The published loop: every combination of oxidation states, SMACT's own neutrality and Pauling tests."""
    from smact.screening import pauling_test

    stoichiometries = [(count,) for count in counts]
    threshold = max(counts)
    # Valid as soon as one choice of oxidation states balances the charge
    # and passes the Pauling test: the published loop collects them all and
    # asks whether the list is empty, which is the same answer.
    for states in itertools.product(*oxidation_choices):
        if not _neutral_ratios(states, stoichiometries, threshold):
            continue
        if not use_pauling_test:
            return True
        try:
            if pauling_test(states, electronegativities):
                return True
        except TypeError:  # an element without electronegativity data: accepted, as published
            return True
    return False


def _neutral_ratios(states: tuple[int, ...], stoichiometries: list[tuple[int]], threshold: int) -> list:
    """Charge-neutral ratios; SMACT >= 4 returns a list, SMACT < 4 a ``(bool, list)`` pair."""
    import smact

    result = smact.neutral_ratios(states, stoichs=stoichiometries, threshold=threshold)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], (bool, np.bool_)):
        return list(result[1]) if result[0] else []
    return list(result)


def check_validity(structure: Structure, *, fingerprint: bool = False,
                   oxidation_states: OxidationStates = DEFAULT_OXIDATION_STATES) -> Validity:
    """All validity tests of one crystal.

    Args:
        structure: the crystal (it may be badly broken: that is what is tested).
        fingerprint: also try the CrystalNN fingerprint (slow: ~10 ms per site);
            otherwise ``Validity.fingerprint`` is ``None``.
        oxidation_states: SMACT's list for the charge test (see :func:`compositional_validity`).
    """
    oxidation_state_list(oxidation_states)
    structural, reason = structural_validity(structure)
    try:
        compositional = compositional_validity(structure, oxidation_states=oxidation_states)
    except CrystalInputError as error:
        compositional, reason = False, reason or str(error)
    else:
        if not compositional and reason is None:
            reason = f"{structure.composition.reduced_formula} is not charge balanced (SMACT)"
    fingerprint_ok = None
    if fingerprint:
        from crystalkit.metrics.fingerprints import fingerprint_failure_reason, structure_fingerprint

        fingerprint_ok = structure_fingerprint(structure) is not None
        if not fingerprint_ok and reason is None:
            reason = fingerprint_failure_reason(structure)
    return Validity(structural, compositional, fingerprint_ok, reason)


def _require_structure(structure: object) -> None:
    if not isinstance(structure, Structure):
        raise CrystalInputError(f"Expected a pymatgen Structure, got {type(structure).__name__}.")
