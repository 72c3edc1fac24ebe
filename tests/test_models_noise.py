"""Noise processes: closed forms against slow references."""

from __future__ import annotations

import math

import pytest
import torch

from crystalkit.models.noise import CosineSchedule, WrappedNormal, wrapped_normal_log_density

torch.set_num_threads(1)


@pytest.mark.parametrize("sigma", [0.005, 0.03, 0.1, 0.25, 0.5])
def test_wrapped_normal_score_matches_numerical_derivative(sigma):
    noise = WrappedNormal()
    x = torch.linspace(-0.49, 0.49, 41, dtype=torch.float64)
    sigmas = torch.full_like(x, sigma)
    h = 1e-4 * sigma
    numerical = (wrapped_normal_log_density(x + h, sigmas, 8) - wrapped_normal_log_density(x - h, sigmas, 8)) / (2 * h)
    closed = noise.score(x, sigmas)
    assert torch.allclose(closed, numerical, rtol=1e-5, atol=1e-6 / sigma), (closed - numerical).abs().max()


def test_wrapped_normal_score_is_periodic_and_odd():
    noise = WrappedNormal()
    x = torch.linspace(-0.45, 0.45, 19, dtype=torch.float64)
    sigma = torch.full_like(x, 0.3)
    assert torch.allclose(noise.score(x + 3.0, sigma), noise.score(x, sigma), atol=1e-9)
    assert torch.allclose(noise.score(-x, sigma), -noise.score(x, sigma), atol=1e-9)
    # At half a cell both images pull equally hard: the score vanishes.
    assert abs(float(noise.score(torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.3],
                                                                                       dtype=torch.float64)))) < 1e-9


def test_wrapped_normal_density_integrates_to_one():
    x = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000 - 0.5
    for sigma in (0.01, 0.2, 0.7):
        density = wrapped_normal_log_density(x, torch.full_like(x, sigma), 6).exp()
        assert abs(float(density.mean()) - 1.0) < 1e-6


def test_score_scale_table_and_limits():
    noise = WrappedNormal()
    sigmas = torch.tensor([0.005, 0.0123, 0.05, 0.2, 0.37, 0.5], dtype=torch.float64)
    exact = noise.score_scale_exact(sigmas)
    assert torch.allclose(noise.score_scale(sigmas), exact, rtol=5e-3)
    # Small noise: the wrapping does not matter and E[score^2] = 1 / sigma^2.
    assert math.isclose(float(exact[0]), 1 / 0.005, rel_tol=1e-6)
    # Monte Carlo reference at a large sigma.
    generator = torch.Generator().manual_seed(0)
    samples = torch.randn(400000, generator=generator, dtype=torch.float64) * 0.37
    mc = noise.score(samples, torch.full_like(samples, 0.37)).pow(2).mean().sqrt()
    assert math.isclose(float(mc), float(exact[4]), rel_tol=1e-2)


def test_wrapped_normal_reverse_step_lands_on_the_mean_at_small_noise():
    """With sigma_s = 0 the predictor adds sigma_t^2 * score: exact for a normal, x -> mu."""
    noise = WrappedNormal()
    mu = torch.tensor([[0.2, 0.9, 0.5]], dtype=torch.float64)
    x = noise.add_noise(mu, torch.tensor([0.01], dtype=torch.float64), torch.tensor([[1.0, -2.0, 0.5]],
                                                                                  dtype=torch.float64))
    score = noise.score(x - mu, torch.tensor(0.01, dtype=torch.float64))
    landed = noise.reverse_step(x, score, 0.01, 0.0, torch.zeros_like(x))
    assert torch.allclose(landed, mu, atol=1e-9)


def test_sigma_schedule_is_geometric():
    noise = WrappedNormal(0.005, 0.5)
    t = torch.tensor([0.0, 1e-9, 0.5, 1.0], dtype=torch.float64)
    sigma = noise.sigma(t)
    assert float(sigma[0]) == 0.0
    assert math.isclose(float(sigma[1]), 0.005, rel_tol=1e-6)
    assert math.isclose(float(sigma[2]), math.sqrt(0.005 * 0.5), rel_tol=1e-9)
    assert math.isclose(float(sigma[3]), 0.5, rel_tol=1e-9)


def test_cosine_schedule_shape():
    schedule = CosineSchedule()
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    alpha_bar = schedule.alpha_bar(t)
    assert math.isclose(float(alpha_bar[0]), 1.0, rel_tol=1e-12)
    assert bool((alpha_bar[1:] <= alpha_bar[:-1]).all())
    assert math.isclose(float(alpha_bar[-1]), schedule.min_alpha_bar)


def test_cosine_reverse_step_with_true_noise_recovers_data():
    schedule = CosineSchedule()
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 3, generator=generator, dtype=torch.float64)
    noise = torch.randn(4, 3, 3, generator=generator, dtype=torch.float64)
    for t in (0.05, 0.5, 0.95):
        x_t = schedule.add_noise(x0, torch.full((4,), t, dtype=torch.float64), noise)
        assert torch.allclose(schedule.reverse_step(x_t, noise, t, 0.0, torch.randn_like(x0)), x0, atol=1e-8)


def test_cosine_reverse_step_matches_posterior_mean():
    """Intermediate steps: the mean of q(x_s | x_t, x0) computed another way (via the noise estimate)."""
    schedule = CosineSchedule()
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    noise = torch.tensor([[0.3, 0.7]], dtype=torch.float64)
    t, s = 0.6, 0.4
    x_t = schedule.add_noise(x0, torch.tensor([t], dtype=torch.float64), noise)
    abar_t = schedule.alpha_bar(torch.tensor(t, dtype=torch.float64))
    abar_s = schedule.alpha_bar(torch.tensor(s, dtype=torch.float64))
    alpha = abar_t / abar_s
    expected = (x_t - (1 - alpha) / (1 - abar_t).sqrt() * noise) / alpha.sqrt()  # Ho et al. (2020), eq. 11
    assert torch.allclose(schedule.reverse_step(x_t, noise, t, s, torch.zeros_like(x0)), expected, atol=1e-10)
