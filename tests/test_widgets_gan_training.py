"""Tests for crystalkit.widgets.gan_training: the training figure keeps every step's samples on its axes."""

from __future__ import annotations

import pytest
import torch
from models_helpers import TINY, perovskites

from crystalkit.data import CrystalBatch, DenseCrystals
from crystalkit.models import GAN, GANConfig, PeriodicBackbone
from crystalkit.widgets._live import PLOTLY_MIMETYPE
from crystalkit.widgets.gan_training import _padded_range, gan_training_explorer, gan_training_figure

torch.set_num_threads(1)


def _run_with_growing_cells() -> tuple[GAN, list[dict], list[dict]]:
    """A tiny GAN and three "logged steps" whose cells differ a lot: the first step's are far smaller."""
    torch.manual_seed(0)
    model = GAN(PeriodicBackbone(TINY), GANConfig(noise_dim=4, generator_hidden=16, generator_layers=1)).double()
    model.fit_data_statistics(DenseCrystals.from_batch(CrystalBatch.from_structures(perovskites()),
                                                       dtype=torch.float64))
    model = model.float()
    snapshots = []
    for shift in (-2.0, 1.5, 1.5):  # step 10: shrunken cells, then much bigger ones
        with torch.no_grad():
            model.generator.lattice[-1].bias.add_(shift)
        snapshots.append({k: v.clone() for k, v in model.generator.state_dict().items()})
    rows = [{"step": 10 * (i + 1), "diversity": 0.9 - 0.2 * i} for i in range(3)]
    return model, rows, snapshots


@pytest.mark.parametrize("values, expected", [([[1.0, 3.0], [2.0]], [0.9, 3.1]), ([[2.0], [2.0]], [1.5, 2.5]),
                                              ([[float("nan"), 1.0], [3.0, float("inf")]], [0.9, 3.1])])
def test_padded_range_holds_every_finite_value(values, expected):
    assert _padded_range(values) == pytest.approx(expected)


def test_every_step_s_samples_lie_inside_the_fixed_axes():
    model, rows, snapshots = _run_with_growing_cells()
    figure = gan_training_figure(model, rows, snapshots, perovskites())
    x_range, y_range = figure.layout.xaxis2.range, figure.layout.yaxis2.range
    assert figure.layout.xaxis2.autorange is False and figure.layout.yaxis2.autorange is False
    first, last = figure.frames[0].data[1], figure.frames[-1].data[1]
    assert max(first.x) < min(last.x)  # the steps really differ: an axis fitted to the last would lose the first
    for frame in figure.frames:
        samples = frame.data[1]
        assert all(x_range[0] < x < x_range[1] for x in samples.x), (frame.name, samples.x, x_range)
        assert all(y_range[0] < y < y_range[1] for y in samples.y), (frame.name, samples.y, y_range)
    real = figure.data[2]
    assert x_range[0] < min(real.x) and max(real.x) < x_range[1]


def test_the_explorer_redraws_by_setting_state_without_capture(no_output_capture):
    import ipywidgets

    model, rows, snapshots = _run_with_growing_cells()
    box = gan_training_explorer(model, rows, snapshots, perovskites())
    slider, drawing = box.children
    if not isinstance(drawing, ipywidgets.Output):
        pytest.skip("plotly made a FigureWidget (anywidget installed): nothing is drawn into an Output")
    shown = drawing.outputs[0]["data"][PLOTLY_MIMETYPE]["data"][3]["x"]
    slider.value = 0
    assert drawing.outputs[0]["data"][PLOTLY_MIMETYPE]["data"][3]["x"] != shown
