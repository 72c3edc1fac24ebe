"""Tests for crystalkit.representations.fingerprint: the invariant RDF fingerprint."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.representations import examples
from crystalkit.representations.fingerprint import fingerprint_distance, fingerprint_radii, rdf_fingerprint
from crystalkit.representations.invariance import TRANSFORMATIONS, assert_invariant


@pytest.mark.parametrize("name", ["TiO2 (rutile)", "C (graphite)", "SrTiO3 (perovskite)"])
def test_invariant_to_rotation_translation_permutation_supercell_and_cell_choice(name):
    assert_invariant(rdf_fingerprint, examples.example_structures()[name], TRANSFORMATIONS, tol=1e-8)


def test_matches_a_slow_reference():
    structure = examples.wurtzite()
    r_max, n_bins, sigma = 4.0, 20, 0.2
    radii = fingerprint_radii(r_max, n_bins)
    frac, matrix, n = structure.frac_coords, structure.lattice.matrix, len(structure)
    numbers = np.array([s.specie.Z for s in structure]) / 100
    expected = np.zeros(n_bins)
    for i, j in itertools.product(range(n), repeat=2):
        for image in itertools.product(range(-4, 5), repeat=3):
            d = np.linalg.norm((frac[j] + image - frac[i]) @ matrix)
            if 1e-8 < d < r_max + 6 * sigma:
                gaussian = np.exp(-0.5 * ((radii - d) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
                expected += numbers[i] * numbers[j] * gaussian
    expected /= n * 4 * np.pi * radii**2 * (n / structure.volume)
    ours = rdf_fingerprint(structure, r_max=r_max, n_bins=n_bins, sigma=sigma, properties=["atomic_number"])
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_fixed_length_and_channels():
    for structure in examples.example_structures().values():
        assert rdf_fingerprint(structure, n_bins=50).shape == (150,)
    assert rdf_fingerprint(examples.diamond(), properties=["count"]).shape == (60,)


def test_tells_different_crystals_apart_and_chemistry_enters_through_the_weights():
    diamond, graphite = rdf_fingerprint(examples.diamond()), rdf_fingerprint(examples.graphite())
    assert fingerprint_distance(diamond, graphite) > 1.0
    rock_salt = examples.rock_salt()
    same_places = Structure(rock_salt.lattice, ["Na"] * len(rock_salt), rock_salt.frac_coords)
    count = lambda s: rdf_fingerprint(s, properties=["count"])  # noqa: E731
    atomic = lambda s: rdf_fingerprint(s, properties=["atomic_number"])  # noqa: E731
    assert fingerprint_distance(count(rock_salt), count(same_places)) < 1e-10  # positions alone: identical
    assert fingerprint_distance(atomic(rock_salt), atomic(same_places)) > 0.01  # chemistry: different


def test_unweighted_rdf_tends_to_one():
    structure = examples.rock_salt()
    g = rdf_fingerprint(structure, r_max=16.0, n_bins=160, sigma=0.6, properties=["count"])
    assert abs(g[-40:].mean() - 1.0) < 0.1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"r_max": -1.0}, "r_max"),
        ({"n_bins": 0}, "n_bins"),
        ({"sigma": 0.0}, "sigma"),
        ({"properties": ["mass"]}, "Unknown"),
        ({"properties": []}, "Unknown or no"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(CrystalInputError, match=message):
        rdf_fingerprint(examples.rock_salt(), **kwargs)


def test_bad_structures_and_mismatched_fingerprints():
    with pytest.raises(CrystalInputError, match="empty"):
        rdf_fingerprint(Structure(Lattice.cubic(3.0), [], []))
    with pytest.raises(CrystalInputError, match="disordered"):
        rdf_fingerprint(Structure(Lattice.cubic(3.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]]))
    with pytest.raises(CrystalInputError, match="same settings"):
        fingerprint_distance(np.zeros(10), np.zeros(12))
