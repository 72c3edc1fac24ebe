"""Explaining what a model uses: SHAP, integrated gradients, probes, and checks that they are faithful.

An explanation answers "which inputs did *this model* lean on for *this
output*?". It is not an answer to "what causes the property?": a model may
lean on any of several correlated inputs, and a different (equally good)
model may lean on another. Every method below therefore comes with a check.

**Shapley values** (Lundberg & Lee, NeurIPS 2017). Treat the ``F`` features as
players of a game whose payout for a coalition ``S`` is ``v(S) = E[f(x) |
x_S]``, the model's expected output when only the features in ``S`` are
known. A feature's Shapley value is its marginal contribution averaged over
every order in which the features could join::

    phi_i = sum_{S not containing i} |S|! (F - |S| - 1)! / F! * (v(S + {i}) - v(S))

It is the only attribution that is *efficient* (``sum_i phi_i = f(x) -
E[f]``, so a prediction is split exactly into the base value plus one share
per feature), *symmetric* (two features that always contribute alike get the
same value), gives zero to a feature that never changes the output, and is
*additive* over a sum of models (so a forest's values are the sum of its
trees'). The sum has ``2^F`` terms in general; for trees, **TreeSHAP**
(Lundberg et al., Nat. Mach. Intell. 2020) computes it exactly in polynomial
time, because ``v(S)`` of a tree is a weighted walk down its paths, and all
subsets can be tracked at once along each path.

**Integrated gradients** (Sundararajan et al., ICML 2017) fit differentiable
models: walk in a straight line from a baseline ``x'`` to the input ``x`` and
add up the gradient along the way::

    IG_i = (x_i - x'_i) * integral_0^1 df/dx_i(x' + a (x - x')) da

By the fundamental theorem of calculus the attributions sum to ``f(x) -
f(x')`` (*completeness*); a numerical integral gets this only approximately,
so :class:`Attribution` reports the gap.

**Faithfulness** (deletion curves, as in Samek et al., IEEE TNNLS 2017):
replace the features an explanation ranks highest by a baseline value and
see how far the prediction moves, against removing random features.

The module also reads the kit's generators: the push that classifier-free
guidance gives a de novo diffusion model's atom types, a linear probe of a
VAE's latent space against a shuffled-label control, and where a language
model's attention goes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError

__all__ = [
    "CODE_FEATURES",
    "Attribution",
    "DeletionCurves",
    "FeatureTable",
    "ProbeResult",
    "ShapExplanation",
    "attention_by_section",
    "attention_weights",
    "composition_swap",
    "deletion_curves",
    "duplicate_feature_check",
    "exact_shapley",
    "fingerprint_features",
    "fit_property_model",
    "guidance_attributions",
    "guidance_push",
    "integrated_gradients",
    "linear_probe",
    "noisy_state",
    "property_table",
    "r2_interval",
    "regression_scores",
    "token_sections",
    "tree_shap",
    "tree_shap_interventional",
    "vae_latents",
]

#: Names of the 16 numbers of the de novo diffusion model's chemical code of an element: the 12 standardised
#: descriptors of `crystalkit.models.backbone.element_descriptors`, then 4 fixed random numbers.
CODE_FEATURES = (
    "period", "group", "electronegativity", "atomic radius", "ionic radius", "Mendeleev number",
    "max oxidation state", "min oxidation state", "s block", "p block", "d block", "f block",
    "random 1", "random 2", "random 3", "random 4",
)


# --------------------------------------------------------------------------- features
@dataclass(frozen=True)
class FeatureTable:
    """One row of features per crystal, with the label to predict.

    Attributes:
        X: ``(n, F)`` features; missing values already filled.
        y: ``(n,)`` labels.
        names: ``F`` feature names.
        formulas: ``n`` reduced formulas, to name rows in plots.
    """

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    formulas: tuple[str, ...]


def fingerprint_features(
    structures: Sequence[Structure], *, rdf_bins: int = 12, r_max: float = 6.0, sigma: float = 0.25
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The kit's two fingerprints side by side: magpie composition statistics and a coarse weighted RDF.

    Returns:
        ``(X, names)``: ``X`` is ``(n, 132 + 3 * rdf_bins)``; magpie values may be NaN (missing element data).

    Raises:
        CrystalInputError: an empty list, or something that is not a structure.
    """
    from crystalkit.metrics.fingerprints import _composition_featurizer, composition_fingerprint
    from crystalkit.representations.fingerprint import ELEMENT_PROPERTIES, fingerprint_radii, rdf_fingerprint

    if len(structures) == 0:
        raise CrystalInputError("No structures given: pass at least one crystal to featurize.")
    bad = [i for i, s in enumerate(structures) if not isinstance(s, Structure)]
    if bad:
        raise CrystalInputError(f"Items {bad[:5]} are not pymatgen Structures: pass a list of crystals.")
    composition = np.array([composition_fingerprint(s) for s in structures])  # (n, 132)
    rdf = np.array([rdf_fingerprint(s, r_max=r_max, n_bins=rdf_bins, sigma=sigma) for s in structures])  # (n, 3B)
    magpie = [label.removeprefix("MagpieData ") for label in _composition_featurizer().feature_labels()]
    radii = fingerprint_radii(r_max, rdf_bins)
    rdf_names = [f"rdf {p} {r:.2f} Å" for p in ELEMENT_PROPERTIES for r in radii]
    return np.hstack([composition, rdf]), tuple(magpie + rdf_names)


