"""Space groups and the Wyckoff representation: a crystal written with its symmetry.

Almost every inorganic crystal has symmetry. Writing it out explicitly gives
the most compact exact description there is:

* the **space group** (one of 230; e.g. 225 = Fm-3m for rock salt), found
  with spglib (Togo et al. 2024) at a distance tolerance ``symprec`` in Å;
* the **conventional cell** lengths and angles;
* for each symmetry-distinct atom: its element, its **Wyckoff position**
  (a letter; the International Tables list which positions a group has,
  with their multiplicity and site symmetry) and only the coordinates that
  position leaves *free*. Rock salt is "Na on 4a, Cl on 4b" and no free
  numbers at all; rutile TiO2 needs one (oxygen on 4f at (x, x, 0)).

Generating sequences of (element, Wyckoff letter) is the idea behind
WyCryst (Zhu et al. 2024), WyFormer / "Wyckoff transformer" (Kazeev et al.
2025) and CrystalFormer (Cao et al. 2024); PyXtal (Fredericks et al. 2021)
supplies the Wyckoff tables used here.

Invariances: the space group and Wyckoff letters are invariant to rotation,
translation, atom order, supercells and the cell choice, because spglib first
finds the primitive lattice and then a *standard* setting. The free
coordinates are fixed up to the group's alternative origins (e.g. a polar
group like P6_3mc lets the origin slide along c, so a translation can change z).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations.cell import lattice_from_parameters
from crystalkit.structures import check_structure

__all__ = ["space_group", "WyckoffSite", "WyckoffRepresentation", "to_wyckoff", "from_wyckoff"]


def space_group(structure: Structure, symprec: float = 0.01, angle_tolerance: float = 5.0) -> tuple[int, str]:
    """Space-group number and Hermann-Mauguin symbol, e.g. ``(225, "Fm-3m")``.

    Args:
        structure: an ordered crystal.
        symprec: distance tolerance in Å. Relaxed or generated crystals often
            need 0.1 Å to show the symmetry they "almost" have.
        angle_tolerance: angle tolerance in degrees.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    check_structure(structure)
    _check_tolerance(symprec)
    analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
    return int(analyzer.get_space_group_number()), str(analyzer.get_space_group_symbol())


@dataclass(frozen=True)
class WyckoffSite:
    """One symmetry-distinct atom.

    Attributes:
        element: chemical symbol.
        letter: Wyckoff letter, e.g. ``"f"``.
        multiplicity: atoms this one position generates in the conventional cell.
        free_coords: the fractional coordinates the position leaves free (0 to 3 numbers).
    """

    element: str
    letter: str
    multiplicity: int
    free_coords: tuple[float, ...]

    @property
    def label(self) -> str:
        """Multiplicity and letter, e.g. ``"4f"``."""
        return f"{self.multiplicity}{self.letter}"


@dataclass(frozen=True)
class WyckoffRepresentation:
    """A crystal as space group + conventional cell + occupied Wyckoff positions.

    Attributes:
        space_group: International Tables number, 1-230.
        cell_parameters: conventional cell ``(a, b, c, alpha, beta, gamma)`` in Å and degrees.
        sites: the occupied positions, sorted by element, letter and free coordinates.
    """

    space_group: int
    cell_parameters: tuple[float, float, float, float, float, float]
    sites: tuple[WyckoffSite, ...]

    @property
    def num_atoms(self) -> int:
        """Atoms in the conventional cell."""
        return sum(site.multiplicity for site in self.sites)

    @property
    def num_free_parameters(self) -> int:
        """Free coordinates of all sites (the cell parameters not counted)."""
        return sum(len(site.free_coords) for site in self.sites)

    def to_frame(self) -> pd.DataFrame:
        """One row per site: element, Wyckoff label, free coordinates."""
        rows = [
            {"element": s.element, "wyckoff": s.label, "free coordinates": tuple(round(x, 4) for x in s.free_coords)}
            for s in self.sites
        ]
        return pd.DataFrame(rows)


