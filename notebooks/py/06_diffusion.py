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
# # 06 · Diffusion: a crystal out of noise
#
# **Learning goals**
# - See the three things a crystal diffusion model must generate (lattice, fractional coordinates, atom types)
#   and why each gets its own kind of noise: Gaussian for the lattice, **wrapped normal on the torus** for the
#   coordinates, and (de novo) noise on a chemical code of each atom's element.
# - Watch the forward process destroy a crystal and the learned reverse process build one, step by step.
# - Train (or load) a DiffCSP-style model, sample crystal structure predictions, and score them with the published
#   metrics next to the baselines of notebook 03.
# - Ask for crystals with a property, here a low formation energy, with **classifier-free guidance**, and check
#   with an independent potential (CHGNet) what came out.
#
# **Prerequisites**: notebooks 00-03 (lattice and fractional coordinates, CSP vs de novo, the datasets, the
# baselines and their scores); some idea of what a neural network and a loss are. Notebook 09 explains the metrics.
#
# **Run time**: quick mode about a minute on two CPU cores (shipped checkpoints, 100 sampling steps); with
# `TRAIN_FROM_SCRATCH = True` add the training budget (4 minutes by default).

# %% tags=["parameters"]
QUICK = True               # fewer sampler steps and samples; False: the full 200 steps and k of 20
SEED = 0                   # sampling seeds (and training, if any)
TRAIN_FROM_SCRATCH = False # True: train the CSP model here instead of loading the shipped checkpoint
TRAIN_MINUTES = 4.0        # training budget when TRAIN_FROM_SCRATCH (the shipped model had 4 minutes on 1 core)

# %%
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch

from crystalkit.baselines import PrototypeSubstitutionBaseline
from crystalkit.data import load_dataset
from crystalkit.metrics import csp_table
from crystalkit.models.noise import WrappedNormal, wrapped_normal_log_density
from crystalkit.models.pretrained import load_pretrained, shipped_or_trained
from crystalkit.widgets import gallery, trajectory_player

warnings.filterwarnings("ignore", module="pymatgen")  # chatter about fractional coordinates
torch.manual_seed(SEED)
NUM_STEPS, K = (100, 5) if QUICK else (200, 20)
train_set, val_set, test_set = (load_dataset("perovskites", split) for split in ("train", "val", "test"))
targets = test_set.structures
print(f"{len(train_set)} training, {len(val_set)} validation, {len(test_set)} test perovskites")

# %% [markdown]
# ## 1. Three kinds of noise
#
# A crystal in the kit's representation (notebook 01) is an **atom list** (elements), **fractional coordinates**
# $F \in [0, 1)^{N \times 3}$ and a **lattice** $L$ (three vectors, Å). Diffusion models (Ho et al. 2020) learn
# to undo noise, so we must decide what noise means for each part:
#
# | part | space | noise | what the network predicts |
# |---|---|---|---|
# | lattice $L$ | $\mathbb{R}^{3\times3}$ (scaled by $N^{1/3}$) | DDPM: $L_t = \sqrt{\bar\alpha_t} L_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$ | the noise $\epsilon$ |
# | coordinates $F$ | the torus: $1.0 \equiv 0.0$ | wrapped normal, $\sigma_t$ from 0.005 to 0.5 | the score $\nabla \log p(F_t \mid F_0)$ |
# | types (de novo) | a 16-number chemical code per atom | DDPM, like the lattice | the noise |
#
# Coordinates are the interesting part. An atom at $x = 0.98$ and one at $x = 0.02$ are 0.04 apart, not 0.96: the
# cell repeats. So the noise is a normal distribution **wrapped** around the circle, and its score (which way is
# "back to the crystal") points along the shortest way round. This is DiffCSP's key idea (Jiao et al. 2023).
# Here is the wrapped normal for three noise levels, for an atom that sat at $x = 0.9$:

# %%
noise = WrappedNormal()
x = torch.linspace(0, 1, 401)
figure = go.Figure()
for sigma in (0.05, 0.15, 0.5):
    delta = x - 0.9  # displacement from where the atom sat
    density = torch.exp(wrapped_normal_log_density(delta, torch.tensor(sigma)))
    figure.add_scatter(x=x, y=density, name=f"σ = {sigma}: density")
    figure.add_scatter(x=x, y=noise.score(delta, torch.tensor(sigma)) * sigma**2, name=f"σ = {sigma}: score × σ²",
                       line=dict(dash="dot"))
