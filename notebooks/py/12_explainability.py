# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 12 · Explainability: what does a model use, and is the explanation true?
#
# **Learning goals**
# - Derive Shapley values from four wishes (efficiency, symmetry, dummy, additivity) and see why TreeSHAP computes
#   them *exactly* for tree ensembles, checked against a brute-force sum over all coalitions.
# - Explain a formation-energy model built on the kit's fingerprints: which features drive it over the whole set
#   (beeswarm) and for one crystal (waterfall).
# - Check an explanation instead of trusting it: remove the top-ranked features and watch the prediction move more
#   than when random ones are removed (a deletion curve).
# - Tell apart what a model *uses* from what *causes* a property: correlated features share credit, and an exact
#   copy of a feature takes half of it.
# - Look inside the kit's generators: integrated gradients on the guidance signal of the conditional diffusion
#   model, a linear probe of the VAE's latent space against a shuffled-label control, and where the language
#   model's attention goes.
#
# **Prerequisites**: notebook 01 (fingerprints), notebook 02 (the bundled sets), notebook 04 (the VAE), notebook 06
# (classifier-free guidance); notebook 08 (the language model) helps. A regression model, $R^2$, a gradient.
#
# **Run time**: quick mode about a minute on two CPU cores (fingerprints of 542 crystals, one small tree ensemble,
# shipped checkpoints); full mode a few minutes (more random deletion orders, finer integrals, more crystals).

# %% tags=["parameters"]
QUICK = True                              # fewer random orders, integration steps and crystals; False: more
SEED = 0                                  # model fitting, random deletion orders, noise of the diffusion states
DATASET = "inorganic"                     # a bundled set with a wide range of chemistry
PROPERTY = "formation_energy_per_atom"    # the label to explain (eV/atom, from CHGNet, see crystalkit/data/DATA.md)

# %%
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import torch
from IPython.display import display

from crystalkit.data import load_dataset
from crystalkit.errors import CrystalInputError
from crystalkit.explain import (
    CODE_FEATURES, attention_by_section, attention_weights, composition_swap, deletion_curves,
    duplicate_feature_check, exact_shapley, fit_property_model, guidance_attributions, guidance_push, linear_probe,
    noisy_state, property_table, r2_interval, regression_scores, token_sections, tree_shap,
    tree_shap_interventional, vae_latents,
)
from crystalkit.models.pretrained import load_pretrained
from crystalkit.narration import claim, claim_between, say
from crystalkit.widgets.explain import beeswarm_figure, deletion_figure, waterfall_figure

torch.set_num_threads(1)   # small models: one thread is fastest on a busy machine
n_random = 10 if QUICK else 50          # random deletion orders
ig_steps = 16 if QUICK else 64          # integration points of integrated gradients
n_crystals = 40 if QUICK else 108       # test perovskites for the generator sections

# %% [markdown]
# ## 1. Shapley values in five lines of algebra
#
# A model $f$ predicts from $F$ features. For a set $S$ of features let $v(S)$ be what the model predicts when
# only the features in $S$ are known, the others being averaged out; $v(\varnothing) = \mathbb{E}[f]$ (the **base
# value**) and $v(\text{all}) = f(x)$. How should the difference $f(x) - \mathbb{E}[f]$ be shared among the features?
#
# Let the features join one at a time in an order $\pi$. Feature $i$ adds $v(S^\pi_i \cup \{i\}) - v(S^\pi_i)$,
# where $S^\pi_i$ are those before it. For any one order these additions **telescope**: their sum is
# $v(\text{all}) - v(\varnothing)$. But one order favours some features (the first to bring a shared piece of
# information gets all of it), so average over all $F!$ orders. Counting the orders in which exactly the set $S$
# comes before $i$ ($|S|!$ ways to order $S$, $(F - |S| - 1)!$ for the rest) gives the **Shapley value**
#
# $$\phi_i = \sum_{S \subseteq F \setminus \{i\}} \frac{|S|!\,(F-|S|-1)!}{F!}\,\bigl[v(S \cup \{i\}) - v(S)\bigr].$$
#
# Because each order telescopes, so does the average: **efficiency**, $\sum_i \phi_i = f(x) - \mathbb{E}[f]$.
# Two features that add the same to every coalition get the same value (**symmetry**); one that never changes $v$
# gets zero (**dummy**); and $\phi$ is linear in $v$, so the values of a sum of models (a forest, a boosted
# ensemble) are the sums of the trees' values (**additivity**). Shapley (1953) showed these four properties allow
# no other sharing rule; Lundberg & Lee (2017) used it to explain predictions (SHAP).
#
# The sum has $2^{F-1}$ terms per feature, and our model will have $F = 168$ features: about $10^{50}$ terms.
# For a tree, however, $v(S)$ is cheap and structured: walk down the tree, follow $x$ at a split on a known
# feature, and take both branches (weighted by the training data each received, or by background rows) at a
# split on an unknown one. **TreeSHAP** (Lundberg et al. 2020) tracks, along every root-to-leaf path, how many
# coalitions of each size reach the leaf, which is all the weights above need: the exact sum in time polynomial
# in the depth, not exponential in $F$. It is not an approximation, and we can check that on a small case.