def property_table(dataset, column: str, *, fill: np.ndarray | None = None, **options) -> FeatureTable:
    """Features (:func:`fingerprint_features`) and one label column of a `CrystalDataset`.

    Args:
        dataset: a ``CrystalDataset`` (``load_dataset(...)``).
        column: a numeric column of ``dataset.labels``, e.g. ``"formation_energy_per_atom"``.
        fill: ``(F,)`` values for missing features (use the *training* medians for a test split);
            None: this table's own column medians (0 where a whole column is missing).
        options: passed to :func:`fingerprint_features`.

    Raises:
        CrystalInputError: an unknown or non-numeric column, an empty dataset, or a label that is not finite.
    """
    labels = dataset.labels
    if column not in labels.columns:
        numeric = [c for c in labels.columns if np.issubdtype(labels[c].dtype, np.number)]
        raise CrystalInputError(f"No label column {column!r}; numeric columns here: {numeric}.")
    if not np.issubdtype(labels[column].dtype, np.number):
        raise CrystalInputError(f"Column {column!r} is not numeric ({labels[column].dtype}); pick a property.")
    X, names = fingerprint_features(list(dataset.structures), **options)
    y = labels[column].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise CrystalInputError(f"Column {column!r} has {int((~np.isfinite(y)).sum())} missing labels; drop them.")
    if fill is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a column missing for every row: its median is NaN, filled with 0
            fill = np.nan_to_num(np.nanmedian(X, axis=0), nan=0.0)
    elif np.shape(fill) != (X.shape[1],):
        raise CrystalInputError(f"fill must have one value per feature ({X.shape[1]}), got shape {np.shape(fill)}.")
    X = np.where(np.isnan(X), np.asarray(fill)[None, :], X)
    formulas = tuple(s.composition.reduced_formula for s in dataset.structures)
    return FeatureTable(X=X, y=y, names=names, formulas=formulas)


# --------------------------------------------------------------------------- property model
def fit_property_model(X: np.ndarray, y: np.ndarray, *, kind: str = "boosting", seed: int = 0):
    """A small, fast tree ensemble (scikit-learn), seeded, fitted to ``(X, y)``.

    ``"boosting"``: 300 depth-3 trees, learning rate 0.05, each on 80% of the rows (a common, robust setting
    for a few hundred rows); ``"forest"``: 300 trees with at least 2 rows per leaf.
    """
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    X, y = _check_xy(X, y)
    if kind == "boosting":
        model = GradientBoostingRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                                          random_state=seed)
    elif kind == "forest":
        model = RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=seed, n_jobs=1)
    else:
        raise CrystalInputError(f"Unknown model kind {kind!r}: choose 'boosting' or 'forest'.")
    return model.fit(X, y)


