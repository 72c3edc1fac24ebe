"""The periodic multigraph: atoms as nodes, every neighbour within a cutoff as an edge.

This is what crystal graph networks (CGCNN, Xie & Grossman 2018; MEGNet,
Chen et al. 2019) and the denoisers of CDVAE / DiffCSP read. Three things make
it different from a molecular graph:

1. **Image offsets.** Atom ``j`` seen from atom ``i`` may sit in a
   neighbouring cell. An edge is ``i -> j`` *plus* the integer cell
   translation ``n = (n1, n2, n3)`` at which ``j`` is met::

       vector(i -> j, n) = (f_j + n - f_i) @ L        (Å)

2. **Multigraph.** The same pair ``(i, j)`` can be joined several times
   with different offsets: in a cell smaller than the cutoff an atom is even
   its own neighbour (``i == j``, ``n != 0``).

3. **Directed pairs.** Each bond appears twice, ``i -> j`` at ``n`` and
   ``j -> i`` at ``-n``, so message passing is symmetric.

Node features (atom types) and edge lengths are invariant to rotation,
translation and the cell choice; the arrays ``edge_index`` and ``offsets``
are not (relabelling atoms relabels edges; a new cell changes the offsets),
but a network that sums over edges is. A supercell gives a *bigger* graph
with the same local environments: per-atom averages are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = ["PeriodicGraph", "radius_graph", "edge_vectors", "edge_multiset"]


@dataclass(frozen=True, eq=False)
class PeriodicGraph:
    """A crystal as a periodic multigraph (see module docstring).

    Attributes:
        atomic_numbers: ``(N,)`` node types.
        edge_index: ``(2, E)`` int64; row 0 is the centre atom ``i``, row 1 the neighbour ``j``.
        offsets: ``(E, 3)`` int64 cell translation of ``j`` (in units of the lattice vectors).
        distances: ``(E,)`` edge lengths in Å.
        cutoff: the radius in Å used to build it.
    """

    atomic_numbers: np.ndarray  # (N,)
    edge_index: np.ndarray  # (2, E)
    offsets: np.ndarray  # (E, 3)
    distances: np.ndarray  # (E,)
    cutoff: float

    @property
    def num_nodes(self) -> int:
        return int(self.atomic_numbers.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def degree(self) -> np.ndarray:
        """``(N,)`` number of edges leaving each atom (its coordination number within the cutoff)."""
        return np.bincount(self.edge_index[0], minlength=self.num_nodes)


def radius_graph(structure: Structure, cutoff: float) -> PeriodicGraph:
    """All directed edges ``i -> j`` (with image offsets) shorter than ``cutoff`` Å.

    Uses pymatgen's cell-list neighbour search (``Structure.get_neighbor_list``),
    which visits every periodic image that can lie within the cutoff, so it is
    correct for skewed cells too. Edges are sorted by (i, j, offset) so the
    output does not depend on the search order.

    Args:
        structure: an ordered crystal.
        cutoff: neighbour radius in Å, > 0. Typical: 4-6 Å for message passing,
            about 1.2 x the bond length to get a "bond graph".

    Raises:
        CrystalInputError: a cutoff that is not a positive finite number, or a bad structure.
    """
    check_structure(structure)
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, np.integer, np.floating)):
        raise CrystalInputError(f"The cutoff must be a number of Å, got {type(cutoff).__name__}.")
    cutoff = float(cutoff)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise CrystalInputError(f"The cutoff must be a positive distance in Å, got {cutoff}.")
    centres, neighbours, images, distances = structure.get_neighbor_list(r=cutoff)
    images = np.rint(images).astype(np.int64).reshape(-1, 3)  # (E, 3)
    order = np.lexsort((images[:, 2], images[:, 1], images[:, 0], neighbours, centres))
    edge_index = np.stack([centres[order], neighbours[order]]).astype(np.int64)  # (2, E)
    return PeriodicGraph(
        atomic_numbers=np.array([site.specie.Z for site in structure], dtype=np.int64),
        edge_index=edge_index,
        offsets=images[order],
        distances=np.asarray(distances, dtype=float)[order],
        cutoff=cutoff,
    )


def edge_vectors(structure: Structure, graph: PeriodicGraph) -> np.ndarray:
    """``(E, 3)`` Cartesian vectors (Å) from atom ``i`` to the image of atom ``j`` for every edge.

    Equivariant models use these vectors; their norms are ``graph.distances``.
    """
    if len(structure) != graph.num_nodes:
        raise CrystalInputError(
            f"The graph has {graph.num_nodes} nodes but the structure {len(structure)} atoms: "
            "build the graph from this structure."
        )
    frac = structure.frac_coords  # (N, 3)
    i, j = graph.edge_index
    return (frac[j] + graph.offsets - frac[i]) @ structure.lattice.matrix  # (E, 3)


def edge_multiset(graph: PeriodicGraph) -> np.ndarray:
    """``(E, 3)`` rows ``(Z_i, Z_j, distance)`` in sorted order: the graph with atom labels forgotten.

    Two graphs that differ only by relabelling the atoms, moving the origin,
    rotating or changing the cell give the same rows (up to float round-off).
    """
    i, j = graph.edge_index
    rows = np.stack(
        [graph.atomic_numbers[i].astype(float), graph.atomic_numbers[j].astype(float), graph.distances], axis=1
    )  # (E, 3)
    order = np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))
    return rows[order]
