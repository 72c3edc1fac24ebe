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
# # 05 · GANs and normalizing flows: the one-shot families
#
# **Learning goals**
# - Derive the **GAN** game and its **Wasserstein** version briefly, and see why the critic must be kept
#   1-Lipschitz (the **gradient penalty**); write one training step in cells and check that it is, to float
#   precision, the kit's own `model.loss`.
# - Watch adversarial training **as it happens**: the critic's numbers and the samples' diversity over training,
#   for a game without the penalty and one with it, and a slider over the steps of a run.
# - Let the GAN **choose the elements** too (de novo): a discrete choice passed to the critic by the Gumbel-max
#   trick and a straight-through gradient, and what its formulas look like.
# - Derive the **change of variables** of a normalizing flow and check it numerically: the log-density the flow
#   reports is the base log-density plus the sum of log-determinants, and each log-determinant equals a
#   brute-force Jacobian.
# - See **where each struggles** (GANs: an unreliable loss and a fragile game; flows: atom order, atom counts,
#   architectures shaped by the determinant), score both with the CSP metrics beside flow matching, with
#   intervals, and draw the line to flow matching's *continuous-time* flow (notebook 07).
#
# **Prerequisites**: notebook 06 or 07 (the three parts of a crystal, the torus of fractional coordinates, the
# periodic backbone, CSP); the chain rule and a determinant; notebook 09 for the metrics and their intervals.
#
# **Run time**: quick mode about a minute or two on two CPU cores (shipped checkpoints, three short live GAN runs); with
# `TRAIN_FROM_SCRATCH = True` add twice the training budget (5 minutes each by default).

# %% tags=["parameters"]
QUICK = True                # short live GAN runs and 40 test targets; False: longer runs and every target
SEED = 0                    # sampling and training seeds
TRAIN_FROM_SCRATCH = False  # True: train both models here instead of loading the shipped checkpoints
TRAIN_MINUTES = 5.0         # budget per model when TRAIN_FROM_SCRATCH (the shipped ones had 5 minutes on 1 core)

# %%
import copy
import time
import warnings

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch
from IPython.display import display

from crystalkit.data import TensorCrystalDataset, load_dataset
from crystalkit.geometry import minimum_image_frac, wrap_frac
from crystalkit.metrics import compositional_validity, csp_metrics
from crystalkit.metrics.intervals import wilson_interval
from crystalkit.models.gan import build_gan, train_with_history
from crystalkit.models.normalizing_flow import circular_spline
from crystalkit.models.pretrained import load_pretrained, shipped_or_trained
from crystalkit.models.training import TrainConfig
from crystalkit.narration import claim, say
from crystalkit.widgets import gallery
from crystalkit.widgets.gan_training import gan_training_figure

warnings.filterwarnings("ignore", module="pymatgen")
torch.manual_seed(SEED)
train_set, val_set, test_set = (load_dataset("perovskites", split) for split in ("train", "val", "test"))
targets = test_set.structures[:40] if QUICK else test_set.structures
print(f"{len(train_set)} training perovskites; scoring on {len(targets)} test targets")

# %% [markdown]
# ## 1. One shot
#
# Diffusion (06) and flow matching (07) make a crystal in many small steps. The two families here make it in
# **one pass** of a network from a random draw $z$: $x = G(z)$. They differ in how $G$ is trained.
#
# - A **GAN** never writes down a density. A second network, the critic, learns to tell real crystals from
#   generated ones, and the generator learns from the critic's gradient.
# - A **normalizing flow** makes $G$ invertible, so the density of every crystal can be computed exactly and
#   maximised, at the price of networks built around a determinant.
#
# Both do crystal structure prediction here: the composition is given, the model places the cell and the atoms.
#
# ## 2. The GAN game, and Wasserstein's version
#
# **Minimax** (Goodfellow et al. 2014). A discriminator $D(x) \in (0, 1)$ and a generator $G$ play
# $$\min_G \max_D \; \mathbb E_{x \sim p_\text{data}} \log D(x) + \mathbb E_{z} \log\big(1 - D(G(z))\big).$$
# For a fixed $G$ with density $p_G$ the best discriminator is $D^\star = p_\text{data} / (p_\text{data} + p_G)$
# (maximise the integrand pointwise). Put back, the value is $2\,\mathrm{JS}(p_\text{data}\,\|\,p_G) - \log 4$: the
# generator minimises a Jensen-Shannon divergence. The catch (Arjovsky et al. 2017): when the two distributions
# barely overlap, as for samples near a thin set of real crystals, JS is stuck at $\log 2$ and its gradient
# vanishes; in practice the discriminator wins and the generator stops learning or collapses onto a few outputs.
#
# **Wasserstein** (Arjovsky et al. 2017). The earth mover's distance between the two distributions has the dual
# form (Kantorovich-Rubinstein)
# $$W(p_\text{data}, p_G) = \max_{\|D\|_L \le 1} \; \mathbb E_{p_\text{data}} D(x) - \mathbb E_{p_G} D(x),$$
# a maximum over **1-Lipschitz** critics (slopes of at most 1). It is finite and smooth in $G$ even without
# overlap, so the critic's score gap is a usable gradient *and* a number to monitor.
#
# **Gradient penalty** (Gulrajani et al. 2017). Keeping a network 1-Lipschitz is the hard part. The optimal
# critic has slope 1 almost everywhere on lines between real and generated samples, so WGAN-GP penalises
# $\lambda\,\mathbb E\big(\|\nabla_x D(\hat x)\| - 1\big)^2$ at random points $\hat x$ of such lines. The losses are
# $$\mathcal L_D = \mathbb E\, D(\tilde x) - \mathbb E\, D(x) + \lambda\, \mathbb E\big(\|\nabla D(\hat x)\| - 1\big)^2,
#   \qquad \mathcal L_G = -\mathbb E\, D(\tilde x), \qquad \tilde x = G(z).$$
# For crystals the line from a generated to a real crystal goes the short way round the torus for coordinates,
# $\hat f = \mathrm{wrap}\big(\tilde f + \epsilon\, \mathrm{minimum\_image}(f - \tilde f)\big)$, and straight in the
# six lattice numbers $y$ (standardised log lengths, scaled angles, as in notebook 07).
#
# ## 3. The two players, and their symmetries
#
# The **critic** is the kit's periodic backbone pooled to one number: it sees only distances, lengths, angles and
# coordinate differences, so reordering the atoms, rotating the crystal or shifting its origin cannot change its
# score (and cannot be used to fool it). The **generator** is a Transformer over the composition's atoms, each
# with its own noise: reorder the atoms and the outputs are reordered. Check the critic on real crystals:

