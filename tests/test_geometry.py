import numpy as np
import pytest
import torch
from pymatgen.core import Lattice

from crystalkit.geometry import (
    cart_to_frac,
    cell_volume,
    frac_to_cart,
    lattice_from_parameters,
    lattice_to_parameters,
    minimum_image_frac,
    wrap_frac,
)

PARAMETERS = [(3.1, 4.2, 5.3, 80, 95, 110), (5.0, 5.0, 5.0, 90, 90, 90), (2.5, 2.5, 6.7, 90, 90, 120)]


@pytest.mark.parametrize("a,b,c,alpha,beta,gamma", PARAMETERS)
def test_lattice_from_parameters_matches_pymatgen(a, b, c, alpha, beta, gamma):
    ours = lattice_from_parameters(torch.tensor([a, b, c], dtype=torch.float64),
                                   torch.tensor([alpha, beta, gamma], dtype=torch.float64))
    theirs = Lattice.from_parameters(a, b, c, alpha, beta, gamma).matrix
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-12)


def test_parameters_round_trip_batched():
    lengths = torch.tensor([p[:3] for p in PARAMETERS], dtype=torch.float64)
    angles = torch.tensor([p[3:] for p in PARAMETERS], dtype=torch.float64)
    back_lengths, back_angles = lattice_to_parameters(lattice_from_parameters(lengths, angles))
    torch.testing.assert_close(back_lengths, lengths)
    torch.testing.assert_close(back_angles, angles)


def test_volume_is_rotation_invariant_and_known():
    lattice = torch.diag(torch.tensor([2.0, 3.0, 4.0], dtype=torch.float64))
    assert cell_volume(lattice).item() == pytest.approx(24.0)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    assert cell_volume(lattice @ q.T).item() == pytest.approx(24.0)


def test_frac_cart_round_trip():
    lattice = torch.tensor(Lattice.from_parameters(*PARAMETERS[0]).matrix)
    frac = torch.rand(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(cart_to_frac(frac_to_cart(frac, lattice), lattice), frac)


def test_wrap_and_minimum_image():
    x = torch.tensor([-0.25, 1.25, 0.999, 2.0])
    torch.testing.assert_close(wrap_frac(x), torch.tensor([0.75, 0.25, 0.999, 0.0]))
    d = torch.tensor([0.9, -0.9, 0.4, -0.4])
    torch.testing.assert_close(minimum_image_frac(d), torch.tensor([-0.1, 0.1, 0.4, -0.4]))
    assert torch.all(wrap_frac(torch.randn(1000) * 10) < 1) and torch.all(wrap_frac(torch.randn(1000) * 10) >= 0)
