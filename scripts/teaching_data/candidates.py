"""Starting structures for the bundled teaching sets, before any relaxation.

The teaching sets mirror the three kinds of public benchmark:

* ``perovskites`` (like Perov-5): five-atom cubic ABX3 cells over a broad set
  of A and B cations and X anions, mixed anions (ABO2N, ABOF2, ...) included;
* ``inorganic`` (like MP-20): prototypes from pymatgen's bundled AFLOW
  prototype library (Mehl et al. 2017) with new elements substituted in, kept
  only if the composition is charge balanced (SMACT);
* ``carbon`` (like Carbon-24): random symmetric carbon cells of 6 to 24 atoms
  made with PyXtal (Fredericks et al. 2021).

Every generator here is a pure function of a seed, so a build that stops can
restart and regenerate exactly the same candidates. The structures are only
*guesses*: :mod:`.build` relaxes them with CHGNet.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure

__all__ = [
    "Candidate",
    "perovskite_candidates",
    "substitution_candidates",
    "carbon_candidates",
    "SUBSETS",
]

#: A-site cations of the perovskite set: large cations from groups 1, 2, the rare earths and a few p-block ions.
PEROVSKITE_A = (
    "Li Na K Rb Cs Mg Ca Sr Ba La Ce Pr Nd Sm Eu Gd Dy Y Sc Bi Pb Sn Tl Ag In Cd"
).split()
#: B-site cations: transition metals and small main-group cations.
PEROVSKITE_B = (
    "Ti Zr Hf V Nb Ta Cr Mo W Mn Tc Re Fe Ru Os Co Rh Ir Ni Pd Pt Cu Ag Au Zn Cd Hg Al Ga In Tl "
    "Si Ge Sn Pb Sb Bi Te Mg Sc Y Li Na"
).split()
#: Anion sets on the three X sites, as in Perov-5 (Castelli et al. 2012) plus halides and chalcogenides.
PEROVSKITE_X = (
    ("O", "O", "O"), ("O", "O", "N"), ("O", "N", "N"), ("N", "N", "N"), ("O", "O", "F"), ("O", "F", "F"),
    ("F", "F", "F"), ("O", "O", "S"), ("S", "S", "S"), ("Cl", "Cl", "Cl"), ("Br", "Br", "Br"), ("I", "I", "I"),
    ("Se", "Se", "Se"), ("F", "F", "N"),
)
#: Elements substituted into prototypes: the common, non-radioactive part of the periodic table.
SUBSTITUTION_POOL = (
    "H Li Be B C N O F Na Mg Al Si P S Cl K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Rb Sr Y Zr Nb Mo "
    "Ru Rh Pd Ag Cd In Sn Sb Te I Cs Ba La Ce Nd Sm Gd Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi"
).split()

SUBSETS = ("perovskites", "inorganic", "carbon")


@dataclass(frozen=True)
class Candidate:
    """An unrelaxed starting structure and where it came from."""

    structure: Structure
    source: str  # e.g. "perovskite:Pm-3m", "prototype:AB_hP6_154_a_b", "pyxtal:sg227"


def _rng(seed: int, chunk: int) -> np.random.Generator:
    # One independent stream per (seed, chunk): chunk k is the same whichever chunks ran before it.
    return np.random.default_rng([seed, chunk])


def _is_charge_balanced(composition: Composition) -> bool:
    from smact.screening import smact_validity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(smact_validity(composition))


def _guess_bond_length(a: str, b: str) -> float:
    """A rough A-B distance in Å from atomic radii, enough to start a relaxation near equilibrium."""
    radius = [Element(e).atomic_radius or 1.5 for e in (a, b)]
    return float(radius[0] + radius[1])


def perovskite_candidates(seed: int, chunk: int, count: int) -> list[Candidate]:
    """``count`` cubic ABX3 perovskite cells (5 atoms, Pm-3m positions), charge balanced.

    The lattice constant starts at twice the guessed B-X bond length, the
    cubic-perovskite geometry in which B sits at the centre of an X octahedron.
    """
    rng = _rng(seed, chunk)
    out: list[Candidate] = []
    while len(out) < count:
        a_el, b_el = rng.choice(PEROVSKITE_A), rng.choice(PEROVSKITE_B)
        anions = PEROVSKITE_X[rng.integers(len(PEROVSKITE_X))]
        if a_el == b_el:
            continue
        species = [a_el, b_el, *anions]
        if not _is_charge_balanced(Composition("".join(species))):
            continue
        lattice_constant = 2.0 * np.mean([_guess_bond_length(b_el, x) for x in anions])
        coords = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        structure = Structure(Lattice.cubic(lattice_constant), species, coords)
        out.append(Candidate(structure, "perovskite:Pm-3m"))
    return out


@functools.lru_cache(maxsize=1)
def _prototypes(max_atoms: int = 20) -> tuple[tuple[str, Structure], ...]:
    """Ordered AFLOW prototypes with at most ``max_atoms`` in the primitive cell (name, structure)."""
    from importlib.resources import files

    from monty.serialization import loadfn

    path = files("pymatgen.analysis.prototypes") / "aflow_prototypes.json.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = loadfn(str(path))
    keep = []
    for entry in entries:
        structure = entry["snl"].structure
        if not structure.is_ordered:
            continue
        structure = structure.get_primitive_structure()
        if len(structure) <= max_atoms and len(structure.composition.elements) <= 4:
            keep.append((entry["tags"]["aflow"], structure))
    return tuple(keep)


def _scale_to_atomic_volume(structure: Structure) -> Structure:
    """Rescale a cell so each atom has roughly the volume of a sphere of its atomic radius / packing 0.6."""
    target = sum(4 / 3 * np.pi * (site.specie.atomic_radius or 1.5) ** 3 for site in structure) / 0.6
    scaled = structure.copy()
    scaled.scale_lattice(target)
    return scaled


def substitution_candidates(seed: int, chunk: int, count: int) -> list[Candidate]:
    """``count`` prototype structures with new, charge-balanced elements substituted in.

    Each distinct element of a prototype is replaced by a different element of
    :data:`SUBSTITUTION_POOL`; the composition must pass SMACT's charge-neutrality
    and electronegativity test (alloys pass by construction), and the cell is
    rescaled to a volume estimated from atomic radii. Four in five draws must
    contain a non-metal, so that ionic compounds, not alloys, make up most of
    the set, as in MP-20.
    """
    rng = _rng(seed, chunk)
    prototypes = _prototypes()
    out: list[Candidate] = []
    while len(out) < count:
        name, prototype = prototypes[rng.integers(len(prototypes))]
        # Most of MP-20 is ionic: ask for at least one non-metal in 80% of the draws, else alloys dominate.
        want_nonmetal = rng.random() < 0.8
        old = [el.symbol for el in prototype.composition.elements]
        new = rng.choice(SUBSTITUTION_POOL, size=len(old), replace=False).tolist()
        substituted = prototype.copy()
        substituted.replace_species(dict(zip(old, new)))
        if want_nonmetal and all(el.is_metal or el.is_metalloid for el in substituted.composition.elements):
            continue
        if not _is_charge_balanced(substituted.composition):
            continue
        out.append(Candidate(_scale_to_atomic_volume(substituted), f"prototype:{name}"))
    return out


def carbon_candidates(seed: int, chunk: int, count: int, *, min_atoms: int = 6, max_atoms: int = 24) -> list[Candidate]:
    """``count`` random symmetric carbon cells of ``min_atoms``..``max_atoms`` atoms (PyXtal).

    The space group is drawn uniformly from 2-230 and the atom count from the
    even numbers in range (odd counts rarely fit a symmetric group); PyXtal
    places the atoms on Wyckoff positions that fit both, or we draw again.
    """
    from pyxtal import pyxtal

    rng = _rng(seed, chunk)
    out: list[Candidate] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 200 * count:
            raise RuntimeError("PyXtal failed to place carbon atoms in 200 tries per structure; check the atom range.")
        n_atoms = int(rng.choice(np.arange(min_atoms, max_atoms + 1, 2)))
        group = int(rng.integers(2, 231))
        crystal = pyxtal()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                crystal.from_random(3, group, ["C"], [n_atoms], factor=1.0, seed=int(rng.integers(2**31)))
        except Exception:  # PyXtal signals "this group cannot hold n atoms" with several error types
            continue
        if not crystal.valid:
            continue
        structure = crystal.to_pymatgen()
        if len(structure) != n_atoms:
            structure = structure.get_primitive_structure()
        if not min_atoms <= len(structure) <= max_atoms:
            continue
        out.append(Candidate(structure, f"pyxtal:sg{group}"))
    return out


GENERATORS = {
    "perovskites": perovskite_candidates,
    "inorganic": substitution_candidates,
    "carbon": carbon_candidates,
}
