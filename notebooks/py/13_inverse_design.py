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
# # 13 · Inverse design: ask for a property, then filter like a chemist
#
# **Learning goals**
# - Write property guidance as Bayes' rule on scores: the gradient of $\log p(y \mid x)$ added to the score of
#   $p(x)$, from a separate classifier or regressor (classifier guidance) or from one conditional network
#   (classifier-free guidance), and say what the guidance scale does.
# - Ask the shipped conditional diffusion model for crystals with a target formation energy, and see a target
#   outside its training range refused.
# - Run the filters a synthesis chemist applies, in order, and count the survivors at each step: charge balance,
#   CHGNet relaxation, energy above hull, symmetry, novelty, synthesizability; read why each candidate left.
# - Train a synthesizability classifier on known versus hypothetical compositions, read its held-out accuracy,
#   confusion and mistakes, and state why it is positive-unlabelled learning.
# - Play with target, guidance and sample count in a live widget.
#
# **Prerequisites**: notebook 06 (diffusion and classifier-free guidance), notebook 09 (novelty), notebook 10
# (relaxation, hull, symmetry, charge balance). Bayes' rule and a gradient.
#
# **Run time**: quick mode about a minute on two CPU cores (12 samples, CHGNet relaxations capped at 30 steps,
# a classifier on 800 formulas); full mode some minutes.

# %% tags=["parameters"]
QUICK = True      # few samples, short capped relaxations, a smaller classifier; False: 48 samples, full relaxations
SEED = 0          # sampling, the hypothetical formulas, the classifier's split and trees
TARGET = -2.5     # asked-for formation energy in eV/atom (must lie inside the training range)
GUIDANCE = 2.0    # classifier-free guidance scale w (0: plain conditional sampling)

# %%
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import torch

from crystalkit.data import load_dataset
from crystalkit.design import (
    check_target,
    conditioned_candidates,
    funnel_figure,
    known_compositions,
    pretrained_label_range,
    reference_structures,
    run_funnel,
    standard_steps,
    substituted_compositions,
    train_synthesizability,
)
from crystalkit.errors import CrystalInputError
from crystalkit.models.pretrained import load_pretrained
from crystalkit.narration import claim, say
from crystalkit.widgets import gallery, sampling_playground

warnings.filterwarnings("ignore", module="pymatgen")  # chatter about fractional coordinates
torch.set_num_threads(1)  # small cells: one thread is fastest on a busy machine
NUM_SAMPLES, NUM_STEPS = (12, 100) if QUICK else (48, 200)
RELAX_STEPS, FMAX = (30, 0.1) if QUICK else (300, 0.05)  # quick: capped relaxations, flagged when unconverged
N_FORMULAS = 400 if QUICK else None  # known formulas for the classifier (None: all of them)