figure.update_layout(title="Wrapped normal around x = 0.9: the density wraps through 1 ≡ 0",
                     xaxis_title="fractional coordinate", height=380)
figure.show()

# %% [markdown]
# The dotted lines show the score (scaled): positive left of 0.9 (move right), negative right of it, and it
# flips sign at 0.4, exactly opposite the atom: from there both ways round are equally short. At $\sigma = 0.5$
# the density is nearly flat: the atom could be anywhere, which is where sampling starts.
#
# ## 2. The forward process, as a film
#
# `model.forward_path(crystals, times)` applies the *training* corruption to real crystals at chosen times, with
# one noise draw, so the states form one path. Diffusion's clock runs from the crystal ($t = 0$) to noise
# ($t = 1$). Play it: the lattice swells and shears, the atoms diffuse around the torus (leaving through one face,
# coming back through the opposite one).

# %%
model = shipped_or_trained("perovskites-diffusion-csp", train_from_scratch=TRAIN_FROM_SCRATCH, minutes=TRAIN_MINUTES,
                            seed=SEED, train_structures=train_set.structures, val_structures=val_set.structures)
history = model.history
print("trained here" if TRAIN_FROM_SCRATCH else f"shipped checkpoint, made by: {model.pretrained_record['command']}")
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; sampler: {NUM_STEPS} steps")

# %%
crystal = targets[0]
[forward] = model.forward_path([crystal], np.linspace(0, 1, 31), seed=SEED)
trajectory_player(forward, max_frames=31)

# %% [markdown]
# ## 3. What the network learned
#
# The network is the kit's `PeriodicBackbone` (notebook 01's invariances, built in): every pair of atoms in the
# cell exchanges messages that depend on the lattice only through $L L^\top$ (lengths and angles, blind to
# rotation) and on positions only through Fourier features of the fractional *differences* (blind to a shift of
# all atoms, and periodic by construction). Training draws a random time per crystal, corrupts it, and asks the
# network for the noise; the loss is the squared error. The validation curve (crystals never trained on) tells
# whether it learned perovskites or memorised the 173 training cells.

# %%
frame = pd.concat([pd.DataFrame(history["train"]).assign(split="training"),
                   pd.DataFrame(history["val"]).assign(split="validation")])
px.line(frame, x="step", y="loss", color="split", log_y=True, height=350,
        title="Denoising loss (lattice + coordinates) while training").show()

# %% [markdown]
# ## 4. The reverse process: predict a structure
#
# For crystal structure prediction the composition is given (`"SrTiO3"`: 1 Sr, 1 Ti, 3 O) and the model
# generates lattice and coordinates. Sampling starts from pure noise and takes `NUM_STEPS` steps back. Each step
# is a **predictor** (one reverse DDPM step for the lattice, a reverse step of the wrapped-normal process for the
# coordinates) and a **corrector** (a small Langevin step along the predicted score), the predictor-corrector
# scheme of Song et al. (2021) that DiffCSP uses. `sample_trajectory` keeps every state:

# %%
states = model.sample_trajectory([crystal.composition], num_samples=1, seed=SEED, num_steps=NUM_STEPS)
print(f"{len(states)} states, from noise to {states[-1].to_structures()[0].composition.reduced_formula}")
trajectory_player(states)

# %% [markdown]
# For the first third of the steps the atoms wander: at high noise the best guess is "anywhere". The arrangement
# appears around the middle, once $\sigma_t$ falls below the distance between sites (in this run every atom is
# within 0.06 of a cell edge of its final place by step 70 of 100), and the last steps only fine-tune positions
# and the lattice. Drag the slider back from the end to see where the structure is decided.
#
# Now predict every test composition `K` times and look at a few first guesses next to the truth:

# %%
compositions = [t.composition for t in targets]
samples = model.sample(compositions, num_samples=K, seed=SEED, num_steps=NUM_STEPS)
shown = [structure for pair in zip(targets[:3], [s[0] for s in samples[:3]]) for structure in pair]
gallery(shown, titles=[f"{kind}: {s.composition.reduced_formula}" for s in shown[::2]
                       for kind in ("target", "diffusion")], columns=6)

