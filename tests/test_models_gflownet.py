"""Tests for crystalkit.models.gflownet: sampling in proportion to a reward."""

from __future__ import annotations

import math

import pytest
import torch
from pymatgen.core import Composition

from crystalkit.data import TensorCrystalDataset
from crystalkit.errors import CrystalInputError
from crystalkit.models.checkpoint import save_checkpoint
from crystalkit.models.gflownet import (
    GFlowNet,
    GFlowNetConfig,
    fit_element_model,
    total_variation,
    trajectory_balance_loss,
)
from crystalkit.structures import check_structure

TOY = GFlowNetConfig(space_groups=[221, 123], cations=["Sr", "Ti", "Ba"], anion_sets=["O3", "NO2"], a_bins=3,
                     a_min=3.8, a_max=4.2, c_over_a=[0.97, 1.0], hidden=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _toy(seed: int = 0) -> GFlowNet:
    torch.manual_seed(seed)
    model = GFlowNet(TOY)
    model.fit_property_model(["SrTiO3", "BaTiO3", "SrTiNO2", "BaSrO3"], [-3.0, -3.2, -2.0, -1.0],
                             [3.9, 4.0, 4.0, 4.3])
    return model


def test_the_space_is_counted_and_enumerated_with_its_rules():
    model = _toy()
    states = model.all_states()
    assert len(states) == model.num_states == len({tuple(r) for r in states.tolist()})
    # cubic: 3*2 cation pairs x 1 pure anion set x 3 a x 1 c/a; tetragonal: 6 x 2 x 3 x 2
    assert model.num_states == 6 * 1 * 3 * 1 + 6 * 2 * 3 * 2
    for row in states.tolist():
        assert row[1] != row[2]
        if TOY.space_groups[row[0]] == 221:
            assert TOY.anion_sets[row[3]] == "O3" and TOY.c_over_a[row[5]] == 1.0
    uniform = model.uniform_states(500, torch.Generator().manual_seed(0))
    assert all(model._valid(tuple(r)) for r in uniform.tolist())


def test_policy_probabilities_sum_to_one_over_all_finished_states():
    model = _toy()
    with torch.no_grad():
        total = model.log_prob(model.all_states(), 0.2).exp().sum()
    assert math.isclose(float(total), 1.0, rel_tol=1e-5)


def test_trajectory_balance_is_zero_exactly_at_the_solution():
    model = _toy()
    states = model.all_states()
    log_r = model.log_reward(states, 0.1)
    log_z = torch.logsumexp(log_r, 0)
    exact = log_r - log_z  # a tree: the one trajectory of x has probability R(x) / Z
    assert float(trajectory_balance_loss(log_z, exact, log_r)) < 1e-10
    assert float(trajectory_balance_loss(log_z + 0.1, exact, log_r)) == pytest.approx(0.01, rel=1e-4)
    shuffled = exact[torch.randperm(len(exact), generator=torch.Generator().manual_seed(0))]
    assert float(trajectory_balance_loss(log_z, shuffled, log_r)) > 0.01


@pytest.mark.slow
def test_trained_sampler_matches_reward_over_z_on_an_enumerable_space():
    """The core correctness check: after training, P(x) = R(x)/Z at several temperatures (small TV)."""
    model = _toy()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(700):
        loss = model.loss(None, generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    states = model.all_states()
    with torch.no_grad():
        for temperature in (0.1, 0.3):
            learned = model.log_prob(states, temperature).exp()
            target = torch.softmax(model.log_reward(states, temperature), 0)
            assert total_variation(learned, target) < 0.06
            uniform = torch.full_like(target, 1 / len(target))
            assert total_variation(uniform, target) > 0.3  # the test could fail: the target is far from uniform
            log_z = float(model.log_z(torch.tensor([temperature])))
            assert log_z == pytest.approx(float(torch.logsumexp(model.log_reward(states, temperature), 0)), abs=0.2)


def test_element_model_recovers_additive_weights():
    formulas = ["SrTiO3", "BaTiO3", "SrZrO3", "BaZrO3", "CaTiO3", "CaZrO3"]
    weights = {"Sr": -1.0, "Ba": -1.5, "Ca": -0.5, "Ti": 2.0, "Zr": 1.0, "O": -2.0}
    compositions = [Composition(f) for f in formulas]
    targets = [sum(weights[str(e)] * x for e, x in c.fractional_composition.items()) for c in compositions]
    w, b = fit_element_model(compositions, targets, ridge=1e-8)
    predicted = [b + sum(float(w[e.Z]) * x for e, x in c.fractional_composition.items()) for c in compositions]
    assert predicted == pytest.approx(targets, abs=1e-4)
    with pytest.raises(CrystalInputError):
        fit_element_model(compositions, targets[:-1])


def test_reward_prefers_low_energy_and_the_right_cell_size():
    model = _toy()
    states = model.all_states()
    energy = model.energy(states)
    best = states[energy.argmin()]
    assert model.describe(best[None])[0]["formula"] in ("BaTiO3",)  # the lowest fitted formation energy
    assert model.describe(best[None])[0]["a (Å)"] == pytest.approx(4.0)  # its fitted cell edge
    assert bool((model.log_reward(states, 0.1) > model.log_reward(states, 0.2)).any())


def test_structures_are_valid_perovskites():
    model = _toy()
    for row in model.all_states()[::7]:
        structure = model.to_structure(row)
        check_structure(structure)
        assert len(structure) == 5 and structure.is_valid(tol=1.0)


def test_maximiser_finds_the_single_best_state():
    model = _toy()
    states = model.all_states()
    best_energy = float(model.energy(states).min())
    ends = model.maximise(restarts=6, seed=0)
    assert float(model.energy(ends).min()) == pytest.approx(best_energy)


def test_training_through_the_kit_loop_and_checkpoint_round_trip(tmp_path, srtio3):
    from crystalkit.models.training import TrainConfig, train

    structures = [srtio3, srtio3.copy()]
    structures[1].replace_species({"Sr": "Ba"})
    data = TensorCrystalDataset.from_structures(structures, labels=[-3.0, -3.2])
    model = GFlowNet(TOY)
    train(model, data, None, TrainConfig(max_steps=20, batch_size=16, progress=False))
    assert float(model.energy_weights.abs().sum()) > 0  # the proxy was fitted on the labels
    path = save_checkpoint(tmp_path / "gfn.pt", model)
    loaded = GFlowNet.load(path)
    states = model.all_states()
    assert torch.allclose(loaded.log_prob(states, 0.2), model.log_prob(states, 0.2))
    assert torch.equal(loaded.energy(states), model.energy(states))
    unlabelled = TensorCrystalDataset.from_structures(structures)
    with pytest.raises(CrystalInputError, match="condition"):
        train(GFlowNet(TOY), unlabelled, None, TrainConfig(max_steps=2, progress=False))


def test_sampling_interface_and_errors():
    model = _toy()
    (samples,) = model.sample(None, 4, seed=0, temperature=0.2)
    assert len(samples) == 4 and all(len(s) == 5 for s in samples)
    with pytest.raises(CrystalInputError, match="compositions"):
        model.sample(["SrTiO3"], 2)
    with pytest.raises(CrystalInputError, match="temperature"):
        model.sample(None, 2, temperature=0.0)
    with pytest.raises(CrystalInputError, match="Xx"):
        GFlowNet(GFlowNetConfig(cations=["Sr", "Xx"]))
    with pytest.raises(CrystalInputError, match="3 atoms"):
        GFlowNet(GFlowNetConfig(anion_sets=["O2"]))