# %% [markdown]
# ## 1. The maths of guidance
#
# A diffusion model samples by following the **score** $\nabla_x \log p_t(x)$ of the noised data from noise to a
# crystal (notebook 06). To ask for a property value $y$ we want samples from $p_t(x \mid y)$ instead. Bayes'
# rule, $p(x \mid y) = p(y \mid x)\, p(x) / p(y)$, turns into a sum of scores, because $p(y)$ does not depend on
# $x$ and drops out of the gradient:
# $$\nabla_x \log p_t(x \mid y) = \nabla_x \log p_t(x) + \nabla_x \log p_t(y \mid x).$$
# The first term is the unconditional model we already have; the second says how to change the noisy crystal so
# that the property becomes more likely.
#
# **Classifier guidance** (Dhariwal & Nichol 2021; for continuous properties already in Song et al. 2021) trains
# a separate model of $p_t(y \mid x)$ *on noisy inputs* and adds its gradient, scaled by $s$:
# $$\tilde s(x) = \nabla_x \log p_t(x) + s\, \nabla_x \log p_t(y \mid x).$$
# For a property regressor $f_t(x)$ with Gaussian error, $\log p_t(y \mid x) = -\tfrac{(y - f_t(x))^2}{2\sigma^2}
# + C$, so the push is $\tfrac{s}{\sigma^2}\,(y - f_t(x))\,\nabla_x f_t(x)$: move the crystal the way that brings
# the predicted property towards the target, harder the further off it is. With $s > 1$ one samples from the
# sharpened $p(x)\,p(y \mid x)^s$: fewer, more typical crystals for the property.
#
# **Classifier-free guidance** (Ho & Salimans 2022) needs no second model. One network learns both
# $\epsilon(x, y)$ and $\epsilon(x, \varnothing)$ by hiding the label in a share of training steps; the difference
# of its two scores *is* an implicit $\nabla_x \log p_t(y \mid x)$. Sampling uses
# $$\hat\epsilon = \epsilon(x, y) + w\,\big(\epsilon(x, y) - \epsilon(x, \varnothing)\big)
#   \quad\Longleftrightarrow\quad
#   \tilde s = \nabla \log p_t(x) + (1 + w)\, \nabla \log p_t(y \mid x),$$
# which is classifier guidance with $s = 1 + w$ ($w = 0$ is plain conditional sampling). MatterGen (Zeni et al.
# 2025) steers a crystal diffusion model towards chemistry, symmetry and properties this way, with adapter
# modules fine-tuned on labelled data. The kit's shipped de novo model (notebook 06, section 7) learned
# $p(\text{crystal} \mid E_f)$ for the CHGNet formation energy $E_f$ of the bundled perovskites.
#
# **A model can only be asked for what it has seen.** The label enters the network through an embedding fitted
# on the training labels; a target far outside their range is an extrapolation the embedding never learned, so
# the kit refuses it and says the range.

# %%
designer = load_pretrained("perovskites-diffusion-denovo-formation-energy")
allowed = pretrained_label_range(designer)
try:
    check_target(allowed.high + 1.0, allowed)
except CrystalInputError as error:
    print("refused:", error)
target = check_target(TARGET, allowed)
train_energies = load_dataset("perovskites", "train").labels["formation_energy_per_atom"].to_numpy()
say("The model may be asked for {range}. The target {t:.2f} eV/atom is lower than {share:.0%} of the training "
    "labels (median {m:.2f} eV/atom).", range=allowed, t=target, share=float((train_energies > target).mean()),
    m=float(np.median(train_energies)))

# %% [markdown]
# ## 2. Ask for the target
#
# One call samples the candidates; each is a `Candidate` with a number that stays with it through the funnel.

# %%
candidates = conditioned_candidates(designer, target, allowed, guidance_scale=GUIDANCE, num_samples=NUM_SAMPLES,
                                    seed=SEED, num_steps=NUM_STEPS)
print(candidates[0].origin)
print(", ".join(f"#{c.id} {c.formula}" for c in candidates))

# %% [markdown]
# ## 3. A synthesizability score, and what it cannot know
#
# The last filter asks whether a composition *looks makeable*. No formula shows that directly; the usual proxy
# (SynthNN, Antoniuk et al. 2023; Jang et al. 2020 for structures) is a classifier trained to separate **known**
# compositions from **hypothetical** ones. We build both from the kit's own data:
#
# - known: the distinct formulas of the bundled perovskite and inorganic sets (each passed SMACT, relaxed with
#   CHGNet and lies within 1 eV/atom of the hull);
# - hypothetical: a known formula with every element swapped for another element of the same pool, keeping the
#   stoichiometry, kept only if it is charge-balanced and not known, so charge balance alone cannot tell the two
#   apart.
#
# Each formula becomes 132 Magpie element-property statistics (notebook 09's composition fingerprint) and a
# random forest learns the split; a quarter of the formulas are held out to score it.
#
# **The positive-unlabelled caveat.** "Hypothetical" means *not in our data*, not *cannot be made*: some of
# those formulas are fine materials nobody put in the set (Elkan & Noto 2008 on learning from positive and
# unlabelled data). So the held-out accuracy measures how well the classifier recognises *our data set*, and a
# hypothetical formula called "known" may be a correct call that the labels count as a mistake. Worse, our
# "known" formulas are themselves the kit's own substitutions (the teaching sets are generated, see
# `crystalkit/data/DATA.md`), so the classifier partly learns the build's element choices.