def regression_scores(model, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Held-out R^2 and MAE of ``model``, and the MAE of always predicting the mean of ``y`` (the bar to beat)."""
    from sklearn.metrics import mean_absolute_error, r2_score

    X, y = _check_xy(X, y)
    predicted = model.predict(X)
    return {"r2": float(r2_score(y, predicted)), "mae": float(mean_absolute_error(y, predicted)),
            "mae_of_mean": float(np.mean(np.abs(y - y.mean())))}


def r2_interval(model, X: np.ndarray, y: np.ndarray, *, seed: int = 0, resamples: int = 2000):
    """Held-out R^2 of ``model`` with its 95 % bootstrap interval (the held-out rows resampled with replacement).

    Returns an :class:`~crystalkit.metrics.intervals.Interval`: ``estimate``, ``low``, ``high``.
    """
    from crystalkit.metrics.intervals import bootstrap_interval

    X, y = _check_xy(X, y)
    predicted = model.predict(X)

    def r2_of(rows: np.ndarray) -> float:  # rows: resampled indices (floats from the bootstrap)
        rows = rows.astype(int)
        return 1.0 - np.sum((y[rows] - predicted[rows]) ** 2) / np.sum((y[rows] - y[rows].mean()) ** 2)

    return bootstrap_interval(np.arange(len(y)), r2_of, seed=seed, resamples=resamples)


def _check_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2 or len(X) == 0:
        raise CrystalInputError(f"X must be a non-empty (rows, features) array, got shape {X.shape}.")
    if y.shape != (len(X),):
        raise CrystalInputError(f"y must have one label per row of X ({len(X)}), got shape {y.shape}.")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise CrystalInputError("X and y must be finite: fill missing features first (property_table does).")
    return X, y


# --------------------------------------------------------------------------- SHAP
@dataclass(frozen=True)
class ShapExplanation:
    """SHAP values of many rows: ``prediction = base_value + values.sum(axis=1)`` for every row.

    Attributes:
        values: ``(n, F)`` one share of the prediction per feature, in the label's units.
        base_value: the model's average output over its training data (TreeSHAP's reference).
        data: ``(n, F)`` the explained rows.
        names: ``F`` feature names.
    """

    values: np.ndarray
    base_value: float
    data: np.ndarray
    names: tuple[str, ...]

    def importance(self) -> np.ndarray:
        """``(F,)`` mean absolute SHAP value of each feature: how much it moves predictions on average."""
        return np.abs(self.values).mean(axis=0)

    def ranking(self) -> np.ndarray:
        """Feature indices from the most to the least important (by :meth:`importance`)."""
        return np.argsort(-self.importance(), kind="stable")

    def top(self, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` most important ``(name, mean |SHAP|)`` pairs."""
        importance = self.importance()
        return [(self.names[i], float(importance[i])) for i in self.ranking()[:k]]