# %% [markdown]
# ## 2. A formation-energy model on the kit's fingerprints
#
# Each crystal becomes one vector: the 132 magpie composition statistics (mean, range, mode, ... of 22 elemental
# properties over the formula; `crystalkit.metrics.fingerprints`) beside a coarse property-weighted radial
# distribution function (3 channels of 12 bins; `crystalkit.representations.fingerprint`). Missing magpie values
# are filled with the training medians. The model is gradient boosting: 300 depth-3 trees, seeded.

# %%
train_set = load_dataset(DATASET, "train")
held_sets = [load_dataset(DATASET, split) for split in ("val", "test")]
train = property_table(train_set, PROPERTY)
fill = np.median(train.X, axis=0)
held = [property_table(d, PROPERTY, fill=fill) for d in held_sets]
X_held = np.vstack([t.X for t in held])
y_held = np.concatenate([t.y for t in held])
formulas_held = sum((t.formulas for t in held), ())
names = train.names
print(f"{len(train.y)} training crystals, {len(y_held)} held out (val + test), {len(names)} features")

model = fit_property_model(train.X, train.y, seed=SEED)
scores = regression_scores(model, X_held, y_held)
print({k: round(v, 3) for k, v in scores.items()})
claim(scores["mae"] < scores["mae_of_mean"], "the model beats predicting the mean on held-out crystals", **scores)
r2_spread = r2_interval(model, X_held, y_held, seed=SEED)
claim_between(scores["r2"], 0.2, 0.95, "the held-out R^2 is modest: useful, far from perfect")
say("On {n} held-out crystals the model reaches $R^2$ = {r2:.2f} (95% bootstrap interval {lo:.2f} to {hi:.2f}) "
    "and a mean absolute error of {mae:.2f} eV/atom, against {base:.2f} eV/atom for always predicting the mean.",
    n=len(y_held), r2=scores["r2"], lo=r2_spread.low, hi=r2_spread.high, mae=scores["mae"],
    base=scores["mae_of_mean"]);

# %% [markdown]
# A misspelt label column is refused with the columns that exist:

# %%
try:
    property_table(held_sets[0], "formation_energy")
except CrystalInputError as error:
    print("refused:", error)

# %% [markdown]
# ## 3. Which features drive formation energy?
#
# `tree_shap` runs shap's `TreeExplainer` (path-dependent TreeSHAP: unknown features are averaged with the
# training data each branch saw). First the promise of efficiency, checked on every held-out crystal:

# %%
explanation = tree_shap(model, X_held, names)
rebuilt = explanation.base_value + explanation.values.sum(axis=1)
gap = float(np.abs(rebuilt - model.predict(X_held)).max())
claim(gap < 1e-6, "base value plus the SHAP values gives each prediction", gap=gap)
print(f"largest |base + sum(SHAP) - prediction| = {gap:.1e} eV/atom; base value {explanation.base_value:.3f} eV/atom")
top = pd.DataFrame(explanation.top(10), columns=["feature", "mean |SHAP| (eV/atom)"])
display(top)

# %%
share = float(top["mean |SHAP| (eV/atom)"].iloc[0] / explanation.importance().sum())
first = top["feature"].iloc[0]
n_rdf = sum(name.startswith("rdf") for name in top["feature"])
claim(not first.startswith("rdf") and "Electronegativity" in first,
      "the most used feature is an electronegativity statistic of the composition", first=first)
