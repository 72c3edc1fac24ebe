"""A handful of textbook crystals, built in code, to try every representation on.

They are built from their space group and Wyckoff positions with pymatgen
(``Structure.from_spacegroup``), so they need no data files and the tests,
notebooks and a learner's experiments all see exactly the same atoms. The two
face-centred cubic ones list their atoms directly: the face centring is four
translations, and expanding the 192 operations of Fm-3m is slow. Lattice
constants are rounded room-temperature experimental values in Å.

==============  ============  =====================================
function        space group   why it is here
==============  ============  =====================================
``rock_salt``   Fm-3m (225)   the simplest ionic crystal, two sites
``perovskite``  Pm-3m (221)   SrTiO3, the Perov-5 benchmark family
``diamond``     Fd-3m (227)   covalent carbon, four bonds per atom
``graphite``    P6_3/mmc(194) layered carbon, two very different bonds
``rutile``      P4_2/mnm(136) TiO2, an oxygen site with a free x
``wurtzite``    P6_3mc (186)  ZnO, polar: its origin along c floats
==============  ============  =====================================
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

__all__ = ["rock_salt", "perovskite", "diamond", "graphite", "rutile", "wurtzite", "example_structures"]

# The four lattice points of a face-centred cubic cell, fractional.
_FACE_CENTRING = ((0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0))


def rock_salt(a: float = 5.64, cation: str = "Na", anion: str = "Cl") -> Structure:
    """Conventional (8-atom) rock-salt cell, NaCl by default, with cubic edge ``a`` in Å."""
    fcc = np.array(_FACE_CENTRING)
    return Structure(Lattice.cubic(a), [cation] * 4 + [anion] * 4, np.vstack([fcc, (fcc + 0.5) % 1.0]))


def perovskite(a: float = 3.905, a_site: str = "Sr", b_site: str = "Ti", anion: str = "O") -> Structure:
    """Cubic ABX3 perovskite (5 atoms), SrTiO3 by default: B at the centre of an X octahedron."""
    return Structure.from_spacegroup(
        "Pm-3m", Lattice.cubic(a), [a_site, b_site, anion], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.0]]
    )


def diamond(a: float = 3.567, element: str = "C") -> Structure:
    """Conventional (8-atom) diamond cell: every carbon has four neighbours at sqrt(3)/4 a = 1.54 Å."""
    fcc = np.array(_FACE_CENTRING)
    return Structure(Lattice.cubic(a), [element] * 8, np.vstack([fcc, fcc + 0.25]))


def graphite(a: float = 2.464, c: float = 6.711) -> Structure:
    """AB-stacked hexagonal graphite (4 atoms): 1.42 Å bonds in a layer, 3.36 Å between layers."""
    return Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(a, c), ["C", "C"], [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25]]
    )


def rutile(a: float = 4.594, c: float = 2.959, x: float = 0.3048) -> Structure:
    """Rutile TiO2 (6 atoms); oxygen sits on Wyckoff 4f (x, x, 0) with one free parameter ``x``."""
    return Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(a, c), ["Ti", "O"], [[0, 0, 0], [x, x, 0]])


def wurtzite(a: float = 3.250, c: float = 5.207, u: float = 0.382) -> Structure:
    """Wurtzite ZnO (4 atoms); both sites are 2b (1/3, 2/3, z), O sits ``u`` c above Zn."""
    return Structure.from_spacegroup(
        "P6_3mc", Lattice.hexagonal(a, c), ["Zn", "O"], [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, u]]
    )


def example_structures() -> dict[str, Structure]:
    """All the examples above, keyed by a short label (formula and structure type)."""
    return {
        "NaCl (rock salt)": rock_salt(),
        "SrTiO3 (perovskite)": perovskite(),
        "C (diamond)": diamond(),
        "C (graphite)": graphite(),
        "TiO2 (rutile)": rutile(),
        "ZnO (wurtzite)": wurtzite(),
    }