# %%
known = known_compositions(("perovskites", "inorganic"))
rng = np.random.default_rng(SEED)
if N_FORMULAS is not None:
    known = sorted(rng.choice(known, N_FORMULAS, replace=False).tolist())
hypothetical = substituted_compositions(known, len(known), seed=SEED)
scorer = train_synthesizability(known, hypothetical, seed=SEED)
print("some hypothetical formulas:", ", ".join(hypothetical[:8]))
scorer.confusion

# %%
claim(scorer.accuracy > scorer.baseline_accuracy, "the classifier beats always guessing the larger class",
      accuracy=scorer.accuracy, baseline=scorer.baseline_accuracy)
missed_known = int(scorer.confusion.loc["known", "hypothetical"])
false_known = int(scorer.confusion.loc["hypothetical", "known"])
say("On {n} held-out formulas the classifier is right {acc:.1%} of the time (always guessing one class: "
    "{base:.0%}). It calls {fn} known formulas hypothetical and {fp} hypothetical formulas known.",
    n=len(scorer.held_out), acc=scorer.accuracy, base=scorer.baseline_accuracy, fn=missed_known, fp=false_known)
scorer.mistakes.head(8).round(2)

# %% [markdown]
# The table lists the held-out formulas it got most confidently wrong. Read them with the caveat above: a
# "hypothetical" formula scored as known may be a plausible compound, and a "known" one scored low is usually
# chemistry the training set rarely shows. A blind spot you can test directly: textbook compounds that are
# certainly made, but are not in the teaching sets.

# %%
textbook = ["NaCl", "Al2O3", "ZnO", "TiO2", "SiO2", "Fe2O3", "GaAs", "LiCoO2"]
claim(not set(textbook) & set(known_compositions(("perovskites", "inorganic"))),
      "none of the textbook compounds is in the teaching sets")
textbook_scores = pd.Series(scorer.score(textbook), index=textbook).round(2)
low_ones = textbook_scores[textbook_scores < 0.5]
verdict = ("it knows the teaching sets, not the chemistry of the world" if len(low_ones) else
           "right this time, though it never saw them: test it on compounds of your own")
say("Of {n} textbook compounds the classifier calls {k} hypothetical (score below 0.5){which}: {verdict}.",
    n=len(textbook), k=len(low_ones), which=f": {', '.join(low_ones.index)}" if len(low_ones) else "",
    verdict=verdict)
textbook_scores.to_frame("score")

# %% [markdown]
# ## 4. The funnel
#
# The chemist's filters, cheapest and most basic first. Each step sees only the survivors of the step before,
# and every candidate that leaves records the step and the reason, so nothing is dropped silently:
#
# | step | keeps a candidate when | why a chemist cares |
# |---|---|---|
# | `charge_balance` | a neutral assignment of common oxidation states exists (SMACT, Pauling test) | ionic solids are neutral |
# | `relax` | CHGNet can relax it (steps capped in quick mode; unconverged runs are flagged, not dropped) | generated positions are not at a minimum |
# | `hull` | it lies at most 0.1 eV/atom above the convex hull of the reference phases (MatterGen's threshold) | it must not decompose |
# | `symmetry` | its space group at 0.1 Å is not P1 | real crystals are rarely P1 |
# | `novelty` | it matches no crystal of the bundled sets (and Perov-5 when cached) | a rediscovery is no discovery |
# | `synthesizability` | the classifier scores its formula at least 0.5 | it resembles compositions that exist |

# %%
references, reference_counts = reference_structures()
steps = standard_steps(relax_steps=RELAX_STEPS, fmax=FMAX, references=references, classifier=scorer)
funnel = run_funnel(candidates, steps)
funnel_figure(funnel, title=f"From {funnel.counts[0]} guided samples to {funnel.counts[-1]} candidates").show()
funnel.table()