say("The most used feature is **{first}**, with {share:.0%} of all the credit. Structural (RDF) features among the "
    "ten most used: {n_rdf}.", first=first, share=share, n_rdf=n_rdf);
beeswarm_figure(explanation, max_features=12, title=f"SHAP values of {PROPERTY} on held-out crystals").show()

# %% [markdown]
# Each dot is one crystal; its position is how far that feature moved its prediction, its colour the feature's
# value. A feature whose red dots sit left of zero lowers the predicted formation energy when it is large.
# Magpie names read tersely: `avg_dev X` is the mean absolute deviation of property X over the atoms of the
# formula, `range X` its maximum minus minimum; `SpaceGroupNumber` is the space group of each *element's* own
# ground-state crystal (averaged over the formula), not the space group of the crystal itself.

# %%
top_index = int(explanation.ranking()[0])
corr = float(np.corrcoef(X_held[:, top_index], explanation.values[:, top_index])[0, 1])
say("For **{f}**, the correlation between its value and its SHAP value is {c:+.2f}: larger values push the "
    "predicted formation energy {way}.", f=first, c=corr, way="down" if corr < 0 else "up");

# %% [markdown]
# **TreeSHAP is exact: a check.** On a model small enough for the brute-force sum (the 8 most used features),
# the $2^8$-coalition sum of section 1 and shap's interventional TreeSHAP (where "unknown" features take values
# from background rows) must agree to rounding:

# %%
small = explanation.ranking()[:8]
small_model = fit_property_model(train.X[:, small], train.y, seed=SEED)
background = train.X[:20][:, small]
fast = tree_shap_interventional(small_model, X_held[:3][:, small], background)
slow = np.array([exact_shapley(small_model.predict, row, background) for row in X_held[:3][:, small]])
difference = float(np.abs(fast - slow).max())
claim(difference < 1e-6, "TreeSHAP equals the brute-force Shapley sum", difference=difference)
print(f"largest difference between TreeSHAP and the 256-coalition sum: {difference:.1e} eV/atom")

# %% [markdown]
# ## 4. One crystal: a waterfall
#
# The prediction for one crystal, built from the base value one feature at a time, the largest first. The slider
# (plotly's own, so it works in an exported page) chooses among the held-out crystals with the lowest, a middle
# and the highest predicted formation energy.

# %%
predicted = model.predict(X_held)
order = np.argsort(predicted)
picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
labels = [f"{formulas_held[i]} ({predicted[i]:+.2f} eV/atom)" for i in picks]
waterfall_figure(explanation, picks, labels=labels, max_features=10, start=1, units="(eV/atom)").show()
row = picks[1]
biggest = int(np.argmax(np.abs(explanation.values[row])))
say("For {formula} the largest single share comes from **{name}** ({value:+.3f} eV/atom); the model predicts "
    "{pred:+.2f} eV/atom, CHGNet's label is {true:+.2f} eV/atom.", formula=formulas_held[row],
    name=names[biggest], value=explanation.values[row, biggest], pred=predicted[row], true=y_held[row]);

# %% [markdown]
# ## 5. Faithfulness: is the ranking true to the model?
#
# An explanation ranks features; if the ranking is right, removing the top-ranked features should move the
# prediction more than removing as many random ones. "Removing" a feature here means setting it to its training
# mean. `deletion_curves` returns both curves (the random one averaged over several random orders).

# %%
curves = deletion_curves(model.predict, X_held, explanation.values, train.X.mean(axis=0), max_removed=10,
                         n_random=n_random, seed=SEED)
deletion_figure(curves).show()
claim(np.all(curves.top[1:] > curves.random[1:]), "removing the top-ranked features moves predictions more than "
      "removing random ones, at every step", top=curves.top.round(3), random=curves.random.round(3))
say("Removing the {k} top-ranked features moves a prediction by {top:.3f} eV/atom on average; removing {k} random "
    "ones by {rand:.3f} (standard deviation over random orders {spread:.3f}) eV/atom.", k=int(curves.removed[-1]),
    top=curves.top[-1], rand=curves.random[-1], spread=curves.random_spread[-1]);

# %% [markdown]
# Deletion has its own flaw: a crystal with a feature at its mean value is not one the model has seen, so
# "removed" is an intervention outside the data. The curves check that the ranking agrees with *the model*; they
# say nothing about chemistry.

