"""The VAE: ELBO terms, invariance of the encoder, decoding, checkpoints, errors, the plain decoder's flaw."""

from __future__ import annotations

import math

import pytest
import torch
from models_helpers import perovskites, permute, random_crystals, tiny_backbone, translate

from crystalkit.commands.train import build_family
from crystalkit.data import CrystalBatch
from crystalkit.errors import CrystalInputError
from crystalkit.models import (
    DenseCrystals,
    Diffusion,
    TensorCrystalDataset,
    TrainConfig,
    VAE,
    VAEConfig,
    load_checkpoint,
    save_checkpoint,
    train,
)
from crystalkit.models.checkpoint import FAMILIES
from crystalkit.models.vae import PlainDecoder, gaussian_kl, load_vae, plain_decoder_loss, relabel

torch.set_num_threads(1)


def tiny_vae(**changes) -> VAE:
    torch.manual_seed(0)
    return VAE(tiny_backbone(), VAEConfig(latent_dim=4, num_steps=4, **changes))


@pytest.fixture(scope="module")
def data() -> TensorCrystalDataset:
    return TensorCrystalDataset.from_structures(perovskites())


@pytest.fixture(scope="module")
def trained(data) -> VAE:
    model = tiny_vae()
    train(model, data, config=TrainConfig(max_minutes=None, max_steps=40, batch_size=6, learning_rate=3e-3,
                                          warmup_steps=5, progress=False, device="cpu"))
    return model.eval()


def test_loss_is_finite_and_falls_when_overfitting_a_tiny_set(data):
    model = tiny_vae()
    model.fit_data_statistics(data.crystals)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = data.crystals

    def fixed_loss() -> float:  # the same draws every time, so only the weights change the value
        with torch.no_grad():
            return float(model.loss(batch, torch.Generator().manual_seed(0))["loss"])

    before = fixed_loss()
    for step in range(60):
        losses = model.loss(batch, torch.Generator().manual_seed(step))
        assert all(math.isfinite(float(value.detach())) for value in losses.values())
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    assert fixed_loss() < 0.8 * before


def test_kl_equals_the_closed_form_and_a_monte_carlo_estimate():
    mu = torch.tensor([[0.0, 1.0, -2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]], dtype=torch.float64)
    expected = torch.tensor([[0.0, 0.5 * (1 + 4 - 1 - math.log(4.0)), 0.5 * (4 + 0.25 - 1 - math.log(0.25))]],
                            dtype=torch.float64)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    # Monte Carlo: E_q[log q(z) - log p(z)] with many draws
    generator = torch.Generator().manual_seed(0)
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(200_000, 3, generator=generator, dtype=torch.float64)
    log_q = torch.distributions.Normal(mu, std).log_prob(z)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z)
    torch.testing.assert_close((log_q - log_p).mean(0), expected[0], atol=0.02, rtol=0.0)


def test_loss_reports_the_kl_of_its_encoder_and_charges_free_bits(data):
    model = tiny_vae(free_bits=0.5)
    losses = model.loss(data.crystals, torch.Generator().manual_seed(0))
    mu, logvar = model.encode(data.crystals)
    torch.testing.assert_close(losses["kl"], gaussian_kl(mu, logvar).mean(0).sum())
    # an untrained encoder sits at the prior (KL 0), so free bits charge the floor: 4 dims x 0.5 nats
    torch.testing.assert_close(losses["kl_penalised"], torch.tensor(2.0))
    expected = losses["lattice"] + losses["coords"] + model.config.beta * losses["kl_penalised"]
    torch.testing.assert_close(losses["loss"], expected)


