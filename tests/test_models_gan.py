"""The WGAN-GP family: a symmetric critic, an equivariant generator, one optimizer for both, safe checkpoints."""

from __future__ import annotations

import pytest
import torch
from models_helpers import TINY, permute, perovskites, random_rotation, rotate, translate

from crystalkit.data import CrystalBatch, DenseCrystals, TensorCrystalDataset
from crystalkit.errors import CrystalInputError
from crystalkit.models import GAN, GANConfig, PeriodicBackbone, TrainConfig
from crystalkit.models.checkpoint import load_checkpoint, save_checkpoint
from crystalkit.models.gan import crystal_descriptors, diversity, train_with_history

torch.set_num_threads(1)


def tiny_gan(seed: int = 0, **changes) -> GAN:
    torch.manual_seed(seed)
    config = GANConfig(noise_dim=4, generator_hidden=16, generator_layers=1, **changes)
    model = GAN(PeriodicBackbone(TINY), config).double()
    model.fit_data_statistics(real_crystals())
    return model


def real_crystals() -> DenseCrystals:
    return DenseCrystals.from_batch(CrystalBatch.from_structures(perovskites()), dtype=torch.float64)


def critic_scores(model: GAN, crystals: DenseCrystals) -> torch.Tensor:
    y = model.lattice.to_y(crystals.lattice, crystals.num_atoms)
    return model(crystals.types, crystals.frac, y, crystals.mask)


def test_the_critic_ignores_atom_order_rotation_and_origin():
    model, crystals = tiny_gan(), real_crystals()
    reference = critic_scores(model, crystals)
    moved = {
        "permutation": permute(crystals, torch.tensor([3, 0, 4, 1, 2])),
        "rotation": rotate(crystals, random_rotation(1)),
        "translation": translate(crystals, torch.tensor([0.31, -0.12, 0.77], dtype=torch.float64)),
    }
    for what, changed in moved.items():
        torch.testing.assert_close(critic_scores(model, changed), reference, msg=what)
    squeezed = crystals.replace(lattice=crystals.lattice * 0.8)  # a different crystal must score differently
    assert (critic_scores(model, squeezed) - reference).abs().max() > 1e-6


def test_the_generator_permutes_its_output_with_the_atoms():
    model, crystals = tiny_gan(), real_crystals()
    order = torch.tensor([2, 4, 0, 1, 3])
    atom_noise = torch.randn(len(crystals), 5, 4, dtype=torch.float64)
    crystal_noise = torch.randn(len(crystals), 4, dtype=torch.float64)
    plain = model.generator(crystals.types, crystals.mask, atom_noise, crystal_noise)
    swapped = model.generator(crystals.types[:, order], crystals.mask[:, order], atom_noise[:, order], crystal_noise)
    torch.testing.assert_close(swapped.frac, plain.frac[:, order])
    torch.testing.assert_close(swapped.y, plain.y)
    assert plain.frac.min() >= 0 and plain.frac.max() < 1
    assert plain.y[:, 3:].abs().max() < 1  # angles within 60-120 degrees


def test_one_backward_gives_each_player_only_its_own_gradient():
    model = tiny_gan(n_critic=2).train()
    batch = real_crystals()
    for turn in (True, False):  # step 0 is the generator's turn (n_critic = 2), step 1 is not
        model.zero_grad(set_to_none=True)
        assert model.generator_turn() is turn
        losses = model.loss(batch, torch.Generator().manual_seed(0))
        losses["loss"].backward()
        generator_grads = [p.grad for p in model.generator.parameters()]
        assert all(g is None for g in generator_grads) is (not turn)
        # the critic's gradient is that of its own loss alone, whoever's turn it is
        critic = [p for name, p in model.named_parameters() if not name.startswith("generator.") and p.grad is not None]
        expected = torch.autograd.grad(_critic_loss_again(model, batch), critic, allow_unused=True)
        for got, want in zip([p.grad for p in critic], expected):
            torch.testing.assert_close(got, torch.zeros_like(got) if want is None else want)


def _critic_loss_again(model: GAN, batch: DenseCrystals) -> torch.Tensor:
    """The critic loss for the same draws, recomputed without touching the step counter."""
    updates = model.updates.clone()
    model.updates.fill_(1)  # not the generator's turn: the total is the critic's loss plus a constant
    losses = model.loss(batch, torch.Generator().manual_seed(0))
    model.updates.copy_(updates)
    return losses["loss"]