# %% [markdown]
# ## 6. What the model uses is not what causes the property
#
# SHAP explains the model, and a model picks whichever of several interchangeable inputs splits the data first.
# Magpie's 132 statistics are far from independent; here are the features most correlated with the most used one:

# %%
correlation = np.corrcoef(train.X.T)[top_index]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    partners = [(names[j], float(correlation[j]), float(explanation.importance()[j]))
                for j in np.argsort(-np.abs(np.nan_to_num(correlation))) if j != top_index][:5]
display(pd.DataFrame(partners, columns=["feature", f"correlation with {first}", "mean |SHAP|"]))
partner, partner_corr, partner_credit = partners[0]
claim(abs(partner_corr) > 0.8, "the most used feature has a strongly correlated partner", partner=partners[0])
say("**{p}** follows {f} closely (correlation {c:+.2f}), yet gets {ratio:.0%} of its credit: the trees split on one "
    "of the pair, and SHAP shares credit by what the model does, not by what the data hold.", p=partner, f=first,
    c=partner_corr, ratio=partner_credit / explanation.importance()[top_index]);

# %% [markdown]
# **A check with a known answer.** Append an exact copy of the most used feature and refit. The data carry no new
# information, so the predictions barely change, but the credit is now shared between the twins, by whichever
# the trees happened to choose:

# %%
twins = duplicate_feature_check(train.X, train.y, top_index, seed=SEED)
print({k: round(v, 4) for k, v in twins.items()})
claim(max(twins["original"], twins["copy"]) < 0.9 * twins["alone"] and twins["copy"] > 0,
      "an exact copy takes a share of the credit", **twins)
say("Alone, {f} had a mean |SHAP| of {a:.3f}; beside its copy it keeps {o:.3f} and the copy gets {c:.3f} "
    "(together {t:.3f}), while the predictions move by only {d:.3f} eV/atom on average.", f=first, a=twins["alone"],
    o=twins["original"], c=twins["copy"], t=twins["original"] + twins["copy"], d=twins["prediction_change"]);

# %% [markdown]
# **Refit without it.** If the feature *caused* the model's skill, dropping it should hurt. It need not: its
# correlated partners can take over.

# %%
keep = [j for j in range(len(names)) if j != top_index]
without = fit_property_model(train.X[:, keep], train.y, seed=SEED)
scores_without = regression_scores(without, X_held[:, keep], y_held)
explained_without = tree_shap(without, X_held[:, keep], [names[j] for j in keep])
partner_after = float(explained_without.importance()[keep.index(names.index(partner))])
claim(scores_without["r2"] > scores["r2"] - 0.1, "dropping the most used feature costs little accuracy",
      before=scores["r2"], after=scores_without["r2"])
say("Without {f}, the held-out $R^2$ is {r2:.2f} (was {before:.2f}); the most used feature becomes **{new}**, and "
    "the credit of {p} goes from {a:.3f} to {b:.3f}.", f=first, r2=scores_without["r2"], before=scores["r2"],
    new=explained_without.top(1)[0][0], p=partner, a=partner_credit, b=partner_after);

# %% [markdown]
# So "the model uses feature A" is a statement about one fitted model. Whether A *causes* low formation energy is
# a question for chemistry, tested by intervention: here there is a physical reason to believe it, since Pauling
# (1932) defined electronegativity from the extra bond energy of a polar bond, roughly proportional to the square
# of the electronegativity difference, which is what makes ionic compounds more stable than their elements. SHAP
# found a feature consistent with that; it did not prove it.

# %% [markdown]
# ## 7. Explaining a generator
#
# ### 7a. What does guidance push towards?
#
# The shipped de novo diffusion model was trained with formation energy as its condition and samples with
# classifier-free guidance (notebook 06): at each step the prediction with the label is pushed away from the one
# without it. For atom types the model denoises a 16-number **chemical code** per atom (12 standardised element
# descriptors and 4 random numbers), so the guidance signal is a push on each atom's code, and each of its
# components has a name. `guidance_push` reads it for real test perovskites noised 70% of the way to pure noise
# ($t = 0.7$, while the chemistry is still being decided), asked once for a low and once for a high formation
# energy (the training set's 10th and 90th percentiles).