def tree_shap(model, X: np.ndarray, names: Sequence[str]) -> ShapExplanation:
    """Exact SHAP values of a tree ensemble (``shap.TreeExplainer``, path-dependent TreeSHAP).

    Raises:
        CrystalInputError: ``names`` of the wrong length, or rows that are not finite.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # shap's matplotlib colour maps, unused here
        import shap

    X = np.asarray(X, dtype=float)
    X, _ = _check_xy(X, np.zeros(len(X)))
    if len(names) != X.shape[1]:
        raise CrystalInputError(f"{len(names)} feature names for {X.shape[1]} features: give one name per column.")
    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(X), dtype=float)  # (n, F)
    base = float(np.ravel(explainer.expected_value)[0])
    return ShapExplanation(values=values, base_value=base, data=X, names=tuple(names))


def tree_shap_interventional(model, X: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(n, F)`` exact SHAP values of a tree ensemble for the game of :func:`exact_shapley` (shap's
    interventional TreeSHAP): "unknown" features take their values from the ``background`` rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    X, _ = _check_xy(X, np.zeros(len(np.atleast_2d(X))))
    background, _ = _check_xy(background, np.zeros(len(np.atleast_2d(background))))
    # scikit-learn's trees compare float32 copies of the inputs with their thresholds, shap compares the float64
    # values: a value within float32 rounding of a threshold would go left in one and right in the other. Give
    # shap the float32 values, so both walk the same paths (and the SHAP values explain model.predict exactly).
    X, background = (a.astype(np.float32).astype(float) for a in (X, background))
    explainer = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
    return np.asarray(explainer.shap_values(X, check_additivity=True), dtype=float)


def exact_shapley(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(F,)`` Shapley values of one row by brute force over all ``2^F`` coalitions (a reference, F <= 14).

    The game: ``v(S)`` is the mean prediction over the ``background`` rows with the features in ``S`` set
    to ``x``'s values ("interventional" SHAP). Each feature's value is the weighted sum of its marginal
    contributions ``v(S + {i}) - v(S)``, with the weights ``|S|! (F - |S| - 1)! / F!`` of the module docstring.
    """
    from math import factorial

    x, background = np.asarray(x, dtype=float), np.atleast_2d(np.asarray(background, dtype=float))
    F = x.shape[-1]
    if x.shape != (F,) or background.shape[1] != F or not 1 <= F <= 14:
        raise CrystalInputError(f"x must be (F,) with F <= 14 and background (m, F); got {x.shape}, "
                                f"{background.shape}.")
    subsets = (np.arange(2**F)[:, None] >> np.arange(F)[None, :]) & 1  # (2^F, F): bit i = feature i known
    rows = np.where(subsets[:, None, :] == 1, x[None, None, :], background[None, :, :])  # (2^F, m, F)
    value = predict(rows.reshape(-1, F)).reshape(2**F, len(background)).mean(axis=1)  # (2^F,) v(S)
    sizes = subsets.sum(axis=1)
    phi = np.zeros(F)
    for i in range(F):
        without = np.flatnonzero(subsets[:, i] == 0)  # coalitions S not containing i
        weight = np.array([factorial(s) * factorial(F - s - 1) / factorial(F) for s in sizes[without]])
        phi[i] = np.sum(weight * (value[without + 2**i] - value[without]))  # S + {i} sets bit i
    return phi


# --------------------------------------------------------------------------- faithfulness
@dataclass(frozen=True)
class DeletionCurves:
    """How far predictions move when features are replaced by their baseline, most important first.

    Attributes:
        removed: ``(K + 1,)`` number of features removed, 0..K.
        top: ``(K + 1,)`` mean |f(masked) - f(x)| over the rows, removing the top-ranked features.
        random: ``(K + 1,)`` the same, removing random features (mean over ``n_random`` orders).
        random_spread: ``(K + 1,)`` standard deviation of the random curve over the orders.
    """

    removed: np.ndarray
    top: np.ndarray
    random: np.ndarray
    random_spread: np.ndarray

    def gain(self) -> float:
        """Mean of ``top - random`` over the curve: > 0 when the ranking finds what the model uses."""
        return float(np.mean(self.top - self.random))