def to_wyckoff(structure: Structure, symprec: float = 0.01, *, canonical: bool = True) -> WyckoffRepresentation:
    """The Wyckoff representation of an ordered crystal (via PyXtal, which calls spglib).

    A crystal in its standard setting can still be written in a few
    equivalent ways: the group's *normalizer* moves the origin to another
    point of the same symmetry (for Pm-3m, from Sr to Ti in SrTiO3, which
    swaps the letters 1a and 1b), maps one Wyckoff position onto another
    (rutile's 4f onto 4g), or, in polar groups, slides the origin freely
    along the polar axis. Within one position, every atom of the orbit that
    has the position's first form (e.g. (x, x, 0) and (-x, -x, 0) for 4f)
    is an equally good representative. With ``canonical=True`` all these
    choices are tried (PyXtal's ``get_alternatives`` lists the normalizer's
    settings) and the smallest description, sorted by element, letter and
    free coordinates, is kept (earliest letters first, then the smallest
    free coordinates). That makes the representation the same for every
    description of the crystal.

    Args:
        structure: an ordered crystal.
        symprec: symmetry tolerance in Å.
        canonical: pick the smallest of the equivalent descriptions (see above);
            ``False`` returns whichever PyXtal found first.

    Raises:
        CrystalInputError: a bad or disordered structure, or a symmetry search that fails.
    """
    from pyxtal import pyxtal

    check_structure(structure)
    _check_tolerance(symprec)
    crystal = pyxtal()
    try:
        crystal.from_seed(structure, tol=symprec)
    except Exception as error:  # PyXtal raises several types; report one
        raise CrystalInputError(
            f"The symmetry search failed at symprec={symprec} Å ({type(error).__name__}: {error}). "
            "Try a larger tolerance, e.g. 0.1."
        ) from error
    if not getattr(crystal, "valid", False):
        raise CrystalInputError(f"PyXtal could not symmetrise the structure at symprec={symprec} Å.")
    if not canonical:
        return _describe(crystal, np.zeros(3), first_only=True)
    try:
        settings = crystal.get_alternatives()
    except Exception:  # tables missing for a setting: the first description is still correct
        settings = [crystal]
    candidates = []
    for setting in settings:
        floating = list(setting.group.get_free_axis())
        for shift in _origin_shifts(setting, floating):
            candidates.append(_describe(setting, shift, first_only=False))
    return min(candidates, key=_sort_key)


def _origin_shifts(crystal, floating: list[int]) -> list[np.ndarray]:
    """Origin shifts along the polar (floating) axes that put some atom's coordinate there at zero."""
    if not floating:
        return [np.zeros(3)]
    shifts = []
    for site in crystal.atom_sites:
        for position in np.atleast_2d(site.wp.apply_ops(site.position)):
            shift = np.zeros(3)
            shift[floating] = -position[floating]
            shifts.append(shift)
    return shifts


def _describe(crystal, shift: np.ndarray, *, first_only: bool) -> WyckoffRepresentation:
    """The representation of a PyXtal crystal with its origin moved by ``shift`` (fractional)."""
    sites = []
    for site in crystal.atom_sites:
        wp = site.wp
        frozen = list(wp.get_frozen_axis())
        if first_only:
            options = [np.delete(wp.ops[0].operate(site.position), frozen)]
        else:
            orbit = np.atleast_2d(wp.apply_ops(site.position + shift))  # (multiplicity, 3)
            first_form = np.array([wp.ops[0].operate(p) for p in orbit])  # where op 0 sends each member
            gap = (first_form - orbit) - np.round(first_form - orbit)
            standard = orbit[np.all(np.abs(gap) < 1e-4, axis=1)]  # members already in the first form
            options = [np.delete(p, frozen) for p in (standard if len(standard) else orbit[:1])]
        free = min((_clean(x) for x in options), key=lambda t: t)
        sites.append(WyckoffSite(str(site.specie), str(wp.letter), int(wp.multiplicity), free))
    sites.sort(key=lambda s: (s.element, s.letter, s.free_coords))
    parameters = tuple(round(float(x), 8) for x in crystal.lattice.get_para(degree=True))
    return WyckoffRepresentation(int(crystal.group.number), parameters, tuple(sites))