def test_the_penalty_measures_a_steep_critic():
    model, crystals = tiny_gan(), real_crystals()
    y = model.lattice.to_y(crystals.lattice, crystals.num_atoms)
    fakes = model.generate(crystals.types, crystals.mask, torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.critic_head[-1].weight.mul_(1000.0)
    penalty, slope = model.gradient_penalty(crystals, y, fakes, torch.Generator().manual_seed(2))
    assert penalty > 1.0 and slope > 2.0


def test_sampling_is_reproducible_with_a_seed_and_keeps_the_composition():
    model = tiny_gan().float()
    first = model.sample(["SrTiO3", "BaZrO3"], num_samples=3, seed=7)
    again = model.sample(["SrTiO3", "BaZrO3"], num_samples=3, seed=7)
    other = model.sample(["SrTiO3", "BaZrO3"], num_samples=3, seed=8)
    assert [len(group) for group in first] == [3, 3]
    assert first[1][0].composition.reduced_formula == "BaZrO3"
    assert all(a == b for a, b in zip(first[0], again[0]))
    assert first[0][0].lattice != other[0][0].lattice


def test_diversity_is_one_for_the_data_and_zero_for_a_collapsed_generator():
    crystals = real_crystals()
    assert diversity(crystals, crystals) == pytest.approx(1.0)
    collapsed = crystals.replace(lattice=crystals.lattice[:1].expand_as(crystals.lattice).clone(),
                                 frac=crystals.frac[:1].expand_as(crystals.frac).clone())
    assert diversity(collapsed, crystals) < 1e-6
    moved = rotate(permute(crystals, torch.tensor([4, 3, 2, 1, 0])), random_rotation(3))
    torch.testing.assert_close(crystal_descriptors(moved), crystal_descriptors(crystals))


def test_the_kits_loop_trains_it_records_history_and_round_trips_a_checkpoint(tmp_path):
    model = tiny_gan().float()
    data = TensorCrystalDataset.from_structures(perovskites())
    config = TrainConfig(max_steps=6, batch_size=4, log_every=2, progress=False, warmup_steps=1)
    rows, snapshots = train_with_history(model, data.crystals.to_batch().to_structures(), None, config,
                                         keep_generators=True)
    assert [row["step"] for row in rows] == [2, 4, 6] and len(snapshots) == 3
    assert all(row["diversity"] >= 0 for row in rows)
    assert int(model.updates) == 6
    path = save_checkpoint(tmp_path / "gan.pt", model)
    loaded, _ = load_checkpoint(path, weights="raw")
    assert isinstance(loaded, GAN) and loaded.config == model.config
    a = model.sample(["SrTiO3"], 2, seed=0)[0]
    b = loaded.sample(["SrTiO3"], 2, seed=0)[0]
    assert all(x == y for x, y in zip(a, b))


def test_bad_input_is_refused_with_a_useful_message(tmp_path):
    model = tiny_gan().float()
    with pytest.raises(CrystalInputError, match="not a chemical element"):
        model.sample(["XxTiO3"], 1, seed=0)
    with pytest.raises(CrystalInputError, match="unconditional"):
        GAN(PeriodicBackbone(TINY), GANConfig(task="de_novo", conditional=True))
    with pytest.raises(CrystalInputError, match="de novo: call sample"):
        tiny_gan(task="de_novo").sample(["SrTiO3"], 1, seed=0)
    with pytest.raises(CrystalInputError, match="type_noise"):
        generator = tiny_gan(task="de_novo").generator
        generator(torch.zeros(1, 2, dtype=torch.int64), torch.ones(1, 2, dtype=torch.bool),
                  torch.zeros(1, 2, 4, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64))
    with pytest.raises(CrystalInputError, match="frac must be"):
        model.loss(DenseCrystals(types=torch.ones(2, 3, dtype=torch.int64), frac=torch.zeros(2, 4, 3),
                                 lattice=torch.eye(3).expand(2, 3, 3), mask=torch.ones(2, 3, dtype=torch.bool)))
    from crystalkit.models import BackboneConfig, FlowMatching

    path = save_checkpoint(tmp_path / "flow.pt", FlowMatching(PeriodicBackbone(BackboneConfig(hidden_dim=16,
                                                                                              num_heads=2))))
    flow, checkpoint = load_checkpoint(path)
    assert not isinstance(flow, GAN)
    with pytest.raises(CrystalInputError, match="'flow' model"):
        GAN.from_config(checkpoint["model_config"])


def test_the_training_explorer_slider_changes_the_drawn_samples():
    from crystalkit.widgets.gan_training import gan_training_explorer

    model = tiny_gan().float()
    structures = perovskites()
    snapshots = [{k: v.clone() for k, v in model.generator.state_dict().items()}]
    with torch.no_grad():
        model.generator.lattice[-1].bias.add_(1.5)  # a later "step": bigger cells
    snapshots.append({k: v.clone() for k, v in model.generator.state_dict().items()})
    rows = [{"step": 10, "diversity": 0.9}, {"step": 20, "diversity": 0.4}]
    box = gan_training_explorer(model, rows, snapshots, structures)
    slider, figure = box.children[0], box.figure
    at_last = list(figure.data[3].x)
    slider.value = 0
    assert list(figure.data[3].x) != at_last  # the samples were redrawn
    assert list(figure.data[1].x) == [10] and "step 10" in figure.layout.annotations[1].text
    with pytest.raises(CrystalInputError, match="snapshot"):
        gan_training_explorer(model, rows, snapshots[:1], structures)


def test_the_training_figure_has_one_frame_per_step_and_its_slider_moves_the_samples():
    from crystalkit.widgets.gan_training import gan_training_figure

    model = tiny_gan().float()
    snapshots = [{k: v.clone() for k, v in model.generator.state_dict().items()}]
    with torch.no_grad():
        model.generator.lattice[-1].bias.add_(1.5)
    snapshots.append({k: v.clone() for k, v in model.generator.state_dict().items()})
    rows = [{"step": 10, "diversity": 0.9}, {"step": 20, "diversity": 0.4}]
    figure = gan_training_figure(model, rows, snapshots, perovskites())
    slider = figure.layout.sliders[0]
    assert [step.args[0][0] for step in slider.steps] == [frame.name for frame in figure.frames] == ["10", "20"]
    first, last = figure.frames
    assert list(first.data[1].x) != list(last.data[1].x)  # moving the slider redraws the samples
    assert list(figure.data[3].x) == list(last.data[1].x)  # it starts at the last step


def test_de_novo_choices_are_one_hot_samples_of_the_softmax_that_carry_its_gradient():
    """The Gumbel-max draw picks element k with probability softmax(logits)_k; the straight-through rows are
    exactly one-hot yet pass the critic's gradient to the element logits."""
    model = tiny_gan(task="de_novo")
    generator = model.generator
    with torch.no_grad():
        generator.element_logits.weight.zero_()
        generator.element_logits.bias.zero_()
        generator.element_logits.bias[[7, 21, 37]] = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)  # O Ti Sr
    allowed = torch.zeros(model.net.config.num_elements, dtype=torch.bool)
    allowed[[7, 21, 37]] = True  # an element outside this set is never chosen, whatever its logit
    draws, K = 6000, model.net.config.num_elements
    rng = torch.Generator().manual_seed(0)
    mask = torch.ones(draws, 1, dtype=torch.bool)
    fakes = generator(torch.zeros(draws, 1, dtype=torch.int64), mask, torch.randn(draws, 1, 4, generator=rng,
                      dtype=torch.float64), torch.randn(draws, 4, generator=rng, dtype=torch.float64),
                      torch.rand(draws, 1, K, generator=rng, dtype=torch.float64), allowed)
    assert torch.equal(fakes.types.sum(-1), torch.ones(draws, 1, dtype=torch.float64))  # one-hot rows
    chosen = fakes.atomic_numbers(mask).flatten()
    frequencies = torch.stack([(chosen == z).double().mean() for z in (8, 22, 38)])
    expected = torch.softmax(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 0)  # 0.090, 0.245, 0.665
    torch.testing.assert_close(frequencies, expected, atol=0.02, rtol=0)
    assert set(chosen.tolist()) == {8, 22, 38}
    (fakes.types[:, 0, [7, 21, 37]] * torch.tensor([1.0, -1.0, 3.0], dtype=torch.float64)).sum().backward()
    assert generator.element_logits.bias.grad[[7, 21, 37]].abs().min() > 0  # the gradient of the softmax


