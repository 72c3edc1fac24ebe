"""Ways to write a crystal down, and what each of them forgets (notebook 01).

A generative model never sees "a crystal": it sees one *description* of it.
Each module here is one description, with an encoder, a decoder where one
exists, and tests of which changes of description it ignores:

=================  =============================================  ===========
module             representation                                 recoverable
=================  =============================================  ===========
``cell``           lattice matrix / lengths & angles, Niggli,     yes
                   LLL, canonical cell
``coordinates``    atom types + lattice + fractional or           yes
                   Cartesian coordinates (plain arrays)
``graph``          periodic multigraph with image offsets         no
``symmetry``       space group + Wyckoff positions                yes
``tokens``         text tokens for language models                to rounding
``fingerprint``    fixed-length invariant RDF vector              no
``voxels``         per-element Gaussian density on a grid         to the grid
=================  =============================================  ===========

``invariance`` holds the five transformations that change the description
but not the crystal (rotation, translation, permutation, supercell, cell
choice), :func:`invariance_table`, :func:`recoverable` and one-line test
helpers; ``catalogue`` lists the representations side by side, and
``examples`` builds textbook crystals (rock salt, perovskite, diamond, ...).

All arrays are numpy; lattices are ``(3, 3)`` with rows a, b, c in Å, angles
in degrees. (The torch versions for models live in :mod:`crystalkit.geometry`.)
"""

from crystalkit.representations import examples
from crystalkit.representations.catalogue import standard_representations
from crystalkit.representations.cell import (
    canonical_cell,
    cell_parameters,
    lattice_from_parameters,
    lattice_to_parameters,
    lll_reduce,
    niggli_reduce,
    orthogonality_defect,
)
from crystalkit.representations.coordinates import CoordinateArrays, from_arrays, to_arrays
from crystalkit.representations.examples import example_structures
from crystalkit.representations.fingerprint import fingerprint_distance, fingerprint_radii, rdf_fingerprint
from crystalkit.representations.graph import PeriodicGraph, edge_multiset, edge_vectors, radius_graph
from crystalkit.representations.invariance import (
    TRANSFORMATIONS,
    RecoveryReport,
    Representation,
    assert_invariant,
    assert_not_invariant,
    change_cell,
    difference,
    invariance_table,
    permute,
    random_unimodular,
    recoverable,
    rotate,
    summary_table,
    supercell,
    transform,
    translate,
)
from crystalkit.representations.symmetry import (
    WyckoffRepresentation,
    WyckoffSite,
    from_wyckoff,
    space_group,
    to_wyckoff,
)
from crystalkit.representations.tokens import CrystalTokenizer
from crystalkit.representations.voxels import VoxelGrid, structure_from_voxels, voxel_grid

__all__ = [
    # cell
    "lattice_to_parameters",
    "lattice_from_parameters",
    "cell_parameters",
    "orthogonality_defect",
    "niggli_reduce",
    "lll_reduce",
    "canonical_cell",
    # coordinates
    "CoordinateArrays",
    "to_arrays",
    "from_arrays",
    # graph
    "PeriodicGraph",
    "radius_graph",
    "edge_vectors",
    "edge_multiset",
    # symmetry
    "space_group",
    "WyckoffSite",
    "WyckoffRepresentation",
    "to_wyckoff",
    "from_wyckoff",
    # tokens, fingerprint, voxels
    "CrystalTokenizer",
    "rdf_fingerprint",
    "fingerprint_radii",
    "fingerprint_distance",
    "VoxelGrid",
    "voxel_grid",
    "structure_from_voxels",
    # invariance
    "TRANSFORMATIONS",
    "rotate",
    "translate",
    "permute",
    "supercell",
    "change_cell",
    "random_unimodular",
    "transform",
    "difference",
    "invariance_table",
    "assert_invariant",
    "assert_not_invariant",
    "RecoveryReport",
    "recoverable",
    "Representation",
    "summary_table",
    "standard_representations",
    # examples
    "examples",
    "example_structures",
]