# %%
claim(len(funnel.survivors) + len(funnel.dropped) == len(candidates), "every candidate is a survivor or a drop")
say("Novelty was judged against {refs}. Survivors after each step: " + ", ".join(
    f"{name} {count}" for name, count in zip(funnel.steps, funnel.counts[1:])) + " (of {n} generated).",
    refs=", ".join(f"{count} {name}" for name, count in reference_counts.items()), n=funnel.counts[0])
per_step = funnel.table()
worst = per_step[per_step["dropped"] == per_step["dropped"].max()]
say("Most candidates left at: " + "; ".join(f"**{row.step}** ({row.dropped} of the {row.entered} that reached it)"
                                            for row in worst.itertuples()) + ".")
funnel.dropped

# %% [markdown]
# Every drop has its reason. The relaxation step drops only what CHGNet refuses to touch (atoms on top of each
# other, for example) and *flags* a run that stops at the step cap: in quick mode a capped run stops short of the
# minimum, and its energy, hence its distance to the hull, is an upper bound (notebook 10).

# %%
reached_relax = funnel.verdicts[funnel.verdicts["step"] == "relax"]
unconverged = int(reached_relax["reason"].str.startswith("not converged").sum())
say("{u} of the {n} relaxations stopped at the {cap}-step cap before converging.", u=unconverged,
    n=len(reached_relax), cap=RELAX_STEPS)
rows = [{"#": c.id, "formula": c.formula, "space group": c.info["spacegroup"],
         "E above hull (eV/atom)": c.info["e_above_hull"], "E_f (eV/atom)": c.info["formation_energy_per_atom"],
         "converged": c.info["converged"], "synthesizability": c.info["synthesizability"]}
        for c in funnel.survivors]
below = sum(c.info["e_above_hull"] < 0 for c in funnel.survivors)
say("{k} of the {n} survivors lie below the reference hull (a negative energy above hull).", k=below,
    n=len(funnel.survivors))
pd.DataFrame(rows).round(3)

# %% [markdown]
# A negative energy above the hull does not mean a new stable phase here: the reference hull holds only the
# bundled sets and the elements, so most perovskite chemistries have no competing binary oxides or fluorides in
# it. A real screen would use a full phase diagram (for example the Materials Project's) computed with the same
# potential. The survivors, relaxed:

# %%
if funnel.survivors:
    gallery([c.structure for c in funnel.survivors],
            titles=[f"#{c.id} {c.formula} {c.info['spacegroup']}" for c in funnel.survivors], columns=3).show()
else:
    say("No candidate survived every step in this run: raise NUM_SAMPLES or the relaxation cap.")

# %% [markdown]
# ## 5. Did guidance pull towards the target?
#
# The model's own opinion is no evidence. The `hull` step recorded each candidate's CHGNet formation energy
# (after its relaxation, capped in quick mode): compare them with the target and with the training labels.

# %%
measured = pd.DataFrame([{"formula": c.formula, "E_f (eV/atom)": c.info["formation_energy_per_atom"]}
                         for c in funnel.final if "formation_energy_per_atom" in c.info])
compare = pd.concat([measured.assign(set=f"guided to {target:.2f}"),
                     pd.DataFrame({"formula": "", "E_f (eV/atom)": train_energies, "set": "training labels"})])
figure = px.box(compare, x="set", y="E_f (eV/atom)", points="all", hover_name="formula", height=380,
                title="CHGNet formation energy of the guided samples, after relaxation")
figure.add_hline(y=target, line_dash="dash", annotation_text="target").show()
claim(len(measured) >= 3, "enough candidates reached the hull step to compare", reached=len(measured))
guided_median, train_median = float(measured["E_f (eV/atom)"].median()), float(np.median(train_energies))
claim(guided_median < train_median, "the guided samples sit below the training median",
      guided=guided_median, training=train_median)
