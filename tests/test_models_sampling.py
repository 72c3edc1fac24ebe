"""Diffusion and flow matching: sampling interface, de novo, guidance, errors."""

from __future__ import annotations

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
from crystalkit.sampling import StructureGenerator

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


def test_models_are_structure_generators(model):
    assert isinstance(model, StructureGenerator)


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
    [samples] = model.sample(None, num_samples=4, seed=0, num_steps=6)
    assert len(samples) == 4
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
