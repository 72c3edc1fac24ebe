"""Shared fixtures: small hand-built crystals every test module can use."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure


@pytest.fixture
def srtio3() -> Structure:
    """Cubic SrTiO3, the textbook perovskite (a = 3.905 Å)."""
    return Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


@pytest.fixture
def triclinic() -> Structure:
    """A low-symmetry cell with unequal lengths and angles, to catch convention mistakes."""
    return Structure(
        Lattice.from_parameters(3.1, 4.2, 5.3, 80, 95, 110),
        ["Si", "O", "O"],
        [[0.1, 0.2, 0.3], [0.5, 0.6, 0.7], [0.9, 0.1, 0.4]],
    )
