"""Latent-space property optimisation: the head learns a known function, gradient steps move it the asked way."""

import numpy as np
import pytest
import torch

from crystalkit.errors import CrystalInputError
from crystalkit.models.latent_property import (
    LatentPropertyHead,
    fit_latent_property_head,
    latent_means,
    optimize_latent,
)


@pytest.fixture(scope="module")
def linear_data():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(200, 4, generator=generator)
    values = (2.0 * z[:, 0] - 1.0 * z[:, 2] + 0.5).numpy()  # the property: a known linear function of z
    return z, values


def _r2(predicted: np.ndarray, true: np.ndarray) -> float:
    return 1.0 - ((predicted - true) ** 2).sum() / ((true - true.mean()) ** 2).sum()


def test_head_learns_a_known_function_and_keeps_units(linear_data):
    z, values = linear_data
    head = fit_latent_property_head(z[:150], values[:150], steps=400, seed=0)
    with torch.no_grad():
        held_out = head(z[150:]).numpy()
    assert _r2(held_out, values[150:]) > 0.9  # held-out crystals, so it generalises rather than memorises
    assert head.mean.item() == pytest.approx(values[:150].mean(), rel=1e-5)


def test_fitting_is_seeded(linear_data):
    z, values = linear_data
    a, b = (fit_latent_property_head(z, values, steps=50, seed=3) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_steps_lower_or_raise_the_prediction(linear_data):
    z, values = linear_data
    head = fit_latent_property_head(z, values, steps=300, seed=0)
    start = z[:5]
    down = optimize_latent(head, start, direction="lower", steps=40, step_size=0.05)
    up = optimize_latent(head, start, direction="higher", steps=40, step_size=0.05)
    assert torch.equal(down.start, start) and down.z.shape == (41, 5, 4) and down.predicted.shape == (41, 5)
    assert (down.predicted[-1] < down.predicted[0] - 0.5).all()
    assert (up.predicted[-1] > up.predicted[0] + 0.5).all()
    # The known function's gradient is (2, 0, -1, 0): lowering moves z_0 down and z_2 up, the others barely.
    moved = (down.end - down.start).mean(0)
    assert moved[0] < -0.3 and moved[2] > 0.1 and abs(moved[1]) < abs(moved[0]) / 3


def test_prior_weight_keeps_z_near_the_prior(linear_data):
    z, values = linear_data
    head = fit_latent_property_head(z, values, steps=300, seed=0)
    free = optimize_latent(head, z[:5], steps=100, prior_weight=0.0)
    held = optimize_latent(head, z[:5], steps=100, prior_weight=5.0)
    assert held.end.norm(dim=1).mean() < free.end.norm(dim=1).mean()
    assert held.end.norm(dim=1).mean() < 1.5


def test_bad_input_is_refused(linear_data):
    z, values = linear_data
    with pytest.raises(CrystalInputError, match="one value each"):
        fit_latent_property_head(z, values[:-1])
    with pytest.raises(CrystalInputError, match="at least 8"):
        fit_latent_property_head(z[:3], values[:3])
    bad = values.copy()
    bad[4] = np.nan
    with pytest.raises(CrystalInputError, match="NaN"):
        fit_latent_property_head(z, bad)
    head = LatentPropertyHead(4)
    with pytest.raises(CrystalInputError, match="direction"):
        optimize_latent(head, z[:2], direction="sideways")
    with pytest.raises(CrystalInputError, match="z_start"):
        optimize_latent(head, z[:2, :3])
    with pytest.raises(CrystalInputError, match="step_size"):
        optimize_latent(head, z[:2], step_size=0.0)
    with pytest.raises(CrystalInputError, match="num_crystals, 4"):
        head(torch.zeros(2, 5))


def test_latent_means_are_the_encoder_means():
    from crystalkit.data import CrystalBatch, load_dataset
    from crystalkit.models.pretrained import load_pretrained

    vae = load_pretrained("perovskites-vae-csp")
    structures = load_dataset("perovskites", "val").structures[:6]
    mu = latent_means(vae, structures, batch_size=4)  # two chunks
    with torch.no_grad():
        expected, _ = vae.encode(CrystalBatch.from_structures(structures))
    torch.testing.assert_close(mu, expected)
    with pytest.raises(CrystalInputError, match="at least one"):
        latent_means(vae, [])


def test_trust_region_bounds_every_move(linear_data):
    z, values = linear_data
    head = fit_latent_property_head(z, values, steps=300, seed=0)
    free = optimize_latent(head, z[:5], steps=80, prior_weight=0.0)
    held = optimize_latent(head, z[:5], steps=80, prior_weight=0.0, max_distance=0.3)
    assert (free.end - free.start).norm(dim=1).max() > 1.0
    assert ((held.z - held.start).norm(dim=-1) <= 0.3 + 1e-5).all()  # every point of every path
    assert (held.predicted[-1] < held.predicted[0]).all()  # still downhill, just not as far
    with pytest.raises(CrystalInputError, match="max_distance"):
        optimize_latent(head, z[:2], max_distance=0.0)
