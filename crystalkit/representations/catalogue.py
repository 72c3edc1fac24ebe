"""The representations of notebook 01, side by side, ready for :func:`summary_table`.

Each entry says how to encode a crystal, how to decode it (if possible) and
what "the same output" means. Settings are arguments, so a learner can ask
how the table changes with, say, a smaller graph cutoff or a coarser grid.
"""

from __future__ import annotations

from functools import partial

from pymatgen.core import Structure

from crystalkit.representations.cell import canonical_cell
from crystalkit.representations.coordinates import from_arrays, to_arrays
from crystalkit.representations.fingerprint import rdf_fingerprint
from crystalkit.representations.graph import edge_multiset, radius_graph
from crystalkit.representations.invariance import Representation
from crystalkit.representations.symmetry import from_wyckoff, to_wyckoff
from crystalkit.representations.tokens import CrystalTokenizer
from crystalkit.representations.voxels import structure_from_voxels, voxel_grid
from crystalkit.structures import structure_from_cif, structure_to_cif

__all__ = ["standard_representations"]


def standard_representations(
    *, cutoff: float = 4.0, grid_size: int = 24, sigma: float = 0.4, symprec: float = 0.01
) -> list[Representation]:
    """The kit's representations, from raw arrays to invariant fingerprints.

    Args:
        cutoff: graph radius in Å.
        grid_size: voxel grid points per cell axis.
        sigma: voxel Gaussian width in Å.
        symprec: symmetry tolerance in Å for the Wyckoff form.
    """
    tokenizer = CrystalTokenizer()
    return [
        Representation("CIF text (P1)", structure_to_cif, structure_from_cif),
        Representation("lattice matrix + Cartesian", partial(to_arrays, coords="cartesian"), from_arrays),
        Representation("lattice matrix + fractional", to_arrays, from_arrays),
        Representation("lengths/angles + fractional", partial(to_arrays, lattice="parameters"), from_arrays),
        Representation("canonical cell (primitive, Niggli)", _canonical_arrays, from_arrays),
        Representation("graph (edge multiset)", partial(_graph_edges, cutoff=cutoff)),
        Representation("Wyckoff (space group + sites)", partial(to_wyckoff, symprec=symprec), from_wyckoff),
        Representation("text tokens", tokenizer.encode, tokenizer.decode),
        Representation("RDF fingerprint", rdf_fingerprint),
        Representation(
            "voxel grid", partial(voxel_grid, grid_size=grid_size, sigma=sigma), structure_from_voxels
        ),
    ]


def _canonical_arrays(structure: Structure):
    return to_arrays(canonical_cell(structure), lattice="parameters")


def _graph_edges(structure: Structure, cutoff: float):
    return edge_multiset(radius_graph(structure, cutoff))