# %%
gan = shipped_or_trained("perovskites-gan-csp", train_from_scratch=TRAIN_FROM_SCRATCH, minutes=TRAIN_MINUTES,
                         seed=SEED, train_structures=train_set.structures, val_structures=val_set.structures)
nf = shipped_or_trained("perovskites-nf-csp", train_from_scratch=TRAIN_FROM_SCRATCH, minutes=TRAIN_MINUTES,
                        seed=SEED, train_structures=train_set.structures, val_structures=val_set.structures)
data = TensorCrystalDataset.from_structures(train_set.structures)  # as `train` builds it (Niggli-reduced)
crystals = data.batch(slice(0, 8))                                  # DenseCrystals (B, N, ...)
y = gan.lattice.to_y(crystals.lattice, crystals.num_atoms)          # (B, 6) the six lattice numbers


def critic_score(c, y):
    return gan(c.types, c.frac, y, c.mask)                          # (B,) one score per crystal


q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(SEED)))
rotation = q * torch.sign(torch.det(q))                             # a proper rotation
order = torch.tensor([3, 0, 4, 2, 1])
moved = {"atoms reordered": crystals.replace(types=crystals.types[:, order], frac=crystals.frac[:, order]),
         "rotated": crystals.replace(lattice=crystals.lattice @ rotation.T),
         "origin shifted": crystals.replace(frac=wrap_frac(crystals.frac + torch.tensor([0.3, 0.1, 0.7])))}
with torch.no_grad():
    reference = critic_score(crystals, y)
    changes = {name: (critic_score(c, gan.lattice.to_y(c.lattice, c.num_atoms)) - reference).abs().max().item()
               for name, c in moved.items()}
claim(max(changes.values()) < 1e-4, "the critic's score does not change", **changes)
say("Largest change of the critic's score over 8 crystals: {c}; the scores themselves range over {spread:.2f}.",
    c=", ".join(f"{k} {v:.1e}" for k, v in changes.items()), spread=(reference.max() - reference.min()).item());

# %% [markdown]
# ## 4. One training step, written out
#
# Everything `gan.loss(batch, generator)` does, in cell code. The random numbers are drawn in the package's
# order: the generator's noise per atom `(B, N, Z)`, then per crystal `(B, Z)`, then the interpolation weight
# $\epsilon$ of each crystal `(B,)`. (In eval mode, as here, the penalty's gradient is not itself made
# differentiable; its value is the same.)

# %%
gan.eval()
batch = data.random_batch(32, torch.Generator().manual_seed(SEED))  # DenseCrystals: padded (B, N, ...)
B, N, Z = *batch.types.shape, gan.config.noise_dim
generator = torch.Generator().manual_seed(SEED)
z_atoms = torch.randn(B, N, Z, generator=generator)                # each atom's own noise
z_crystal = torch.randn(B, Z, generator=generator)                 # the crystal's noise
fake = gan.generator(batch.types, batch.mask, z_atoms, z_crystal)   # Fakes: y (B, 6), frac (B, N, 3)
y_real = gan.lattice.to_y(batch.lattice, batch.num_atoms)           # (B, 6)
d_real = gan(batch.types, batch.frac, y_real, batch.mask)           # (B,) critic on real crystals
d_fake = gan(batch.types, fake.frac, fake.y, batch.mask)            # (B,) critic on generated ones
eps = torch.rand(B, generator=generator)                            # (B,) where on the line
frac_hat = wrap_frac(fake.frac + eps[:, None, None] * minimum_image_frac(batch.frac - fake.frac))
y_hat = fake.y + eps[:, None] * (y_real - fake.y)                   # straight in the lattice numbers
frac_hat, y_hat = frac_hat.detach().requires_grad_(), y_hat.detach().requires_grad_()
g_frac, g_y = torch.autograd.grad(gan(batch.types, frac_hat, y_hat, batch.mask).sum(), [frac_hat, y_hat])
slope = torch.sqrt((g_frac**2 * batch.mask[..., None]).sum((1, 2)) + (g_y**2).sum(-1) + 1e-12)  # (B,)
penalty = ((slope - 1) ** 2).mean()
wasserstein = d_real.mean() - d_fake.mean()                         # the critic's estimate of W
critic_loss = -wasserstein + gan.config.gp_weight * penalty + gan.config.drift_weight * (d_real**2).mean()
generator_loss = -d_fake.mean()