def test_encoder_is_invariant_to_atom_order_and_translation(trained):
    crystals = random_crystals(num_crystals=3, num_atoms=5, seed=1, dtype=torch.float32)
    model = trained
    mu, logvar = model.encode(crystals)
    shuffled = permute(crystals, torch.tensor([3, 0, 4, 1, 2]))
    shifted = translate(crystals, torch.tensor([0.31, -0.2, 0.77]))
    for other in (shuffled, shifted):
        other_mu, other_logvar = model.encode(other)
        torch.testing.assert_close(other_mu, mu, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(other_logvar, logvar, atol=1e-4, rtol=1e-4)


def test_decode_gives_one_crystal_per_composition_and_repeats_under_a_seed(trained):
    z = torch.randn(2, trained.config.latent_dim, generator=torch.Generator().manual_seed(0))
    first = trained.decode(z, ["SrTiO3", "Ba2Ti2O6"], seed=3)
    again = trained.decode(z, ["SrTiO3", "Ba2Ti2O6"], seed=3)
    other = trained.decode(z, ["SrTiO3", "Ba2Ti2O6"], seed=4)
    assert first.num_atoms.tolist() == [5, 10]
    assert first.frac_coords.shape == (15, 3) and first.lattice.shape == (2, 3, 3)
    torch.testing.assert_close(first.frac_coords, again.frac_coords)
    torch.testing.assert_close(first.lattice, again.lattice)
    assert not torch.allclose(first.frac_coords, other.frac_coords)  # the seed drives the coordinate noise
    torch.testing.assert_close(first.lattice, other.lattice)  # the lattice depends on z alone


def test_prior_samples_and_reconstructions_have_the_right_composition(trained):
    [samples] = trained.sample(["SrTiO3"], 3, seed=0)
    assert [s.composition.reduced_formula for s in samples] == ["SrTiO3"] * 3
    rebuilt = trained.reconstruct(perovskites()[:2], seed=0)
    assert [s.composition for s in rebuilt] == [s.composition for s in perovskites()[:2]]


def test_checkpoint_round_trip_gives_identical_samples(trained, tmp_path):
    path = save_checkpoint(tmp_path / "vae.pt", trained)
    loaded, _ = load_checkpoint(path, weights="raw")
    assert isinstance(loaded, VAE) and FAMILIES["vae"] is VAE
    expected = trained.sample_batch(["SrTiO3"], 2, seed=5)
    actual = load_vae(path, weights="raw").sample_batch(["SrTiO3"], 2, seed=5)
    torch.testing.assert_close(actual.frac_coords, expected.frac_coords)
    torch.testing.assert_close(actual.lattice, expected.lattice)


def test_a_checkpoint_of_another_family_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "diffusion.pt", Diffusion(tiny_backbone()))
    with pytest.raises(CrystalInputError, match="holds a diffusion model, not a VAE"):
        load_vae(path)


@pytest.mark.parametrize("shape", [(1, 5), (2, 4), (4,)])
def test_latent_of_the_wrong_size_is_refused(trained, shape):
    with pytest.raises(CrystalInputError, match="z must be a|rows but"):
        trained.decode(torch.zeros(shape), ["SrTiO3"])


def test_bad_settings_are_refused():
    with pytest.raises(CrystalInputError, match="task must be"):
        VAE(tiny_backbone(), VAEConfig(task="denovo"))
    with pytest.raises(CrystalInputError, match="unconditional"):
        VAE(tiny_backbone(), VAEConfig(conditional=True))
    with pytest.raises(CrystalInputError, match="latent_dim"):
        VAE(tiny_backbone(), VAEConfig(latent_dim=0))
    assert isinstance(build_family("vae", "csp", False), VAE)
    assert build_family("vae", "de_novo", False).config.task == "de_novo"
    with pytest.raises(CrystalInputError, match="unconditional"):
        build_family("vae", "de_novo", True)


def test_relabel_writes_the_same_crystals_differently(data):
    crystals = data.crystals
    other = relabel(crystals, torch.Generator().manual_seed(0))
    assert not torch.allclose(other.frac, crystals.frac)
    before = crystals.to_batch().to_structures()
    after = other.to_batch().to_structures()
    for a, b in zip(before, after):
        assert a.matches(b, scale=False)


def test_a_plain_decoder_is_graded_differently_on_the_same_crystal(trained, data):
    """The flaw in one number: same z, same crystal, different loss once the atoms are written differently."""
    crystals = data.crystals
    mu, _ = trained.encode(crystals)
    decoder = PlainDecoder(trained.config.latent_dim, max_atoms=crystals.frac.shape[1])
    predicted = decoder(mu)
    relabelled = relabel(crystals, torch.Generator().manual_seed(1))
    torch.testing.assert_close(trained.encode(relabelled)[0], mu, atol=1e-4, rtol=1e-4)  # the encoder: no change
    losses = [plain_decoder_loss(predicted, crystals), plain_decoder_loss(predicted, relabelled)]
    assert abs(float(losses[0] - losses[1])) > 0.01
    # and its output has to sit inside the cell: sigmoid coordinates in (0, 1)
    assert predicted.shape == (len(crystals.mask), crystals.frac.shape[1], 3)
    assert bool(((predicted > 0) & (predicted < 1)).all())


def test_dense_input_and_batch_input_agree(trained, data):
    batch = CrystalBatch.from_structures(perovskites())
    mu_batch, _ = trained.encode(batch)
    mu_dense, _ = trained.encode(DenseCrystals.from_batch(batch))
    torch.testing.assert_close(mu_batch, mu_dense)


