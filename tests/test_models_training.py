"""The training loop, the learning-rate schedule, the EMA and safe checkpoints."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from models_helpers import perovskites, tiny_backbone

from crystalkit.errors import CrystalInputError
from crystalkit.models import (
    Diffusion,
    DiffusionConfig,
    ExponentialMovingAverage,
    FlowConfig,
    FlowMatching,
    TensorCrystalDataset,
    TrainConfig,
    build_model,
    learning_rate,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    train,
)
from crystalkit.models.diffusion import DiffusionTargets
from crystalkit.models.flow import FlowTargets
from crystalkit.models.training import evaluate_loss

torch.set_num_threads(1)


def quick(**changes) -> TrainConfig:
    options = {"max_minutes": None, "max_steps": 10, "batch_size": 8, "progress": False, "warmup_steps": 5,
               "log_every": 5, "val_every": 5, "val_crystals": 6, "device": "cpu"}
    options.update(changes)
    return TrainConfig(**options)


@pytest.fixture(scope="module")
def data() -> TensorCrystalDataset:
    return TensorCrystalDataset.from_structures(perovskites())


def test_learning_rate_warmup_then_cosine_to_the_floor():
    config = TrainConfig(learning_rate=1e-3, warmup_steps=10, final_learning_rate_fraction=0.1)
    assert math.isclose(learning_rate(0, 0.0, config), 1e-4)
    assert math.isclose(learning_rate(9, 0.0, config), 1e-3)
    assert math.isclose(learning_rate(500, 0.5, config), 1e-3 * (0.1 + 0.9 * 0.5))
    assert math.isclose(learning_rate(900, 1.0, config), 1e-4)
    rates = [learning_rate(20 + i, i / 50, config) for i in range(51)]
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(rates))


def test_ema_averages_and_swaps():
    layer = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(layer.weight)
    ema = ExponentialMovingAverage(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    for _ in range(50):
        ema.update(layer)
    assert torch.allclose(ema.shadow["weight"], torch.ones(1, 2), atol=1e-6)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    ema.swap(layer)
    assert torch.allclose(layer.weight, torch.ones(1, 2), atol=1e-6)
    ema.swap(layer)
    assert torch.allclose(layer.weight, torch.full((1, 2), 3.0))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["diffusion", "flow"])
def test_loss_falls_on_a_tiny_set(family, data):
    torch.manual_seed(0)
    model = (Diffusion if family == "diffusion" else FlowMatching)(tiny_backbone())
    model.fit_data_statistics(data.crystals)
    many_draws = TensorCrystalDataset.from_structures(perovskites() * 20)  # 120 noise draws: a steady estimate
    before = evaluate_loss(model, many_draws, max_crystals=120)["loss"]
    result = train(model, data, config=quick(max_steps=300, batch_size=32, learning_rate=3e-3, warmup_steps=10))
    after = evaluate_loss(model, many_draws, max_crystals=120)["loss"]
    assert result.steps == 300
    assert after < 0.8 * before, (before, after)


def test_train_records_history_and_validation(data, tmp_path):
    model = FlowMatching(tiny_backbone())
    seen = []
    result = train(model, data, data, quick(checkpoint_path=str(tmp_path / "m.pt")), [seen.append])
    assert [row["step"] for row in result.history["train"]] == [5, 10]
    assert [row["step"] for row in result.history["val"]] == [0, 5, 10]
    assert {"loss", "coords", "lattice", "learning_rate", "seconds"} <= set(result.history["train"][0])
    assert [state.step for state in seen] == [5, 10]
    assert result.device == "cpu" and result.checkpoint and not model.training


def test_callback_can_stop_training(data):
    def stop(state):
        state.stop = True

    result = train(FlowMatching(tiny_backbone()), data, config=quick(max_steps=100), callbacks=[stop])
    assert result.steps == 5


def test_same_seed_same_result(data):
    losses = []
    for _ in range(2):
        model = Diffusion(tiny_backbone(seed=1))
        losses.append(train(model, data, config=quick()).history["train"][-1]["loss"])
    assert losses[0] == losses[1]


def test_checkpoint_round_trip_with_weights_only(data, tmp_path):
    model = Diffusion(tiny_backbone())
    train(model, data, config=quick(checkpoint_path=str(tmp_path / "d.pt")))
    payload = torch.load(tmp_path / "d.pt", weights_only=True)  # refuses anything but plain data
    assert payload["step"] == 10 and payload["model_config"]["family"] == "diffusion"
    loaded, _ = load_checkpoint(tmp_path / "d.pt")
    # train() leaves the model holding its EMA weights, which load_checkpoint restores by default.
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    first = model.sample(["SrTiO3"], 2, seed=3, num_steps=4)[0]
    second = loaded.sample(["SrTiO3"], 2, seed=3, num_steps=4)[0]
    assert [s.frac_coords.tolist() for s in first] == [s.frac_coords.tolist() for s in second]
    raw, _ = load_checkpoint(tmp_path / "d.pt", weights="raw")
    assert any(not torch.equal(a, b) for a, b in zip(raw.parameters(), loaded.parameters()))


def test_resume_continues_the_step_count(data, tmp_path):
    path = tmp_path / "f.pt"
    model = FlowMatching(tiny_backbone())
    train(model, data, config=quick(checkpoint_path=str(path)))
    resumed = build_model(read_checkpoint(path)["model_config"])
    result = train(resumed, data, config=quick(max_steps=20, checkpoint_path=str(path)), resume_from=path)
    assert result.steps == 20
    assert [row["step"] for row in result.history["train"]] == [5, 10, 15, 20]
    assert read_checkpoint(path)["step"] == 20


def test_resume_refuses_a_different_model(data, tmp_path):
    path = tmp_path / "f.pt"
    train(FlowMatching(tiny_backbone()), data, config=quick(checkpoint_path=str(path)))
    with pytest.raises(CrystalInputError, match="differently configured"):
        train(Diffusion(tiny_backbone()), data, config=quick(), resume_from=path)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CrystalInputError, match="not a readable"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CrystalInputError, match="not a crystalkit checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CrystalInputError, match="Unknown model family"):
        build_model({"family": "autoencoder", "backbone": {}, "process": {}})
    with pytest.raises(CrystalInputError, match="Only kit models"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))


class Payload:
    """Stands for any object whose unpickling could run code."""


def test_checkpoint_refuses_pickled_objects(tmp_path):
    """A file that needs arbitrary unpickling is rejected, not executed."""
    torch.save({"format": "crystalkit-checkpoint", "evil": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CrystalInputError):
        read_checkpoint(tmp_path / "evil.pt")


def test_bad_training_settings(data):
    model = FlowMatching(tiny_backbone())
    with pytest.raises(CrystalInputError, match="budget"):
        train(model, data, config=TrainConfig(max_minutes=None, max_steps=None))
    with pytest.raises(CrystalInputError, match="positive"):
        train(model, data, config=quick(max_steps=0))
    with pytest.raises(CrystalInputError, match="TensorCrystalDataset"):
        train(model, "train.csv", config=quick())


# ------------------------------------------------- the loss every family shares
def model_of(family: str, **process):
    if family == "flow":
        return FlowMatching(tiny_backbone(), FlowConfig(**process))
    task = "de_novo" if family == "de_novo" else "csp"
    return Diffusion(tiny_backbone(), DiffusionConfig(task=task, **process))


@pytest.mark.parametrize(("family", "parts"), [("diffusion", ["lattice", "coords"]), ("flow", ["coords", "lattice"]),
                                               ("de_novo", ["lattice", "coords", "types"])])
def test_loss_parts_add_up_with_their_weights_and_follow_the_generator(family, parts, data):
    model = model_of(family, lattice_weight=0.5, coord_weight=3.0)
    model.fit_data_statistics(data.crystals)
    losses = model.loss(data.crystals, generator=torch.Generator().manual_seed(0))
    assert list(losses) == [*parts, "loss"]
    weights = {"lattice": 0.5, "coords": 3.0, "types": 1.0}
    total = sum(weights[part] * losses[part] for part in parts)
    assert torch.allclose(losses["loss"], total)
    again = model.loss(data.crystals, generator=torch.Generator().manual_seed(0))
    other = model.loss(data.crystals, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again["loss"], losses["loss"]) and not torch.equal(other["loss"], losses["loss"])


@pytest.mark.parametrize("family", ["diffusion", "flow"])
def test_condition_dropout_hides_labels_in_training_only(family):
    """With a dropout of 1, every label is hidden in training: the loss is that of unlabelled data."""
    labelled = TensorCrystalDataset.from_structures(perovskites(), labels=[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0]).crystals
    unlabelled = labelled.replace(condition=torch.full_like(labelled.condition, float("nan")))
    model = model_of(family, conditional=True, condition_dropout=1.0)
    model.fit_data_statistics(labelled)
    for parameter in model.parameters():  # the heads start at zero; give them something to say
        torch.nn.init.normal_(parameter, std=0.3)

    def loss(data, training):
        model.train(training)
        return model.loss(data, generator=torch.Generator().manual_seed(3))["loss"]

    assert torch.equal(loss(labelled, True), loss(unlabelled, True))
    assert not torch.equal(loss(labelled, False), loss(unlabelled, False))  # eval: labels are used
    model.config.condition_dropout = 0.0
    assert not torch.equal(loss(labelled, True), loss(unlabelled, True))


def test_corrupt_returns_the_familys_targets(data):
    crystals = data.crystals
    t = torch.full((len(crystals),), 0.5)
    targets = model_of("de_novo").corrupt(crystals, t, torch.Generator().manual_seed(0))
    assert isinstance(targets, DiffusionTargets)
    assert targets.coord_score.shape == crystals.frac.shape and targets.lattice_noise.shape == crystals.lattice.shape
    assert targets.types.shape[:2] == crystals.types.shape and targets.types.is_floating_point()  # type weights
    assert targets.type_noise is not None and targets.state.types.shape == crystals.types.shape
    assert model_of("diffusion").corrupt(crystals, t).type_noise is None
    path = model_of("flow").corrupt(crystals, t, torch.Generator().manual_seed(0))
    assert isinstance(path, FlowTargets)
    assert path.coord_velocity.shape == crystals.frac.shape and path.lattice_velocity.shape == (len(crystals), 6)
    assert torch.equal(path.types, crystals.types)
