"""The pair distribution function: known values by an independent numpy Debye sum, particles, disorder, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import (
    PDFPattern,
    debye_pdf,
    nanoparticle,
    off_centre,
    peak_fwhm,
    rms_amplitude,
    simulate_pdf,
)


def _numpy_debye(xyz: np.ndarray, q: np.ndarray, biso: float) -> np.ndarray:
    """S(Q) of N identical atoms by the textbook Debye sum over ordered pairs i != j (form factors cancel)."""
    distances = np.linalg.norm(xyz[:, None] - xyz[None, :], axis=-1)[~np.eye(len(xyz), dtype=bool)]  # (N(N-1),)
    sinc = np.sin(np.outer(q, distances)) / np.outer(q, distances)  # (K, N(N-1))
    return 1.0 + sinc.sum(axis=1) / len(xyz) * np.exp(-(q**2) * biso / (8 * np.pi**2))


def _numpy_g(q: np.ndarray, s: np.ndarray, r: np.ndarray, qdamp: float) -> np.ndarray:
    """G(r) = (2/π) ∫ Q [S(Q) - 1] sin(Qr) dQ as a rectangle sum on the Q grid, times the resolution damping."""
    dq = q[1] - q[0]
    return 2 / np.pi * (q * (s - 1) * dq) @ np.sin(np.outer(q, r)) * np.exp(-((r * qdamp) ** 2) / 2)


@pytest.fixture
def simple_cubic() -> Structure:
    return Structure(Lattice.cubic(2.5), ["Ni"], [[0, 0, 0]])


@pytest.mark.parametrize("radiation", ["xray", "neutron"])
def test_two_atoms_give_the_hand_value(radiation):
    # Two identical atoms at d: S(Q) = 1 + sin(Qd)/(Qd), whatever the form factor.
    d = 2.5
    r, g, q, s = debye_pdf(["Ni", "Ni"], np.array([[0, 0, 0], [0, 0, d]]), biso=0.0, qdamp=0.0, radiation=radiation)
    np.testing.assert_allclose(s, 1 + np.sin(q * d) / (q * d), atol=1e-9)
    np.testing.assert_allclose(g, _numpy_g(q, s, r, 0.0), atol=1e-6)
    assert abs(r[np.argmax(g)] - d) < 0.02  # the only distance is the highest peak


def test_a_small_cluster_matches_an_independent_debye_sum():
    xyz = np.random.default_rng(3).uniform(-3, 3, size=(6, 3))
    r, g, q, s = debye_pdf(["Cu"] * 6, xyz, biso=0.5, qdamp=0.02, r_range=(0.5, 12.0))
    expected = _numpy_debye(xyz, q, biso=0.5)
    np.testing.assert_allclose(s, expected, atol=1e-7)
    np.testing.assert_allclose(g, _numpy_g(q, expected, r, 0.02), atol=1e-5)


def test_the_r_grid_is_the_one_asked_for(srtio3):
    pattern = simulate_pdf(srtio3, radius=6.0, r_range=(1.5, 8.0), r_step=0.05)
    assert pattern.r[0] == pytest.approx(1.5) and pattern.r[-1] == pytest.approx(8.0)
    assert np.allclose(np.diff(pattern.r), 0.05)


def test_particle_is_the_sphere_of_atoms_within_the_radius(simple_cubic):
    radius = 7.3
    elements, xyz = nanoparticle(simple_cubic, radius)
    n = int(np.ceil(radius / 2.5))
    expected = sum(1 for i, j, k in itertools.product(range(-n, n + 1), repeat=3)
                   if 2.5 * np.sqrt(i * i + j * j + k * k) <= radius)
    assert len(elements) == expected == len(xyz)
    assert np.linalg.norm(xyz, axis=1).max() <= radius + 1e-9


def test_a_supercell_describes_the_same_particle(simple_cubic):
    one = simulate_pdf(simple_cubic, radius=8.0, r_range=(1.0, 12.0))
    eight = simulate_pdf(simple_cubic * (2, 2, 2), radius=8.0, r_range=(1.0, 12.0))
    assert one.n_atoms == eight.n_atoms
    np.testing.assert_allclose(one.g, eight.g, atol=1e-8)


def test_nothing_is_left_beyond_the_particle_diameter(srtio3):
    pattern = simulate_pdf(srtio3, radius=5.0, r_range=(1.0, 20.0))
    # What is left is a slow ripple from cutting the Fourier integral at Q_min, a few per cent of the peaks.
    assert rms_amplitude(pattern, (12.0, 20.0)) < 0.05 * rms_amplitude(pattern, (1.5, 6.0))


def test_larger_particles_keep_more_long_range_order(srtio3):
    small, large = (simulate_pdf(srtio3, radius=radius, r_range=(1.0, 15.0)) for radius in (6.0, 12.0))
    assert rms_amplitude(large, (9.0, 12.0)) > 3 * rms_amplitude(small, (9.0, 12.0))


@pytest.mark.slow
def test_thermal_motion_broadens_peaks_like_the_same_static_disorder(srtio3):
    widths = [peak_fwhm(simulate_pdf(srtio3, radius=8.0, biso=b), near=1.95) for b in (0.2, 0.6, 1.2)]
    assert widths[0] < widths[1] < widths[2]
    sigma = 0.05  # Å per Cartesian component; B = 8π²σ² gives the same pair-distance spread
    static = simulate_pdf(srtio3, radius=15.0, biso=0.0, displacement=sigma, seed=0)
    thermal = simulate_pdf(srtio3, radius=15.0, biso=8 * np.pi**2 * sigma**2)
    assert peak_fwhm(static, near=1.95) == pytest.approx(peak_fwhm(thermal, near=1.95), rel=0.1)


def test_random_occupancy_is_drawn_per_atom_with_its_probability(srtio3):
    alloy = srtio3.copy()
    alloy.replace(0, {"Sr": 0.5, "Ba": 0.5})
    elements, _ = nanoparticle(alloy, 15.0, seed=0)
    a_sites = [e for e in elements if e in ("Sr", "Ba")]
    assert len(a_sites) > 100 and 0.4 < a_sites.count("Ba") / len(a_sites) < 0.6
    assert nanoparticle(alloy, 15.0, seed=0)[0] == elements  # seeded
    assert nanoparticle(alloy, 15.0, seed=1)[0] != elements


def test_vacancies_remove_atoms(srtio3):
    defective = srtio3.copy()
    defective.replace(2, {"O": 0.5})
    full, _ = nanoparticle(srtio3, 10.0)
    holes, _ = nanoparticle(defective, 10.0, seed=0)
    assert len(holes) < len(full)


def test_off_centre_moves_only_that_element_along_body_diagonals(srtio3):
    cell = srtio3 * (3, 3, 3)
    moved = off_centre(cell, "Ti", 0.2, seed=0)
    shifts = moved.cart_coords - cell.cart_coords  # (N, 3); small moves, no wrapping into the cell
    is_ti = np.array([site.specie.symbol == "Ti" for site in cell])
    np.testing.assert_allclose(np.abs(shifts[is_ti]), 0.2 / np.sqrt(3), atol=1e-9)
    np.testing.assert_allclose(shifts[~is_ti], 0.0, atol=1e-9)
    assert len({tuple(np.sign(row)) for row in shifts[is_ti]}) > 1  # the directions differ from cell to cell
    assert np.allclose(off_centre(cell, "Ti", 0.2, seed=0).cart_coords, moved.cart_coords)
    with pytest.raises(CrystalInputError, match="No Ba"):
        off_centre(cell, "Ba", 0.2)
    with pytest.raises(CrystalInputError, match=">= 0"):
        off_centre(cell, "Ti", -0.1)


def test_noise_is_seeded(srtio3):
    a, b, c = (simulate_pdf(srtio3, radius=6.0, noise=0.05, seed=seed) for seed in (1, 1, 2))
    assert np.array_equal(a.g, b.g) and not np.array_equal(a.g, c.g)


def test_settings_reproduce_the_pattern(srtio3):
    pattern = simulate_pdf(srtio3, radius=7.0, r_range=(2.0, 9.0), r_step=0.02, qdamp=0.04, biso=0.5)
    again = simulate_pdf(srtio3, **pattern.settings())
    np.testing.assert_allclose(again.g, pattern.g)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"r_range": (10.0, 5.0)},
        {"r_range": (5.0, 5.0)},
        {"r_range": (-1.0, 5.0)},
        {"r_step": 0.0},
        {"r_step": 100.0},
        {"q_range": (20.0, 10.0)},
        {"radius": 0.0},
        {"radius": -3.0},
        {"biso": -0.1},
        {"noise": -1.0},
        {"radiation": "electron"},
    ],
)
def test_nonsense_settings_are_refused(srtio3, kwargs):
    with pytest.raises(CrystalInputError):
        simulate_pdf(srtio3, **kwargs)


def test_empty_structure_is_refused():
    with pytest.raises(CrystalInputError, match="empty"):
        simulate_pdf(Structure(Lattice.cubic(4.0), [], []))


def test_a_particle_of_one_atom_or_of_millions_is_refused(simple_cubic):
    with pytest.raises(CrystalInputError, match="larger radius"):
        nanoparticle(simple_cubic, 1.0)
    with pytest.raises(CrystalInputError, match="limit"):
        nanoparticle(simple_cubic, 200.0)


def test_pattern_arrays_must_match():
    with pytest.raises(CrystalInputError, match="same length"):
        PDFPattern(r=np.linspace(1, 5, 10), g=np.zeros(9))
    with pytest.raises(CrystalInputError, match="increase"):
        PDFPattern(r=np.linspace(5, 1, 10), g=np.zeros(10))
    with pytest.raises(CrystalInputError, match="N symbols"):
        debye_pdf(["Ni", "Ni"], np.zeros((3, 3)))


def test_peak_width_needs_a_peak(srtio3):
    pattern = simulate_pdf(srtio3, radius=6.0)
    with pytest.raises(CrystalInputError):
        peak_fwhm(pattern, near=50.0)