# %%
perovskites = load_dataset("perovskites", "test")
labels_train = load_dataset("perovskites", "train").labels[PROPERTY].to_numpy()
low, high = np.percentile(labels_train, [10, 90])
T_GUIDE = 0.7   # process time of the noisy states (exercise 3 tries others)
designer = load_pretrained("perovskites-diffusion-denovo-formation-energy")

# %%
crystals = list(perovskites.structures[:n_crystals])
pushes = {}
for name, target in (("low", low), ("high", high)):
    state, codes = noisy_state(designer, crystals, target, t=T_GUIDE, seed=SEED)  # the same noise for both
    with torch.no_grad():
        pushes[name] = guidance_push(designer, state, codes, T_GUIDE)[state.mask].mean(dim=0).numpy()  # (16,)
contrast = pushes["low"] - pushes["high"]
floor = float(np.abs(contrast[12:]).max())  # the 4 random numbers carry no chemical trend
figure = px.bar(x=list(CODE_FEATURES), y=contrast, labels={"x": "code component", "y": "push (low - high)"},
                title=f"Guidance push when asking for {low:.2f} rather than {high:.2f} eV/atom")
figure.add_hline(y=floor, line_dash="dot").add_hline(y=-floor, line_dash="dot").show()
named = [(CODE_FEATURES[i], float(contrast[i])) for i in np.argsort(-np.abs(contrast[:12]))
         if abs(contrast[i]) > floor]
say("Asking for a lower formation energy pushes the codes {what}; the largest push along a random code "
    "number, the noise floor, is {floor:.3f}.", floor=floor,
    what=", ".join(f"{'up' if v > 0 else 'down'} in {n} ({v:+.3f})" for n, v in named[:4])
    if named else "along no named descriptor more than along the random numbers");

# %% [markdown]
# The push says *where* the model moves a sample; integrated gradients say *why*, by attributing a scalar (here the
# guidance strength $\sum_i \lVert \text{push}_i \rVert^2$) to the inputs, each atom's current code, along a straight
# path from all-zero codes. SHAP would need thousands of network calls for 80 inputs; IG needs `ig_steps`. Its
# completeness (attributions sum to $f(x) - f(\text{baseline})$) is checked, not assumed:

# %%
crystal = perovskites[0]
attribution, push = guidance_attributions(designer, crystal, low, t=T_GUIDE, steps=ig_steps, seed=SEED)
change = attribution.output - attribution.baseline_output
claim(abs(attribution.gap) < 0.05 * abs(change), "the attributions add up to the change of guidance strength",
      gap=attribution.gap, change=change)
per_atom = attribution.values.sum(dim=1).numpy()
atoms = [f"{i}: {site.specie}" for i, site in enumerate(crystal)]
px.bar(x=atoms, y=per_atom, labels={"x": "atom", "y": "IG attribution"},
       title=f"Which atoms of {crystal.composition.reduced_formula} make the guidance strong").show()
strongest = int(np.argmax(np.abs(per_atom)))
say("The attributions sum to {s:.3f}, against f(x) - f(baseline) = {c:.3f} (gap {g:.1e}). Atom {a} carries "
    "the largest share ({v:+.3f}); its own push has length {p:.3f}.", s=float(attribution.values.sum()),
    c=change, g=attribution.gap, a=atoms[strongest], v=per_atom[strongest], p=float(push[strongest].norm()));

# %% [markdown]
# ### 7b. Is formation energy written in the VAE's latent space?
#
# The shipped VAE never saw a label: it learned to reconstruct crystals. A **linear probe** asks whether its latent
# means nevertheless encode formation energy, by fitting a ridge regression on 75% of the training crystals and
# scoring $R^2$ on the rest. A probe can find signal by chance (many dimensions, few crystals), so the control
# refits on shuffled labels (Hewitt & Liang 2019).

# %%
vae = load_pretrained("perovskites-vae-csp")
probe_set = load_dataset("perovskites", "train")
Z = vae_latents(vae, list(probe_set.structures))
probe = linear_probe(Z, probe_set.labels[PROPERTY].to_numpy(), seed=SEED, n_shuffles=n_random)
claim(probe.r2 > probe.shuffled_r2.max(), "the probe beats every shuffled-label control",
      r2=probe.r2, shuffled=probe.shuffled_r2.round(3))
say("From the {d}-dimensional latent means, a linear probe predicts {p} with held-out $R^2$ = {r2:.2f}; with "
    "shuffled labels, at most {s:.2f}.", d=Z.shape[1], p=PROPERTY, r2=probe.r2, s=probe.shuffled_r2.max());

