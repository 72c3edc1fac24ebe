"""Disordered crystals: partial occupancy, ordered approximants and special quasirandom structures.

Many real crystals are *solid solutions*: in Cu-Au alloy quenched from high
temperature, or in (Ba,Sr)TiO3, one crystallographic site is held at random
by one of several elements. A CIF says so with an occupancy below 1
(``Cu 0.5`` and ``Au 0.5`` on the same position), and pymatgen reads it as a
site whose species is a *mixture*. A generative model of the kind this course
builds cannot do that: each of its atoms has one element. The kit's loaders
therefore refuse partial occupancy (:func:`crystalkit.structures.check_structure`)
and send you here.

Three ways to turn a disordered crystal into ordered cells a model (or a
potential such as CHGNet) can use:

* :func:`read_disordered_cif`: read the CIF *as disordered* and list its
  mixed sites, so you see what has to be decided;
* :func:`ordered_approximants`: every symmetry-distinct ordering in every
  supercell up to a given size (the idea of Hart & Forcade 2008). Each
  supercell is ordered with pymatgen's ``OrderDisorderedStructureTransformation``,
  then equivalent results are merged. The number of orderings grows
  combinatorially with the cell, so the function counts them first and
  refuses above a cap (:data:`MAX_ORDERINGS`);
* :func:`special_quasirandom_structure`: one cell whose atom arrangement
  mimics the *random* alloy as closely as its size allows (Zunger et al.
  1990), found by simulated annealing in icet (Ångqvist et al. 2019). The
  yardstick is the set of *correlation functions* (the cluster vector): the
  average, over all pairs (triplets, ...) of sites at a given distance, of a
  product of site variables. In a random alloy sites are independent, so each
  correlation is a product of single-site averages (:func:`random_alloy_correlations`);
  :func:`correlation_table` puts an SQS and a random occupation of the same
  cell beside that target.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Composition, Element, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from icet import ClusterSpace

__all__ = [
    "EXAMPLE_CIFS",
    "MAX_ORDERINGS",
    "DisorderedSite",
    "DisorderedCrystal",
    "read_disordered_cif",
    "disordered_sites",
    "supercell_matrices",
    "count_orderings",
    "ordered_approximants",
    "approximant_table",
    "integer_formula",
    "cluster_space",
    "sublattice_concentrations",
    "special_quasirandom_structure",
    "random_occupation",
    "random_alloy_correlations",
    "correlation_table",
    "correlation_distance",
    "correlation_figure",
]

#: Most orderings :func:`ordered_approximants` will try (summed over all supercells). Each is one
#: structure in memory and every pair of them may be compared when merging equivalent ones; a few
#: thousand take seconds, and one size more can multiply the count by tens to thousands.
MAX_ORDERINGS = 5_000

# Two small disordered crystals, written for the kit (not taken from a database). Lattice
# parameters are rough Vegard's-law interpolations of the end members (Cu 3.615 Å, Au 4.078 Å;
# SrTiO3 3.905 Å, BaTiO3 ~4.00 Å), good enough to teach with, not measured values.
_CUAU_CIF = """\
data_CuAu_disordered
_chemical_formula_sum 'Cu0.5 Au0.5'
_cell_length_a 3.85
_cell_length_b 3.85
_cell_length_c 3.85
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'F m -3 m'
_space_group_IT_number 225
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Cu1 Cu 0 0 0 0.5
Au1 Au 0 0 0 0.5
"""

_BSTO_CIF = """\
data_Ba0.5Sr0.5TiO3_disordered
_chemical_formula_sum 'Ba0.5 Sr0.5 Ti1 O3'
_cell_length_a 3.95
_cell_length_b 3.95
_cell_length_c 3.95
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'P m -3 m'
_space_group_IT_number 221
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Ba1 Ba 0 0 0 0.5
Sr1 Sr 0 0 0 0.5
Ti1 Ti 0.5 0.5 0.5 1.0
O1 O 0.5 0.5 0 1.0
"""

#: The kit's disordered example CIFs (text), by name: an fcc Cu-Au solid solution and a (Ba,Sr)TiO3 perovskite.
EXAMPLE_CIFS: dict[str, str] = {"CuAu": _CUAU_CIF, "BaSrTiO3": _BSTO_CIF}


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class DisorderedSite:
    """One partially occupied site: where it is and what may sit there.

    Attributes:
        index: the site's index in the structure.
        frac_coords: fractional coordinates.
        occupancy: element symbol -> fraction of the site it holds.
        vacancy: the fraction left empty (1 - sum of the occupancies; 0 when fully occupied).
    """

    index: int
    frac_coords: tuple[float, float, float]
    occupancy: dict[str, float]
    vacancy: float


@dataclass(frozen=True)
class DisorderedCrystal:
    """A crystal read with its partial occupancies, and the list of its mixed sites."""

    structure: Structure
    sites: tuple[DisorderedSite, ...]

    @property
    def is_ordered(self) -> bool:
        return not self.sites

    def table(self) -> pd.DataFrame:
        """One row per disordered site: index, position, occupancies, vacant fraction."""
        import pandas as pd

        return pd.DataFrame([
            {"site": s.index, "frac_coords": s.frac_coords,
             "occupancy": ", ".join(f"{el} {x:g}" for el, x in s.occupancy.items()), "vacant": round(s.vacancy, 6)}
            for s in self.sites
        ])


def read_disordered_cif(cif_text: str, *, primitive: bool = True) -> DisorderedCrystal:
    """Read a CIF that may have partially occupied sites, and report them.

    Args:
        cif_text: the contents of a CIF file (one structure).
        primitive: reduce to the primitive cell (the fcc CIF's 4 sites become 1).

    Raises:
        CrystalInputError: not a readable CIF, or occupancies of a site above 1.
    """
    from crystalkit.structures import structure_from_cif

    structure = structure_from_cif(cif_text, check=False)  # unreadable text raises CrystalInputError here
    if primitive:
        structure = structure.get_primitive_structure()
    check_structure(structure, require_ordered=False)
    return DisorderedCrystal(structure, tuple(disordered_sites(structure)))


def disordered_sites(structure: Structure) -> list[DisorderedSite]:
    """The partially occupied (or mixed) sites of ``structure``; empty for an ordered crystal."""
    sites = []
    for index, site in enumerate(structure):
        occupancy = {str(getattr(sp, "symbol", sp)): float(x) for sp, x in site.species.items()}
        total = sum(occupancy.values())  # pymatgen itself refuses a site filled above 1
        if len(occupancy) > 1 or total < 1 - 1e-6:
            sites.append(DisorderedSite(index, tuple(round(float(c), 6) for c in site.frac_coords), occupancy,
                                        max(0.0, 1.0 - total)))
    return sites


# ----------------------------------------------------------------------------- enumeration
def supercell_matrices(n: int) -> list[np.ndarray]:
    """Every supercell of ``n`` times the volume, once each: the Hermite normal forms of determinant ``n``.

    Two integer matrices give the same superlattice when one is the other
    times a unimodular matrix; the Hermite normal form picks one from each
    class (Hart & Forcade 2008). In the paper's column convention it is lower
    triangular, ``[[a, 0, 0], [b, c, 0], [d, e, f]]`` with ``a c f = n``,
    ``0 <= b < c`` and ``0 <= d, e < f``; we return its transpose, whose rows
    are the new lattice vectors in units of the old (pymatgen's
    ``make_supercell`` convention). There are 1, 7, 13, 35, 31 of them for
    n = 1 ... 5 (OEIS A001001). Many are related by a rotation of the parent
    lattice; :func:`ordered_approximants` merges the orderings they give.
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise CrystalInputError(f"The supercell size n must be a positive integer, got {n!r}.")
    matrices = []
    for a in range(1, n + 1):
        if n % a:
            continue
        for c in range(1, n // a + 1):
            if (n // a) % c:
                continue
            f = n // (a * c)
            for b in range(c):
                for d in range(f):
                    for e in range(f):
                        matrices.append(np.array([[a, 0, 0], [b, c, 0], [d, e, f]]).T)  # (3, 3)
    return matrices


def _sizes_that_fit(structure: Structure, max_cell_size: int) -> list[int]:
    """Supercell sizes n <= max_cell_size in which every occupancy times n is a whole number of atoms."""
    sizes = []
    for n in range(1, max_cell_size + 1):
        fractions = [x * n for site in structure for x in site.species.values()]
        if all(abs(f - round(f)) < 1e-6 for f in fractions):
            sizes.append(n)
    return sizes


def count_orderings(structure: Structure, max_cell_size: int) -> int:
    """How many orderings :func:`ordered_approximants` would try: sum over supercells of the ways to fill them.

    For a supercell of size n, a site with occupancies x_1, x_2, ... (and the
    vacant fraction) becomes n sites filled by the multinomial
    ``n! / prod (n x_i)!`` ways; the counts of different sites multiply.
    """
    total = 0
    for n in _sizes_that_fit(structure, max_cell_size):
        ways = 1
        for site in structure:
            fractions = list(site.species.values())
            counts = [round(x * n) for x in fractions] + [n - sum(round(x * n) for x in fractions)]
            ways *= math.factorial(n) // math.prod(math.factorial(c) for c in counts)
        total += ways * len(supercell_matrices(n))
    return total


def ordered_approximants(
    structure: Structure, max_cell_size: int = 2, *, max_orderings: int = MAX_ORDERINGS, progress: bool = True,
) -> list[Structure]:
    """Every symmetry-distinct ordering of a disordered crystal in supercells of up to ``max_cell_size`` cells.

    Each supercell (:func:`supercell_matrices`) is filled in every way that
    keeps the composition by pymatgen's ``OrderDisorderedStructureTransformation``;
    orderings that are the same crystal (any rotation, translation or choice
    of cell) are merged with a ``StructureMatcher``. Each result carries
    ``properties``: ``cell_size`` (formula units of the parent cell), ``count``
    (how many of the tried orderings it stands for, a measure of how likely a
    random filling lands on it) and ``spacegroup``.

    Args:
        structure: a disordered crystal, ideally its primitive cell.
        max_cell_size: largest supercell, in multiples of ``structure``'s cell.
        max_orderings: refuse when more orderings than this would be tried.
        progress: a progress bar over the supercells.

    Returns:
        The distinct ordered crystals, smallest cell first, then highest symmetry first.

    Raises:
        CrystalInputError: the crystal is ordered, no supercell up to ``max_cell_size`` can hold its
            occupancies in whole atoms, or the count exceeds ``max_orderings``.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation
    from tqdm.auto import tqdm

    check_structure(structure, require_ordered=False)
    if structure.is_ordered:
        raise CrystalInputError("The structure is already ordered: there is nothing to enumerate.")
    if not isinstance(max_cell_size, int) or max_cell_size < 1:
        raise CrystalInputError(f"max_cell_size must be a positive integer, got {max_cell_size!r}.")
    sizes = _sizes_that_fit(structure, max_cell_size)
    if not sizes:
        raise CrystalInputError(
            f"No supercell of up to {max_cell_size} cells holds the occupancies of "
            f"{structure.composition.formula} in whole atoms: raise max_cell_size (an occupancy of 1/3 needs 3)."
        )
    total = count_orderings(structure, max_cell_size)
    if total > max_orderings:
        raise CrystalInputError(
            f"Enumerating supercells of up to {max_cell_size} cells means trying {total:,} orderings, more than "
            f"the cap of {max_orderings:,}: their number grows combinatorially with the cell. Lower max_cell_size, "
            "or use special_quasirandom_structure() for a single cell that mimics the random alloy."
        )
    charged = structure.copy()
    charged.add_oxidation_state_by_element({el.symbol: 0 for el in structure.composition.elements})
    transformation = OrderDisorderedStructureTransformation(algo=OrderDisorderedStructureTransformation.ALGO_FAST)
    tried: list[Structure] = []
    jobs = [(n, m) for n in sizes for m in supercell_matrices(n)]
    for n, matrix in tqdm(jobs, desc="supercells", disable=not progress, leave=False):
        cell = charged.copy()
        cell.make_supercell(matrix)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # All charges are zero, so every filling has the same Ewald energy and none is dropped.
            ranked = transformation.apply_transformation(cell, return_ranked_list=max_orderings + 1)
        for entry in ranked:
            ordered = entry["structure"]
            ordered.remove_oxidation_states()
            ordered.properties["cell_size"] = n
            tried.append(ordered)
    groups = StructureMatcher().group_structures(tried)
    distinct = []
    for group in groups:
        best = min(group, key=len).copy()  # the smallest cell that shows this ordering
        best.properties.update(cell_size=min(s.properties["cell_size"] for s in group), count=len(group),
                               spacegroup=_spacegroup(best))
        distinct.append(best)
    return sorted(distinct, key=lambda s: (s.properties["cell_size"], -s.properties["spacegroup"][1]))


def _spacegroup(structure: Structure) -> tuple[str, int]:
    try:
        return structure.get_space_group_info(symprec=0.01)
    except Exception:  # spglib can give up on odd cells; say so rather than fail the enumeration
        return ("?", 0)


def approximant_table(approximants: Sequence[Structure]) -> pd.DataFrame:
    """One row per ordered approximant: formula, atoms, cell size, space group and how many orderings it stands for."""
    import pandas as pd

    return pd.DataFrame([
        {"formula": s.composition.formula.replace(" ", ""), "atoms": len(s), "cell_size": s.properties.get("cell_size"),
         "spacegroup": s.properties.get("spacegroup", ("?", 0))[0], "number": s.properties.get("spacegroup", ("?", 0))[1],
         "count": s.properties.get("count")}
        for s in approximants
    ])


def integer_formula(structure: Structure | Composition | str, max_cell_size: int = 8) -> tuple[str, int]:
    """The smallest whole-atom formula of a (disordered) composition and how many cells it takes.

    ``Ba0.5Sr0.5TiO3`` -> ``("BaSrTi2O6", 2)``: a generator that places whole
    atoms needs at least two perovskite cells for this composition.

    Raises:
        CrystalInputError: no multiple up to ``max_cell_size`` gives whole atoms.
    """
    composition = structure.composition if isinstance(structure, Structure) else Composition(structure)
    for n in range(1, max_cell_size + 1):
        scaled = composition * n
        if all(abs(x - round(x)) < 1e-6 for x in scaled.values()):
            whole = Composition({el: round(x) for el, x in scaled.items()})
            return whole.formula.replace(" ", ""), n
    raise CrystalInputError(
        f"{composition.formula} needs more than {max_cell_size} cells to hold whole atoms; raise max_cell_size."
    )


# ----------------------------------------------------------------------------- SQS and correlations
def _to_icet_primitive(structure: Structure):
    """ase Atoms of the disordered cell (one representative element per site) and the allowed elements per site."""
    from pymatgen.io.ase import AseAtomsAdaptor

    check_structure(structure, require_ordered=False)
    allowed = []
    for index, site in enumerate(structure):
        occupancy = {str(sp.symbol if hasattr(sp, "symbol") else sp): x for sp, x in site.species.items()}
        if abs(sum(occupancy.values()) - 1) > 1e-6:
            raise CrystalInputError(
                f"Site {index} is partly vacant ({sum(occupancy.values()):.3f} occupied): the SQS here handles "
                "mixtures of elements only. Use ordered_approximants(), which places vacancies too."
            )
        allowed.append(sorted(occupancy))
    representative = Structure(structure.lattice, [symbols[0] for symbols in allowed], structure.frac_coords)
    return AseAtomsAdaptor.get_atoms(representative), allowed


def cluster_space(structure: Structure, cutoffs: Sequence[float] = (7.0, 5.0)) -> ClusterSpace:
    """The icet cluster space of a disordered crystal: which pairs, triplets, ... of sites are counted.

    Args:
        structure: the disordered (primitive) crystal; its mixed sites are the active sublattice.
        cutoffs: longest pair, triplet, ... distance in Å (icet's ``cutoffs``).
    """
    from icet import ClusterSpace

    atoms, allowed = _to_icet_primitive(structure)
    if not any(len(symbols) > 1 for symbols in allowed):
        raise CrystalInputError("The structure has no mixed site: a cluster space needs a disordered crystal.")
    return ClusterSpace(atoms, cutoffs=list(cutoffs), chemical_symbols=allowed)


def sublattice_concentrations(space: ClusterSpace, structure: Structure) -> dict[str, dict[str, float]]:
    """icet's target concentrations, ``{sublattice letter: {element: fraction of that sublattice}}``, from the occupancies."""
    concentrations = {}
    for sublattice in space.get_sublattices(space.primitive_structure):
        if len(sublattice.chemical_symbols) < 2:
            continue
        site = structure[int(sublattice.indices[0])]
        concentrations[sublattice.symbol] = {str(sp.symbol): float(x) for sp, x in site.species.items()}
    return concentrations


def special_quasirandom_structure(
    structure: Structure, max_size: int = 8, *, cutoffs: Sequence[float] = (7.0, 5.0), n_steps: int = 3000,
    seed: int = 0,
) -> Structure:
    """A special quasirandom structure (SQS): the cell of up to ``max_size`` cells whose correlations best match the random alloy.

    icet's ``generate_sqs`` anneals over the fillings of every supercell up to
    ``max_size`` (Zunger et al. 1990; Ångqvist et al. 2019).

    Args:
        structure: a disordered crystal without vacancies.
        max_size: largest supercell, in multiples of ``structure``'s cell.
        cutoffs: the cluster space's pair, triplet, ... cut-offs in Å.
        n_steps: annealing steps (more: closer to the best cell, slower).
        seed: the annealing's random seed.
    """
    from icet.tools.structure_generation import generate_sqs
    from pymatgen.io.ase import AseAtomsAdaptor

    space = cluster_space(structure, cutoffs)
    if not isinstance(max_size, int) or max_size < 1:
        raise CrystalInputError(f"max_size must be a positive integer, got {max_size!r}.")
    atoms = generate_sqs(space, max_size=max_size, target_concentrations=sublattice_concentrations(space, structure),
                         n_steps=n_steps, random_seed=seed)
    return AseAtomsAdaptor.get_structure(atoms)


def random_occupation(like: Structure, structure: Structure, *, cutoffs: Sequence[float] = (7.0, 5.0),
                      seed: int = 0, space: ClusterSpace | None = None) -> Structure:
    """The cell of ``like`` (e.g. an SQS) filled at random with the composition of the disordered ``structure``.

    Pass ``space`` (from :func:`cluster_space`) to reuse it across many fillings; building one takes a moment.
    """
    from icet.tools.structure_generation import occupy_structure_randomly
    from pymatgen.io.ase import AseAtomsAdaptor

    space = cluster_space(structure, cutoffs) if space is None else space
    atoms = AseAtomsAdaptor.get_atoms(like)
    occupy_structure_randomly(atoms, space, sublattice_concentrations(space, structure), random_seed=seed)
    return AseAtomsAdaptor.get_structure(atoms)


def random_alloy_correlations(space: ClusterSpace, concentrations: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """The cluster vector of the infinite random alloy: for each orbit, the product of its sites' average site functions.

    In a random alloy the elements on different sites are independent, so the
    average of a product of site functions is the product of the averages:
    ``<Theta_1 Theta_2 ...> = <Theta_1> <Theta_2> ...``, where ``<Theta>`` on
    a sublattice is ``sum_s x_s Theta(s)`` over its elements ``s`` with
    fractions ``x_s``. For a 50:50 binary ``<Theta> = 0``, so every pair,
    triplet, ... correlation of the random alloy is zero.

    Args:
        space: the icet cluster space.
        concentrations: ``{sublattice letter: {element: fraction}}`` (:func:`sublattice_concentrations`).
    """
    symbols = {sl.symbol: sorted(sl.chemical_symbols, key=lambda s: Element(s).Z)
               for sl in space.get_sublattices(space.primitive_structure)}
    vector = [1.0]  # the empty cluster
    for orbit in space.as_list:
        if orbit["order"] < 1:
            continue
        value = 1.0
        for letter, component in zip(orbit["sublattices"], orbit["multicomponent_vector"], strict=True):
            allowed = symbols[letter]  # icet numbers species by atomic number
            mean = sum(concentrations[letter][symbol] * space.evaluate_cluster_function(len(allowed), component, i)
                       for i, symbol in enumerate(allowed))
            value *= mean
        vector.append(value)
    return np.array(vector)


def correlation_table(space: ClusterSpace, structures: Mapping[str, Structure],
                      concentrations: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """One row per orbit (order, radius in Å, multiplicity), one column per structure, and the random-alloy target."""
    import pandas as pd
    from pymatgen.io.ase import AseAtomsAdaptor

    orbits = [o for o in space.as_list]
    table = pd.DataFrame({
        "order": [o["order"] for o in orbits],
        "radius": [round(float(o["radius"]), 3) for o in orbits],
        "multiplicity": [o["multiplicity"] for o in orbits],
    })
    table["orbit"] = [_orbit_name(o) for o in orbits]
    table["random alloy"] = random_alloy_correlations(space, concentrations)
    for name, structure in structures.items():
        table[name] = space.get_cluster_vector(AseAtomsAdaptor.get_atoms(structure))
    return table


def _orbit_name(orbit: dict) -> str:
    names = {0: "empty", 1: "point", 2: "pair", 3: "triplet", 4: "quadruplet"}
    name = names.get(orbit["order"], f"{orbit['order']}-body")
    return name if orbit["order"] < 2 else f"{name} r={float(orbit['radius']):.2f} Å"


def correlation_distance(table: pd.DataFrame, column: str) -> float:
    """Root-mean-square difference from the random alloy over pairs and larger clusters (points match by composition)."""
    if column not in table:
        raise CrystalInputError(f"No column {column!r} in the table; it has {list(table.columns)}.")
    rows = table[table["order"] >= 2]
    return float(np.sqrt(((rows[column] - rows["random alloy"]) ** 2).mean()))


def correlation_figure(table: pd.DataFrame, columns: Sequence[str] | None = None, *, height: int = 380) -> go.Figure:
    """Correlation functions of each structure beside the random alloy's (a line), one group of bars per orbit."""
    import plotly.graph_objects as go

    rows = table[table["order"] >= 2]
    columns = [c for c in table.columns if c not in {"order", "radius", "multiplicity", "orbit", "random alloy"}] \
        if columns is None else list(columns)
    figure = go.Figure([go.Bar(x=rows["orbit"], y=rows[c], name=f"{c} (RMS off {correlation_distance(table, c):.3f})")
                        for c in columns])
    figure.add_scatter(x=rows["orbit"], y=rows["random alloy"], mode="lines+markers", name="random alloy (target)",
                       line=dict(color="black", dash="dash"))
    figure.update_layout(barmode="group", height=height, yaxis_title="correlation function",
                         title="Correlation functions: who mimics the random alloy?", legend=dict(orientation="h", y=-0.3))
    return figure

