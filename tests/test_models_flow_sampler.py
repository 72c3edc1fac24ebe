"""The flow's ODE solvers and time grids: Euler and Heun on a field whose solution is known."""

from __future__ import annotations

import math

import pytest
import torch
from models_helpers import tiny_backbone

from crystalkit.errors import CrystalInputError
from crystalkit.models import FlowConfig, FlowMatching
from crystalkit.models.flow import FlowPrediction, function_evaluations, time_grid

torch.set_num_threads(1)


def test_uniform_grid_is_exactly_i_over_n():
    grid = time_grid(7)
    assert grid.tolist() == [i * (1.0 / 7) for i in range(8)]


@pytest.mark.parametrize("power", [1.5, 2.0, 3.0])
def test_late_grid_runs_from_0_to_1_with_shrinking_steps(power):
    grid = time_grid(10, power)
    steps = grid.diff()
    assert grid[0] == 0.0 and grid[-1] == 1.0
    assert (steps > 0).all()
    assert (steps.diff() < 0).all()  # each step shorter than the one before: the steps crowd towards t = 1


def test_network_calls_count_heun_double_but_skip_the_last_look_ahead():
    assert function_evaluations(10, "euler") == 10
    assert function_evaluations(5, "heun") == 9
    with pytest.raises(CrystalInputError, match="solver"):
        function_evaluations(5, "rk4")


@pytest.mark.parametrize("bad", [{"solver": "rk4"}, {"time_power": 0.0}, {"time_power": -1.0}])
def test_bad_sampler_settings_are_refused(bad):
    with pytest.raises(CrystalInputError, match="FlowConfig"):
        FlowConfig(**bad)


def test_bad_step_count_is_refused():
    with pytest.raises(CrystalInputError, match="num_steps"):
        time_grid(0)


def decaying_flow(solver: str, power: float = 1.0) -> FlowMatching:
    """A flow whose 'network' is the field dy/dt = -y on the lattice and still atoms: y(1) = y(0) / e."""
    model = FlowMatching(tiny_backbone(), FlowConfig(solver=solver, time_power=power, coord_anneal=0.0))
    model.eval()

    def predict(types, state, times, guidance_scale):
        y = model.lattice_to_flow(state.lattice, state.mask)
        return FlowPrediction(coord_velocity=torch.zeros_like(state.frac), lattice_velocity=-y)

    model.predict = predict
    return model


def final_error(model: FlowMatching, num_steps: int) -> float:
    """Largest error of the sampled lattice (flow coordinates) against the exact solution y(0) / e."""
    template, _, generator = model._start_sampling(["SrTiO3", "NaCl"], 3, 0, num_steps, None, 0.0)
    with torch.no_grad():
        states = list(model._sampler(template, num_steps, generator, 0.0))
    start = model.lattice_to_flow(states[0].lattice, states[0].mask)
    end = model.lattice_to_flow(states[-1].lattice, states[-1].mask)
    assert torch.equal(states[-1].frac, states[0].frac)  # zero coordinate velocity: atoms stay put
    return float((end - start / math.e).abs().max())


def test_heun_beats_euler_at_the_same_number_of_network_calls():
    euler, heun = decaying_flow("euler"), decaying_flow("heun")
    euler_error = final_error(euler, function_evaluations(5, "heun"))  # 9 Euler steps: as many calls as 5 Heun steps
    heun_error = final_error(heun, 5)
    assert heun_error < euler_error / 3


def test_heun_error_falls_as_the_square_of_the_step():
    heun = decaying_flow("heun")
    coarse, fine = final_error(heun, 4), final_error(heun, 8)
    assert 3.0 < coarse / fine < 5.0  # second order: halving dt quarters the error (float noise allowing)


def test_euler_error_falls_as_the_step():
    euler = decaying_flow("euler")
    coarse, fine = final_error(euler, 8), final_error(euler, 16)
    assert 1.6 < coarse / fine < 2.4


def test_set_sampler_changes_only_the_settings_given_and_checks_them():
    model = FlowMatching(tiny_backbone())
    model.set_sampler(solver="heun")
    assert (model.config.solver, model.config.time_power, model.config.coord_anneal) == ("heun", 1.0, 2.0)
    model.set_sampler(time_power=2.0, coord_anneal=0.0)
    assert (model.config.solver, model.config.time_power, model.config.coord_anneal) == ("heun", 2.0, 0.0)
    with pytest.raises(CrystalInputError, match="solver"):
        model.set_sampler(solver="rk4")
    assert model.config.solver == "heun"  # a refused change leaves the model as it was