# %% [markdown]
# ### 7c. Where does the language model look?
#
# The shipped language model writes a crystal as tokens: composition, space group, lattice, then one element and
# its coordinates per atom. When it writes an element in the atoms section, how much of its attention (averaged
# over layers and heads) lands on each earlier section? The control is a model that spreads its attention evenly
# over everything it can see.

# %%
lm = load_pretrained("perovskites-lm-csp")
rows = []
for structure in perovskites.structures[:n_crystals]:
    tokens, weights = attention_weights(lm, structure)
    sections = token_sections(tokens)
    queries = [i for i, (tok, sec) in enumerate(zip(tokens, sections)) if sec == "atoms" and tok[0].isalpha()]
    for name, (mass, even) in attention_by_section(tokens, weights, queries).items():
        rows.append({"section": name, "attention": mass, "uniform": even})
table = pd.DataFrame(rows).groupby("section", sort=False).mean().drop(index=["end"], errors="ignore")
px.bar(table.reset_index().melt(id_vars="section"), x="section", y="value", color="variable", barmode="group",
       title="Attention of element tokens, by section (mean over crystals, layers, heads)").show()
ratio = table["attention"] / table["uniform"]
say("Writing an element, the model gives the {most} section {r:.1f} times its even share of attention, and "
    "the {least} section {q:.1f} times.", most=ratio.idxmax(), r=ratio.max(), least=ratio.idxmin(),
    q=ratio.min());

# %% [markdown]
# Attention weights show where information *can* flow, not what the prediction depends on (Jain & Wallace
# 2019): a head can attend to a token and then ignore what it reads. To learn whether the composition matters,
# **intervene**: `composition_swap` replaces the heaviest element by another in the composition tokens only, and
# compares the probability the model gives to the old and the new element where the atoms section writes it.

# %%
swaps = []
for structure in perovskites.structures[:n_crystals]:
    present = {e.symbol for e in structure.composition.elements}
    substitute = next(e for e in ("Ba", "Sr", "Ca", "La", "K", "Cs") if e not in present)
    swaps.append(composition_swap(lm, structure, substitute))
swaps = pd.DataFrame(swaps)
display(swaps.mean().to_frame("mean log-probability (nats)").T.round(3))
fall = float(np.exp((swaps["old_before"] - swaps["old_after"]).mean()))
rise = float(np.exp((swaps["new_after"] - swaps["new_before"]).mean()))
say("Before the edit the model gives the right element a probability of only about {p:.2f} at those positions "
    "(the exponential of the mean log-probability). After the edit, the old element's probability falls by a "
    "factor of {f:.2f} and the new one's rises by a factor of {r:.2f}. {verdict}",
    p=float(np.exp(swaps["old_before"].mean())), f=fall, r=rise,
    verdict="Despite the attention it pays to the composition, this model hardly uses it to choose an element: "
    "the composition-constrained decoding of notebook 08 is what makes samples match their composition."
    if fall < 2 else "The model does use the composition to choose an element.");

