"""Small crystals with known answers, for teaching and testing the metrics.

Every function returns a fresh pymatgen ``Structure`` built in code (no
files, no downloads), so notebook 09 and the tests can show exactly what a
metric does on a case whose answer is obvious: a rotated copy must match,
a rattled one must not, overlapping atoms are invalid, NaCl2 is not charge
balanced.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Lattice, Structure

# Rock salt and diamond are the representation examples' cells (atoms listed directly: fast, no symmetry expansion).
from crystalkit.representations.examples import diamond, rock_salt

__all__ = [
    "cubic_perovskite",
    "diamond",
    "distorted_perovskite",
    "equivalent_copy",
    "random_with_composition",
    "rattle",
    "rock_salt",
    "strained",
    "toy_perovskites",
    "with_overlap",
]


def cubic_perovskite(a: float = 3.905, a_site: str = "Sr", b_site: str = "Ti",
                     anion: str | Sequence[str] = "O") -> Structure:
    """Ideal cubic perovskite ABX3 (5 atoms, Pm-3m), lattice constant ``a`` in Å (SrTiO3 by default).

    ``anion`` is one element, or three (e.g. ``["O", "O", "N"]``) for a mixed-anion cell.
    """
    anions = [anion] * 3 if isinstance(anion, str) else list(anion)
    return Structure(Lattice.cubic(a), [a_site, b_site, *anions],
                     [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]])


def rattle(structure: Structure, sigma: float, seed: int = 0) -> Structure:
    """A copy with every atom moved by a Gaussian displacement of ``sigma`` Å per Cartesian axis."""
    rng = np.random.default_rng(seed)
    moved = structure.cart_coords + rng.normal(0.0, sigma, size=(len(structure), 3))
    return Structure(structure.lattice, structure.species, moved, coords_are_cartesian=True)


def equivalent_copy(structure: Structure, seed: int = 0, supercell: tuple[int, int, int] = (1, 1, 1)) -> Structure:
    """The same crystal written differently: rotated in space, shifted, sites shuffled, optionally a supercell.

    A correct matcher must call it identical to ``structure`` (RMS 0).
    """
    rng = np.random.default_rng(seed)
    copy = structure.copy()
    copy.make_supercell(list(supercell))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))  # a proper rotation, det = +1
    lattice = Lattice(copy.lattice.matrix @ rotation.T)
    shift = rng.random(3)
    order = rng.permutation(len(copy))
    return Structure(lattice, [copy[i].specie for i in order], (copy.frac_coords[order] + shift) % 1.0)


def with_overlap(structure: Structure, distance: float = 0.3) -> Structure:
    """A copy whose second atom sits ``distance`` Å from the first (structurally invalid below 0.5 Å)."""
    copy = structure.copy()
    direction = np.array([1.0, 0.0, 0.0])
    copy.replace(1, copy[1].specie, copy[0].coords + distance * direction, coords_are_cartesian=True)
    return copy


def random_with_composition(structure: Structure, seed: int = 0) -> Structure:
    """Same lattice and atoms as ``structure``, but every atom at a random position: a know-nothing baseline."""
    rng = np.random.default_rng(seed)
    return Structure(structure.lattice, structure.species, rng.random((len(structure), 3)))


def distorted_perovskite(a: float = 3.95, a_site: str = "Pb", b_site: str = "Ti", anion: str = "O",
                         tetragonality: float = 0.0, shift: float = 0.0) -> Structure:
    """ABX3 stretched along c (``c = a (1 + tetragonality)``) with the B atom moved by ``shift`` along c.

    ``shift`` is fractional (0.02 is about 0.08 Å); any non-zero stretch or
    shift lowers the symmetry from Pm-3m to P4mm, like ferroelectric PbTiO3.
    """
    lattice = Lattice.tetragonal(a, a * (1.0 + tetragonality))
    return Structure(lattice, [a_site, b_site, anion, anion, anion],
                     [[0, 0, 0], [0.5, 0.5, 0.5 + shift], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


#: A-site elements, B-site elements and anion triples of the toy perovskite pool.
_A_SITES = ("Sr", "Ba", "Ca", "Pb", "Cd", "Mg", "Zn", "Mn", "Fe", "Co", "Ni", "Cu", "Sn", "La", "Y", "Nd", "Bi",
            "In", "K", "Na", "Rb", "Cs", "Ag", "Li", "Tl", "Hg", "Ge", "Sc")
_B_SITES = ("Ti", "Zr", "Hf", "Sn", "Ge", "Mo", "W", "V", "Mn", "Ce", "Ru", "Ir", "Pt", "Al", "Fe", "Ga", "Cr", "Co",
            "Ni", "Nb", "Ta", "Sb", "Mg", "Zn", "Cu", "Si", "Os", "Re", "Rh", "Pd")
_ANIONS = (("O", "O", "O"), ("O", "O", "F"), ("O", "O", "N"), ("O", "N", "N"), ("F", "F", "F"), ("O", "O", "S"))


def toy_perovskites(n: int, seed: int = 0) -> list[Structure]:
    """``n`` small ABX3 perovskites with distinct formulas: a stand-in for Perov-5 built in code.

    Formulas are drawn without replacement from about 4,800 combinations
    (28 A-site and 30 B-site elements, six anion sets such as O3, O2N, F3),
    so no formula repeats: slice one call into train and test sets and they
    share no composition. SMACT balances about 99 % of the pool under the
    published SMACT-14 list, 97 % under ICSD-24 (Perov-5's validation
    split: 98.7 % and 98.5 %). Half the cells are ideal cubic, half
    tetragonally distorted (2-8 % stretch, B atom shifted); lattice
    constants 3.7-4.2 Å.

    Raises:
        ValueError: ``n`` exceeds the pool.
    """
    unique: dict[tuple, tuple] = {}
    for a in _A_SITES:
        for b in _B_SITES:
            if a == b:
                continue
            for x in _ANIONS:  # FeMnO3 and MnFeO3 are one formula: keep the first
                unique.setdefault((min(a, b), max(a, b), x), (a, b, x))
    pool = list(unique.values())
    if n > len(pool):
        raise ValueError(f"At most {len(pool)} distinct toy perovskites; asked for {n}.")
    rng = np.random.default_rng(seed)
    out = []
    for index in rng.permutation(len(pool))[:n]:
        a_site, b_site, anions = pool[index]
        a = float(rng.uniform(3.7, 4.2))
        if rng.random() < 0.5:
            lattice, shift = Lattice.cubic(a), 0.0
        else:
            lattice, shift = Lattice.tetragonal(a, a * float(rng.uniform(1.02, 1.08))), float(rng.uniform(0.01, 0.05))
        out.append(Structure(lattice, [a_site, b_site, *anions],
                             [[0, 0, 0], [0.5, 0.5, 0.5 + shift], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]))
    return out


def strained(structure: Structure, strain_c: float) -> Structure:
    """A copy whose third lattice vector is longer by ``strain_c`` (0.4 = 40 %), fractional coordinates kept."""
    matrix = structure.lattice.matrix.copy()
    matrix[2] *= 1.0 + strain_c
    return Structure(Lattice(matrix), structure.species, structure.frac_coords)