def test_de_novo_gan_trains_samples_seen_elements_and_round_trips(tmp_path):
    model = tiny_gan(task="de_novo").float()
    data = TensorCrystalDataset.from_structures(perovskites())
    seen = {site.specie.Z for s in perovskites() for site in s}
    assert set((model.element_seen.nonzero().flatten() + 1).tolist()) == seen
    before = model.generator.element_logits.weight.detach().clone()
    config = TrainConfig(max_steps=6, batch_size=4, log_every=3, progress=False, warmup_steps=1)
    rows, _ = train_with_history(model, data.crystals.to_batch().to_structures(), None, config)
    assert [row["step"] for row in rows] == [3, 6] and all(row["diversity"] >= 0 for row in rows)
    assert not torch.equal(before, model.generator.element_logits.weight)  # the elements are learned
    [samples] = model.sample(None, 12, seed=0)
    assert len(samples) == 12 and all(len(s) in (5,) for s in samples)  # cell sizes drawn from the data's
    assert {site.specie.Z for s in samples for site in s} <= seen
    path = save_checkpoint(tmp_path / "gan.pt", model)
    loaded, _ = load_checkpoint(path, weights="raw")
    assert loaded.config.task == "de_novo" and torch.equal(loaded.element_seen, model.element_seen)
    assert all(x == y for x, y in zip(samples, loaded.sample(None, 12, seed=0)[0]))
    model.train()
    batch = DenseCrystals.from_batch(CrystalBatch.from_structures(perovskites()))
    model.updates.zero_()  # the generator's turn
    model.zero_grad()
    losses = model.loss(batch, torch.Generator().manual_seed(0))
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"]) and losses["slope"] > 0
    assert model.generator.element_logits.weight.grad.abs().sum() > 0
