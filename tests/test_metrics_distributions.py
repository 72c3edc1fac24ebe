"""Wasserstein distances with known values."""

from __future__ import annotations

import math

import pytest

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import density_distance, num_elements_distance, wasserstein
from crystalkit.metrics.examples import cubic_perovskite, diamond, rock_salt


def test_known_values():
    assert wasserstein([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert wasserstein([0.0], [3.0]) == 3.0
    assert wasserstein([0.0, 0.0], [0.0, 2.0]) == 1.0  # half the mass moves by 2


def test_on_crystals():
    assert num_elements_distance([diamond()], [cubic_perovskite()]) == 2.0  # 1 element vs 3
    stretched = rock_salt(a=5.64 * 2 ** (1 / 3))  # twice the volume: half the density
    assert density_distance([stretched], [rock_salt()]) == pytest.approx(rock_salt().density / 2)
    assert math.isclose(density_distance([rock_salt()], [rock_salt()]), 0.0, abs_tol=1e-12)


def test_bad_input():
    with pytest.raises(CrystalInputError):
        wasserstein([], [1.0])
    with pytest.raises(CrystalInputError):
        wasserstein([float("nan")], [1.0])