def _clean(coords: np.ndarray) -> tuple[float, ...]:
    """Free coordinates wrapped into [0, 1) and rounded to 1e-8, so equal numbers compare equal."""
    values = np.round(np.asarray(coords, dtype=float) % 1.0, 8) % 1.0
    return tuple(float(x) for x in values)


def _sort_key(representation: WyckoffRepresentation) -> tuple:
    """Earliest Wyckoff letters first (the textbook habit: Ti on 2a in rutile), then the smallest free coordinates."""
    letters = tuple((s.element, s.letter) for s in representation.sites)
    coords = tuple(tuple(round(x, 5) for x in s.free_coords) for s in representation.sites)
    return letters, coords, tuple(round(x, 5) for x in representation.cell_parameters)


def from_wyckoff(representation: WyckoffRepresentation) -> Structure:
    """Rebuild the conventional cell from a Wyckoff representation (PyXtal applies the group's operations).

    Raises:
        CrystalInputError: an invalid space group, Wyckoff letter, or number of free coordinates.
    """
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    number = int(representation.space_group)
    if not 1 <= number <= 230:
        raise CrystalInputError(f"Space group numbers run from 1 to 230, got {number}.")
    if not representation.sites:
        raise CrystalInputError("The Wyckoff representation has no sites: there is no atom to place.")
    parameters = np.asarray(representation.cell_parameters, dtype=float)
    if parameters.shape != (6,):
        raise CrystalInputError(f"cell_parameters must hold 6 numbers, got {parameters.shape}.")
    lattice_from_parameters(parameters[:3], parameters[3:])  # validates the cell, raises a clear error
    group = Group(number)
    positions = {wp.letter: wp for wp in group.Wyckoff_positions}
    species: list[str] = []
    counts: list[int] = []
    sites_per_species: list[list[dict]] = []
    for site in representation.sites:
        wp = positions.get(site.letter)
        if wp is None:
            raise CrystalInputError(
                f"Space group {number} has no Wyckoff position {site.letter!r}; "
                f"it has {''.join(sorted(positions))}."
            )
        dof = 3 - len(wp.get_frozen_axis())
        if len(site.free_coords) != dof:
            raise CrystalInputError(
                f"Wyckoff position {wp.multiplicity}{site.letter} of group {number} has {dof} free coordinate(s), "
                f"but {len(site.free_coords)} were given for {site.element}."
            )
        if site.multiplicity != wp.multiplicity:
            raise CrystalInputError(
                f"Wyckoff position {site.letter} of group {number} has multiplicity {wp.multiplicity}, "
                f"not {site.multiplicity}."
            )
        position = wp.get_position_from_free_xyzs(np.asarray(site.free_coords, dtype=float))
        if site.element not in species:
            species.append(site.element)
            counts.append(0)
            sites_per_species.append([])
        k = species.index(site.element)
        counts[k] += int(wp.multiplicity)
        sites_per_species[k].append({f"{wp.multiplicity}{wp.letter}": position})
    crystal = pyxtal()
    try:
        crystal.build(number, species, counts, parameters, sites_per_species)
        return crystal.to_pymatgen()
    except Exception as error:
        raise CrystalInputError(f"PyXtal could not build the crystal ({type(error).__name__}: {error}).") from error


def _check_tolerance(symprec: float) -> None:
    if not np.isfinite(symprec) or symprec <= 0:
        raise CrystalInputError(f"symprec must be a positive distance in Å, got {symprec}.")