# %% [markdown]
# The same batch and seed through the package; `torch.testing.assert_close` stops the notebook if they differ.
# (`drift_weight` is a small pull of the real scores towards 0, Karras et al. 2018: a Wasserstein critic is only
# defined up to a constant, which would otherwise drift.)

# %%
package = gan.loss(batch, torch.Generator().manual_seed(SEED))
ours = {"critic": critic_loss, "wasserstein": wasserstein, "penalty": penalty, "generator": generator_loss,
        "loss": critic_loss + generator_loss}
for name, value in ours.items():
    torch.testing.assert_close(value.detach(), package[name])
print({name: round(value.item(), 5) for name, value in ours.items()})

# %% [markdown]
# **One optimizer for two players.** The kit trains every family with one loop on `loss.backward()`. In the
# package the critic's term uses the fakes *detached* (it moves only the critic) and the generator's term runs
# a copy of the critic with *detached weights* (`torch.func.functional_call`), so it moves only the generator:
# one backward pass gives each player exactly its own gradient (`tests/test_models_gan.py` checks it). The
# generator joins every `n_critic`-th step; on the others its gradients are `None` and Adam skips it.
#
# ## 5. Adversarial training, live: without and with the penalty
#
# Two short runs from the same start, on the same batches, with a small critic and a high learning rate to make
# things happen fast: the Wasserstein game **without** the gradient penalty, and **with** it. Every few steps the
# helper `train_with_history` records the critic's numbers and the **diversity** of the samples: one sample for
# each of 24 training compositions, described by numbers that ignore how a crystal is written (sorted log lengths
# and angle cosines, shortest and mean nearest-neighbour distance), mean pairwise distance divided by that of
# the real crystals. 1 means as varied as the data; **mode collapse** drives it towards 0.

# %%
steps = 60 if QUICK else 300
probe = train_set.structures[:24]
runs, snapshots = {}, {}
for name, weight in {"no penalty": 0.0, "gradient penalty": 10.0}.items():
    torch.manual_seed(SEED)                                         # the same start for both runs
    model = build_gan(hidden=16, layers=2)
    model.config.gp_weight, model.config.n_critic = weight, 1
    started = time.perf_counter()
    rows, snapshots[name] = train_with_history(
        model, data, None, TrainConfig(max_steps=steps, batch_size=32, learning_rate=5e-3, warmup_steps=5,
                                       log_every=5, progress=False, seed=SEED),
        probe=probe, seed=SEED, keep_generators=True)
    runs[name] = (model, pd.DataFrame(rows).assign(run=name))
    print(f"{name}: {steps} steps in {time.perf_counter() - started:.0f} s")
curves = pd.concat([frame for _, frame in runs.values()])
px.line(curves.melt(id_vars=["step", "run"], value_vars=["slope", "wasserstein", "diversity"]), x="step",
        y="value", color="run", facet_col="variable", markers=True, height=360,
        title="The critic's slope, its Wasserstein estimate, and the samples' diversity over training"
        ).update_yaxes(matches=None, showticklabels=True).show()

# %%
last = {name: frame.iloc[-1] for name, (_, frame) in runs.items()}
free, held = last["no penalty"], last["gradient penalty"]
steepest = runs["no penalty"][1].slope.max()
claim(steepest > 2 * held.slope, "without the penalty the critic grows far steeper", steepest=steepest,
      held=held.slope)
claim(0.5 < held.slope < 1.5, "with the penalty the slope stays near 1", slope=held.slope)
say("After {steps} steps the critic's mean slope between real and generated crystals is {free:.1f} without the "
    "penalty (at most {steepest:.1f} on the way) and {held:.2f} with it. Without it, nothing stops the critic from "
    "steepening: its score gap, "
    "{wf:.2f}, is no longer an estimate of a distance (a 1-Lipschitz critic's would be), just a number that "
    "grows, and the generator chases ever steeper gradients. The diversity of the samples ended at {df:.2f} "
    "(lowest {dfmin:.2f}) without the penalty and {dh:.2f} (lowest {dhmin:.2f}) with it.", steps=steps,
    free=free.slope, steepest=steepest, held=held.slope, wf=free.wasserstein, df=free.diversity, dh=held.diversity,
    dfmin=runs["no penalty"][1].diversity.min(), dhmin=runs["gradient penalty"][1].diversity.min());

# %% [markdown]
# Read the diversity curve with care: it is measured on 24 samples, and a generator that still makes noise is
# "diverse" too. A collapse is a *fall* towards 0 that stays: one cell whatever the composition. The slider
# shows what the unpenalised run made at each logged step, over the real crystals of the same compositions in
# grey (volume per atom against the shortest interatomic distance). (`gan_training_explorer` is the same with an
# ipywidgets slider, for a live kernel.)

# %%
gan_training_figure(runs["no penalty"][0], runs["no penalty"][1].to_dict("records"), snapshots["no penalty"],
                    probe, seed=SEED).show()

# %% [markdown]
# ## 6. The shipped GAN
#
# The shipped model is the default WGAN-GP (`crystalkit train --family gan`: a 32-channel, 3-layer critic, five
# critic steps per generator step, penalty weight 10), trained on the bundled training set. Its record:

