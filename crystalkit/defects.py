"""Point defects in supercells: vacancies, substitutions, interstitials, and their formation energies.

A real crystal is never perfect. A missing atom (a *vacancy*), a foreign atom
on a host site (a *substitution*) or an extra atom between the sites (an
*interstitial*) changes its conductivity, colour and diffusion. To model one
defect we repeat the cell into a *supercell* and change one site: the defect
then repeats with the supercell, so the supercell must be large enough that
the copies barely feel each other.

The cost of making a neutral defect is its *formation energy*

    E_f = E(supercell with defect) - E(perfect supercell) - sum_i n_i mu_i

where ``n_i`` atoms of element ``i`` were added (``n_i > 0``) or removed
(``n_i < 0``) and ``mu_i`` is the chemical potential: the energy per atom of
the reservoir the atom goes to or comes from. The kit takes ``mu_i`` from
CHGNet energies of the relaxed elements (:func:`chemical_potentials`), the
*element-rich* limit: oxygen taken from O2 gas, strontium from the metal. In
a real experiment ``mu_i`` lies lower (the crystal is in equilibrium with its
own compounds, and with gas at some pressure and temperature), which shifts
``E_f`` by ``n_i * Delta mu_i`` (:func:`formation_energy_range`).

What these numbers are not (Freysoldt et al. 2014): they are for *neutral*
defects only (charged defects need the Fermi level and finite-size charge
corrections); they come from small supercells (finite-size errors of tenths of
an eV are common); and they are CHGNet energies, a machine-learned potential
trained on DFT of mostly perfect crystals, not DFT itself.

Symmetry-distinct defects are listed with pymatgen-analysis-defects
(:func:`distinct_defects`); single defects at a chosen site are made with
:func:`make_vacancy`, :func:`make_substitution` and :func:`make_interstitial`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from pymatgen.core import Element, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import MIN_DISTANCE, check_structure

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PointDefect",
    "DefectEnergy",
    "defect_supercell",
    "make_vacancy",
    "make_substitution",
    "make_interstitial",
    "distinct_defects",
    "chemical_potentials",
    "formation_energy",
    "formation_energy_range",
    "defect_formation_energies",
]

DefectKind = Literal["vacancy", "substitution", "interstitial"]


@dataclass(frozen=True)
class PointDefect:
    """One point defect in a supercell.

    Attributes:
        kind: "vacancy", "substitution" or "interstitial".
        name: Kröger-Vink-like label, e.g. ``v_O``, ``Ba_Sr``, ``H_i``.
        site_index: the changed site's index in the *perfect* supercell (for an interstitial: its index
            in the defect supercell, where it is appended last).
        frac_coords: where the defect is, fractional coordinates of the supercell.
        structure: the supercell with the defect.
        element_changes: element -> atoms added (+) or removed (-), e.g. ``{"Sr": -1, "Ba": +1}``.
    """

    kind: DefectKind
    name: str
    site_index: int
    frac_coords: tuple[float, float, float]
    structure: Structure = field(repr=False)
    element_changes: dict[str, int]


def defect_supercell(structure: Structure, size: int | Sequence[int] = 2) -> Structure:
    """The perfect supercell the defects are made in: ``structure`` repeated ``size`` times along each axis.

    Raises:
        CrystalInputError: a disordered crystal (order it with :mod:`crystalkit.disorder` first) or a bad size.
    """
    _check_ordered(structure)
    repeats = (size,) * 3 if isinstance(size, int | np.integer) else tuple(size)
    if len(repeats) != 3 or any(not isinstance(r, int | np.integer) or r < 1 for r in repeats):
        raise CrystalInputError(f"size must be a positive integer or three of them, got {size!r}.")
    return structure * repeats


def make_vacancy(supercell: Structure, index: int) -> PointDefect:
    """Remove site ``index`` of ``supercell``.

    Raises:
        CrystalInputError: ``index`` outside the supercell, or a disordered supercell.
    """
    _check_ordered(supercell)
    index = _check_index(supercell, index)
    element = supercell[index].specie.symbol
    defect = supercell.copy()
    defect.remove_sites([index])
    return PointDefect("vacancy", f"v_{element}", index, _frac(supercell, index), defect, {element: -1})


def make_substitution(supercell: Structure, index: int, element: str) -> PointDefect:
    """Put ``element`` on site ``index`` of ``supercell`` in place of the host atom.

    Raises:
        CrystalInputError: ``index`` outside the supercell, an unknown element, or the host element itself.
    """
    _check_ordered(supercell)
    index = _check_index(supercell, index)
    element = _check_element(element)
    host = supercell[index].specie.symbol
    if element == host:
        raise CrystalInputError(f"Site {index} already holds {host}: substitute a different element.")
    defect = supercell.copy()
    defect.replace(index, element)
    return PointDefect("substitution", f"{element}_{host}", index, _frac(supercell, index), defect,
                       {host: -1, element: +1})


def make_interstitial(supercell: Structure, frac_coords: Sequence[float], element: str, *,
                      min_distance: float = MIN_DISTANCE) -> PointDefect:
    """Add an ``element`` atom at ``frac_coords`` (fractional, of the supercell).

    Raises:
        CrystalInputError: an unknown element, bad coordinates, or a position closer than
            ``min_distance`` Å to an existing atom.
    """
    _check_ordered(supercell)
    element = _check_element(element)
    point = np.asarray(frac_coords, dtype=float)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise CrystalInputError(f"frac_coords must be three finite numbers, got {frac_coords!r}.")
    distances = supercell.lattice.get_all_distances(point[None, :], supercell.frac_coords)[0]
    if distances.min() < min_distance:
        raise CrystalInputError(
            f"An interstitial at {point.round(3).tolist()} would sit {distances.min():.2f} Å from site "
            f"{int(distances.argmin())}, closer than {min_distance} Å. Choose an empty position "
            "(distinct_defects(..., interstitial=...) finds the Voronoi voids)."
        )
    defect = supercell.copy()
    defect.append(element, point)
    return PointDefect("interstitial", f"{element}_i", len(defect) - 1, tuple(float(x) for x in point % 1.0), defect,
                       {element: +1})


def distinct_defects(structure: Structure, *, substitutions: Mapping[str, str] | None = None,
                     interstitial: str | None = None) -> pd.DataFrame:
    """The symmetry-distinct point defects of a crystal, from pymatgen-analysis-defects' generators.

    Equivalent sites (the three oxygens of cubic SrTiO3) give one defect with
    a *multiplicity* (defects per primitive cell); only distinct ones need a
    calculation.

    Args:
        structure: the perfect (primitive) crystal.
        substitutions: host element -> substituting element, e.g. ``{"Sr": "Ba"}``.
        interstitial: an element to place in the Voronoi voids (e.g. ``"H"``).

    Returns:
        A table: name, kind, multiplicity, fractional position, site index in ``structure`` (None for interstitials).
    """
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymatgen.analysis.defects.generators import (
            SubstitutionGenerator,
            VacancyGenerator,
            VoronoiInterstitialGenerator,
        )

        _check_ordered(structure)
        found = [("vacancy", d) for d in VacancyGenerator().get_defects(structure)]
        if substitutions:
            for host, guest in substitutions.items():
                _check_element(guest)
                if Element(host) not in structure.composition:
                    raise CrystalInputError(f"{host} is not in {structure.composition.reduced_formula}.")
            found += [("substitution", d) for d in SubstitutionGenerator().get_defects(structure, dict(substitutions))]
        if interstitial is not None:
            found += [("interstitial", d)
                      for d in VoronoiInterstitialGenerator().get_defects(structure, {_check_element(interstitial)})]
    table = pd.DataFrame([
        {"name": d.name, "kind": kind, "multiplicity": int(d.multiplicity),
         "frac_coords": tuple(float(x) for x in np.round(d.site.frac_coords, 4) % 1.0),
         "site_index": None if kind == "interstitial" else int(d.defect_site_index)}
        for kind, d in found
    ])
    table["site_index"] = table["site_index"].astype("Int64")  # whole numbers, <NA> for interstitials
    return table


# ----------------------------------------------------------------------------- energies
def chemical_potentials(elements: Sequence[str]) -> dict[str, float]:
    """Element-rich chemical potentials (eV/atom): CHGNet energies of the relaxed elements, bundled with the kit.

    They are the same references :mod:`crystalkit.validation.hull` uses, so a
    defect energy and a hull built from them share one energy scale.
    """
    from crystalkit.validation.hull import elemental_references

    return {composition.elements[0].symbol: float(energy)
            for composition, energy in elemental_references([_check_element(e) for e in elements])}


def formation_energy(defect_energy: float, bulk_energy: float, element_changes: Mapping[str, int],
                     potentials: Mapping[str, float]) -> float:
    """``E_f = E_defect - E_bulk - sum_i n_i mu_i`` in eV (total energies of the two supercells, in eV).

    Raises:
        CrystalInputError: a chemical potential is missing, or an energy is not finite.
    """
    missing = sorted(set(element_changes) - set(potentials))
    if missing:
        raise CrystalInputError(f"No chemical potential for {', '.join(missing)}: pass one (eV/atom) for each.")
    if not (np.isfinite(defect_energy) and np.isfinite(bulk_energy)):
        raise CrystalInputError(f"Energies must be finite, got {defect_energy} and {bulk_energy}.")
    return float(defect_energy - bulk_energy - sum(n * potentials[el] for el, n in element_changes.items()))


def formation_energy_range(energy_rich: float, element_changes: Mapping[str, int], element: str,
                           delta_mu: np.ndarray) -> np.ndarray:
    """``E_f`` as the chemical potential of ``element`` falls by ``-delta_mu`` (eV) below its element-rich value.

    ``E_f(Delta mu) = E_f(rich) - n * Delta mu``: removing an atom (``n = -1``)
    gets *cheaper* as its reservoir gets poorer (``Delta mu < 0``).
    """
    return energy_rich - element_changes.get(element, 0) * np.asarray(delta_mu, dtype=float)


@dataclass(frozen=True)
class DefectEnergy:
    """The formation energy of one defect and how it was computed."""

    name: str
    formation_energy: float  # eV, relaxed (atoms only, cell fixed)
    unrelaxed_formation_energy: float  # eV, atoms at the perfect-crystal positions
    converged: bool
    steps: int
    rmsd: float  # Å, how far the atoms moved while relaxing


def defect_formation_energies(bulk: Structure, defects: Sequence[PointDefect], *, steps: int = 100,
                              fmax: float = 0.05, potentials: Mapping[str, float] | None = None,
                              progress: bool = False) -> pd.DataFrame:
    """Relax each defect supercell with CHGNet (atoms only, cell fixed) and compute its formation energy.

    The cell stays that of the perfect supercell (the dilute-defect convention:
    the host around a single defect keeps its lattice). ``bulk`` is scored as
    given, so relax the perfect crystal first. Steps are capped: an
    unconverged relaxation is reported in the ``converged`` column (its
    energy is an upper bound), never hidden.

    Args:
        bulk: the relaxed perfect supercell the defects were made in.
        defects: from :func:`make_vacancy`, :func:`make_substitution`, :func:`make_interstitial`.
        steps: FIRE step cap per defect.
        fmax: force threshold, eV/Å.
        potentials: element -> mu (eV/atom); default :func:`chemical_potentials` (element-rich).
        progress: a progress bar per relaxation.

    Returns:
        A table with one row per defect: name, formation energy (relaxed and unrelaxed, eV), converged, steps,
        RMSD (Å).
    """
    import pandas as pd

    from crystalkit.validation.relax import predict_energies, relax

    if not defects:
        raise CrystalInputError("Pass at least one defect.")
    elements = sorted({el for d in defects for el in d.element_changes})
    mu = dict(potentials) if potentials is not None else chemical_potentials(elements)
    bulk_energy = float(predict_energies([bulk])[0]) * len(bulk)
    rows = []
    for defect in defects:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the convergence flag goes into the table
            result = relax(defect.structure, steps=steps, fmax=fmax, relax_cell=False, progress=progress)
        n = len(defect.structure)
        rows.append(DefectEnergy(
            name=defect.name,
            formation_energy=formation_energy(result.energy_per_atom * n, bulk_energy, defect.element_changes, mu),
            unrelaxed_formation_energy=formation_energy(result.initial_energy_per_atom * n, bulk_energy,
                                                        defect.element_changes, mu),
            converged=result.converged, steps=result.steps, rmsd=result.rmsd,
        ))
    return pd.DataFrame([vars(row) for row in rows])


# ----------------------------------------------------------------------------- checks
def _check_ordered(structure: object) -> Structure:
    check_structure(structure, require_ordered=False, min_distance=0.0)
    if not structure.is_ordered:
        raise CrystalInputError(
            "Point defects are made in an ordered crystal, and this one has partially occupied sites. "
            "Order it first with crystalkit.disorder (ordered_approximants or special_quasirandom_structure)."
        )
    return structure


def _check_index(structure: Structure, index: object) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise CrystalInputError(f"A site index is an integer, got {index!r}.")
    if not -len(structure) <= index < len(structure):
        raise CrystalInputError(
            f"Site index {index} is out of range: this supercell has {len(structure)} sites (0 .. {len(structure) - 1})."
        )
    return int(index) % len(structure)


def _check_element(symbol: object) -> str:
    if not isinstance(symbol, str) or not Element.is_valid_symbol(symbol):
        raise CrystalInputError(
            f"Unknown element {symbol!r}: give a chemical symbol such as 'Ba' (case matters: 'Co' is cobalt)."
        )
    return symbol


def _frac(structure: Structure, index: int) -> tuple[float, float, float]:
    return tuple(float(x) for x in structure[index].frac_coords % 1.0)
