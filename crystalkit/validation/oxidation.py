"""Oxidation states and charge balance: does the chemistry of a crystal add up?

An ionic crystal is neutral: the oxidation states of its ions sum to zero
(Sr²⁺ Ti⁴⁺ (O²⁻)₃ in SrTiO3). A generated crystal whose composition admits no
neutral assignment of common oxidation states is suspect. Two complementary
checks:

* **From the structure** (:func:`oxidation_states`): the bond-valence method
  (Brown, Acta Cryst. B 41, 244 (1985); O'Keeffe & Brese, JACS 113, 3226
  (1991)) estimates each ion's valence from its bond lengths to its neighbours,
  ``V_i = sum_j exp((R0_ij - r_ij) / 0.37 Å)``, and pymatgen's ``BVAnalyzer``
  picks the charge-neutral assignment most consistent with those valences. If
  the geometry is too far from a real crystal for that to work, we fall back to
  guesses from the composition alone, and say so.
* **From the composition** (:func:`charge_balance`): the SMACT screening rule
  (Davies et al., Chem 1, 617 (2016)), the one the CDVAE/DiffCSP validity
  metric uses: some combination of the elements' known oxidation states must
  be neutral, and (Pauling test) the most electronegative element must carry
  the negative charge. Single elements and all-metal compositions (alloys) pass
  by definition.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from functools import reduce
from typing import Literal

from pymatgen.core import Composition, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure
from crystalkit.metrics.validity import DEFAULT_OXIDATION_STATES, OXIDATION_STATE_LISTS, oxidation_state_list

__all__ = ["OxidationResult", "ChargeBalance", "oxidation_states", "charge_balance"]


@dataclass(frozen=True)
class OxidationResult:
    """Oxidation states assigned to every site of a structure.

    Attributes:
        method: "bond_valence" (from the geometry), "composition_guess" (from the
            formula only: the geometry was not used) or "none" (no assignment found).
        site_states: oxidation state of each site, in site order (None if method is "none").
        by_element: the average state of each element, e.g. {"Sr": 2, "Ti": 4, "O": -2}.
        total_charge: sum over sites (0 for a successful assignment).
        note: why a fallback was used, empty if the bond-valence analysis worked.
    """

    method: Literal["bond_valence", "composition_guess", "none"]
    site_states: list[float] | None
    by_element: dict[str, float] | None
    total_charge: float | None
    note: str = ""

    def decorate(self, structure: Structure) -> Structure:
        """A copy of ``structure`` with the states attached to its species (e.g. Sr2+)."""
        if self.site_states is None:
            raise CrystalInputError(f"No oxidation states to attach ({self.note}).")
        decorated = structure.copy()
        decorated.add_oxidation_state_by_site(self.site_states)
        return decorated


@dataclass(frozen=True)
class ChargeBalance:
    """Result of the SMACT charge-balance test on one composition.

    Attributes:
        balanced: True if the composition passes.
        assignment: one neutral oxidation state per element, e.g. {"Sr": 2, "Ti": 4, "O": -2};
            None when the composition passes without one (element, alloy) or fails.
        reason: a one-line explanation.
    """

    balanced: bool
    assignment: dict[str, int] | None
    reason: str


def oxidation_states(structure: Structure) -> OxidationResult:
    """Oxidation state of every site: bond valence first, composition guesses as a fallback.

    The result says which method produced it (``result.method``), so a number
    from the weaker composition-only guess is never mistaken for a structural
    analysis.

    Raises:
        CrystalInputError: the structure is not a sensible ordered crystal.
    """
    from pymatgen.analysis.bond_valence import BVAnalyzer

    check_structure(structure, require_ordered=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            states = [float(v) for v in BVAnalyzer().get_valences(structure)]
        return OxidationResult("bond_valence", states, _by_element(structure, states), float(sum(states)))
    except ValueError as error:
        reason = f"bond-valence analysis failed ({error})"
    guesses = structure.composition.oxi_state_guesses()
    if guesses:
        per_element = {str(element): float(state) for element, state in guesses[0].items()}
        states = [per_element[site.specie.symbol] for site in structure]
        return OxidationResult(
            "composition_guess", states, per_element, float(sum(states)),
            note=f"{reason}; states guessed from the composition alone (geometry not used)",
        )
    return OxidationResult(
        "none", None, None, None,
        note=f"{reason}; no charge-neutral combination of common oxidation states exists for "
        f"{structure.composition.reduced_formula}",
    )


def charge_balance(
    composition: Composition | str | Structure,
    *,
    pauling_test: bool = True,
    oxidation_states: str = DEFAULT_OXIDATION_STATES,
) -> ChargeBalance:
    """SMACT charge-balance test of a composition, with the neutral assignment that passed.

    Args:
        composition: a formula, Composition or Structure (its composition is used).
        pauling_test: also require that anions are more electronegative than cations.
        oxidation_states: which of SMACT's oxidation-state lists to draw from: ``"smact14"``
            (default; the list the published CDVAE/DiffCSP protocol ran with, smact 2.2.1) or
            ``"icsd24"`` (SMACT 3+'s own default, narrower), exactly as in
            :func:`crystalkit.metrics.validity.compositional_validity`.

    Raises:
        CrystalInputError: an unreadable formula, fractional amounts, or an unknown list name.

    Returns:
        A :class:`ChargeBalance`.
    """
    import smact
    from smact.screening import pauling_test as smact_pauling_test

    if isinstance(composition, Structure):
        composition = composition.composition
    if isinstance(composition, str):
        try:
            composition = Composition(composition)
        except Exception as error:
            raise CrystalInputError(f"Cannot read the formula {composition!r}: {error}") from error
    amounts = composition.get_el_amt_dict()
    symbols = list(amounts)
    if any(abs(amount - round(amount)) > 1e-8 for amount in amounts.values()):
        raise CrystalInputError(f"{composition} has fractional amounts: the test needs whole atom counts.")
    if len(symbols) == 1:
        return ChargeBalance(True, None, "a single element: neutral by definition")
    if all(symbol in smact.metals for symbol in symbols):
        return ChargeBalance(True, None, "all metals: an alloy, charge balance does not apply")

    counts = [int(round(amounts[symbol])) for symbol in symbols]
    divisor = reduce(math.gcd, counts)
    counts = [count // divisor for count in counts]  # SrTi2O6 -> SrTiO3 ratios
    elements = [smact.Element(symbol) for symbol in symbols]
    attribute = OXIDATION_STATE_LISTS[oxidation_state_list(oxidation_states)]
    # Every state of the chosen list, the common ones (ICSD-24) first, so the assignment reported is the
    # familiar one (Sr2+ Ti4+ O2-, not the also-neutral Sr2+ Ti+ O-); the verdict does not depend on the order.
    choices = [_common_first(getattr(element, attribute, None) or [], element) for element in elements]
    if not all(choices):
        missing = [symbol for symbol, states in zip(symbols, choices, strict=True) if not states]
        return ChargeBalance(False, None, f"SMACT lists no oxidation states for {', '.join(missing)}")
    electronegativities = [element.pauling_eneg for element in elements]
    found_neutral = False
    for states in itertools.product(*choices):
        if sum(state * count for state, count in zip(states, counts, strict=True)) != 0:
            continue
        found_neutral = True
        if pauling_test and not _passes_pauling(smact_pauling_test, states, electronegativities):
            continue
        return ChargeBalance(True, dict(zip(symbols, states, strict=True)), "a neutral assignment exists")
    if found_neutral:
        return ChargeBalance(False, None, "neutral assignments exist but all fail the Pauling electronegativity test")
    return ChargeBalance(False, None, "no combination of known oxidation states is neutral")


def _common_first(states: list[int], element) -> list[int]:
    """``states`` reordered: those SMACT's ICSD-24 list holds (the common ones) first, the rest after."""
    common = set(getattr(element, "oxidation_states_icsd24", None) or [])
    return sorted(states, key=lambda state: (state not in common, abs(state)))


def _passes_pauling(test, states, electronegativities) -> bool:
    """SMACT's Pauling test; an element without an electronegativity (noble gases) cannot be tested: pass."""
    if any(value is None for value in electronegativities):
        return True
    return bool(test(states, electronegativities))


def _by_element(structure: Structure, states: list[float]) -> dict[str, float]:
    totals: dict[str, list[float]] = {}
    for site, state in zip(structure, states, strict=True):
        totals.setdefault(site.specie.symbol, []).append(state)
    return {symbol: sum(values) / len(values) for symbol, values in totals.items()}
