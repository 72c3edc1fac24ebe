"""Moved: :func:`steps_versus_quality` now lives in :mod:`crystalkit.metrics.sampler_steps` (issue 10).

This name stays only so that notebook 07, which imports it from here, keeps
running; import it from :mod:`crystalkit.metrics` in new code. To be removed
once notebook 07's source imports the new path.
"""

from crystalkit.metrics.sampler_steps import steps_versus_quality

__all__ = ["steps_versus_quality"]