say("Median formation energy: {g:.2f} eV/atom for the {n} guided samples the hull step scored, {t:.2f} for the "
    "training labels; the target was {target:.2f}. Guidance shifted the samples towards the target; it is a "
    "dial, not a guarantee: they spread from {lo:.2f} to {hi:.2f} eV/atom.", g=guided_median, n=len(measured),
    t=train_median, target=target, lo=float(measured["E_f (eV/atom)"].min()),
    hi=float(measured["E_f (eV/atom)"].max()))

# %% [markdown]
# ## 6. Another family: a GFlowNet samples in proportion to a reward
#
# Guidance asks for a value. A GFlowNet (notebook 08) instead samples each crystal with probability
# proportional to a reward, here $\exp(-E/T)$ for a fitted proxy formation energy $E$: at a low temperature $T$
# it proposes many different low-energy perovskites. Its crystals are ideal perovskite templates, so they meet
# the same funnel differently.

# %%
gfn = load_pretrained("perovskites-gfn-formation-energy")
gfn_structures = gfn.sample(None, NUM_SAMPLES, seed=SEED, temperature=0.05)[0]
gfn_funnel = run_funnel(gfn_structures, steps)
side_by_side = pd.DataFrame({"step": ["generated", *funnel.steps], "guided diffusion": funnel.counts,
                             "GFlowNet (T = 0.05)": gfn_funnel.counts})
side_by_side

# %%
say("Diffusion: {a} of {n} survive; GFlowNet: {b} of {m}. The GFlowNet's most common reason to leave: "
    "{why}.", a=funnel.counts[-1], n=funnel.counts[0], b=gfn_funnel.counts[-1], m=gfn_funnel.counts[0],
    why=(gfn_funnel.dropped["step"].value_counts().idxmax() if len(gfn_funnel.dropped) else "none"))

# %% [markdown]
# ## 7. The sampling playground
#
# Move the **target** (the slider spans the training range, so it cannot ask for an extrapolation), the
# **guidance** scale $w$ and the number of **samples**. Each move samples afresh with the same seed and runs the
# same funnel, lighter than above (relaxations capped at a few steps, no synthesizability step) so that a move
# takes seconds. Out come the funnel, a table of every sample with the step that dropped it and why, and the
# survivors' relaxed structures. Things to try: $w = 0$ against $w = 4$ at one target; a target near either end
# of the range; how the symmetry and novelty steps react to each.

# %%
light_steps = standard_steps(relax_steps=5 if QUICK else 30, fmax=0.1, references=references)
sampling_playground(designer, allowed=allowed, steps=light_steps, target=target, guidance_scale=GUIDANCE,
                    num_samples=4 if QUICK else 8, max_samples=12, seed=SEED, num_steps=50 if QUICK else NUM_STEPS)

