"""Shipped checkpoints: manifest, sha256 check, safe loading, and samples that are good crystals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from models_helpers import perovskites, tiny_backbone

from crystalkit.errors import CrystalInputError
from crystalkit.models import Diffusion, FlowMatching, TensorCrystalDataset, TrainConfig, load_checkpoint, train
from crystalkit.models.evaluation import steps_versus_quality
from crystalkit.models.pretrained import (
    PRETRAINED_DIR,
    load_pretrained,
    pretrained_manifest,
    pretrained_path,
    slim_checkpoint,
)
from crystalkit.structures import check_structure

torch.set_num_threads(1)
SHIPPED = ["perovskites-diffusion-csp", "perovskites-flow-csp", "perovskites-diffusion-denovo-formation-energy"]


def test_every_shipped_checkpoint_is_listed_small_and_made_by_the_kits_command():
    manifest = pretrained_manifest()
    assert sorted(manifest) == sorted(SHIPPED)
    for name, record in manifest.items():
        path = pretrained_path(name)  # checks the sha256
        assert path.stat().st_size < 5_000_000, f"{name} is no longer 'a few MB'"
        assert record["command"].startswith("crystalkit train --family " + record["family"])
        assert record["budget"]["steps"] > 0


@pytest.mark.parametrize("name", ["perovskites-diffusion-csp", "perovskites-flow-csp"])
def test_shipped_csp_models_predict_valid_perovskites(name):
    model = load_pretrained(name)
    assert model.history["train"], "the loss history travels with the checkpoint"
    [samples] = model.sample(["SrTiO3"], num_samples=4, seed=0, num_steps=20)
    for structure in samples:
        check_structure(structure)  # no overlapping atoms, sane volume
        assert structure.composition.reduced_formula == "SrTiO3"
        # a relaxed perovskite cell has about 12 Å^3 per atom; a sane sample is within a factor of two
        assert 6 < structure.volume / len(structure) < 25


def test_shipped_de_novo_model_follows_its_condition_label():
    model = load_pretrained("perovskites-diffusion-denovo-formation-energy")
    assert model.condition_embedding is not None
    [samples] = model.sample(None, num_samples=6, seed=0, num_steps=20, condition=-2.0, guidance_scale=1.0)
    assert len(samples) == 6 and all(len(s) > 0 for s in samples)
    with pytest.raises(CrystalInputError, match="guidance_scale"):
        model.sample(None, num_samples=1, guidance_scale=1.0)


def test_a_changed_file_is_refused(tmp_path):
    shutil.copytree(PRETRAINED_DIR, tmp_path / "pretrained")
    manifest = json.loads((tmp_path / "pretrained" / "MANIFEST.json").read_text())
    target = tmp_path / "pretrained" / manifest["perovskites-flow-csp"]["file"]
    target.write_bytes(target.read_bytes()[:-10])  # truncated
    with pytest.raises(CrystalInputError, match="sha256"):
        load_pretrained("perovskites-flow-csp", directory=tmp_path / "pretrained")
    with pytest.raises(CrystalInputError, match="ships"):
        load_pretrained("no-such-model", directory=tmp_path / "pretrained")
    target.unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        load_pretrained("perovskites-flow-csp", directory=tmp_path / "pretrained")


def tiny_trained(family):
    torch.manual_seed(0)
    model = Diffusion(tiny_backbone()) if family == "diffusion" else FlowMatching(tiny_backbone())
    data = TensorCrystalDataset.from_structures(perovskites())
    train(model, data, config=TrainConfig(max_minutes=None, max_steps=10, batch_size=6, progress=False,
                                         device="cpu"))
    return model


def test_slim_checkpoint_samples_exactly_like_the_full_one(tmp_path):
    model = tiny_trained("flow")
    from crystalkit.models import save_checkpoint

    ema = {name: value + 0.01 for name, value in model.named_parameters()}  # distinct from the raw weights
    full = save_checkpoint(tmp_path / "full.pt", model, ema_state=ema, step=10)
    slim = slim_checkpoint(full, tmp_path / "slim.pt")
    a, _ = load_checkpoint(full)  # EMA weights by default
    b, payload = load_checkpoint(slim)
    assert payload["optimizer_state_dict"] is None and payload["ema_state_dict"] is None
    first = a.sample(["SrTiO3"], 2, seed=1, num_steps=5)[0]
    second = b.sample(["SrTiO3"], 2, seed=1, num_steps=5)[0]
    for x, y in zip(first, second):
        assert np.allclose(x.frac_coords, y.frac_coords) and np.allclose(x.lattice.matrix, y.lattice.matrix)
    bare = save_checkpoint(tmp_path / "bare.pt", model, step=1)
    with pytest.raises(CrystalInputError, match="EMA"):
        slim_checkpoint(bare, tmp_path / "x.pt")


def test_steps_versus_quality_has_one_row_per_model_and_step_count():
    models = {"diffusion": tiny_trained("diffusion"), "flow": tiny_trained("flow")}
    targets = perovskites()[:2]
    table = steps_versus_quality(models, targets, {"diffusion": [2, 4], "flow": [1]}, k=1, seed=0)
    assert list(table["model"]) == ["diffusion", "diffusion", "flow"]
    assert list(table["steps"]) == [2, 4, 1]
    assert table["match_rate"].between(0, 1).all() and (table["structures_per_second"] > 0).all()
    with pytest.raises(CrystalInputError, match="not given"):
        steps_versus_quality(models, targets, {"gan": [1]})
    with pytest.raises(CrystalInputError, match="at least one"):
        steps_versus_quality(models, [], {"flow": [1]})


def test_shipped_or_trained_switches_between_loading_and_training():
    from crystalkit.models.pretrained import shipped_or_trained

    shipped = shipped_or_trained("perovskites-flow-csp")
    assert shipped.pretrained_record["family"] == "flow"
    fresh = shipped_or_trained("perovskites-flow-csp", train_from_scratch=True, minutes=0.02,
                               train_structures=perovskites(), val_structures=perovskites()[:2], device="cpu")
    assert isinstance(fresh, FlowMatching) and not hasattr(fresh, "pretrained_record")
    assert set(fresh.history) >= {"train", "val"} and fresh.history["val"]  # validation starts at step 0
    assert fresh.sample(["SrTiO3"], 1, seed=0, num_steps=2)[0][0].composition.reduced_formula == "SrTiO3"
    with pytest.raises(CrystalInputError, match="conditioned"):
        shipped_or_trained("perovskites-diffusion-denovo-formation-energy", train_from_scratch=True,
                           train_structures=perovskites())
    with pytest.raises(CrystalInputError, match="train_structures"):
        shipped_or_trained("perovskites-diffusion-csp", train_from_scratch=True)
