"""Diffusion and flow matching: sampling interface, de novo, guidance, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from models_helpers import perovskites, tiny_backbone
from pymatgen.core import Composition, Structure

from crystalkit.data import CrystalBatch
from crystalkit.errors import CrystalInputError
from crystalkit.models import (
    DenseCrystals,
    Diffusion,
    DiffusionConfig,
    FlowConfig,
    FlowMatching,
    TensorCrystalDataset,
    TrainConfig,
    train,
)
from crystalkit.models.diffusion import DiffusionPrediction
from crystalkit.models.flow import FlowPrediction

torch.set_num_threads(1)

FORMULAS = ["SrTiO3", "Ba2Ti2O6", "NaCl"]


def quick(steps: int = 30) -> TrainConfig:
    return TrainConfig(max_minutes=None, max_steps=steps, batch_size=16, learning_rate=3e-3, warmup_steps=5,
                       progress=False, device="cpu")


@pytest.fixture(scope="module")
def data() -> TensorCrystalDataset:
    structures = perovskites()
    return TensorCrystalDataset.from_structures(structures, labels=np.linspace(-2.0, 0.0, len(structures)))


@pytest.fixture(scope="module", params=["diffusion", "flow"])
def model(request, data):
    torch.manual_seed(0)
    model = Diffusion(tiny_backbone()) if request.param == "diffusion" else FlowMatching(tiny_backbone())
    train(model, data, config=quick())
    return model


def check_structures(structures: list[Structure], formula: str) -> None:
    for structure in structures:
        assert structure.composition == Composition(formula)  # same elements and the same atom count
        matrix = structure.lattice.matrix
        assert np.isfinite(matrix).all() and np.isfinite(structure.frac_coords).all()
        assert structure.volume > 0.1
        assert ((structure.frac_coords >= 0) & (structure.frac_coords < 1)).all()


def test_sample_returns_what_the_structure_generator_interface_promises(model):
    """CSP: one list per composition, each of num_samples pymatgen structures of exactly that composition,
    the same crystals as sample_batch gives for the same seed."""
    formulas = ["NaCl", "SrTiO3"]
    samples = model.sample(formulas, 2, seed=4, num_steps=3)
    assert type(samples) is list and [type(group) for group in samples] == [list, list]
    assert [len(group) for group in samples] == [2, 2]
    for formula, group in zip(formulas, samples):
        assert all(type(structure) is Structure for structure in group)
        assert all(structure.composition == Composition(formula) for structure in group)
    batch = model.sample_batch(formulas, 2, seed=4, num_steps=3)
    assert type(batch) is CrystalBatch and batch.num_atoms.tolist() == [2, 2, 5, 5]
    flat = [structure for group in samples for structure in group]
    for structure, lattice in zip(flat, batch.lattice):
        assert np.allclose(structure.lattice.matrix, lattice.numpy())


def test_csp_sampling_returns_the_asked_compositions(model):
    samples = model.sample(FORMULAS, num_samples=3, seed=0, num_steps=8)
    assert [len(group) for group in samples] == [3, 3, 3]
    for formula, group in zip(FORMULAS, samples):
        check_structures(group, formula)


def test_sampling_is_reproducible_and_batch_size_does_not_matter(model):
    first = model.sample_batch(FORMULAS, 2, seed=5, num_steps=6)
    again = model.sample_batch(FORMULAS, 2, seed=5, num_steps=6)
    assert torch.equal(first.frac_coords, again.frac_coords) and torch.equal(first.lattice, again.lattice)
    chunked = model.sample_batch(FORMULAS, 2, seed=5, num_steps=6, batch_size=4)
    assert chunked.num_atoms.tolist() == first.num_atoms.tolist()
    assert chunked.atomic_numbers.tolist() == first.atomic_numbers.tolist()


def test_trajectory_has_every_step(model):
    trajectory = model.sample_trajectory(["SrTiO3"], num_samples=2, seed=1, num_steps=5)
    assert len(trajectory) == 6  # the prior draw and one state per step
    for state in trajectory:
        assert isinstance(state, CrystalBatch)
        assert state.num_atoms.tolist() == [5, 5]
        assert torch.isfinite(state.lattice).all()
    final = model.sample_batch(["SrTiO3"], 2, seed=1, num_steps=5)
    assert torch.allclose(trajectory[-1].frac_coords, final.frac_coords)


def test_csp_model_refuses_de_novo_and_bad_requests(model):
    with pytest.raises(CrystalInputError, match="compositions"):
        model.sample(None, 2)
    with pytest.raises(CrystalInputError, match="formula"):
        model.sample(["NotAnElement3"], 1)
    with pytest.raises(CrystalInputError, match="num_samples"):
        model.sample(["SrTiO3"], 0)
    with pytest.raises(CrystalInputError, match="num_steps"):
        model.sample(["SrTiO3"], 1, num_steps=0)
    with pytest.raises(CrystalInputError, match="conditional"):
        model.sample(["SrTiO3"], 1, condition=-1.0)
    with pytest.raises(CrystalInputError, match="condition"):
        model.sample(["SrTiO3"], 1, guidance_scale=1.0)


def test_loss_accepts_flat_batches(model):
    batch = CrystalBatch.from_structures(perovskites()[:2])
    losses = model.loss(batch)
    assert torch.isfinite(losses["loss"]) and losses["loss"].dim() == 0


def test_de_novo_diffusion_chooses_types_and_sizes(data):
    torch.manual_seed(0)
    model = Diffusion(tiny_backbone(), DiffusionConfig(task="de_novo", max_atoms=8))
    train(model, data, config=quick(20))
    samples = model.sample(None, num_samples=4, seed=0, num_steps=6)
    assert type(samples) is list and len(samples) == 1  # de novo: one list of num_samples structures
    [samples] = samples
    assert len(samples) == 4 and all(type(structure) is Structure for structure in samples)
    seen = {site.specie.symbol for structure in perovskites() for site in structure}
    for structure in samples:
        assert len(structure) == 5  # every training cell has 5 atoms
        assert {site.specie.symbol for site in structure} <= seen  # decoded among the training elements
        assert np.isfinite(structure.lattice.matrix).all()
    with pytest.raises(CrystalInputError, match="de novo"):
        model.sample(["SrTiO3"], 1)


def test_de_novo_needs_room_for_the_largest_cell(data):
    model = Diffusion(tiny_backbone(), DiffusionConfig(task="de_novo", max_atoms=4))
    with pytest.raises(CrystalInputError, match="max_atoms"):
        model.fit_data_statistics(data.crystals)


@pytest.mark.parametrize("family", ["diffusion", "flow"])
def test_classifier_free_guidance(family, data):
    torch.manual_seed(0)
    config = DiffusionConfig(conditional=True) if family == "diffusion" else FlowConfig(conditional=True)
    model = (Diffusion if family == "diffusion" else FlowMatching)(tiny_backbone(), config)
    train(model, data, config=quick(20))
    assert float(model.condition_embedding.mean) == pytest.approx(-1.0, abs=1e-6)  # fitted on the labels
    guided = model.sample_batch(["SrTiO3"], 2, seed=0, num_steps=4, condition=-1.5, guidance_scale=2.0)
    plain = model.sample_batch(["SrTiO3"], 2, seed=0, num_steps=4)
    assert torch.isfinite(guided.lattice).all()
    assert not torch.equal(guided.frac_coords, plain.frac_coords)
    # predict() combines the labelled and the unlabelled prediction field by field: out + w (out - plain).
    state = model.template(["SrTiO3", "BaTiO3"], 1, condition=-1.5)
    frac = torch.rand(state.frac.shape, generator=torch.Generator().manual_seed(0))
    state = state.replace(frac=frac, lattice=4 * torch.eye(3).repeat(2, 1, 1))
    t = torch.full((2,), 0.5)
    with torch.no_grad():
        with_label = model.predict(state.types, state, t)
        without = model.predict(state.types, state.replace(condition=None), t)
        guided = model.predict(state.types, state, t, guidance_scale=2.0)
    for field in dataclasses.fields(guided):
        if getattr(guided, field.name) is None:  # a CSP diffusion model has no type output
            assert getattr(with_label, field.name) is None
            continue
        expected = getattr(with_label, field.name) * 3 - 2 * getattr(without, field.name)
        assert torch.allclose(getattr(guided, field.name), expected, atol=1e-5), field.name
        assert not torch.allclose(getattr(with_label, field.name), getattr(without, field.name)), field.name


@pytest.mark.parametrize("prediction", [DiffusionPrediction, FlowPrediction])
def test_guidance_changes_every_prediction_field_and_keeps_absent_ones(prediction):
    names = [field.name for field in dataclasses.fields(prediction)]
    shapes = {name: (2, 3) for name in names}
    with_label = prediction(**{name: torch.full(shapes[name], 2.0 + i) for i, name in enumerate(names)})
    without = prediction(**{name: torch.full(shapes[name], 1.0) for name in names})
    guided = with_label.guided(without, 0.5)
    assert type(guided) is prediction
    for i, name in enumerate(names):  # (2 + i) + 0.5 ((2 + i) - 1)
        assert torch.equal(getattr(guided, name), torch.full(shapes[name], 2.0 + i + 0.5 * (1.0 + i))), name
    unguided = with_label.guided(without, 0.0)
    assert all(torch.equal(getattr(unguided, name), getattr(with_label, name)) for name in names)
    if prediction is DiffusionPrediction:  # a CSP model has no type output: it stays absent
        csp = DiffusionPrediction(coord_score=torch.ones(1, 2, 3), lattice_noise=torch.ones(1, 3, 3))
        assert csp.guided(csp, 1.0).type_noise is None


def test_conditional_model_needs_labels():
    unlabelled = TensorCrystalDataset.from_structures(perovskites())
    model = FlowMatching(tiny_backbone(), FlowConfig(conditional=True))
    with pytest.raises(CrystalInputError, match="labels"):
        model.fit_data_statistics(unlabelled.crystals)


def test_flow_is_csp_only():
    with pytest.raises(CrystalInputError, match="de novo"):
        FlowMatching(tiny_backbone(), FlowConfig(task="de_novo"))
    with pytest.raises(CrystalInputError, match="task"):
        Diffusion(tiny_backbone(), DiffusionConfig(task="both"))


def test_flow_lattice_coordinates_round_trip(data):
    model = FlowMatching(tiny_backbone())
    model.fit_data_statistics(data.crystals)
    y = model.lattice_to_flow(data.crystals.lattice, data.crystals.mask)
    back = model.flow_to_lattice(y, data.crystals.mask)
    gram = data.crystals.lattice @ data.crystals.lattice.transpose(1, 2)  # the cell up to a rotation
    assert torch.allclose(back @ back.transpose(1, 2), gram, atol=1e-4)


def test_data_types_live_in_data_and_are_re_exported_by_models():
    import crystalkit.data
    import crystalkit.models

    assert crystalkit.models.DenseCrystals is crystalkit.data.DenseCrystals  # notebooks import them from models
    assert crystalkit.models.TensorCrystalDataset is crystalkit.data.TensorCrystalDataset
    assert DenseCrystals.__module__ == "crystalkit.data.dense"


def test_dense_crystals_round_trip_and_shape_errors():
    batch = CrystalBatch.from_structures(perovskites()[:2] + [Structure(np.eye(3) * 3, ["Na"], [[0, 0, 0]])])
    dense = DenseCrystals.from_batch(batch, dtype=torch.float64)
    assert dense.types.shape == (3, 5) and dense.mask.sum().item() == 11
    back = dense.to_batch()
    assert torch.equal(back.atomic_numbers, batch.atomic_numbers)
    assert torch.equal(back.frac_coords, batch.frac_coords) and torch.equal(back.lattice, batch.lattice)
    with pytest.raises(CrystalInputError, match="frac"):
        DenseCrystals(types=dense.types, frac=dense.frac[:, :2], lattice=dense.lattice, mask=dense.mask)
    with pytest.raises(CrystalInputError, match="lattice"):
        DenseCrystals(types=dense.types, frac=dense.frac, lattice=dense.lattice[:, :2], mask=dense.mask)
    with pytest.raises(CrystalInputError, match="max_atoms"):
        DenseCrystals.from_batch(batch, max_atoms=3)
    # Copies and slices keep an absent label absent, and carry a present one along.
    assert dense.to("cpu").condition is None and dense.index(slice(0, 2)).condition is None
    labelled = DenseCrystals.from_batch(batch, condition=torch.tensor([1.0, 2.0, 3.0]))
    assert labelled.index(torch.tensor([2, 0])).condition.tolist() == [3.0, 1.0]


def test_tensor_dataset_batches_and_split():
    data = TensorCrystalDataset.from_structures(perovskites(), labels=np.arange(6.0))
    generator = torch.Generator().manual_seed(0)
    batch = data.random_batch(4, generator)
    assert batch.types.shape == (4, 5) and batch.condition.shape == (4,)
    first, rest = data.split(0.5, seed=1)
    assert len(first) == 3 and len(rest) == 3
    labels = sorted(first.crystals.condition.tolist() + rest.crystals.condition.tolist())
    assert labels == list(np.arange(6.0))
    with pytest.raises(CrystalInputError, match="labels"):
        TensorCrystalDataset.from_structures(perovskites(), labels=[1.0, 2.0])
    with pytest.raises(CrystalInputError, match="empty"):
        TensorCrystalDataset.from_structures([])


# ------------------------------------------------------------- forward path
def test_forward_path_starts_or_ends_at_the_crystal(model):
    """Diffusion's clock starts at the crystal; the flow's ends there. Both keep the composition."""
    crystal = perovskites()[0]
    [path] = model.forward_path([crystal], [0.0, 0.5, 1.0], seed=3)
    assert len(path) == 3
    assert all(state.composition == crystal.composition for state in path)
    clean = path[0] if isinstance(model, Diffusion) else path[-1]
    noisy = path[-1] if isinstance(model, Diffusion) else path[0]
    # Flow: exactly the crystal (float32). Diffusion at t = 0 keeps its smallest noise, sigma_min = 0.005.
    tolerance = 1e-4 if isinstance(model, FlowMatching) else 0.03
    shift = clean.frac_coords - crystal.frac_coords
    assert np.abs(shift - np.round(shift)).max() < tolerance
    assert np.allclose(clean.lattice.matrix, crystal.lattice.matrix, atol=0.05 if isinstance(model, Diffusion)
                       else 1e-3)
    noise_shift = noisy.frac_coords - crystal.frac_coords
    assert np.abs(noise_shift - np.round(noise_shift)).max() > 0.05  # the noisy end is far from the crystal


def test_forward_path_is_one_path_per_seed(model):
    crystal = perovskites()[1]
    [first] = model.forward_path([crystal], [0.7], seed=1)
    [again] = model.forward_path([crystal], [0.7], seed=1)
    [other] = model.forward_path([crystal], [0.7], seed=2)
    assert np.allclose(first[0].frac_coords, again[0].frac_coords)
    assert not np.allclose(first[0].frac_coords, other[0].frac_coords)


def test_forward_path_rejects_bad_times_and_empty_input(model):
    with pytest.raises(CrystalInputError, match="from 0 to 1"):
        model.forward_path(perovskites()[:1], [1.5])
    with pytest.raises(CrystalInputError, match="at least one"):
        model.forward_path([], [0.5])