def deletion_curves(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    attributions: np.ndarray,
    baseline: np.ndarray,
    *,
    max_removed: int = 10,
    n_random: int = 20,
    seed: int = 0,
) -> DeletionCurves:
    """Remove (mask to ``baseline``) each row's top-|attribution| features one by one, and random ones.

    Args:
        predict: ``(m, F) -> (m,)``, e.g. ``model.predict``.
        X: ``(n, F)`` rows to explain; ``attributions``: ``(n, F)`` their attributions (e.g. SHAP values).
        baseline: ``(F,)`` the value that stands for "feature removed" (e.g. the training mean).
        max_removed: ``K``, the longest deletion; n_random: random orders per row; seed: for those orders.
    """
    X, attributions = np.asarray(X, dtype=float), np.asarray(attributions, dtype=float)
    baseline = np.asarray(baseline, dtype=float)
    if X.ndim != 2 or attributions.shape != X.shape or baseline.shape != (X.shape[1],):
        raise CrystalInputError(f"X {X.shape}, attributions {attributions.shape} and baseline {baseline.shape} "
                                "must be (n, F), (n, F) and (F,).")
    if not 1 <= max_removed <= X.shape[1] or n_random < 1:
        raise CrystalInputError(f"max_removed must be in 1..{X.shape[1]} and n_random >= 1.")
    rng = np.random.default_rng(seed)
    reference = predict(X)  # (n,)
    order_top = np.argsort(-np.abs(attributions), axis=1, kind="stable")[:, :max_removed]  # (n, K)
    orders_random = np.stack([rng.permuted(np.tile(np.arange(X.shape[1]), (len(X), 1)), axis=1)[:, :max_removed]
                              for _ in range(n_random)])  # (R, n, K)

    def curve(order: np.ndarray) -> np.ndarray:  # (n, K) -> (K + 1,)
        masked, moves = X.copy(), [np.zeros(len(X))]
        for k in range(max_removed):
            rows = np.arange(len(X))
            masked[rows, order[:, k]] = baseline[order[:, k]]
            moves.append(np.abs(predict(masked) - reference))
        return np.mean(moves, axis=1)

    random = np.stack([curve(order) for order in orders_random])  # (R, K + 1)
    return DeletionCurves(removed=np.arange(max_removed + 1), top=curve(order_top), random=random.mean(axis=0),
                          random_spread=random.std(axis=0))


def duplicate_feature_check(
    X: np.ndarray, y: np.ndarray, feature: int, *, seed: int = 0, kind: str = "boosting"
) -> dict[str, float]:
    """Does the model's credit for a feature split when an exact copy of it is added?

    Refit the model with column ``feature`` appended a second time. The data hold no new information, and the
    predictions barely change, but the credit (mean |SHAP|) is now shared between the twins: SHAP says what a
    model uses, and with correlated inputs which one it uses is an arbitrary choice, not a cause.

    Returns:
        ``alone``: mean |SHAP| of the feature without the copy; ``original`` and ``copy``: the twins' values;
        ``prediction_change``: mean |difference| of the two models' predictions on ``X``.
    """
    X, y = _check_xy(X, y)
    if not 0 <= feature < X.shape[1]:
        raise CrystalInputError(f"feature must be a column index in 0..{X.shape[1] - 1}, got {feature}.")
    names = [str(i) for i in range(X.shape[1])]
    single = fit_property_model(X, y, kind=kind, seed=seed)
    twinned_X = np.hstack([X, X[:, [feature]]])
    twinned = fit_property_model(twinned_X, y, kind=kind, seed=seed)
    alone = tree_shap(single, X, names).importance()[feature]
    both = tree_shap(twinned, twinned_X, names + ["copy"]).importance()
    change = np.mean(np.abs(single.predict(X) - twinned.predict(twinned_X)))
    return {"alone": float(alone), "original": float(both[feature]), "copy": float(both[-1]),
            "prediction_change": float(change)}


# --------------------------------------------------------------------------- integrated gradients
@dataclass(frozen=True)
class Attribution:
    """Integrated-gradient attributions of one input, with what completeness says they should add up to."""

    values: torch.Tensor  # same shape as the input
    output: float  # f(x)
    baseline_output: float  # f(baseline)

    @property
    def gap(self) -> float:
        """``sum(values) - (f(x) - f(baseline))``: the integration error; 0 for an exact integral."""
        return float(self.values.sum()) - (self.output - self.baseline_output)


