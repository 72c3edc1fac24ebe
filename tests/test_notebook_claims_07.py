"""What notebook 07 (flow matching) says about the package, checked without running the notebook.

Section 5 of the notebook writes one training step in cells and asserts that it equals
``FlowMatching.loss`` on the same batch and seed. That only holds while the package draws its random
numbers in the order the notebook states (times, coordinate prior, lattice lengths, lattice angles, then
the labels to hide) and compares velocities as the notebook derives (mean drift removed). These tests
repeat the lecture's step on a tiny model, with padding and with a label, so a change in the package's
order or loss fails here, with a pointer to the notebook, before the notebook test runs.
"""

from __future__ import annotations

import pytest
import torch
from models_helpers import random_crystals, tiny_backbone

from crystalkit.data import DenseCrystals
from crystalkit.geometry import minimum_image_frac, wrap_frac
from crystalkit.models import FlowConfig, FlowMatching

NOTEBOOK = "notebooks/py/07_flow_matching.py, section 5"


def tiny_flow(conditional: bool = False, seed: int = 0) -> FlowMatching:
    """A tiny flow whose zero-initialised output layers are given random weights, so predictions are not 0."""
    model = FlowMatching(tiny_backbone(seed), FlowConfig(conditional=conditional))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in (model.coord_head.per_atom, model.coord_head.per_pair, model.lattice_head[-1]):
            for parameter in layer.parameters():
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model


def padded_crystals(labels: bool = False) -> DenseCrystals:
    """Three random crystals of 6, 4 and 5 atoms in one padded batch (padding must not count)."""
    crystals = random_crystals(num_crystals=3, num_atoms=6, seed=3, dtype=torch.float32)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 5 + [False]])
    condition = torch.tensor([-1.0, 0.5, 2.0]) if labels else None
    return crystals.replace(mask=mask, condition=condition)


def lecture_step(model: FlowMatching, batch: DenseCrystals, seed: int) -> dict[str, torch.Tensor]:
    """The notebook's training step, line for line (plus the label draw of a conditional model)."""
    mask, size = batch.mask, batch.num_crystals
    generator = torch.Generator().manual_seed(seed)
    t = torch.rand(size, generator=generator)                                    # (B,)
    f0 = torch.rand(batch.frac.shape, generator=generator)                       # (B, N, 3)
    u = minimum_image_frac(batch.frac - f0)
    f_t = wrap_frac(f0 + t[:, None, None] * u)
    y1 = model.lattice_to_flow(batch.lattice, mask)                              # (B, 6)
    y0 = torch.cat([torch.randn(size, 3, generator=generator), 2 * torch.rand(size, 3, generator=generator) - 1], -1)
    y_t = y0 + t[:, None] * (y1 - y0)
    hide = None
    if model.condition_embedding is not None:  # drawn after the path, as the notebook says
        hide = torch.rand(size, generator=generator) < model.config.condition_dropout
    state = batch.replace(frac=f_t, lattice=model.flow_to_lattice(y_t, mask))
    predicted = model.predict(batch.types, state, t, hide_condition=hide)
    w = mask[..., None].float()                                                  # (B, N, 1)
    drift = (u * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)                # (B, 1, 3)
    coords = ((predicted.coord_velocity - (u - drift) * w) ** 2 * w).sum() / (3 * w.sum())
    lattice = ((predicted.lattice_velocity - (y1 - y0)) ** 2).mean()
    raw = ((predicted.coord_velocity - u * w) ** 2 * w).sum() / (3 * w.sum())  # target with its drift
    drift_share = (drift**2 * w).sum() / (3 * w.sum())
    loss = model.config.coord_weight * coords + model.config.lattice_weight * lattice
    return {"loss": loss, "coords": coords, "lattice": lattice, "raw": raw, "drift_share": drift_share}


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
def test_the_lecture_step_is_the_package_loss(conditional):
    model = tiny_flow(conditional).train()
    batch = padded_crystals(labels=conditional)
    ours = lecture_step(model, batch, seed=7)
    package = model.loss(batch, torch.Generator().manual_seed(7))
    assert float(package["loss"].detach()) > 0.01, "a zero loss would make the comparison empty"
    for name in ("loss", "coords", "lattice"):
        torch.testing.assert_close(ours[name], package[name], msg=lambda m, name=name: (
            f"{name}: the training step written out in {NOTEBOOK} no longer equals FlowMatching.loss. "
            f"If the package's draws or loss changed on purpose, update the notebook's cell and its text. {m}"))


def test_another_seed_gives_another_loss():
    model, batch = tiny_flow(), padded_crystals()
    first = model.loss(batch, torch.Generator().manual_seed(7))["loss"]
    second = model.loss(batch, torch.Generator().manual_seed(8))["loss"]
    assert not torch.isclose(first, second), "the equality above must come from equal draws, not from no draws"


def test_the_drift_adds_the_same_constant_whatever_the_network():
    batch = padded_crystals()
    steps = [lecture_step(tiny_flow(seed=seed).eval(), batch, seed=11) for seed in (0, 1)]
    for step in steps:  # raw = centred + drift share (the cross term vanishes for zero-mean predictions)
        torch.testing.assert_close(step["raw"], step["coords"] + step["drift_share"])
    assert not torch.isclose(steps[0]["coords"], steps[1]["coords"]), "two networks should predict differently"
    torch.testing.assert_close(steps[0]["drift_share"], steps[1]["drift_share"])  # free of the network
    assert float(steps[0]["drift_share"]) > 0
