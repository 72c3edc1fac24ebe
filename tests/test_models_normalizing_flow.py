"""The normalizing flow: the change of variables checked by brute force, exact inverses, symmetries, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from models_helpers import permute, perovskites, random_crystals, random_rotation, rotate, translate

from crystalkit.data import CrystalBatch, DenseCrystals
from crystalkit.errors import CrystalInputError
from crystalkit.models import NormalizingFlow, NormalizingFlowConfig, TrainConfig, train
from crystalkit.models.checkpoint import load_checkpoint, save_checkpoint
from crystalkit.models.normalizing_flow import build_normalizing_flow, canonical_order, circular_spline

torch.set_num_threads(1)


def random_flow(seed: int = 0, spread: float = 0.05) -> NormalizingFlow:
    """A small flow whose layers are not the identity (their last layers start at zero)."""
    torch.manual_seed(seed)
    model = build_normalizing_flow(hidden=16)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(spread * torch.randn_like(parameter))
    return model.double()


def test_the_spline_is_a_bijection_of_the_circle_with_the_right_slope():
    raw = torch.randn(7, 24, dtype=torch.float64)
    x = torch.rand(7, dtype=torch.float64, requires_grad=True)
    y, log_slope = circular_spline(x, raw)
    (slope,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(log_slope, slope.log())
    back, log_slope_back = circular_spline(y.detach(), raw, inverse=True)
    torch.testing.assert_close(back, x.detach())
    torch.testing.assert_close(log_slope_back, log_slope.detach())
    grid = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000  # the density it pushes forward integrates to 1
    _, log_slope_grid = circular_spline(grid, raw[:1].expand(len(grid), -1))
    assert torch.exp(log_slope_grid).mean() == pytest.approx(1.0, abs=1e-6)


def test_log_determinants_equal_a_brute_force_jacobian():
    model = random_flow()
    crystal = model._canonical(random_crystals(1, 4, seed=3))
    out = model.encode(crystal)
    origin = crystal.frac[:, :1]

    def coordinates_to_base(relative):  # (9,) the three non-origin atoms -> their base values
        frac = torch.cat([torch.zeros(1, 1, 3, dtype=relative.dtype), relative.reshape(1, 3, 3)], dim=1) + origin
        return model.encode(crystal.replace(frac=frac))["z_coords"][0, 1:].reshape(-1)

    def lattice_to_base(y):  # (6,) -> (6,)
        return model.encode(crystal.replace(lattice=model.lattice.to_lattice(y[None], crystal.num_atoms)))[
            "z_lattice"][0]

    relative = torch.remainder(crystal.frac[0, 1:] - crystal.frac[0, :1], 1.0).reshape(-1)
    y = model.lattice.to_y(crystal.lattice, crystal.num_atoms)[0]
    for jacobian, logdet in [(torch.autograd.functional.jacobian(coordinates_to_base, relative), "logdet_coords"),
                             (torch.autograd.functional.jacobian(lattice_to_base, y), "logdet_lattice")]:
        torch.testing.assert_close(torch.linalg.slogdet(jacobian).logabsdet, out[logdet][0])
    assert out["logdet_coords"].abs() > 1e-3  # not the identity: the check could fail


def test_log_prob_is_the_base_density_plus_the_log_determinants():
    model = random_flow()
    crystals = random_crystals(3, 5, seed=1)
    out, log_p = model.encode(crystals), model.log_prob(crystals)
    base = torch.distributions.Normal(0.0, 1.0).log_prob(out["z_lattice"]).sum(-1)
    torch.testing.assert_close(log_p["total"], base + out["logdet_lattice"] + out["logdet_coords"])


def test_decode_inverts_encode():
    model = random_flow()
    crystals = model._canonical(random_crystals(3, 5, seed=2))
    out = model.encode(crystals)
    back = model.decode(out["z_lattice"], out["z_coords"], crystals, crystals.frac[:, 0])
    torch.testing.assert_close(back.frac, crystals.frac)
    torch.testing.assert_close(model.lattice.to_y(back.lattice, back.num_atoms),
                               model.lattice.to_y(crystals.lattice, crystals.num_atoms))


def test_the_likelihood_ignores_rotation_origin_and_the_order_of_elements_but_not_of_equal_atoms():
    model = random_flow()
    crystals = DenseCrystals.from_batch(CrystalBatch.from_structures(perovskites()), dtype=torch.float64)
    reference = model.log_prob(crystals)["total"]
    for what, moved in {"rotation": rotate(crystals, random_rotation(2)),
                        "origin": translate(crystals, torch.tensor([0.2, 0.45, -0.3], dtype=torch.float64)),
                        "elements reordered": permute(crystals, torch.tensor([2, 1, 0, 3, 4]))}.items():
        torch.testing.assert_close(model.log_prob(moved)["total"], reference, msg=what)
    oxygens_swapped = model.log_prob(permute(crystals, torch.tensor([0, 1, 3, 2, 4])))["total"]
    assert (oxygens_swapped - reference).abs().max() > 1e-4  # the density is over labelled atoms


def test_canonical_order_puts_heavy_atoms_first_and_padding_last():
    types = torch.tensor([[8, 38, 8, 22, 0]])
    order = canonical_order(types, types > 0)
    assert types[0, order[0]].tolist() == [38, 22, 8, 8, 0]
    assert order[0, 2:4].tolist() == [0, 2]  # equal atoms keep their order


def test_sampling_is_reproducible_and_training_and_checkpoints_work(tmp_path):
    model = random_flow().float()
    first = model.sample(["SrTiO3", "Ba2Ti2O6"], num_samples=2, seed=3)
    again = model.sample(["SrTiO3", "Ba2Ti2O6"], num_samples=2, seed=3)
    assert all(a == b for a, b in zip(first[1], again[1]))
    assert len(first[1][0]) == 10 and first[1][0].composition.reduced_formula == "BaTiO3"
    result = train(model, perovskites(), None, TrainConfig(max_steps=4, batch_size=4, progress=False))
    assert all(math.isfinite(row["loss"]) for row in result.history["train"])
    path = save_checkpoint(tmp_path / "nf.pt", model)
    loaded, _ = load_checkpoint(path, weights="raw")
    assert isinstance(loaded, NormalizingFlow)
    crystals = random_crystals(2, 5).replace(frac=random_crystals(2, 5).frac.float(),
                                             lattice=random_crystals(2, 5).lattice.float())
    torch.testing.assert_close(loaded.log_prob(crystals)["total"], model.log_prob(crystals)["total"])
    assert loaded.sample(["SrTiO3"], 2, seed=1)[0] == model.sample(["SrTiO3"], 2, seed=1)[0]


def test_bad_input_is_refused_with_a_useful_message():
    model = random_flow().float()
    with pytest.raises(CrystalInputError, match="not a chemical element"):
        model.sample(["SrXxO3"], 1, seed=0)
    with pytest.raises(CrystalInputError, match="number of atoms"):
        NormalizingFlow(model.net, NormalizingFlowConfig(task="de_novo"))
    with pytest.raises(CrystalInputError, match="'diffusion' model"):
        NormalizingFlow.from_config({**model.to_config(), "family": "diffusion"})
    with pytest.raises(CrystalInputError, match="frac must be"):
        model.log_prob(DenseCrystals(types=torch.ones(1, 2, dtype=torch.int64), frac=torch.zeros(1, 3, 3),
                                     lattice=torch.eye(3)[None], mask=torch.ones(1, 2, dtype=torch.bool)))
