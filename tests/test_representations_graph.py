"""Tests for crystalkit.representations.graph: the periodic multigraph."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.graph import edge_multiset, edge_vectors, radius_graph
from crystalkit.representations.invariance import assert_invariant, assert_not_invariant, change_cell, supercell


def brute_force_edges(structure, cutoff):
    """Slow reference: every pair and every image in a generous box, as sorted (i, j, n1, n2, n3, d) rows."""
    frac, matrix = structure.frac_coords, structure.lattice.matrix
    rows = []
    for i, j in itertools.product(range(len(structure)), repeat=2):
        for image in itertools.product(range(-4, 5), repeat=3):
            if i == j and image == (0, 0, 0):
                continue
            distance = np.linalg.norm((frac[j] + image - frac[i]) @ matrix)
            if distance < cutoff:
                rows.append((i, j, *image, distance))
    return sorted(rows)


@pytest.mark.parametrize("name", ["TiO2 (rutile)", "C (graphite)"])
def test_matches_a_brute_force_search_even_in_a_skewed_cell(name):
    structure = change_cell(examples.example_structures()[name], matrix=np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]]))
    structure = Structure(structure.lattice, structure.species, structure.frac_coords)
    graph = radius_graph(structure, 3.5)
    ours = sorted(
        (int(i), int(j), *map(int, n), float(d))
        for (i, j), n, d in zip(graph.edge_index.T, graph.offsets, graph.distances)
    )
    reference = brute_force_edges(structure, 3.5)
    assert [row[:5] for row in ours] == [row[:5] for row in reference]
    np.testing.assert_allclose([row[5] for row in ours], [row[5] for row in reference], atol=1e-10)


def test_shapes_and_edge_vectors():
    structure = examples.rutile()
    graph = radius_graph(structure, 4.0)
    assert graph.edge_index.shape == (2, graph.num_edges)
    assert graph.offsets.shape == (graph.num_edges, 3) and graph.offsets.dtype == np.int64
    assert graph.distances.shape == (graph.num_edges,)
    np.testing.assert_allclose(np.linalg.norm(edge_vectors(structure, graph), axis=1), graph.distances, atol=1e-10)
    assert graph.distances.max() < 4.0


def test_every_edge_has_its_reverse():
    graph = radius_graph(examples.wurtzite(), 3.5)
    forward = {(int(i), int(j), *map(int, n)) for (i, j), n in zip(graph.edge_index.T, graph.offsets)}
    backward = {(j, i, -a, -b, -c) for (i, j, a, b, c) in forward}
    assert forward == backward


def test_diamond_has_four_bonds_and_small_cells_have_self_image_edges():
    diamond = radius_graph(examples.diamond(), 1.6)
    assert np.all(diamond.degree == 4)
    np.testing.assert_allclose(diamond.distances, np.sqrt(3) / 4 * 3.567, atol=1e-10)
    perovskite = radius_graph(examples.perovskite(), 4.0)  # a = 3.905 Å < 4 Å: each atom meets its own images
    i, j = perovskite.edge_index
    assert np.any((i == j) & np.any(perovskite.offsets != 0, axis=1))


def test_edge_multiset_is_invariant_to_rotation_translation_permutation_and_cell_choice():
    lengths = lambda s: edge_multiset(radius_graph(s, 4.0))  # noqa: E731
    for structure in (examples.rutile(), examples.graphite()):
        assert_invariant(lengths, structure, ["rotation", "translation", "permutation", "cell_choice"])
        assert_not_invariant(lengths, structure, ["supercell"])  # a bigger graph ...


def test_supercell_graph_has_the_same_local_environments():
    structure = examples.wurtzite()
    small, big = radius_graph(structure, 4.0), radius_graph(supercell(structure, (2, 2, 1)), 4.0)
    assert big.num_edges == 4 * small.num_edges  # ... with the same per-atom neighbourhoods
    np.testing.assert_allclose(np.sort(np.tile(small.distances, 4)), np.sort(big.distances), atol=1e-10)


def test_raw_edge_arrays_change_when_atoms_are_relabelled():
    arrays = lambda s: radius_graph(s, 4.0).edge_index  # noqa: E731
    assert_not_invariant(arrays, examples.rutile(), ["permutation"])


@pytest.mark.parametrize("cutoff", [-1.0, 0.0, float("nan"), float("inf"), "4", None])
def test_bad_cutoff(cutoff):
    with pytest.raises(CrystalInputError, match="cutoff"):
        radius_graph(examples.rock_salt(), cutoff)


def test_bad_structures():
    with pytest.raises(CrystalInputError, match="empty"):
        radius_graph(Structure(Lattice.cubic(3.0), [], []), 3.0)
    with pytest.raises(CrystalInputError, match="disordered"):
        radius_graph(Structure(Lattice.cubic(3.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]]), 3.0)
    graph = radius_graph(examples.rock_salt(), 3.0)
    with pytest.raises(CrystalInputError, match="nodes"):
        edge_vectors(examples.perovskite(), graph)