# %% [markdown]
# ## 5. Scores, next to the baselines
#
# The published CSP protocol (notebook 09): a prediction counts if it is valid (atoms at least 0.5 Å apart,
# **and** charge-balanced by SMACT) and `StructureMatcher` finds it the same crystal as the target; the RMSE is
# the matched atoms' mean displacement, in units of $(V/N)^{1/3}$. The prototype-substitution baseline of
# notebook 03 gets the same targets.

# %%
methods = {"diffusion (shipped)" if not TRAIN_FROM_SCRATCH else "diffusion": samples,  # the samples above
           "prototype substitution": PrototypeSubstitutionBaseline(train_set.structures)}  # asked for K per target
scores = csp_table(methods, targets, ks=(1, K), seed=SEED, progress=False)
scores.round({"match rate": 3, "RMSE": 4, "valid samples": 3})

# %% [markdown]
# Read this with care. The bundled perovskites are small relaxed ABX$_3$ cells, most of them in the cubic
# arrangement, so both methods do well; what the model adds is placing atoms precisely (RMSE) without a template
# to copy from. A fair race is on a real benchmark: `benchmarks/csp.py` trains this same model on Perov-5
# (thousands of perovskites in many tilt patterns) and reports match rate against training time in
# `benchmarks/RESULTS.md`.
#
# ## 6. De novo generation with guidance: ask for low formation energy
#
# A de novo model generates the elements too. DiffCSP diffuses one-hot vectors over 100 elements; the kit gives
# each element a 16-number **chemical code** (standardised descriptors such as electronegativity, radius, group
# and period, plus a few fixed random numbers that tell elements apart, the compact atom tokens of Crystalite) and
# diffuses those codes like the lattice. At the end each atom becomes the element with the nearest code.
#
# The shipped de novo model was also **conditioned** on the CHGNet formation energy of each training crystal, and
# one training step in ten hid the label. So one network knows both $p(\text{crystal})$ and
# $p(\text{crystal} \mid E_f)$, and classifier-free guidance (Ho & Salimans 2022) pushes samples towards the
# label by extrapolating from the first to the second with a strength $w$.

# %%
designer = load_pretrained("perovskites-diffusion-denovo-formation-energy")
energies = train_set.labels["formation_energy_per_atom"]
low, high = float(energies.quantile(0.1)), float(energies.quantile(0.9))
n_design = 12 if QUICK else 48
asked = {"no label": dict(), f"low: {low:.2f} eV/atom": dict(condition=low, guidance_scale=2.0),
         f"high: {high:.2f} eV/atom": dict(condition=high, guidance_scale=2.0)}
designs = {name: designer.sample(None, n_design, seed=SEED, num_steps=NUM_STEPS, **options)[0]
           for name, options in asked.items()}
print({name: sorted({s.composition.reduced_formula for s in found})[:6] for name, found in designs.items()})

# %% [markdown]
# Did it work? The model's own opinion is no evidence: check with an independent judge. CHGNet, a universal
# machine-learned potential (notebook 10), gives each generated crystal an energy, and the kit's hull module turns
# it into a formation energy against the elemental references the bundled labels used. These are *unrelaxed*
# energies of the raw samples (an upper bound: relaxing can only lower them). CHGNet refuses a few raw samples
# (for example atoms on top of each other); they are named in a warning and left out.

# %%
from crystalkit.validation import formation_energies

checked = pd.concat([pd.DataFrame({"asked for": name, "formula": [s.composition.reduced_formula for s in found],
                                   "formation energy (eV/atom)": formation_energies(found)})
                     for name, found in designs.items()]).dropna()  # dropped: crystals CHGNet refuses (warned)
px.box(checked, x="asked for", y="formation energy (eV/atom)", points="all", hover_name="formula", height=400,
       title="CHGNet formation energy of what the guided model generated").show()
checked.groupby("asked for")["formation energy (eV/atom)"].describe()[["count", "mean", "50%"]].round(3)