def test_the_command_line_trains_and_samples_a_vae(tmp_path, capsys):
    from crystalkit.cli import main
    from crystalkit.data import read_structure_csv, write_structure_csv

    structures = perovskites()
    data_csv, checkpoint, samples = tmp_path / "train.csv", tmp_path / "vae.pt", tmp_path / "samples.csv"
    write_structure_csv(data_csv, structures, [f"p{i}" for i in range(len(structures))])
    assert main(["train", "--family", "vae", "--data", str(data_csv), "--steps", "3", "--out", str(checkpoint),
                 "--hidden", "16", "--layers", "1", "--batch-size", "6", "--quiet", "--threads", "1"]) == 0
    assert "model: vae (csp)" in capsys.readouterr().out
    assert main(["sample", "--checkpoint", str(checkpoint), "--compositions", str(data_csv), "--samples", "2",
                 "--steps", "3", "--out", str(samples), "--quiet"]) == 0
    found, _ = read_structure_csv(samples, check=False)
    assert [s.composition for s in found] == [s.composition for s in structures for _ in range(2)]


def test_de_novo_formula_is_the_likeliest_count_split_by_largest_remainders(data):
    """Known values: with the heads' weights zeroed, z is ignored and the biases decide count and formula."""
    model = tiny_vae(task="de_novo")
    model.fit_data_statistics(data.crystals)  # sizes seen: 5; elements seen: those of the perovskites
    with torch.no_grad():
        for head in (model.count_head, model.composition_head):
            head[-1].weight.zero_()
            head[-1].bias.fill_(-30.0)
        model.count_head[-1].bias[[4, 5, 6]] = torch.tensor([1.0, 2.0, 9.0])  # 6 atoms likeliest, but unseen
        shares = {38: 0.2, 22: 0.2, 8: 0.6}  # Sr, Ti, O: exactly SrTiO3 in 5 atoms
        for z_number, share in shares.items():
            model.composition_head[-1].bias[z_number - 1] = math.log(share)
        model.composition_head[-1].bias[0] = 50.0  # hydrogen is likeliest, but no training crystal has any
    z = torch.randn(3, 4)
    assert model.decode_composition(z) == [[8, 8, 8, 22, 38]] * 3
    with torch.no_grad():  # 5 x (0.44, 0.36, 0.2) = (2.2, 1.8, 1.0): floors 2, 1, 1; the leftover atom goes to
        for z_number, share in {8: 0.44, 22: 0.36, 38: 0.2}.items():  # the largest remainder (Ti's 0.8), not
            model.composition_head[-1].bias[z_number - 1] = math.log(share)  # to the likeliest element (O)
    assert model.decode_composition(z[:1]) == [[8, 8, 22, 22, 38]]
    with pytest.raises(CrystalInputError, match="z must be a"):
        model.decode_composition(torch.zeros(2, 3))
    with pytest.raises(CrystalInputError, match="CSP"):
        tiny_vae().decode_composition(z)
    with pytest.raises(CrystalInputError, match="CSP"):
        tiny_vae().decode(z)


def test_de_novo_vae_learns_count_and_formula_and_samples_without_compositions(data, tmp_path):
    model = tiny_vae(task="de_novo")
    config = TrainConfig(max_minutes=None, max_steps=30, batch_size=6, learning_rate=3e-3, warmup_steps=5,
                         progress=False, device="cpu")
    model.fit_data_statistics(data.crystals)
    batch = data.crystals.to_batch()
    before = model.train().loss(batch, torch.Generator().manual_seed(0))
    assert {"count", "composition"} <= set(before)
    # -sum f log p >= the entropy of the fractions: 0.950 nats for a 1:1:3 formula
    assert float(before["composition"]) >= 0.950 - 1e-3
    train(model, data, config=config)
    after = model.train().loss(batch, torch.Generator().manual_seed(0))
    assert after["count"] < before["count"] and after["composition"] < before["composition"]
    model.eval()
    seen = {site.specie.Z for s in perovskites() for site in s}
    [samples] = model.sample(None, 6, seed=0)
    assert len(samples) == 6 and all(len(s) == 5 for s in samples)  # the only size in the data
    assert {site.specie.Z for s in samples for site in s} <= seen
    rebuilt = model.reconstruct(perovskites()[:2], seed=0)  # the formula comes from z as well
    assert len(rebuilt) == 2 and all(len(s) == 5 for s in rebuilt)
    told = model.decode(torch.zeros(1, 4), ["SrTiO3"], seed=0).to_structures()[0]
    assert told.composition.reduced_formula == "SrTiO3"
    path = save_checkpoint(tmp_path / "vae.pt", model)
    loaded, _ = load_checkpoint(path, weights="raw")
    assert loaded.config.task == "de_novo" and torch.equal(loaded.element_seen, model.element_seen)
    assert all(a == b for a, b in zip(samples, loaded.sample(None, 6, seed=0)[0]))
