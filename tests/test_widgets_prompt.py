"""Tests for crystalkit.widgets.prompt: the language-model prompt box and the GFlowNet temperature slider."""

from __future__ import annotations

import pytest
import torch

from crystalkit.data import CrystalBatch
from crystalkit.errors import CrystalInputError
from crystalkit.models.gflownet import GFlowNet, GFlowNetConfig
from crystalkit.models.language import CrystalLanguageModel, LanguageModelConfig
from crystalkit.models.pretrained import load_pretrained
from crystalkit.representations import examples
from crystalkit.widgets._live import PLOTLY_MIMETYPE
from crystalkit.widgets.prompt import (
    gflownet_distribution,
    gflownet_widget,
    parse_prompt,
    prompt_samples,
    prompt_widget,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def language_model():
    return load_pretrained("perovskites-lm-csp")


@pytest.fixture(scope="module")
def memorised():
    """A tiny model that learned two crystals by heart, so that its streams parse and draw."""
    torch.manual_seed(0)
    model = CrystalLanguageModel(LanguageModelConfig(d_model=32, n_layers=2, n_heads=2, max_length=128))
    batch = CrystalBatch.from_structures([examples.perovskite(), examples.rock_salt()])
    optimizer = torch.optim.Adam(model.parameters(), 5e-3)
    for _ in range(200):
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def gflownet():
    torch.manual_seed(0)
    model = GFlowNet(GFlowNetConfig(cations=["Sr", "Ti", "Ba", "Ca"], anion_sets=["O3", "NO2", "F3"], a_bins=4,
                                    hidden=32))
    model.fit_property_model(["SrTiO3", "BaTiO3", "CaTiO3", "BaCaF3"], [-3.0, -3.2, -3.1, -2.0],
                             [3.9, 4.0, 3.85, 4.2])
    return model


def _figure_data(figure) -> str:
    return str([trace.to_plotly_json() for trace in figure.data]) + str(figure.layout.title.text)


def _drawn(box) -> dict:
    """What the browser is sent to draw: the plotly JSON in the drawing box's state."""
    (output,) = box.outputs
    return output["data"][PLOTLY_MIMETYPE]


@pytest.mark.parametrize("text, expected", [("SrTiO3", ("SrTiO3", None)), ("221", (None, 221)),
                                            ("BaTiO3, 123", ("BaTiO3", 123)), ("", (None, None))])
def test_parse_prompt(text, expected):
    assert parse_prompt(text) == expected


@pytest.mark.parametrize("text, message", [("SrTiO3 BaTiO3", "one formula"), ("300", "1 to 230")])
def test_bad_prompts_are_refused(text, message):
    with pytest.raises(CrystalInputError, match=message):
        parse_prompt(text)


def test_prompt_samples_summarise_failures(language_model):
    samples, summary = prompt_samples(language_model, "SrTiO3", 1.0, num_samples=4, seed=0)
    assert len(samples) == 4 and f"{sum(s.ok for s in samples)} of 4 streams parse" in summary
    with pytest.raises(CrystalInputError, match="Xx"):
        prompt_samples(language_model, "Xx2O3", 1.0)


def test_changing_the_prompt_or_temperature_changes_the_figure(memorised):
    perovskite, salt = (s.composition.formula.replace(" ", "") for s in (examples.perovskite(), examples.rock_salt()))
    widget = prompt_widget(memorised, perovskite, temperature=0.0, num_samples=2, seed=0)
    (text, slider), status, drawing = widget.children[0].children, widget.children[1], widget.children[2]
    assert all(s.ok for s in widget.samples)  # the memorised crystal is drawn
    assert "crystalkit-prompt" in widget._dom_classes
    before, drawn_before = _figure_data(widget.figure), _drawn(drawing)
    assert drawn_before["layout"]["title"]["text"] == widget.figure.layout.title.text  # the box shows .figure
    text.value = salt
    after_text = _figure_data(widget.figure)
    assert after_text != before and _drawn(drawing) != drawn_before
    assert all(s.ok and s.structure.composition.reduced_formula == "NaCl" for s in widget.samples)
    assert "Na" in str(_drawn(drawing)["data"]) and "Sr" not in str(_drawn(drawing)["data"])
    drawn_salt = _drawn(drawing)
    slider.value = 1.5
    assert _figure_data(widget.figure) != after_text and _drawn(drawing) != drawn_salt
    drawn_hot = _drawn(drawing)
    text.value = "Xx2O3"  # a bad prompt is reported in the status line, the drawing is kept
    assert "Xx" in status.value and _drawn(drawing) == drawn_hot


def test_a_bad_first_prompt_is_reported_not_raised(memorised):
    widget = prompt_widget(memorised, "SrTiO3 BaTiO3", num_samples=1)
    assert "one formula" in widget.children[1].value
    assert widget.figure is None and widget.children[2].outputs == ()


def test_the_widgets_draw_without_capturing_output(memorised, gflownet, no_output_capture):
    """Drawing must not go through display() or an Output's capture: that hung headless runs of notebook 08."""
    prompt = prompt_widget(memorised, "SrTiO3", num_samples=1)
    prompt.children[0].children[1].value = 0.5
    slider = gflownet_widget(gflownet, num_samples=50)
    slider.children[0].value = 0.3
    assert _drawn(prompt.children[2]) and _drawn(slider.children[1])


def test_moving_the_reward_temperature_changes_the_distribution(gflownet):
    widget = gflownet_widget(gflownet, temperature=0.05, num_samples=200, seed=0)
    slider, drawing = widget.children
    assert "crystalkit-gflownet" in widget._dom_classes
    before, drawn_before = _figure_data(widget.figure), _drawn(drawing)
    cold = widget.table
    slider.value = 0.5
    assert _figure_data(widget.figure) != before
    drawn_hot = _drawn(drawing)
    assert drawn_hot != drawn_before and "0.5" in drawn_hot["layout"]["title"]["text"]
    assert drawn_hot["data"][0]["x"] == list(widget.table["formula"].head(20))  # the bars are the new table's
    assert widget.table["formula"].nunique() >= cold["formula"].nunique()  # hotter: at least as many formulas
    assert widget.table["count"].sum() == cold["count"].sum() == 200
    with pytest.raises(CrystalInputError, match="positive"):
        gflownet_distribution(gflownet, 0.0)