# %% [markdown]
# If guidance works, the "low" samples sit below the "high" ones. Their chemistry tells why: a model can lower
# the formation energy most easily by choosing elements (oxides and fluorides of electropositive metals are
# strongly bound), less easily by arranging them. Look at the formulas in the hover text. With 173 training
# crystals and minutes of CPU, expect a visible shift, not a precise dial; notebook 13 treats inverse design
# properly (stronger models, guidance scale sweeps, and a check by relaxation).
#
# ## Summary
#
# - A crystal diffusion model noises three things in three ways: the lattice with DDPM, fractional coordinates
#   with a wrapped normal on the torus (DiffCSP), and, de novo, the atom types (here via chemical codes).
# - The network predicts noise and scores and is invariant by construction; sampling walks back from noise in
#   predictor-corrector steps, and the structure appears late, when the noise falls below the site spacing.
# - Scored by the published protocol, the shipped model predicts the bundled perovskites' structures well;
#   `benchmarks/RESULTS.md` has the real benchmark (Perov-5) against training time.
# - Classifier-free guidance turns one conditional model into a dial: ask for a label, check what came out with an
#   independent potential.
#
# ## Exercises
#
# 1. Sample with 10, 30 and 100 steps and compare match rate and RMSE. Which degrades first?
# 2. Play the forward path of a crystal with 20 atoms from `load_dataset("inorganic", "test")`. Why does the
#    lattice look "done" much earlier in the reverse film than the coordinates?
# 3. Raise the guidance scale to 5. What happens to the formation energies, and to the variety of formulas?
#
# <details><summary>Solution 1</summary>
#
# ```python
# for steps in (10, 30, 100):
#     found = model.sample(compositions, num_samples=1, seed=SEED, num_steps=steps)
#     scores = csp_metrics(found, targets, k=1, progress=False)
#     print(steps, round(scores.match_rate, 3), round(scores.rmse, 4))
# ```
# The RMSE worsens first: with few steps the last, fine steps (small $\sigma$) are too coarse to settle atoms
# exactly onto their sites, while the overall arrangement (which is what matching checks, within tolerances) is
# decided earlier. Notebook 07 shows that flow matching degrades much later.
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# other = load_dataset("inorganic", "test").structures[0]
# [film] = model.forward_path([other], np.linspace(0, 1, 31), seed=SEED)
# trajectory_player(film)
# ```
# The lattice is one 3×3 matrix with a smooth DDPM schedule, and its scale is fixed early; the coordinates' noise
# $\sigma_t$ shrinks geometrically (0.5 to 0.005), so most of the coordinates' fine detail is decided in the last
# steps. (This model was trained on perovskites only, so its samples for other compositions are poor: try it.)
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# strong = designer.sample(None, n_design, seed=SEED, num_steps=NUM_STEPS, condition=low, guidance_scale=5.0)[0]
# print(sorted({s.composition.reduced_formula for s in strong}))
# ```
# Stronger guidance usually pushes the mean lower but narrows the chemistry (fewer distinct formulas) and can
# produce odd, invalid crystals: guidance extrapolates beyond what the model has learned, trading diversity and
# validity for the property. This trade-off is the daily life of inverse design.
# </details>
#
# ## Key papers
#
# - J. Ho, A. Jain, P. Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020.
# - Y. Song et al., *Score-Based Generative Modeling through Stochastic Differential Equations*, ICLR 2021
#   (predictor-corrector sampling).
# - A. Nichol, P. Dhariwal, *Improved Denoising Diffusion Probabilistic Models*, ICML 2021 (the cosine schedule).
# - T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, *Crystal Diffusion Variational Autoencoder for Periodic
#   Material Generation*, ICLR 2022.
# - R. Jiao, W. Huang, P. Lin, J. Han, P. Chen, Y. Lu, Y. Liu, *Crystal Structure Prediction by Joint Equivariant
#   Diffusion*, NeurIPS 2023 (DiffCSP: wrapped-normal coordinates, the CSP protocol).
# - J. Ho, T. Salimans, *Classifier-Free Diffusion Guidance*, NeurIPS 2021 workshop (arXiv:2207.12598).
# - B. Deng et al., *CHGNet as a pretrained universal neural network potential for charge-informed atomistic
#   modelling*, Nat. Mach. Intell. 5, 1031 (2023).
