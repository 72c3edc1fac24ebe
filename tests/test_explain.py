"""Explanations that can be checked: SHAP efficiency, IG completeness, faithfulness on models whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crystalkit.data import load_dataset
from crystalkit.errors import CrystalInputError
from crystalkit.explain import (
    CODE_FEATURES,
    attention_by_section,
    attention_weights,
    deletion_curves,
    duplicate_feature_check,
    fingerprint_features,
    fit_property_model,
    guidance_attributions,
    guidance_push,
    integrated_gradients,
    linear_probe,
    noisy_state,
    property_table,
    r2_interval,
    regression_scores,
    token_sections,
    tree_shap,
    vae_latents,
)
from crystalkit.widgets.explain import beeswarm_figure, deletion_figure, swarm_offsets, waterfall_figure

torch.set_num_threads(1)


def synthetic(n: int = 200, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y depends on features 0 (strongly) and 1 (weakly) only."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    return X, 2.0 * X[:, 0] + 0.5 * X[:, 1] + 0.05 * rng.normal(size=n)


# ----------------------------------------------------------------- features
def test_fingerprint_features_are_named_and_do_not_see_the_cell_choice(srtio3):
    X, names = fingerprint_features([srtio3, srtio3 * (2, 1, 1)], rdf_bins=6)
    assert X.shape == (2, 132 + 18) and len(names) == X.shape[1] and len(set(names)) == len(names)
    np.testing.assert_allclose(X[0], X[1], atol=1e-9)  # a supercell is the same crystal
    with pytest.raises(CrystalInputError, match="No structures"):
        fingerprint_features([])
    with pytest.raises(CrystalInputError, match="not pymatgen"):
        fingerprint_features(["SrTiO3"])


def test_property_table_fills_missing_values_and_refuses_bad_columns():
    data = load_dataset("inorganic", "val")
    table = property_table(data, "formation_energy_per_atom", rdf_bins=4)
    assert table.X.shape == (len(data), 132 + 12) and np.all(np.isfinite(table.X))
    np.testing.assert_array_equal(table.y, data.labels["formation_energy_per_atom"].to_numpy())
    with pytest.raises(CrystalInputError, match="numeric columns"):
        property_table(data, "band_gap")
    with pytest.raises(CrystalInputError, match="not numeric"):
        property_table(data, "formula")
    with pytest.raises(CrystalInputError, match="one value per feature"):
        property_table(data, "formation_energy_per_atom", fill=np.zeros(3), rdf_bins=4)


# ----------------------------------------------------------------- SHAP
@pytest.mark.parametrize("kind", ["boosting", "forest"])
def test_tree_shap_is_efficient_and_finds_the_feature_that_matters(kind):
    X, y = synthetic()
    X[:, 5] = 1.0  # a constant column can never change a prediction
    model = fit_property_model(X, y, kind=kind, seed=0)
    explanation = tree_shap(model, X[:50], [f"x{i}" for i in range(6)])
    np.testing.assert_allclose(explanation.base_value + explanation.values.sum(axis=1), model.predict(X[:50]),
                               atol=1e-8)  # efficiency: the shares add up to the prediction
    assert explanation.ranking()[0] == 0 and explanation.top(2)[1][0] == "x1"
    np.testing.assert_array_equal(explanation.values[:, 5], 0.0)  # the dummy axiom
    with pytest.raises(CrystalInputError, match="feature names"):
        tree_shap(model, X[:5], ["x0", "x1"])


def test_regression_scores_and_model_inputs_are_checked():
    X, y = synthetic()
    model = fit_property_model(X[:150], y[:150], seed=1)
    scores = regression_scores(model, X[150:], y[150:])
    assert scores["r2"] > 0.8 and scores["mae"] < scores["mae_of_mean"]
    with pytest.raises(CrystalInputError, match="one label per row"):
        fit_property_model(X, y[:-1])
    with pytest.raises(CrystalInputError, match="Unknown model kind"):
        fit_property_model(X, y, kind="svm")
    with pytest.raises(CrystalInputError, match="finite"):
        fit_property_model(np.where(X > 2, np.nan, X), y)


def test_r2_interval_brackets_the_held_out_r2():
    X, y = synthetic()
    model = fit_property_model(X[:150], y[:150], seed=1)
    spread = r2_interval(model, X[150:], y[150:], seed=0, resamples=300)
    assert spread.estimate == pytest.approx(regression_scores(model, X[150:], y[150:])["r2"])
    assert spread.low <= spread.estimate <= spread.high and spread.high - spread.low < 0.5
    assert r2_interval(model, X[150:], y[150:], seed=0, resamples=300) == spread  # seeded
    with pytest.raises(CrystalInputError, match="one label per row"):
        r2_interval(model, X[150:], y[151:])


# ----------------------------------------------------------------- faithfulness
def test_deletion_curves_rank_a_linear_model_correctly_and_catch_a_wrong_ranking():
    rng = np.random.default_rng(0)
    weights = np.array([5.0, 3.0, 1.0, 0.5, 0.1, 0.0, 0.0, 0.0])
    X = rng.uniform(1, 2, size=(30, 8))
    baseline = np.zeros(8)

    def predict(rows):
        return rows @ weights

    exact = weights * (X - baseline)  # SHAP values of a linear model with independent features
    curves = deletion_curves(predict, X, exact, baseline, max_removed=8, n_random=10, seed=0)
    assert curves.top[0] == 0 and np.all(curves.top >= curves.random - 1e-12) and curves.gain() > 0
    np.testing.assert_allclose(curves.top[-1], curves.random[-1])  # everything removed: the same end
    wrong = deletion_curves(predict, X, -exact + 10, baseline, max_removed=8, n_random=10, seed=0)
    assert wrong.gain() < 0  # removing the least important first is worse than chance
    assert len(deletion_figure(curves).data) == 3
    with pytest.raises(CrystalInputError, match="must be"):
        deletion_curves(predict, X, exact[:, :3], baseline)
    with pytest.raises(CrystalInputError, match="max_removed"):
        deletion_curves(predict, X, exact, baseline, max_removed=9)


def test_an_exact_copy_of_a_feature_shares_its_credit():
    X, y = synthetic(n=300, features=4)
    check = duplicate_feature_check(X, y, 0, seed=0)
    total = check["original"] + check["copy"]
    assert abs(total - check["alone"]) < 0.15 * check["alone"]  # the credit is about conserved...
    assert max(check["original"], check["copy"]) < 0.9 * check["alone"]  # ...but split between the twins
    assert check["prediction_change"] < 0.1 * y.std()  # while the model's predictions hardly change
    with pytest.raises(CrystalInputError, match="column index"):
        duplicate_feature_check(X, y, 4)


# ----------------------------------------------------------------- integrated gradients
def test_integrated_gradients_is_exact_for_a_quadratic_and_complete_for_a_network():
    a = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x, base = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64), torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64)
    result = integrated_gradients(lambda p: (a * p**2).sum(dim=1), x, base, steps=4)
    np.testing.assert_allclose(result.values.numpy(), (a * (x**2 - base**2)).numpy(), atol=1e-12)
    assert abs(result.gap) < 1e-12

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    point = torch.randn(5, dtype=torch.float64)
    fine = integrated_gradients(lambda p: net(p).squeeze(-1), point, steps=256)
    coarse = integrated_gradients(lambda p: net(p).squeeze(-1), point, steps=1)
    change = fine.output - fine.baseline_output
    assert abs(fine.gap) < 1e-4 * max(abs(change), 1e-3) and abs(fine.gap) < abs(coarse.gap)
    with pytest.raises(CrystalInputError, match="shape of x"):
        integrated_gradients(lambda p: p.sum(dim=1), x, base[:2])
    with pytest.raises(CrystalInputError, match="one number per path point"):
        integrated_gradients(lambda p: p, x)


# ----------------------------------------------------------------- generators (shipped checkpoints)
@pytest.fixture(scope="module")
def perovskite_test():
    return load_dataset("perovskites", "test")


def test_guidance_push_vanishes_without_a_label_and_its_attributions_are_complete(perovskite_test):
    from crystalkit.models.pretrained import load_pretrained

    model = load_pretrained("perovskites-diffusion-denovo-formation-energy")
    state, codes = noisy_state(model, list(perovskite_test.structures[:3]), float("nan"), 0.5)
    with torch.no_grad():
        assert torch.count_nonzero(guidance_push(model, state, codes, 0.5)) == 0  # no label, no guidance
    structure = perovskite_test[0]
    attribution, push = guidance_attributions(model, structure, -2.0, t=0.5, steps=16)
    assert attribution.values.shape == push.shape == (len(structure), len(CODE_FEATURES))
    assert abs(attribution.gap) < 0.02 * abs(attribution.output - attribution.baseline_output)
    with pytest.raises(CrystalInputError, match="conditional de novo"):
        noisy_state(load_pretrained("perovskites-diffusion-csp"), [structure], -2.0, 0.5)
    with pytest.raises(CrystalInputError, match="No structures"):
        noisy_state(model, [], -2.0, 0.5)


def test_linear_probe_finds_a_linear_signal_and_the_shuffled_control_does_not():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 8))
    probe = linear_probe(Z, Z @ rng.normal(size=8) + 0.1 * rng.normal(size=200), seed=0, n_shuffles=10)
    assert probe.r2 > 0.9 and probe.margin > 0.5 and probe.shuffled_r2.max() < 0.3
    noise = linear_probe(Z, rng.normal(size=200), seed=0, n_shuffles=5)
    assert noise.r2 < 0.2
    with pytest.raises(CrystalInputError, match=">= 8 rows"):
        linear_probe(Z[:5], rng.normal(size=5))


def test_vae_latents_are_the_encoder_means(perovskite_test):
    from crystalkit.models.pretrained import load_pretrained

    vae = load_pretrained("perovskites-vae-csp")
    structures = list(perovskite_test.structures[:4])
    Z = vae_latents(vae, structures)
    assert Z.shape == (4, vae.config.latent_dim)
    np.testing.assert_allclose(vae_latents(vae, structures[::-1])[::-1], Z, atol=1e-5)  # row order is kept
    with pytest.raises(CrystalInputError, match="No structures"):
        vae_latents(vae, [])


def test_attention_weights_are_causal_distributions(perovskite_test):
    from crystalkit.models.pretrained import load_pretrained

    lm = load_pretrained("perovskites-lm-csp")
    tokens, weights = attention_weights(lm, perovskite_test[0])
    T = len(tokens)
    assert weights.shape == (lm.config.n_layers, lm.config.n_heads, T, T)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:-1]))
    assert torch.count_nonzero(torch.triu(weights, diagonal=1)) == 0  # nothing from the future
    sections = token_sections(tokens)
    assert sections[0] == "start" and sections[-1] == "end" and sections[tokens.index("<sg>")] == "space group"
    shares = attention_by_section(tokens, weights, [T - 2, T - 3])
    assert abs(sum(s for s, _ in shares.values()) - 1) < 1e-5 and abs(sum(u for _, u in shares.values()) - 1) < 1e-9
    with pytest.raises(CrystalInputError, match="No query"):
        attention_by_section(tokens, weights, [])


# ----------------------------------------------------------------- figures
def test_figures_draw_every_dot_and_a_waterfall_that_ends_at_the_prediction():
    X, y = synthetic(n=60)
    model = fit_property_model(X, y, seed=0)
    explanation = tree_shap(model, X, [f"x{i}" for i in range(6)])
    swarm = beeswarm_figure(explanation, max_features=4)
    assert len(swarm.data[0].x) == 4 * len(X)
    figure = waterfall_figure(explanation, [3, 7], labels=["a", "b"], max_features=3, start=1)
    trace = figure.data[1]
    assert trace.visible and not figure.data[0].visible and len(figure.layout.sliders[0].steps) == 2
    np.testing.assert_allclose(sum(trace.x[:-1]), model.predict(X[7:8])[0], atol=1e-8)
    with pytest.raises(CrystalInputError, match="rows must be"):
        waterfall_figure(explanation, [100])
    with pytest.raises(CrystalInputError, match="one label per row"):
        waterfall_figure(explanation, [1, 2], labels=["a"])
    offsets = swarm_offsets(np.zeros(9))
    assert np.abs(offsets).max() <= 0.4 + 1e-12 and len(set(offsets.round(9))) == 9


def test_tree_shap_matches_the_brute_force_shapley_sum_and_is_efficient():
    from crystalkit.explain import exact_shapley, tree_shap_interventional

    X, y = synthetic(n=120, features=5)
    y = y + X[:, 2] * X[:, 3]  # an interaction, so the answer is not just the linear terms
    model = fit_property_model(X, y, seed=0)
    background, rows = X[:15], X[100:103]
    fast = tree_shap_interventional(model, rows, background)
    for row, values in zip(rows, fast):
        slow = exact_shapley(model.predict, row, background)
        np.testing.assert_allclose(values, slow, atol=1e-6)  # shap computes in float32 thresholds
        assert abs(slow.sum() - (model.predict(row[None])[0] - model.predict(background).mean())) < 1e-9
    with pytest.raises(CrystalInputError, match="F <= 14"):
        exact_shapley(model.predict, np.zeros(15), np.zeros((2, 15)))


def test_composition_swap_edits_only_the_composition(perovskite_test):
    from crystalkit.explain import composition_swap
    from crystalkit.models.pretrained import load_pretrained

    lm = load_pretrained("perovskites-lm-csp")
    structure = perovskite_test[0]
    present = {e.symbol for e in structure.composition.elements}
    new = next(e for e in ("Ba", "Sr", "Ca", "La") if e not in present)
    effect = composition_swap(lm, structure, new)
    assert set(effect) == {"old_before", "old_after", "new_before", "new_after"}
    assert all(v <= 0 for v in effect.values())  # log-probabilities
    same = composition_swap(lm, structure, new)
    assert same == effect  # deterministic: no sampling involved
    with pytest.raises(CrystalInputError, match="absent"):
        composition_swap(lm, structure, min(present))
