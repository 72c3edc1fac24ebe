"""Reading crystals and checking that they make sense.

Everything that enters the kit from outside (CIF text, CSV files, arrays a
learner typed) passes through :func:`check_structure`, so a bad crystal is
stopped at the door with a message that says what is wrong, instead of
turning into a silent ``nan`` three notebooks later.
"""

from __future__ import annotations

import warnings

import numpy as np
from pymatgen.core import Element, Structure
from pymatgen.core.periodic_table import DummySpecies

from crystalkit.errors import CrystalInputError

__all__ = ["structure_from_cif", "structure_to_cif", "check_structure", "MIN_DISTANCE"]

#: Closest approach (Å) allowed between two atoms. The same 0.5 Å is the
#: structural-validity cut-off of the CDVAE evaluation protocol (Xie et al. 2022).
MIN_DISTANCE = 0.5


def structure_from_cif(cif_text: str, *, check: bool = True, min_distance: float = MIN_DISTANCE) -> Structure:
    """Parse one crystal from CIF text.

    Args:
        cif_text: the contents of a CIF file holding one structure.
        check: run :func:`check_structure` on the result (recommended).
        min_distance: closest allowed approach of two atoms in Å.

    Raises:
        CrystalInputError: the text is not a readable CIF, holds no structure,
            or the structure fails the checks.
    """
    from pymatgen.io.cif import CifParser

    if not isinstance(cif_text, str) or not cif_text.strip():
        raise CrystalInputError("Empty CIF text: pass the contents of a CIF file (a string starting with 'data_').")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = CifParser.from_str(cif_text)
            structures = parser.parse_structures(primitive=False)
    except Exception as error:  # pymatgen raises many types here; we re-raise one
        raise CrystalInputError(
            f"Could not read the CIF text ({type(error).__name__}: {error}). "
            "Check that it is a complete CIF with cell parameters and an atom_site loop."
        ) from error
    if not structures:
        raise CrystalInputError("The CIF text holds no structure: it needs cell parameters and an atom_site loop.")
    structure = structures[0]
    if check:
        check_structure(structure, min_distance=min_distance)
    return structure


def structure_to_cif(structure: Structure) -> str:
    """CIF text (P1, every site written out) for a structure, as the benchmark CSVs store it."""
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))


def check_structure(
    structure: object, *, min_distance: float = MIN_DISTANCE, require_ordered: bool = True
) -> Structure:
    """Raise :class:`CrystalInputError` unless ``structure`` is a sensible crystal.

    Checks, in order: it is a periodic pymatgen ``Structure``; it has atoms;
    every species is a real element; the cell has positive finite volume and
    finite coordinates; no two atoms are closer than ``min_distance`` Å
    (periodic images included); and, if ``require_ordered``, no site is
    partially occupied.

    Returns:
        The same structure, so the call can be chained.
    """
    if not isinstance(structure, Structure):
        kind = type(structure).__name__
        hint = " A Molecule is not periodic: put it in a box with Molecule.get_boxed_structure()." if kind in {
            "Molecule", "IMolecule"} else ""
        raise CrystalInputError(f"Expected a periodic pymatgen Structure, got {kind}.{hint}")
    if len(structure) == 0:
        raise CrystalInputError("The structure is empty: it has a cell but no atoms.")
    for site in structure:
        for species in site.species:
            if isinstance(species, DummySpecies) or not isinstance(getattr(species, "element", species), Element):
                raise CrystalInputError(
                    f"Unknown element {species!s} at site {site.frac_coords.round(3).tolist()}: "
                    "only real chemical elements are supported."
                )
    matrix = structure.lattice.matrix
    if not np.all(np.isfinite(matrix)) or not np.all(np.isfinite(structure.frac_coords)):
        raise CrystalInputError("The lattice or the coordinates contain NaN or infinity.")
    volume = abs(float(np.linalg.det(matrix)))
    if volume < 1e-3:
        raise CrystalInputError(
            f"The cell volume is {volume:.3g} Å^3: the three lattice vectors are (nearly) linearly dependent."
        )
    if require_ordered and not structure.is_ordered:
        raise CrystalInputError(
            "The structure is disordered (partial occupancies). Read it with crystalkit.disorder.read_disordered_cif "
            "and order it (crystalkit.disorder: ordered_approximants or special_quasirandom_structure), or pass "
            "require_ordered=False."
        )
    if len(structure) > 1 or min(structure.lattice.abc) < min_distance:
        distances = structure.distance_matrix
        np.fill_diagonal(distances, np.inf)
        closest = float(distances.min()) if len(structure) > 1 else np.inf
        # An atom also meets its own periodic image at the shortest lattice translation.
        closest = min(closest, _shortest_lattice_vector(matrix))
        if closest < min_distance:
            i, j = np.unravel_index(np.argmin(distances), distances.shape) if len(structure) > 1 else (0, 0)
            raise CrystalInputError(
                f"Atoms overlap: sites {i} ({structure[i].species_string}) and {j} ({structure[j].species_string}) "
                f"are {closest:.3f} Å apart, closer than the {min_distance} Å minimum. "
                "Remove duplicate sites (Structure.merge_sites) or fix the coordinates."
            )
    return structure


def _shortest_lattice_vector(matrix: np.ndarray) -> float:
    """Length in Å of the shortest non-zero lattice translation (searching -1..1 combinations)."""
    combos = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)])
    return float(np.linalg.norm(combos @ matrix, axis=1).min())