# %% [markdown]
# ## Summary
#
# - Guidance is Bayes' rule on scores: $\nabla \log p(x \mid y) = \nabla \log p(x) + \nabla \log p(y \mid x)$.
#   Classifier guidance adds the gradient of a separate (noise-aware) classifier or regressor scaled by $s$;
#   classifier-free guidance gets the same term from the difference of one network's conditional and
#   unconditional predictions, with $s = 1 + w$.
# - A conditional model is asked only for targets inside its training range; the kit refuses others and names
#   the range.
# - Generated crystals meet a chemist's funnel: charge balance, relaxation, energy above hull, symmetry,
#   novelty, synthesizability. Count the survivors at every step and keep the reason for every drop: the counts
#   say which part of the generator to improve.
# - A synthesizability classifier trained on known versus hypothetical compositions is positive-unlabelled
#   learning: its accuracy measures how well it recognises its data set, and it misses real chemistry the data
#   lack.
# - Check what guidance produced with an independent judge (here CHGNet), not with the model's own opinion.
#
# ## Exercises
#
# 1. Rerun the funnel with the steps in another order, e.g. symmetry before relaxation. Which counts change, and
#    why does the order matter for symmetry but not for charge balance?
# 2. Ask for a high formation energy (say the 90th percentile of the training labels) with the same guidance.
#    Compare the survivors per step with the low target: which filter treats unstable targets harshly?
# 3. Train the synthesizability classifier with hypothetical formulas that need *not* be charge-balanced
#    (`substituted_compositions(..., charge_balanced=False)`). What happens to the held-out accuracy, and what
#    has the classifier learned instead?
#
# <details><summary>Solution 1</summary>
#
# ```python
# reordered = [steps[i] for i in (0, 3, 1, 2, 4, 5)]  # charge balance, symmetry, relax, hull, novelty, score
# run_funnel(candidates, reordered).table()
# ```
# Charge balance depends only on the composition, which no step changes, so it removes the same candidates
# wherever it stands. Symmetry depends on the positions: raw samples carry noise, and at 0.1 Å many look P1
# *before* relaxation and symmetric after it (relaxation moves atoms onto the nearby symmetric positions), or the
# other way round when a capped run leaves them half-way. So a filter that reads the geometry belongs after the
# step that cleans the geometry; the funnel makes that visible as a different count.
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# high = float(np.quantile(train_energies, 0.9))
# worse = conditioned_candidates(designer, high, allowed, guidance_scale=GUIDANCE, num_samples=NUM_SAMPLES,
#                                seed=SEED, num_steps=NUM_STEPS)
# pd.DataFrame({"low": run_funnel(candidates, steps).counts, "high": run_funnel(worse, steps).counts})
# ```
# Expect the hull step to remove more of the high-target samples: a crystal with a high formation energy is
# likely to lie far above the hull, which is what the step tests. The chemistry changes too (formulas with less
# strongly bound anions), and the synthesizability score may follow, since the known set was built with a
# cut-off of 1 eV/atom above the hull.
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# loose = substituted_compositions(known, len(known), seed=SEED, charge_balanced=False)
# print(train_synthesizability(known, loose, seed=SEED).accuracy)
# ```
# The accuracy rises: many unbalanced formulas are easy to spot from the element statistics (for example two
# anions and no cation), so the classifier learns charge balance, which SMACT already checks in the first step.
# A higher number is not a better synthesizability model; the harder, balanced negatives make the score add
# something the funnel did not already know.
# </details>
#
# ## Key papers
#
# - P. Dhariwal, A. Nichol, *Diffusion models beat GANs on image synthesis*, NeurIPS 2021 (classifier guidance).
# - J. Ho, T. Salimans, *Classifier-free diffusion guidance*, NeurIPS 2021 workshop (arXiv:2207.12598).
# - Y. Song et al., *Score-based generative modeling through stochastic differential equations*, ICLR 2021
#   (conditional sampling with $\nabla \log p_t(y \mid x)$).
# - C. Zeni et al., *A generative model for inorganic materials design* (MatterGen), Nature 639, 624 (2025).
# - T. Xie et al., *Crystal diffusion variational autoencoder for periodic material generation* (CDVAE), ICLR 2022
#   (property optimisation in the latent space).
# - R. Jiao et al., *Crystal structure prediction by joint equivariant diffusion* (DiffCSP), NeurIPS 2023.
# - A. Hernandez-Garcia et al., *Crystal-GFN: sampling crystals with desirable properties and constraints*,
#   arXiv:2310.04925 (2023).
# - E. R. Antoniuk et al., *Predicting the synthesizability of crystalline inorganic materials from the data of
#   known material compositions* (SynthNN), npj Comput. Mater. 9, 155 (2023).
# - J. Jang et al., *Structure-based synthesizability prediction of crystals using partially supervised
#   learning*, J. Am. Chem. Soc. 142, 18836 (2020).
# - C. Elkan, K. Noto, *Learning classifiers from only positive and unlabeled data*, KDD 2008.
# - D. W. Davies et al., *Computational screening of all stoichiometric inorganic materials*, Chem 1, 617 (2016)
#   (SMACT).
# - B. Deng et al., *CHGNet as a pretrained universal neural network potential for charge-informed atomistic
#   modelling*, Nat. Mach. Intell. 5, 1031 (2023).
# - W. Sun et al., *The thermodynamic scale of inorganic crystalline metastability*, Sci. Adv. 2, e1600225 (2016).
