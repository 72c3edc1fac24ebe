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
from crystalkit.widgets.prompt import (
    gflownet_distribution,
    gflownet_widget,
    parse_prompt,
    prompt_samples,
    prompt_widget,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    (text, slider), status = widget.children[0].children, widget.children[1]
    assert all(s.ok for s in widget.samples)  # the memorised crystal is drawn
    before = _figure_data(widget.figure)
    text.value = salt
    after_text = _figure_data(widget.figure)
    assert after_text != before
    assert all(s.ok and s.structure.composition.reduced_formula == "NaCl" for s in widget.samples)
    slider.value = 1.5
    assert _figure_data(widget.figure) != after_text
    text.value = "Xx2O3"  # a bad prompt is reported in the status line, the figure is kept
    assert "Xx" in status.value


def test_moving_the_reward_temperature_changes_the_distribution(gflownet):
    widget = gflownet_widget(gflownet, temperature=0.05, num_samples=200, seed=0)
    slider = widget.children[0]
    before = _figure_data(widget.figure)
    cold = widget.table
    slider.value = 0.5
    assert _figure_data(widget.figure) != before
    assert widget.table["count"].sum() == cold["count"].sum() == 200
    with pytest.raises(CrystalInputError, match="positive"):
        gflownet_distribution(gflownet, 0.0)
