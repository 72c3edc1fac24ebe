"""The noise processes of crystal diffusion, one small class each.

A crystal has parts that live in different spaces, so it needs two kinds of noise:

* **Euclidean parts** (the lattice, and one-hot atom types for de novo
  generation) get the variance-preserving noise of DDPM (Ho et al. 2020):
  ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` with a cosine schedule for
  ``abar_t`` (Nichol & Dhariwal 2021). :class:`CosineSchedule`.
* **Fractional coordinates** live on a torus: moving an atom by a whole cell
  vector gives the same crystal. Gaussian noise on the torus is the *wrapped
  normal*, a normal distribution summed over all periodic images. Its score
  (gradient of the log density) has a closed form as a weighted sum over
  images, which is what the network learns to predict (Jing et al. 2022 for
  torsions, Jiao et al. 2023, DiffCSP, for crystals). :class:`WrappedNormal`.

Time ``t`` runs from 0 (clean data) to 1 (pure noise) in both classes, so the
two are driven by the same clock during training and sampling.
"""

from __future__ import annotations

import math

import torch

from crystalkit.geometry import wrap_frac

__all__ = ["CosineSchedule", "WrappedNormal", "wrapped_normal_log_density"]


def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-crystal values ``(B,)`` to broadcast against ``like`` ``(B, ...)``."""
    return values.reshape(values.shape + (1,) * (like.dim() - values.dim()))


class CosineSchedule:
    """DDPM noise with the cosine schedule: how much signal survives at time t.

    ``abar(t) = cos^2(pi/2 (t + offset) / (1 + offset)) / cos^2(pi/2 offset / (1 + offset))``,
    clipped below at ``min_alpha_bar`` so the last reverse step never divides by zero.

    Args:
        offset: the small ``s`` of Nichol & Dhariwal (2021); 0.008 keeps the
            noise at t near 0 from being too small to learn from.
        min_alpha_bar: floor of ``abar``; at 1e-4 the signal at t = 1 is 1% of
            the noise, i.e. practically pure noise.
    """

    def __init__(self, offset: float = 0.008, min_alpha_bar: float = 1e-4) -> None:
        self.offset = offset
        self.min_alpha_bar = min_alpha_bar

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """Fraction of the signal's variance left at time ``t`` in [0, 1]."""
        offset = self.offset
        f = torch.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2
        f0 = math.cos(offset / (1 + offset) * math.pi / 2) ** 2
        return (f / f0).clamp(min=self.min_alpha_bar, max=1.0)

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t`` from clean ``x0`` ``(B, ...)``, times ``t`` ``(B,)`` and standard normal ``noise``."""
        abar = _expand(self.alpha_bar(t), x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def reverse_step(
        self, x_t: torch.Tensor, predicted_noise: torch.Tensor, t: float, t_next: float, noise: torch.Tensor
    ) -> torch.Tensor:
        """One ancestral DDPM step from time ``t`` to the earlier time ``t_next`` (any gap, not only 1/1000).

        The network's noise estimate gives an estimate of ``x0``; the step
        samples from the Gaussian posterior ``q(x_next | x_t, x0)``. With
        ``t_next = 0`` the posterior variance is zero and the step returns its mean.
        """
        abar_t = self.alpha_bar(torch.tensor(t, dtype=x_t.dtype, device=x_t.device))
        abar_next = (self.alpha_bar(torch.tensor(t_next, dtype=x_t.dtype, device=x_t.device)) if t_next > 0
                     else x_t.new_tensor(1.0))
        alpha = abar_t / abar_next  # signal kept from t_next to t
        x0_hat = (x_t - (1 - abar_t).sqrt() * predicted_noise) / abar_t.sqrt()
        mean = (abar_next.sqrt() * (1 - alpha) * x0_hat + alpha.sqrt() * (1 - abar_next) * x_t) / (1 - abar_t)
        variance = (1 - alpha) * (1 - abar_next) / (1 - abar_t)
        return mean + variance.clamp(min=0).sqrt() * noise


def wrapped_normal_log_density(x: torch.Tensor, sigma: torch.Tensor, num_images: int = 5) -> torch.Tensor:
    """Log density of the wrapped normal WN(0, sigma^2) on the circle [0, 1), summed over images ``-K..K``.

    This is the slow, obvious formula; the tests differentiate it numerically
    to check :meth:`WrappedNormal.score`.
    """
    images = torch.arange(-num_images, num_images + 1, dtype=x.dtype, device=x.device)  # (2K+1,)
    shifted = x.unsqueeze(-1) + images  # (..., 2K+1)
    sigma = sigma.unsqueeze(-1)
    log_terms = -(shifted**2) / (2 * sigma**2) - torch.log(sigma * math.sqrt(2 * math.pi))
    return torch.logsumexp(log_terms, dim=-1)


class WrappedNormal:
    """Wrapped-normal noise on fractional coordinates, with a geometric noise scale.

    ``sigma(t) = sigma_min * (sigma_max / sigma_min) ** t`` for ``t`` in (0, 1],
    and ``sigma(0) = 0`` (the clean crystal). Fractional units throughout.

    Args:
        sigma_min: noise at the first step, 0.005 of a cell edge: ~0.02 Å in a
            4 Å cell, finer than any structure-matching tolerance (DiffCSP).
        sigma_max: noise at t = 1; at 0.5 of a cell edge the wrapped normal is
            indistinguishable from uniform, which is where sampling starts.
        num_images: periodic images ``-K..K`` summed in the score; 3 is exact to
            float precision for sigma <= 0.5.
    """

    def __init__(self, sigma_min: float = 0.005, sigma_max: float = 0.5, num_images: int = 3) -> None:
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.num_images = num_images
        self._tables: dict = {}  # score_scale lookup tables per (device, dtype)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Noise scale (fractional units) at time ``t``."""
        geometric = self.sigma_min * (self.sigma_max / self.sigma_min) ** t
        return torch.where(t > 0, geometric, torch.zeros_like(geometric))

    def add_noise(self, frac0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noisy coordinates: ``wrap(frac0 + sigma * noise)``, with ``sigma`` ``(B,)`` per crystal."""
        return wrap_frac(frac0 + _expand(sigma, frac0) * noise)

    def score(self, delta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Closed-form score d/dx log WN(x; mu, sigma) at ``delta = x - mu`` (any real values).

        Each periodic image ``k`` pulls ``x`` towards ``mu - k`` like a normal
        score ``-(delta + k) / sigma^2``; the images are weighted by how likely
        each one is, a softmax over their log densities.

        Args:
            delta: ``(B, ...)`` displacements from the clean coordinates.
            sigma: ``(B,)`` noise scale per crystal, or a scalar.
        """
        sigma = _expand(sigma, delta) if sigma.dim() > 0 else sigma
        images = torch.arange(-self.num_images, self.num_images + 1, dtype=delta.dtype, device=delta.device)
        delta = delta - torch.round(delta)  # the nearest image first keeps the sum short
        shifted = delta.unsqueeze(-1) + images  # (..., 2K+1)
        variance = (sigma**2).unsqueeze(-1)
        weights = torch.softmax(-(shifted**2) / (2 * variance), dim=-1)
        return -(weights * shifted).sum(-1) / variance.squeeze(-1)

    def score_scale(self, sigma: torch.Tensor) -> torch.Tensor:
        """Root mean square of the score under WN(0, sigma^2), for each ``sigma`` in [sigma_min, sigma_max].

        The raw score grows like 1/sigma, so DiffCSP trains the network on the
        score divided by this scale (a target of unit size at every noise
        level) and multiplies it back when sampling. For speed it is read from
        a table of :meth:`score_scale_exact` over log(sigma), built on first use
        and interpolated linearly.
        """
        key = (sigma.device, sigma.dtype)
        if key not in self._tables:
            log_grid = torch.linspace(math.log(self.sigma_min), math.log(self.sigma_max), 256, dtype=torch.float64)
            values = self.score_scale_exact(log_grid.exp())
            self._tables[key] = (log_grid.to(sigma), values.to(sigma))
        log_grid, values = self._tables[key]
        position = (sigma.log() - log_grid[0]) / (log_grid[1] - log_grid[0])  # fractional index into the table
        position = position.clamp(0, len(log_grid) - 1)
        below = position.floor().long().clamp(max=len(log_grid) - 2)
        weight = position - below
        return values[below] * (1 - weight) + values[below + 1] * weight

    def score_scale_exact(self, sigma: torch.Tensor, grid_points: int = 2048) -> torch.Tensor:
        """The root mean square score by the midpoint rule over one period (slow; see :meth:`score_scale`).

        For small sigma it tends to 1/sigma, the value for an unwrapped normal.
        """
        x = (torch.arange(grid_points, dtype=sigma.dtype, device=sigma.device) + 0.5) / grid_points - 0.5  # (G,)
        flat = sigma.reshape(-1, 1)  # (S, 1)
        density = wrapped_normal_log_density(x.expand(flat.shape[0], -1), flat, self.num_images).exp()  # (S, G)
        score = self.score(x.expand(flat.shape[0], -1), flat.squeeze(1))  # (S, G)
        mean_square = (density * score**2).mean(dim=1)  # integral over [-0.5, 0.5) with unit-length period
        return mean_square.sqrt().reshape(sigma.shape)

    def reverse_step(
        self, frac: torch.Tensor, score: torch.Tensor, sigma_t: float, sigma_next: float, noise: torch.Tensor
    ) -> torch.Tensor:
        """Predictor: one reverse step of the variance-exploding SDE from ``sigma_t`` down to ``sigma_next``."""
        drop = sigma_t**2 - sigma_next**2
        step_noise = math.sqrt(sigma_next**2 * drop / sigma_t**2)
        return wrap_frac(frac + drop * score + step_noise * noise)

    @staticmethod
    def langevin_step(frac: torch.Tensor, score: torch.Tensor, step_size: float, noise: torch.Tensor) -> torch.Tensor:
        """Corrector: one Langevin step ``x + step * score + sqrt(2 step) z`` at a fixed noise level."""
        return wrap_frac(frac + step_size * score + math.sqrt(2 * step_size) * noise)