# %%
history = pd.DataFrame(gan.history["train"])
print("trained here" if TRAIN_FROM_SCRATCH else f"shipped checkpoint, made by: {gan.pretrained_record['command']}")
px.line(history.melt(id_vars="step", value_vars=["critic", "wasserstein", "generator"]), x="step", y="value",
        color="variable", height=320, title="The shipped GAN's losses while training").show()
early, late = history.wasserstein.iloc[: len(history) // 5].mean(), history.wasserstein.iloc[-len(history) // 5:].mean()
say("The critic's Wasserstein estimate averaged {early:.3f} over the first fifth of training and {late:.3f} over "
    "the last fifth. Unlike a regression loss it is a moving target: both players change, so it need not fall "
    "steadily, and its value says little about sample quality by itself.", early=early, late=late)
[gan_samples] = gan.sample([targets[0].composition], num_samples=4, seed=SEED)
gallery(gan_samples + [targets[0]], titles=[f"GAN sample {i + 1}" for i in range(4)] + ["true structure"])

# %% [markdown]
# ### The GAN writes the formula too (de novo)
#
# So far the generator was handed the atoms. To invent a crystal outright it must also choose each atom's
# **element**, and an element is a discrete choice: a critic's gradient cannot flow through "pick titanium".
# Two facts get around it.
#
# - **Gumbel-max.** Draw $g_k = -\log(-\log u_k)$ with $u_k$ uniform on (0, 1), one per element $k$. Then
#   $\arg\max_k (\ell_k + g_k)$ is *exactly* a sample of the categorical distribution $\mathrm{softmax}(\ell)$
#   (the maximum of Gumbel variables shifted by $\ell_k$ is again Gumbel, and element $j$ wins with probability
#   $e^{\ell_j} / \sum_k e^{\ell_k}$).
# - **Straight through.** Forward, the critic sees the one-hot row of that choice; backward, the gradient is
#   taken as if the row had been $\mathrm{softmax}((\ell + g)/\tau)$, which is smooth in the logits $\ell$.
#   In code: `hard + (soft - soft.detach())`, which equals `hard` to the last bit and has `soft`'s gradient.
#
# The real crystals reach the critic as one-hot rows too, so both live in one continuous space: the gradient
# penalty's interpolates mix the rows of a real and a generated atom, and the critic cannot tell a fake by its
# form alone. The cell sizes are drawn from the training set's, as every de novo family in the kit does, and the
# generator may only choose elements that occur in the training set. A short run on the bundled perovskites:

# %%
torch.manual_seed(SEED)
denovo_gan = build_gan("de_novo")                                  # the same game; the generator adds element logits
denovo_steps = 250 if QUICK else 3000
started = time.perf_counter()
train_with_history(denovo_gan, data, None, TrainConfig(max_steps=denovo_steps, batch_size=32, log_every=denovo_steps,
                                                       progress=False, seed=SEED), probe=probe, seed=SEED)
print(f"{denovo_steps} steps in {time.perf_counter() - started:.0f} s")
[invented] = denovo_gan.sample(None, 200, seed=SEED)              # no compositions: the GAN chooses them


def formula_traits(structures) -> pd.Series:
    """Shares of cells whose formula is charge balanced (SMACT), all metal, and A1 B1 X3 in its counts."""
    return pd.DataFrame({
        "charge balanced (SMACT)": [compositional_validity(s) for s in structures],
        "all metal": [all(element.is_metal for element in s.composition) for s in structures],
        "A B X3 counts": [sorted(s.composition.get_el_amt_dict().values()) == [1, 1, 3] for s in structures],
    }).mean()


traits = pd.DataFrame({"invented by the GAN": formula_traits(invented),
                       "training perovskites": formula_traits(train_set.structures)})
display(traits.style.format("{:.0%}"))
seen = {site.specie.symbol for s in train_set.structures for site in s}
chosen = {site.specie.symbol for s in invented for site in s}
claim(chosen <= seen, "the generator chooses only elements of the training set", extra=chosen - seen)
say("After {steps} steps, {bal:.0%} of the 200 invented formulas pass SMACT's charge test ({tbal:.0%} of the "
    "training ones), {metal:.0%} are all metal ({tmetal:.0%}), and {abx3:.0%} have the A B X3 counts of a "
    "perovskite ({tabx3:.0%}). {n} different formulas use {k} of the {seen} elements the training set offers.",
    steps=denovo_steps, bal=traits.iloc[0, 0], tbal=traits.iloc[0, 1], metal=traits.iloc[1, 0],
    tmetal=traits.iloc[1, 1], abx3=traits.iloc[2, 0], tabx3=traits.iloc[2, 1],
    n=len({s.composition.reduced_formula for s in invented}), k=len(chosen), seen=len(seen))
gallery(invented[:4], titles=[s.composition.reduced_formula for s in invented[:4]])

# %% [markdown]
# Read the "charge balanced" row with its rule in mind: SMACT passes every all-metal formula (an alloy needs no
# charge balance), so a generator that writes only metals scores well on it. The one-shot generator chooses every
# atom's element in the same pass; only attention between the still-blank atoms can make the formula agree with
# itself (one anion site after another, counts that balance), and nothing in the game rewards a formula for being
# chemically sensible except the critic noticing that it is unlike the data. The sequential families of
# notebook 08 choose one element after another, each seeing the earlier ones.

# %% [markdown]
# ## 7. Normalizing flows: the change of variables
#
# **One dimension.** Let $z = T(x)$ be a smooth increasing map and $z$ have density $p_Z$. The probability of a
# small interval is kept: $p(x)\,dx = p_Z(z)\,dz$, so $p(x) = p_Z(T(x))\,T'(x)$. **Many dimensions**: a small box
# around $x$ is mapped to a parallelepiped whose volume is $|\det \partial T / \partial x|$ times the box's, so
# $$\log p(x) = \log p_Z\big(T(x)\big) + \log\Big|\det \frac{\partial T}{\partial x}\Big|,$$
# and for a composition $T = T_K \circ \dots \circ T_1$ the chain rule turns the determinant of a product into a
# sum: $\log|\det| = \sum_k \log|\det \partial T_k / \partial x_{k-1}|$. Training maximises this exact
# log-likelihood; sampling draws $z \sim p_Z$ and computes $x = T^{-1}(z)$, one pass.
#
# **Cheap determinants by coupling** (RealNVP, Dinh et al. 2017). Split $x = (x_a, x_b)$ and set
# $z_a = x_a$, $z_b = x_b \odot e^{s(x_a)} + t(x_a)$. The Jacobian is block triangular with the identity and
# $\mathrm{diag}(e^{s})$ on its diagonal, so $\log|\det| = \sum s(x_a)$, and the inverse is
# $x_b = (z_b - t(x_a)) \odot e^{-s(x_a)}$, whatever the networks $s, t$ are. The kit's flow applies 8 such layers
# to the six lattice numbers, alternating which half moves, conditioned on the composition; base $\mathcal N(0, I_6)$.
#
# **On the torus.** A fractional coordinate lives on a circle, where $x \mapsto a x + b$ is no bijection. A
# **circular rational-quadratic spline** (Durkan et al. 2019; Rezende et al. 2020 for circles) maps $[0, 1)$
# onto itself by $K$ monotone rational-quadratic pieces whose slopes at 0 and 1 agree, then rotates (a shift mod
# 1, derivative 1). Its derivative is known piece by piece; the base is uniform on the torus (log-density 0), so
# the coordinates' log-density is just the sum of the log-slopes. Coupling again: a layer moves one axis of half
# the atoms, with spline knots read from all the other numbers. One spline and the density it makes from the
# uniform base:

# %%
raw = torch.randn(1, 3 * 8, generator=torch.Generator().manual_seed(SEED))  # 8 pieces: widths, heights, slopes
grid = (torch.arange(2000) + 0.5) / 2000
mapped, log_slope = circular_spline(grid, raw.expand(len(grid), -1))
inverse, _ = circular_spline(mapped, raw.expand(len(grid), -1), inverse=True)
fig = go.Figure([go.Scatter(x=grid, y=mapped, name="T(x): the spline"),
                 go.Scatter(x=grid, y=torch.exp(log_slope), name="p(x) = T'(x) for a uniform base")])
fig.update_layout(height=330, xaxis_title="x (fraction of a cell)", title="A circular spline and its density").show()
claim((inverse - grid).abs().max() < 1e-4, "the spline's inverse undoes it")
claim(abs(torch.exp(log_slope).mean().item() - 1) < 1e-3, "the density integrates to 1",
      integral=torch.exp(log_slope).mean().item())

# %% [markdown]
# **The check on a real crystal.** The flow reports $\log p(x)$ per crystal. Run its normalizing direction
# `nf.encode` to get the base values $z$ and the two log-determinants, add the base log-density, and compare. Then
# compute each Jacobian by brute force, `torch.autograd.functional.jacobian` of the whole map (9 relative
# coordinates of the 4 non-origin atoms; 6 lattice numbers), and its log-determinant by `slogdet`:

# %%
flow64 = copy.deepcopy(nf).double()                                 # double precision for the brute force
first = data.batch(slice(0, 1))
crystal = flow64._canonical(first.replace(frac=first.frac.double(), lattice=first.lattice.double()))
out = flow64.encode(crystal)
base = torch.distributions.Normal(0.0, 1.0).log_prob(out["z_lattice"]).sum(-1)  # log N(z; 0, I), the lattice
log_p = flow64.log_prob(crystal)
torch.testing.assert_close(log_p["total"], base + out["logdet_lattice"] + out["logdet_coords"])
origin = crystal.frac[:, :1]


def coords_to_base(relative):                                       # (9,) -> (9,)
    frac = torch.cat([torch.zeros(1, 1, 3, dtype=relative.dtype), relative.reshape(1, 4, 3)], 1) + origin
    return flow64.encode(crystal.replace(frac=frac))["z_coords"][0, 1:].reshape(-1)


def lattice_to_base(y):                                             # (6,) -> (6,)
    return flow64.encode(crystal.replace(lattice=flow64.lattice.to_lattice(y[None], crystal.num_atoms)))[
        "z_lattice"][0]


relative = torch.remainder(crystal.frac[0, 1:] - crystal.frac[0, :1], 1.0).reshape(-1)
y0 = flow64.lattice.to_y(crystal.lattice, crystal.num_atoms)[0]
brute = {"coordinates": torch.linalg.slogdet(torch.autograd.functional.jacobian(coords_to_base, relative))[1],
         "lattice": torch.linalg.slogdet(torch.autograd.functional.jacobian(lattice_to_base, y0))[1]}
torch.testing.assert_close(brute["coordinates"], out["logdet_coords"][0])
torch.testing.assert_close(brute["lattice"], out["logdet_lattice"][0])
say("For {formula}: log p = {total:.3f} nats = base {base:.3f} + lattice log-determinant {ll:.3f} + coordinate "
    "log-determinant {lc:.3f}; brute-force Jacobians give {bl:.3f} and {bc:.3f}.",
    formula=train_set.structures[0].composition.reduced_formula, total=log_p["total"].item(), base=base.item(),
    ll=out["logdet_lattice"].item(), lc=out["logdet_coords"].item(), bl=brute["lattice"].item(),
    bc=brute["coordinates"].item());

# %% [markdown]
# The shipped flow's training curve is its negative log-likelihood (per crystal, nats) of the data blurred a
# little (the cells are exactly cubic and the sites exact: a density on a set of zero volume would be infinite,
# so the flow learns the crystals with thermal-vibration-sized noise, about 0.04 Å, and the lattice numbers
# with noise of 0.02). Both parts are densities, so they can fall below zero:

# %%
nf_history = pd.concat([pd.DataFrame(nf.history["train"]).assign(split="training"),
                        pd.DataFrame(nf.history["val"]).assign(split="validation")])
px.line(nf_history.melt(id_vars=["step", "split"], value_vars=["lattice", "coords"]), x="step", y="value",
        color="split", facet_col="variable", height=330, title="Negative log-likelihood (nats per crystal)"
        ).update_yaxes(matches=None, showticklabels=True).show()
nf_val = pd.DataFrame(nf.history["val"])
claim(nf_val.loss.iloc[-1] < nf_val.loss.iloc[0], "the validation likelihood improved",
      first=nf_val.loss.iloc[0], last=nf_val.loss.iloc[-1])

# %% [markdown]
# ## 8. Where the flow struggles
#
# **Atom order.** A flow maps a *vector*, so it needs the atoms in an order. The kit sorts them by element
# (heaviest first) and takes the first as the origin, which makes the density ignore rotations, shifts and the
# order of *different* elements. But the three oxygens of a perovskite still come in some order, and the density
# is over *labelled* atoms: swap two of them and the same crystal gets another density.

# %%
sorted_atoms = nf._canonical(data.batch(slice(0, 64)))             # atoms in the flow's order, heaviest first
same = (sorted_atoms.types[:, 2] == sorted_atoms.types[:, 3]).nonzero().squeeze(1)[:16]
five = sorted_atoms.index(same)                                     # crystals whose atoms 2 and 3 are one element
claim(len(five) >= 8, "enough crystals with two equal anions", found=len(five))
swap = torch.tensor([0, 1, 3, 2, 4])                                # exchange those two atoms
with torch.no_grad():
    plain = nf.log_prob(five)["total"]
    swapped = nf.log_prob(five.replace(types=five.types[:, swap], frac=five.frac[:, swap]))["total"]
    shifted = nf.log_prob(five.replace(frac=wrap_frac(five.frac + 0.37)))["total"]
claim((shifted - plain).abs().max() < 1e-3, "a shifted crystal has the same density", change=(shifted - plain).abs().max())
claim((swapped - plain).abs().max() > 1e-3, "swapping two equal atoms changes the density")
say("Over {n} crystals, shifting the origin changes log p by at most {s:.1e} nats; swapping two equal anions changes it "
    "by up to {w:.2f} nats (median {m:.2f}). The true density of the *unlabelled* crystal would sum over all "
    "orders of the equal atoms (3! = 6 for three oxygens): the flow must learn the same crystal once per labelling.",
    n=len(five), s=(shifted - plain).abs().max().item(), w=(swapped - plain).abs().max().item(),
    m=(swapped - plain).abs().median().item());

# %% [markdown]
# **Atom counts.** An invertible map keeps the dimension: a flow over 5-atom cells is a density on an 18-number
# space (6 lattice numbers, 4 × 3 relative coordinates), one over 10-atom cells on a 33-number space. The same
# crystal written as a doubled cell is a point of another space, and its log-density is in other units:

# %%
doubled = train_set.structures[0].copy()
doubled.make_supercell([1, 1, 2])
pair = TensorCrystalDataset.from_structures([train_set.structures[0], doubled]).crystals  # Niggli-reduced, as trained
with torch.no_grad():
    log_p_pair = nf.log_prob(pair)["total"]
say("The same crystal: log p = {a:.2f} as a 5-atom cell, {b:.2f} as a 10-atom cell. The two numbers are densities "
    "on spaces of 18 and 33 dimensions and cannot be compared; a flow has no way to choose N, so de novo "
    "generation needs a separate model (or a separate prior) per atom count.", a=log_p_pair[0].item(),
    b=log_p_pair[1].item());

# %% [markdown]
# **The determinant shapes the network.** Every layer must be invertible with a cheap determinant: a coupling
# layer leaves half its input untouched, and only stacking many layers mixes everything. The flow matching
# model of notebook 07 is a flow too, a **continuous-time** one: its map is the solution of $\dot x = v_\theta(x, t)$
# from $t = 0$ to 1, always invertible (run the ODE backwards) whatever the network $v_\theta$, and its density
# follows the **instantaneous** change of variables $\frac{d}{dt}\log p_t(x_t) = -\nabla \cdot v_\theta(x_t, t)$, a
# trace instead of a determinant (Chen et al. 2018). Flow matching never computes even that while training: it
# regresses $v_\theta$ on path velocities (notebook 07). That is why FlowMM (Miller et al. 2024) can use an
# unconstrained equivariant network on the torus, where this notebook's flow needs an order of the atoms.
#
# | | normalizing flow (here) | flow matching (07) |
# |---|---|---|
# | the map | $K$ discrete invertible layers | ODE $\dot x = v_\theta(x, t)$, any network |
# | log-density | exact: base + $\sum$ log-determinants | possible, by integrating $-\nabla\cdot v_\theta$ along the ODE |
# | training | maximum likelihood | regression on velocities (no density) |
# | sampling | one pass | tens of ODE steps |
# | symmetry | needs an atom order and an origin | equivariant network, no order |
#
# ## 9. Scored side by side
#
# The same CSP protocol as notebooks 06, 07 and 09: one sample per test target (k = 1), matched with the
# standard `StructureMatcher`, published validity rules, and a Wilson interval for each match rate. Flow
# matching (shipped, notebook 07) is the reference; each model's sampling is timed.

# %%
flow = load_pretrained("perovskites-flow-csp")
compositions = [target.composition for target in targets]
rows, per_target = [], {}
for name, model in {"GAN": gan, "normalizing flow": nf, "flow matching (07)": flow}.items():
    model.sample(compositions[:1], seed=SEED)                       # warm-up
    started = time.perf_counter()
    samples = model.sample(compositions, num_samples=1, seed=SEED)
    seconds = time.perf_counter() - started
    scores = csp_metrics(samples, targets, k=1, progress=False)
    interval = wilson_interval(scores.n_matched, len(targets))
    rows.append({"model": name, "matched": scores.n_matched, "rate": scores.match_rate, "low": interval.low,
                 "high": interval.high, "rmse": scores.rmse, "speed": len(targets) / seconds,
                 "valid": float(scores.to_frame().eval("n_eligible / n_samples").mean())})
scored = pd.DataFrame(rows)
scored.assign(**{"match rate (95 % interval)": [f"{wilson_interval(m, len(targets)):.1%}" for m in scored.matched]}
              ).rename(columns={"rmse": "RMSE", "speed": "structures per second", "valid": "valid samples"}
              ).drop(columns=["rate", "low", "high"]).round(3)

# %%
px.scatter(scored, x="model", y="rate", error_y=scored.high - scored.rate, error_y_minus=scored.rate - scored.low,
           height=330, title=f"CSP match rate, k = 1, {len(targets)} targets (95 % Wilson intervals)",
           labels={"rate": "match rate"}).show()
say("Match rates: {rates}. Sampling speed: {speeds} structures per second.",
    rates=", ".join(f"{r.model} {r.rate:.1%} ({r.low:.0%}-{r.high:.0%})" for r in scored.itertuples()),
    speeds=", ".join(f"{r.model} {r.speed:.0f}" for r in scored.itertuples()))
claim((scored.speed.iloc[:2] > scored.speed.iloc[2]).all(), "both one-shot models sample faster than flow "
      "matching", speeds=scored.speed.tolist())
overlap = all(a.low <= b.high and b.low <= a.high for a in scored.itertuples() for b in scored.itertuples())
best = scored.loc[scored.rate.idxmax()]
say("The highest match rate is {name}'s; with {n} targets {verdict}.", name=best.model, n=len(targets),
    verdict="all three intervals overlap, so this test set cannot rank them" if overlap
    else "some intervals do not overlap: those differences are larger than the noise of the test set");

# %% [markdown]
# ## Summary
#
# - A **GAN** learns by a game: a critic scores crystals, the generator follows its gradient. The Wasserstein
#   game needs a 1-Lipschitz critic; the gradient penalty keeps the critic's slope near 1 on lines between real
#   and generated crystals (periodic lines for coordinates). Without it the critic steepens without bound and
#   its "distance" means nothing. The loss does not tell sample quality: look at the samples and their diversity.
# - For crystals the critic must be invariant (the periodic backbone), the generator equivariant (a set
#   Transformer with noise per atom); one optimizer can train both if each term is detached correctly.
# - De novo, the generator also chooses each atom's element: a Gumbel-max draw (an exact sample of the softmax)
#   passed straight through, one-hot forward and the softmax's gradient backward. Read its charge-balance score
#   with SMACT's rule for all-metal formulas in mind.
# - A **normalizing flow** gives the exact log-likelihood by the change of variables: base log-density plus
#   the sum of log-determinants, which coupling layers make cheap (affine on the lattice, circular splines on
#   the torus). The price: an atom order and an origin, a fixed atom count, and networks shaped by the
#   determinant. Flow matching keeps the flow but makes it continuous in time and trains it without densities.
#
# ## Exercises
#
# 1. Rerun section 5 with `QUICK = False` (300 steps instead of 60). Does the unpenalised run's diversity fall? What does the
#    slider show at the end?
# 2. Switch the shipped GAN to Goodfellow's game: `build_gan()` with `config.objective = "minimax"` and
#    `gp_weight = 0`, train it for two minutes with `train_with_history`, and compare the critic loss with the
#    diversity. Which number would have warned you?
# 3. Show on paper that the coupling layer $z_b = x_b e^{s(x_a)} + t(x_a)$ has $\log|\det| = \sum s(x_a)$, and
#    why $s$ and $t$ may be any networks.
# 4. The flow's density ignores the origin because the first atom is taken as the origin and its own position is
#    uniform. Why is the change of variables from $(f_1, \dots, f_N)$ to $(f_1, f_2 - f_1, \dots, f_N - f_1)$ on the
#    torus free (log-determinant 0)?
# 5. In the de novo GAN the real crystals reach the critic as one-hot rows, and the generator's choices pass
#    "straight through" as exact one-hot rows. What could the critic do if the generator handed it the soft rows
#    $\mathrm{softmax}((\ell + g)/\tau)$ instead? And why could the real crystals not simply be given as atomic
#    numbers?
#
# <details><summary>Solution 1</summary>
#
# Set `QUICK = False` in the parameters cell and run the notebook again (or run section 5 alone with
# `steps = 300`). The penalised run's slope stays near 1. Without the penalty the slope keeps growing; whether
# the diversity falls depends on the run: a critic that steepens everywhere pushes all samples the same way, and
# with the generator's bounded box of cells they pile up at one edge (read the slider's grey and red clouds). In
# 60 steps the sign is the slope, not yet the samples.
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# model = build_gan()
# model.config.objective, model.config.gp_weight, model.config.n_critic = "minimax", 0.0, 1
# rows, _ = train_with_history(model, data, None, TrainConfig(max_minutes=2, batch_size=32, progress=False),
#                              probe=probe)
# pd.DataFrame(rows)[["step", "critic", "generator", "diversity"]]
# ```
# The discriminator usually wins: its loss falls towards 0 and the generator's grows, i.e. the generator gets
# ever weaker gradients (the vanishing-gradient regime of section 2). The critic loss looks "good" (low) exactly
# when the game is lost; only the samples (their diversity, their match rate) tell.
# </details>
#
# <details><summary>Solution 3</summary>
#
# Order the variables as $(x_a, x_b)$. Then $\partial z_a / \partial x_a = I$, $\partial z_a / \partial x_b = 0$,
# $\partial z_b / \partial x_b = \mathrm{diag}(e^{s(x_a)})$ and $\partial z_b / \partial x_a$ is whatever it is. The
# Jacobian is block lower-triangular, so its determinant is the product of the diagonal blocks' determinants,
# $\prod e^{s_i}$. $s$ and $t$ are only ever *evaluated* at $x_a$ (which the layer passes through unchanged),
# never inverted or differentiated for the determinant, so they can be any networks.
# </details>
#
# <details><summary>Solution 4</summary>
#
# The map $(f_1, f_2, \dots) \mapsto (f_1, f_2 - f_1, \dots) \pmod 1$ has a block-triangular Jacobian with identity
# blocks on the diagonal: determinant 1. It is a bijection of the torus (the inverse adds $f_1$ back). With $f_1$
# uniform, $\log p(f) = 0 + \log p(\text{relative coordinates})$, and a shift of the crystal changes only $f_1$.
# </details>
#
# <details><summary>Solution 5</summary>
#
# A real crystal's rows are always exactly one-hot; soft rows never are. The critic could then score "is this
# row one-hot?" and win the game without looking at chemistry or geometry, and the generator would be pushed to
# sharpen its rows rather than to choose better elements. With straight-through rows both sides look alike in
# form, so only the choices themselves can differ. Atomic numbers would give no continuous space to work in: the
# gradient penalty needs points *between* a real and a generated crystal, and there is no element between Ti and
# O, while there is a row $\epsilon\,\mathrm{onehot(Ti)} + (1 - \epsilon)\,\mathrm{onehot(O)}$, which the
# critic reads as the same mixture of the two elements' embeddings.
# </details>
#
# ## Key papers
#
# - I. Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014, arXiv:1406.2661.
# - M. Arjovsky, S. Chintala, L. Bottou, *Wasserstein GAN*, ICML 2017, arXiv:1701.07875.
# - E. Jang, S. Gu, B. Poole, *Categorical Reparameterization with Gumbel-Softmax*, ICLR 2017, arXiv:1611.01144;
#   C. J. Maddison, A. Mnih, Y. W. Teh, *The Concrete Distribution*, ICLR 2017, arXiv:1611.00712 (the de novo
#   GAN's element choice).
# - I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, *Improved Training of Wasserstein GANs*,
#   NeurIPS 2017, arXiv:1704.00028.
# - T. Karras, T. Aila, S. Laine, J. Lehtinen, *Progressive Growing of GANs*, ICLR 2018, arXiv:1710.10196 (the
#   drift term).
# - L. Dinh, J. Sohl-Dickstein, S. Bengio, *Density Estimation using Real NVP*, ICLR 2017, arXiv:1605.08803.
# - C. Durkan, A. Bekasov, I. Murray, G. Papamakarios, *Neural Spline Flows*, NeurIPS 2019, arXiv:1906.04032.
# - D. J. Rezende, G. Papamakarios, S. Racanière, M. S. Albergo, G. Kanwar, P. E. Shanahan, K. Cranmer,
#   *Normalizing Flows on Tori and Spheres*, ICML 2020, arXiv:2002.02428.
# - R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, *Neural Ordinary Differential Equations*, NeurIPS
#   2018, arXiv:1806.07366 (the instantaneous change of variables).
# - S. Kim, J. Noh, G. H. Gu, A. Aspuru-Guzik, Y. Jung, *Generative Adversarial Networks for Crystal Structure
#   Prediction*, ACS Central Science 6, 1412 (2020); A. Nouira, N. Sokolovska, J.-C. Crivello,
#   *CrystalGAN: Learning to Discover Crystallographic Structures with Generative Adversarial Networks*, 2018,
#   arXiv:1810.11203.
# - B. K. Miller, R. T. Q. Chen, A. Sriram, B. M. Wood, *FlowMM: Generating Materials with Riemannian Flow
#   Matching*, ICML 2024, arXiv:2406.04713.
