"""Tests for crystalkit.widgets.playground: target, guidance and sample count in; samples, funnel, survivors out."""

from __future__ import annotations

import pytest
import torch

from crystalkit.design import LabelRange, filter_step, pretrained_label_range
from crystalkit.errors import CrystalInputError
from crystalkit.models.pretrained import load_pretrained
from crystalkit.widgets._live import PLOTLY_MIMETYPE
from crystalkit.widgets.playground import playground_run, samples_table_html, sampling_playground, survivors_figure

NUM_STEPS = 5  # sampler steps: enough to make crystals to filter, fast enough for a unit test


@pytest.fixture(scope="module")
def designer():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_pretrained("perovskites-diffusion-denovo-formation-energy")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def allowed(designer) -> LabelRange:
    return pretrained_label_range(designer)


@pytest.fixture
def steps():
    """Fast steps (no CHGNet): charge balance, then symmetry."""
    return [filter_step("charge_balance"), filter_step("symmetry")]


def _drawn(box) -> dict:
    (output,) = box.outputs
    return output["data"][PLOTLY_MIMETYPE]


def test_a_run_accounts_for_every_sample(designer, allowed, steps):
    run = playground_run(designer, -2.0, 2.0, 4, allowed=allowed, steps=steps, seed=0, num_steps=NUM_STEPS)
    assert len(run.candidates) == 4 and run.result.counts[0] == 4
    assert len(run.result.survivors) + len(run.result.dropped) == 4
    table = samples_table_html(run)
    assert table.count("<tr>") == 5  # a header and one row per sample
    assert all(c.formula in table for c in run.candidates)
    assert " → ".join(str(n) for n in run.result.counts) in run.summary()
    with pytest.raises(CrystalInputError, match="outside the training range"):
        playground_run(designer, allowed.low - 1.0, 2.0, 2, allowed=allowed, steps=steps, num_steps=NUM_STEPS)


def test_no_survivors_draw_an_empty_figure_that_says_so():
    assert "no candidate survived" in survivors_figure([]).layout.title.text


def test_moving_a_control_resamples_and_redraws(designer, allowed, steps):
    widget = sampling_playground(designer, allowed=allowed, steps=steps, target=-2.5, num_samples=3,
                                 num_steps=NUM_STEPS)
    (target, _scale, count), status = widget.children[0].children, widget.children[1]
    funnel_box, table = widget.children[2].children
    assert "crystalkit-playground" in widget._dom_classes
    assert (target.min, target.max) == (allowed.low, allowed.high)
    before_run, before_funnel, before_table = widget.run, _drawn(funnel_box), table.value
    assert _drawn(funnel_box)["data"][0]["x"] == list(widget.run.result.counts)
    count.value = 5
    assert len(widget.run.candidates) == 5 and widget.run is not before_run
    assert _drawn(funnel_box) != before_funnel and table.value != before_table
    target.value = allowed.high
    assert widget.run.target == pytest.approx(allowed.high)
    assert "→" in status.value


def test_bad_settings_are_refused(designer, allowed, steps):
    with pytest.raises(CrystalInputError, match="outside the training range"):
        sampling_playground(designer, allowed=allowed, steps=steps, target=allowed.high + 2.0, num_steps=NUM_STEPS)
    with pytest.raises(CrystalInputError, match="num_samples"):
        sampling_playground(designer, allowed=allowed, steps=steps, num_samples=20, max_samples=16)


def test_the_playground_draws_without_capturing_output(designer, allowed, steps, no_output_capture):
    """Drawing must not go through display() or an Output's capture: that hung headless notebook runs."""
    widget = sampling_playground(designer, allowed=allowed, steps=steps, num_samples=2, num_steps=NUM_STEPS)
    widget.children[0].children[1].value = 4.0
    assert _drawn(widget.children[3])