def integrated_gradients(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, baseline: torch.Tensor | None = None,
    *, steps: int = 64,
) -> Attribution:
    """Integrated gradients of a scalar function, by the midpoint rule on ``steps`` points of the straight path.

    Args:
        f: maps a batch of inputs ``(S, *x.shape)`` to ``(S,)`` outputs (all path points in one call).
        x: the input; baseline: the reference input (default zeros), same shape.
        steps: integration points; the midpoint rule is exact when ``f`` is quadratic along the path.
    """
    if baseline is None:
        baseline = torch.zeros_like(x)
    if baseline.shape != x.shape:
        raise CrystalInputError(f"baseline {tuple(baseline.shape)} must have the shape of x {tuple(x.shape)}.")
    if not isinstance(steps, int) or steps < 1:
        raise CrystalInputError(f"steps must be a positive integer, got {steps!r}.")
    x, baseline = x.detach(), baseline.detach().to(x)
    alphas = ((torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps).view(-1, *[1] * x.dim())
    path = (baseline + alphas * (x - baseline)).requires_grad_(True)  # (S, *x.shape)
    outputs = f(path)
    if outputs.shape != (steps,):
        raise CrystalInputError(f"f must return one number per path point, shape ({steps},); got "
                                f"{tuple(outputs.shape)}.")
    (gradients,) = torch.autograd.grad(outputs.sum(), path)
    values = (x - baseline) * gradients.mean(dim=0)
    with torch.no_grad():
        ends = f(torch.stack([x, baseline]))
    return Attribution(values=values.detach(), output=float(ends[0]), baseline_output=float(ends[1]))


# --------------------------------------------------------------------------- a guided generator
def noisy_state(model, structures: Sequence[Structure], condition: float, t: float, seed: int = 0):
    """Real crystals noised to time ``t`` the way a de novo diffusion model was trained, labelled ``condition``.

    Returns:
        ``(state, codes)``: the noisy `DenseCrystals` (lattice and coordinates) and the noisy chemical codes
        ``(B, N, D)`` of the atoms, the continuous atom types that guidance pushes.
    """
    from crystalkit.data.batch import CrystalBatch
    from crystalkit.models.generator import as_dense

    if getattr(model, "type_head", None) is None or getattr(model, "condition_embedding", None) is None:
        raise CrystalInputError("Needs a conditional de novo diffusion model, e.g. "
                                "load_pretrained('perovskites-diffusion-denovo-formation-energy').")
    if len(structures) == 0:
        raise CrystalInputError("No structures given: pass at least one crystal to noise.")
    if not 0 < t <= 1:
        raise CrystalInputError(f"t must be a process time in (0, 1], got {t}.")
    generator = torch.Generator().manual_seed(seed)
    data = as_dense(CrystalBatch.from_structures(structures)).to(model.device)
    data = data.replace(condition=torch.full((data.num_crystals,), float(condition)))
    times = torch.full((data.num_crystals,), float(t))
    with torch.no_grad():
        state = model.corrupt(data, times, generator).state
        codes = model.type_codes[(data.types - 1).clamp(min=0)] * data.mask.unsqueeze(-1)  # (B, N, D)
        noise = torch.randn(codes.shape, generator=generator)
        codes = model.ddpm_schedule.add_noise(codes, times, noise) * data.mask.unsqueeze(-1)
    return state.replace(types=data.types), codes


def guidance_push(model, state, codes: torch.Tensor, t: float) -> torch.Tensor:
    """``(B, N, D)`` the change guidance makes to each atom's chemical code, up to the positive step size.

    Classifier-free guidance adds ``w * (eps_cond - eps_uncond)`` to the predicted noise, and a DDPM step moves
    the codes *against* the predicted noise; so ``-(eps_cond - eps_uncond)`` is the direction in which asking for
    the label moves each atom's chemistry. Differentiable in ``codes``.
    """
    times = torch.full((codes.shape[0],), float(t), device=codes.device)
    types = model._type_input(codes)  # (B, N, K) type weights the backbone reads
    with_label = model.predict(types, state, times).type_noise  # (B, N, D)
    without = model.predict(types, state.replace(condition=None), times).type_noise
    return -(with_label - without) * state.mask.unsqueeze(-1)


def guidance_attributions(model, structure: Structure, condition: float, *, t: float = 0.5, steps: int = 32,
                          seed: int = 0) -> tuple[Attribution, torch.Tensor]:
    """Which atoms' codes, and which numbers in them, make the guidance push strong (integrated gradients).

    The explained scalar is the guidance strength ``sum_i |push_i|^2`` for ``structure`` noised to ``t``; the
    baseline is all-zero codes (no chemistry, the mean of the prior).

    Returns:
        ``(attribution, push)``: attributions ``(N, D)`` (sum over ``D`` for each atom's share) and the push
        ``(N, D)`` itself.
    """
    state, codes = noisy_state(model, [structure], condition, t, seed)
    mask = state.mask[0]

    def strength(path: torch.Tensor) -> torch.Tensor:  # (S, N, D) -> (S,)
        copies = path.shape[0]
        repeated = state.replace(**{name: getattr(state, name).expand(copies, *getattr(state, name).shape[1:])
                                    for name in ("types", "frac", "lattice", "mask", "condition")})
        push = guidance_push(model, repeated, path, t)
        return (push**2).sum(dim=(1, 2))

    full = integrated_gradients(strength, codes[0], steps=steps)  # (N, D); padding rows get zero
    attribution = Attribution(values=full.values[mask], output=full.output, baseline_output=full.baseline_output)
    with torch.no_grad():
        push = guidance_push(model, state, codes, t)[0][mask]
    return attribution, push


# --------------------------------------------------------------------------- probes
@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's held-out R^2, and the same probe trained on shuffled labels (the control)."""

    r2: float
    shuffled_r2: np.ndarray  # (n_shuffles,)

    @property
    def margin(self) -> float:
        """How far the real R^2 is above the best shuffled one."""
        return self.r2 - float(self.shuffled_r2.max())


def linear_probe(Z: np.ndarray, y: np.ndarray, *, seed: int = 0, test_fraction: float = 0.25,
                 n_shuffles: int = 20, alpha: float = 1.0) -> ProbeResult:
    """Ridge regression from representations ``Z`` ``(n, D)`` to a property ``y``; R^2 on held-out rows.

    The control refits on training labels shuffled among the rows: it keeps the label distribution but
    breaks the link, so it measures how much R^2 a probe finds by chance (Hewitt & Liang, EMNLP 2019).
    """
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Z, y = _check_xy(Z, y)
    if len(Z) < 8 or not 0 < test_fraction < 1:
        raise CrystalInputError(f"A probe needs >= 8 rows and 0 < test_fraction < 1; got {len(Z)}, {test_fraction}.")
    Z_train, Z_test, y_train, y_test = train_test_split(Z, y, test_size=test_fraction, random_state=seed)
    rng = np.random.default_rng(seed)

    def fit_score(labels: np.ndarray) -> float:
        probe = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(Z_train, labels)
        return float(r2_score(y_test, probe.predict(Z_test)))

    shuffled = np.array([fit_score(rng.permutation(y_train)) for _ in range(n_shuffles)])
    return ProbeResult(r2=fit_score(y_train), shuffled_r2=shuffled)


def vae_latents(vae, structures: Sequence[Structure]) -> np.ndarray:
    """``(n, D)`` posterior means ``mu`` of a VAE's encoder for ``structures``."""
    from crystalkit.data.batch import CrystalBatch

    if len(structures) == 0:
        raise CrystalInputError("No structures given: pass at least one crystal to encode.")
    with torch.no_grad():
        mu, _ = vae.encode(CrystalBatch.from_structures(structures))
    return mu.cpu().numpy()


# --------------------------------------------------------------------------- attention
def attention_weights(lm, structure: Structure) -> tuple[list[str], torch.Tensor]:
    """The tokens of ``structure`` and the attention of every layer and head, ``(L, H, T, T)`` (rows sum to 1).

    Read with forward hooks on each block's attention, recomputing its softmax from the queries and keys, so
    the language model itself is unchanged.
    """
    tokens = lm.tokenizer.encode(structure)
    ids = torch.tensor([lm.tokenizer.to_ids(tokens)], device=lm.device)  # (1, T)
    captured: list[torch.Tensor] = []

    def hook(module, inputs, output):
        x = inputs[0]  # (1, T, C); inputs[1] is the KV cache, None here
        B, T, C = x.shape
        q, k, _ = module.qkv(x).split(C, dim=2)
        q, k = (z.view(B, T, module.n_heads, C // module.n_heads).transpose(1, 2) for z in (q, k))  # (1, h, T, d)
        scores = (q @ k.transpose(-2, -1) / k.shape[-1] ** 0.5).masked_fill(module.future[:T, :T], float("-inf"))
        captured.append(torch.softmax(scores, dim=-1)[0])  # (h, T, T)

    handles = [block.attn.register_forward_hook(hook) for block in lm.blocks]
    try:
        with torch.no_grad():
            lm(ids)
    finally:
        for handle in handles:
            handle.remove()
    return tokens, torch.stack(captured)


#: The parts of a crystal's token sequence, in order; each starts at its marker token.
_SECTION_STARTS = {"<comp>": "composition", "<sg>": "space group", "<a>": "lattice", "<atoms>": "atoms"}


def token_sections(tokens: Sequence[str]) -> list[str]:
    """The section of each token: ``start``, ``composition``, ``space group``, ``lattice``, ``atoms``, ``end``."""
    section, sections = "start", []
    for token in tokens:
        section = _SECTION_STARTS.get(token, "end" if token == "<eos>" else section)
        sections.append(section)
    return sections


def attention_by_section(tokens: Sequence[str], weights: torch.Tensor, queries: Sequence[int]) -> dict:
    """Share of the attention of the ``queries`` positions that lands on each section, vs uniform attention.

    Returns:
        section -> ``(share, uniform_share)``: the mean over layers, heads and queries of the attention mass
        on that section, and the mass it would get if each query spread its attention evenly over the
        positions it can see (the control).
    """
    if len(queries) == 0:
        raise CrystalInputError("No query positions given: pass the token positions whose attention to read.")
    sections = np.array(token_sections(tokens))
    mass = weights.mean(dim=(0, 1))[list(queries)].cpu().numpy()  # (Q, T)
    visible = np.tril(np.ones((len(tokens), len(tokens))))[list(queries)]  # (Q, T)
    uniform = visible / visible.sum(axis=1, keepdims=True)
    return {name: (float(mass[:, sections == name].sum(axis=1).mean()),
                   float(uniform[:, sections == name].sum(axis=1).mean()))
            for name in dict.fromkeys(sections)}


def composition_swap(lm, structure: Structure, new: str) -> dict[str, float]:
    """An intervention on the prompt: does the language model read the composition it is given?

    Replace the heaviest element of ``structure`` by ``new`` in the *composition* tokens only, keep the rest
    of the sequence, and compare the mean log-probability the model gives, at the atoms-section positions
    where the heaviest element is written, to the old and the new element, before and after the edit. A model
    that reads the composition moves probability from the old element to the new one.

    Returns:
        ``old_before``, ``old_after``, ``new_before``, ``new_after``: mean log-probabilities (nats).
    """
    old = max(structure.composition.elements, key=lambda element: element.Z).symbol
    if new == old or new in [e.symbol for e in structure.composition.elements]:
        raise CrystalInputError(f"Substitute {new!r} must be an element absent from {structure.formula}.")
    tokens = lm.tokenizer.encode(structure)
    sections = token_sections(tokens)
    edited = [new if token == old and section == "composition" else token for token, section in zip(tokens, sections)]
    positions = [i for i, (token, section) in enumerate(zip(tokens, sections)) if token == old and section == "atoms"]
    old_id, new_id = lm.tokenizer.to_ids([old, new])
    result = {}
    for when, sequence in (("before", tokens), ("after", edited)):
        with torch.no_grad():
            log_p = torch.log_softmax(lm(torch.tensor([lm.tokenizer.to_ids(sequence)], device=lm.device))[0], dim=-1)
        # The token at position i is predicted from the prefix ending at i - 1.
        result[f"old_{when}"] = float(log_p[[i - 1 for i in positions], old_id].mean())
        result[f"new_{when}"] = float(log_p[[i - 1 for i in positions], new_id].mean())
    return result
