"""CrystalNN and magpie fingerprints: shapes, the CDVAE scaling, caching, parallel equality."""

from __future__ import annotations

import numpy as np
import pytest

from crystalkit.metrics import composition_fingerprint, featurize, scale_composition_fingerprints, structure_fingerprint
from crystalkit.metrics._cdvae_constants import CDVAE_COMPOSITION_MEANS, CDVAE_COMPOSITION_STDS
from crystalkit.metrics.examples import cubic_perovskite, diamond, rattle, with_overlap
from crystalkit.metrics.fingerprints import _site_featurizer, content_key


def test_structure_fingerprint_is_the_mean_of_site_fingerprints():
    structure = rattle(cubic_perovskite(), 0.05, seed=0)
    featurizer = _site_featurizer()
    expected = np.mean([featurizer.featurize(structure, i) for i in range(len(structure))], axis=0)
    value = structure_fingerprint(structure, use_cache=False)
    assert value.shape == (61,) and np.array_equal(value, expected)


def test_fingerprint_is_invariant_to_site_order_and_cached():
    a = diamond()
    b = a.copy()
    b.reverse()
    assert np.allclose(structure_fingerprint(a), structure_fingerprint(b))
    assert structure_fingerprint(a) is structure_fingerprint(a.copy())  # same content: served from the cache
    assert content_key(a) != content_key(b)  # a cache key, not a symmetry test


def test_composition_fingerprint_shape_and_missing_data():
    assert composition_fingerprint("SrTiO3").shape == (132,)
    assert np.isnan(composition_fingerprint("HeNe")).any()  # noble gases lack some magpie data
    assert not np.isnan(scale_composition_fingerprints([composition_fingerprint("HeNe")])).any()


def test_scaling_uses_the_cdvae_constants():
    z = np.linspace(-2, 2, 132)
    raw = np.asarray(CDVAE_COMPOSITION_MEANS) + z * np.asarray(CDVAE_COMPOSITION_STDS)
    assert np.allclose(scale_composition_fingerprints([raw]), z[None, :])
    means = np.asarray(CDVAE_COMPOSITION_MEANS).reshape(22, 6)
    # feature order per property: minimum, maximum, range, mean, avg_dev, mode; mean(range) = mean(max) - mean(min)
    assert np.allclose(means[:, 2], means[:, 1] - means[:, 0])


def test_featurize_parallel_equals_serial_and_keeps_order():
    structures = [rattle(cubic_perovskite(), 0.05, seed=i) for i in range(3)] + [diamond()]
    serial_struct, serial_comp = featurize(structures, n_jobs=1)
    from crystalkit.metrics import clear_fingerprint_cache

    clear_fingerprint_cache()
    parallel_struct, parallel_comp = featurize(structures, n_jobs=2)
    for a, b in zip(serial_struct, parallel_struct):
        assert np.array_equal(a, b)
    for a, b in zip(serial_comp, parallel_comp):
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("distance", [0.3])
def test_overlapping_atoms_still_get_a_value_or_none_never_an_exception(distance):
    value = structure_fingerprint(with_overlap(cubic_perovskite(), distance), use_cache=False)
    assert value is None or value.shape == (61,)


def test_parallel_featurize_loads_the_featurizer_before_forking(monkeypatch):
    from crystalkit.metrics import _parallel, clear_fingerprint_cache, fingerprints

    if not _parallel.forks_workers():
        pytest.skip("worker processes are not forked on this platform")
    calls = []
    monkeypatch.setattr(fingerprints, "load_featurizers", lambda: calls.append(1))
    clear_fingerprint_cache()
    structures = [rattle(cubic_perovskite(), 0.05, seed=i) for i in range(2)]
    featurize(structures, n_jobs=2)
    assert calls == [1]
    featurize(structures, n_jobs=1)
    assert calls == [1]


def test_reduced_cell_extent_known_values_and_sheared_basis():
    from pymatgen.core import Lattice

    from crystalkit.metrics.fingerprints import reduced_cell_extent

    assert reduced_cell_extent(Lattice.cubic(4.0)) == pytest.approx((4.0, 4.0))
    # The same lattice written with a long sheared basis: (a, b + 7a, c - 5b) spans it too.
    a, b, c = np.eye(3) * 4.0
    assert reduced_cell_extent(Lattice([a, b + 7 * a, c - 5 * b])) == pytest.approx((4.0, 4.0))
    assert reduced_cell_extent(Lattice.orthorhombic(3.0, 5.0, 250.0)) == pytest.approx((3.0, 250.0))
    assert reduced_cell_extent(Lattice([[1, 0, 0], [2, 0, 0], [0, 0, 1]])) == (0.0, float("inf"))


def test_absurd_cells_are_refused_at_once_and_real_ones_are_not():
    import time

    from pymatgen.core import Lattice, Structure

    from crystalkit.data import load_dataset
    from crystalkit.metrics import check_validity
    from crystalkit.metrics.fingerprints import fingerprint_refusal

    dense = Structure(Lattice.orthorhombic(0.6, 4.0, 4.0), ["Si"], [[0, 0, 0]])
    sheet = Structure(Lattice.orthorhombic(2.0, 2.2, 900.0), ["Pd"], [[0, 0, 0]])  # a lone row in vacuum
    for cell, why in ((dense, "0.60 Å"), (sheet, "900 Å")):
        start = time.perf_counter()
        assert structure_fingerprint(cell, use_cache=False) is None
        assert time.perf_counter() - start < 1.0  # refused, not ground through
        validity = check_validity(cell, fingerprint=True)
        assert validity.fingerprint is False and not validity.valid
        assert why in fingerprint_refusal(cell)
    assert fingerprint_refusal(cubic_perovskite()) is None
    for name in ("perovskites", "inorganic", "carbon"):  # the bounds leave every bundled crystal alone
        for split in ("train", "val", "test"):
            assert not any(fingerprint_refusal(s) for s in load_dataset(name, split).structures), (name, split)