# %% [markdown]
# ## Summary
#
# - Shapley values share a prediction among the features so that the shares add up (efficiency), equal
#   contributors get equal shares (symmetry), and values of a sum of models add (additivity); TreeSHAP computes
#   them exactly for trees, which we checked against the $2^F$ sum.
# - On the bundled inorganic set, a small boosted model predicts formation energy from fingerprints with a modest
#   held-out $R^2$; its most used feature is an electronegativity statistic of the composition.
# - Explanations are checked: removing the top-ranked features moves predictions more than removing random ones.
# - SHAP describes the model, not the material: correlated features share credit (an exact copy takes a share),
#   and a feature the model uses can be dropped while a correlated partner takes over.
# - Generators can be read too: the guidance push on the chemical codes of a conditional diffusion model
#   (attributed with integrated gradients, whose completeness we checked), a linear probe of a VAE's latent space
#   with a shuffled-label control, and attention, which shows where information can flow; an intervention on
#   the prompt tests whether the model uses it.
#
# ## Exercises
#
# 1. Explain the same model with a random forest (`fit_property_model(..., kind="forest")`). Do the top five
#    features agree with boosting's? What does that say about "the" important features?
# 2. Make the deletion baseline the training *median* instead of the mean, and delete up to 30 features. Does
#    the gap between the curves survive?
# 3. Repeat section 7a at `T_GUIDE` = 0.1, 0.3 and 0.9. At which noise level is the guidance push largest, and
#    at which does its contrast between low and high asked formation energy stand clearest above the random
#    floor?
#
# <details><summary>Solution 1</summary>
#
# ```python
# forest = fit_property_model(train.X, train.y, kind="forest", seed=SEED)
# print(regression_scores(forest, X_held, y_held))
# boosting_top = {n for n, _ in explanation.top(5)}
# forest_top = {n for n, _ in tree_shap(forest, X_held, names).top(5)}
# print(boosting_top & forest_top, boosting_top ^ forest_top)
# ```
# The two models score about the same, and the first feature usually agrees, but the rest of the top five
# differ in part: where features are correlated, each model settles on its own representatives. Importance is
# a property of a fitted model; a claim about the material needs agreement across models *and* a physical
# argument or an experiment.
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# median_curves = deletion_curves(model.predict, X_held, explanation.values, np.median(train.X, axis=0),
#                                 max_removed=30, n_random=20, seed=SEED)
# deletion_figure(median_curves).show()
# ```
# The top-ranked curve rises fast and flattens, as the remaining features each matter little; the random curve
# rises slowly and steadily. The gap narrows as more features go, since both curves head for the same end
# (everything removed), but stays positive while the top features are the ones removed. The baseline changes
# the numbers (a median is a more typical crystal than a mean for skewed features), which is why a deletion
# curve should always state its baseline.
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# for t in (0.1, 0.3, 0.5, 0.7, 0.9):
#     push = {}
#     for name, target in (("low", low), ("high", high)):
#         state, codes = noisy_state(designer, crystals, target, t=t, seed=SEED)
#         with torch.no_grad():
#             push[name] = guidance_push(designer, state, codes, t)[state.mask]  # (atoms, 16)
#     contrast = (push["low"].mean(0) - push["high"].mean(0)).numpy()
#     print(t, float(push["low"].norm(dim=1).mean()), np.abs(contrast[:12]).max(), np.abs(contrast[12:]).max())
# ```
# With the quick settings (40 crystals, seed 0) the push is largest around t = 0.7 (a length of about 0.34 per
# atom) and smallest at t = 0.3. At t = 0.1 and 0.3 no named descriptor beats the random floor; at 0.7 and 0.9 the
# contrast along the maximum oxidation state is several times the floor. Late in sampling the atom types are
# nearly decided, so the label has little left to change; very early, the codes are mostly noise. Guidance does
# its chemical work in the middle of the walk.
# </details>
#
# ## Key papers
#
# - L. S. Shapley, *A value for n-person games*, in Contributions to the Theory of Games II, 307 (1953).
# - S. M. Lundberg, S.-I. Lee, *A unified approach to interpreting model predictions*, NeurIPS 30 (2017) (SHAP).
# - S. M. Lundberg et al., *From local explanations to global understanding with explainable AI for trees*,
#   Nat. Mach. Intell. 2, 56 (2020) (TreeSHAP).
# - M. Sundararajan, A. Taly, Q. Yan, *Axiomatic attribution for deep networks*, ICML (2017) (integrated
#   gradients).
# - W. Samek et al., *Evaluating the visualization of what a deep neural network has learned*, IEEE Trans. Neural
#   Netw. Learn. Syst. 28, 2660 (2017) (deletion curves).
# - J. Hewitt, P. Liang, *Designing and interpreting probes with control tasks*, EMNLP (2019).
# - S. Jain, B. C. Wallace, *Attention is not explanation*, NAACL (2019).
# - X. Zhong et al., *Explainable machine learning in materials science*, npj Comput. Mater. 8, 204 (2022).
# - L. Ward et al., *A general-purpose machine learning framework for predicting properties of inorganic
#   materials*, npj Comput. Mater. 2, 16028 (2016) (the magpie features).
# - L. Pauling, *The nature of the chemical bond. IV. The energy of single bonds and the relative
#   electronegativity of atoms*, J. Am. Chem. Soc. 54, 3570 (1932).
# - J. Ho, T. Salimans, *Classifier-free diffusion guidance*, NeurIPS Workshop on Deep Generative Models (2021).
