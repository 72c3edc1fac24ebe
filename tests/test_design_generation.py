"""Tests for crystalkit.design.generation: the training range of a label and guided candidates."""

from __future__ import annotations

import math

import pytest
import torch

from crystalkit.data import load_dataset
from crystalkit.design import LabelRange, check_target, conditioned_candidates, label_range, pretrained_label_range
from crystalkit.errors import CrystalInputError
from crystalkit.models.pretrained import load_pretrained


@pytest.fixture(scope="module")
def designer():
    torch.set_num_threads(1)
    return load_pretrained("perovskites-diffusion-denovo-formation-energy")


def test_label_range_ignores_missing_values():
    found = label_range([0.5, math.nan, -1.0, 2.0], "gap", "eV")
    assert (found.low, found.high) == (-1.0, 2.0)
    assert str(found) == "gap from -1.000 to 2.000 eV"
    with pytest.raises(CrystalInputError, match="No finite"):
        label_range([math.nan])


def test_the_shipped_models_range_is_its_training_labels(designer):
    found = pretrained_label_range(designer)
    labels = load_dataset("perovskites", "train").labels["formation_energy_per_atom"]
    assert (found.low, found.high) == (labels.min(), labels.max())
    assert found.unit == "eV/atom"
    with pytest.raises(CrystalInputError, match="not a shipped conditional"):
        pretrained_label_range(load_pretrained("perovskites-diffusion-csp"))


def test_a_target_outside_the_range_is_refused_with_the_range():
    allowed = LabelRange("formation_energy_per_atom", -3.5, 0.9, "eV/atom")
    assert check_target(-1, allowed) == -1.0
    assert check_target(0.9, allowed) == 0.9
    for bad in (-4.0, 1.5, math.nan):
        with pytest.raises(CrystalInputError, match=r"from -3\.500 to 0\.900 eV/atom"):
            check_target(bad, allowed)
    with pytest.raises(CrystalInputError, match="must be a number"):
        check_target("low", allowed)


def test_guided_candidates_are_numbered_and_follow_the_seed(designer):
    allowed = pretrained_label_range(designer)
    first = conditioned_candidates(designer, -2.0, allowed, guidance_scale=2.0, num_samples=3, seed=1, num_steps=5)
    again = conditioned_candidates(designer, -2.0, allowed, guidance_scale=2.0, num_samples=3, seed=1, num_steps=5)
    assert [c.id for c in first] == [0, 1, 2]
    assert [c.formula for c in first] == [c.formula for c in again]
    assert "w = 2" in first[0].origin
    with pytest.raises(CrystalInputError, match="outside the training range"):
        conditioned_candidates(designer, allowed.high + 1.0, allowed, num_samples=2, num_steps=5)
    with pytest.raises(CrystalInputError, match="guidance scale"):
        conditioned_candidates(designer, -2.0, allowed, guidance_scale=-1.0, num_samples=2, num_steps=5)
    with pytest.raises(CrystalInputError, match="num_samples"):
        conditioned_candidates(designer, -2.0, allowed, num_samples=0, num_steps=5)
