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
# # 07 · Flow matching: straight roads from noise to crystals
#
# **Learning goals**
# - Derive **conditional flow matching**: why regressing a network on the velocities of simple per-example paths
#   learns the velocity field that carries the whole prior to the whole data distribution.
# - See what "straight" means on a torus (fractional coordinates take the shortest way round) and for a lattice
#   (straight lines in log-lengths and angles), and why the mean coordinate velocity is left out.
# - Write **one training step** in cells and check that it is, to float precision, the kit's own `model.loss`.
# - Sample crystal structure predictions with an ODE solver and a choosable number of steps, and measure
#   **steps against quality** side by side with the diffusion model of notebook 06, with error bars.
#
# **Prerequisites**: notebook 06 (diffusion: the three parts of a crystal, the torus, the CSP scores); the chain
# rule and expectations; notebook 09 for the metrics and their intervals.
#
# **Run time**: quick mode about a minute on two CPU cores (shipped checkpoints); with `TRAIN_FROM_SCRATCH = True`
# add the training budget (4 minutes by default).

# %% tags=["parameters"]
QUICK = True                # fewer step counts, one sample per target; False: a finer sweep, five samples
SEED = 0                    # sampling seeds (and training, if any)
TRAIN_FROM_SCRATCH = False  # True: train the flow here instead of loading the shipped checkpoint
TRAIN_MINUTES = 4.0         # training budget when TRAIN_FROM_SCRATCH (shipped: 6000 steps, 4 min on an idle core)

# %%
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch

from crystalkit.data import TensorCrystalDataset, load_dataset
from crystalkit.geometry import minimum_image_frac, wrap_frac
from crystalkit.metrics import steps_versus_quality
from crystalkit.metrics.intervals import bootstrap_interval, wilson_interval
from crystalkit.models.pretrained import load_pretrained, shipped_or_trained
from crystalkit.narration import claim, say
from crystalkit.widgets import trajectory_player

warnings.filterwarnings("ignore", module="pymatgen")
torch.manual_seed(SEED)
train_set, val_set, test_set = (load_dataset("perovskites", split) for split in ("train", "val", "test"))
QUICK_TARGETS = 24  # quick mode scores this many test crystals, drawn at random with the seed; full mode all
order = np.random.default_rng(SEED).permutation(len(test_set))
targets = [test_set.structures[i] for i in (np.sort(order[:QUICK_TARGETS]) if QUICK else order)]
say("{train} training, {val} validation and {test} test perovskites; the scores below use {n} of the test crystals.",
    train=len(train_set), val=len(val_set), test=len(test_set), n=len(targets))

# %% [markdown]
# ## 1. The idea in one paragraph
#
# Pick a simple **prior** (uniform coordinates, random lattice) and, for every training crystal $x_1$, a random
# prior draw $x_0$ and a path between them, $x_t$ for $t \in [0, 1]$. A network $v_\theta(x_t, t)$ is trained to
# output the path's velocity $\dot x_t$; with straight paths that is the constant $x_1 - x_0$ (Lipman et al. 2023;
# Liu et al. 2023). To sample, start from a prior draw and integrate $\dot x = v_\theta(x, t)$ from 0 to 1, e.g.
# with Euler steps $x \leftarrow x + \Delta t\, v_\theta$. No noise is added while sampling: it is an ODE,
# deterministic given the start. If the learned paths are nearly straight, a handful of big steps suffices; that
# is the speed lever over diffusion, which needs many small stochastic steps. Why does regressing on *one*
# path per crystal learn anything about the whole distribution? That is the next section.
#
# ## 2. Conditional flow matching, derived
#
# A velocity field $u_t(x)$ moves points by $\dot x = u_t(x)$, and carries a density $p_t$ along when the two obey
# the **continuity equation** (mass is conserved):
# $$\partial_t p_t(x) + \nabla \cdot \big(p_t(x)\, u_t(x)\big) = 0 .$$
# *Flow matching* picks a path of densities from the prior $p_0$ to the data $p_1 = q$ and regresses a network on
# the field that generates it:
# $$\mathcal L_{\mathrm{FM}}(\theta)
#   = \mathbb E_{t \sim U[0,1],\; x \sim p_t} \big\| v_\theta(x, t) - u_t(x) \big\|^2 .$$
# For crystals neither $p_t$ nor $u_t$ is known, so this loss cannot be computed. The way out is to build both
# from **conditional** paths, one per pair of endpoints $z = (x_0, x_1)$ with $x_0 \sim p_0$ and $x_1 \sim q$
# drawn independently (Lipman et al. 2023 condition on $x_1$ alone; Tong et al. 2024 on the pair):
# $$x_t = \psi_t(z) = x_0 + t\,(x_1 - x_0), \qquad u_t(x \mid z) = \dot\psi_t(z) = x_1 - x_0 .$$
# The density of $x_t$ over all pairs is the mixture $p_t(x) = \int p_t(x \mid z)\, \pi(z)\, dz$; it is the prior at
# $t = 0$ and the data at $t = 1$.
#
# **The marginal field is an expectation of conditional fields.** Define
# $$u_t(x) = \int u_t(x \mid z)\, \frac{p_t(x \mid z)\, \pi(z)}{p_t(x)}\, dz
#   = \mathbb E\big[\, x_1 - x_0 \;\big|\; x_t = x \,\big],$$
# the average velocity of all the conditional paths that pass through $x$ at time $t$. It generates the mixture:
# each conditional pair obeys the continuity equation, and the equation is linear, so
# $$\partial_t p_t = \int \partial_t p_t(x \mid z)\, \pi(z)\, dz
#   = -\int \nabla \cdot \big(p_t(x \mid z)\, u_t(x \mid z)\big)\, \pi(z)\, dz
#   = -\nabla \cdot \big(p_t\, u_t\big).$$
# Integrating $\dot x = u_t(x)$ from a prior draw therefore ends on a draw from the data.
#
# **The conditional loss has the same gradient.** The loss we *can* compute needs only samples of $t$, $z$ and $x_t$:
# $$\mathcal L_{\mathrm{CFM}}(\theta)
#   = \mathbb E_{t,\; z,\; x \sim p_t(\cdot \mid z)} \big\| v_\theta(x, t) - u_t(x \mid z) \big\|^2 .$$
# Expand both squares, $\|v\|^2 - 2\langle v, u\rangle + \|u\|^2$. The $\|v_\theta\|^2$ terms agree, since $x$ has the
# density $p_t$ in both. The cross terms agree by the definition of $u_t(x)$:
# $$\mathbb E_{z,\, x \mid z} \langle v_\theta(x, t), u_t(x \mid z) \rangle
#   = \int \Big\langle v_\theta(x, t), \int u_t(x \mid z)\, p_t(x \mid z)\, \pi(z)\, dz \Big\rangle\, dx
#   = \mathbb E_{x \sim p_t} \langle v_\theta(x, t), u_t(x) \rangle .$$
# The $\|u\|^2$ terms do not contain $\theta$. So $\mathcal L_{\mathrm{CFM}} = \mathcal L_{\mathrm{FM}} + C$
# and $\nabla_\theta \mathcal L_{\mathrm{CFM}} = \nabla_\theta \mathcal L_{\mathrm{FM}}$ (Lipman et al. 2023,
# Theorem 2): training on single straight lines is gradient descent on the intractable loss. Two consequences to
# look for below:
#
# - the minimiser is the regression function $v^\star(x, t) = \mathbb E[x_1 - x_0 \mid x_t = x]$. Many lines cross
#   at each $x_t$, so the loss keeps a floor $C$ that no network can remove;
# - at $t = 0$ the start $x_0$ is independent of the crystal. For the lattice the best guess is then
#   $\mathbb E[x_1] - x_0$, "towards the average cell"; for the coordinates, whose crystal may sit anywhere on the
#   torus, the conditional velocities point every way and their average is small: atoms should barely move in
#   the first steps of sampling (section 7 measures it).
#
# ## 3. Straight on a torus
#
# Chen & Lipman (2024) carry the construction to curved spaces: the conditional path is the **geodesic**
# $x_t = \exp_{x_0}\!\big(t \log_{x_0} x_1\big)$, whose velocity $\log_{x_0} x_1$ is constant along the path. A
# fractional coordinate lives on the flat torus $\mathbb R^3 / \mathbb Z^3$, where $\exp_f(v) = \mathrm{wrap}(f + v)$
# and $\log_{f_0} f_1 = \mathrm{minimum\_image}(f_1 - f_0) \in [-\tfrac12, \tfrac12)^3$. So (FlowMM, Miller et al. 2024)
# $$f_t = \mathrm{wrap}\big(f_0 + t\, u\big), \qquad u = \mathrm{minimum\_image}(f_1 - f_0), \qquad \dot f_t = u .$$
# **Why the minimum image.** Every lift $f_1 + k$, $k \in \mathbb Z^3$, of the target gives a straight line from $f_0$
# to the same point of the torus, with velocity $f_1 - f_0 + k$. The geodesic is the shortest of them: each
# component of $u$ in $[-\frac12, \frac12)$. Any other $k$ winds round the cell on the way, is longer, and asks the
# network for a winding number it has no way to see. From $x_0 = 0.85$ to $x_1 = 0.10$ the naive line crosses 0.5
# (length 0.75); the geodesic goes up through $1 \equiv 0$ (length 0.25):

# %%
x0, x1 = torch.tensor([0.85]), torch.tensor([0.10])
t = torch.linspace(0, 1, 21)
naive = x0 + t * (x1 - x0)
geodesic = wrap_frac(x0 + t * minimum_image_frac(x1 - x0))
figure = go.Figure([go.Scatter(x=t, y=naive, name="naive: through 0.5", mode="lines+markers"),
                    go.Scatter(x=t, y=geodesic, name="geodesic: through 1 ≡ 0", mode="markers")])
figure.update_layout(title="Two paths from 0.85 to 0.10 on the circle", xaxis_title="t",
                     yaxis_title="fractional coordinate", height=350)
figure.show()
steps_on_circle = minimum_image_frac(geodesic.diff()) / t.diff()  # velocity between frames, measured on the circle
naive_steps = naive.diff() / t.diff()
claim(torch.allclose(steps_on_circle, torch.tensor(0.25)) and torch.allclose(naive_steps, torch.tensor(-0.75)),
      "the velocity is constant: -0.75 for the naive path, +0.25 for the geodesic")

# %% [markdown]
# The geodesic's dots jump from near 1 to near 0: that is one continuous move on the torus, drawn on a flat
# axis. The velocity is the same everywhere on the path, $-0.75$ for the naive path and $+0.25$ for the geodesic.
#
# **Why the mean velocity is removed.** The backbone sees only differences $f_j - f_i$ and the lattice, so a
# crystal shifted by any $s$, $\mathrm{wrap}(f + s)$, gets the same output: the network cannot know where the
# crystal sits, and its coordinate head returns velocities with zero mean over the atoms. Split the target into
# its mean (a drift of the whole crystal) and the rest, $u_i = \tilde u_i + \bar u$. For any prediction with zero
# mean the cross term $\sum_i (v_i - \tilde u_i) \cdot \bar u$ vanishes, so
# $$\sum_i \|v_i - u_i\|^2 = \sum_i \|v_i - \tilde u_i\|^2 + N \|\bar u\|^2 .$$
# The last term does not depend on $\theta$: the drift is the random offset between a uniform prior draw and the
# crystal, which an invariant network cannot predict (nor needs to: a shifted crystal is the same crystal).
# Leaving it out changes no gradient; it only stops the logged loss from carrying a floor of pure noise.
# Section 5 checks this identity on a real batch.
#
# ## 4. Straight for a lattice
#
# Interpolating two $3 \times 3$ lattice matrices, $(1 - t) L_0 + t L_1$, depends on how each cell happens to be
# rotated and can pass through a flat or inverted cell ($\det L_t = 0$). FlowMM moves the six rotation-invariant
# **lattice parameters** instead. The kit's coordinates are, for a crystal of $N$ atoms,
# $$y_{1,2,3} = \frac{\log(\ell / N^{1/3}) - \mu}{s} \ \text{ for } \ell = a, b, c, \qquad
#   y_{4,5,6} = \frac{\phi - 90°}{30°} \ \text{ for } \phi = \alpha, \beta, \gamma,$$
# with $\mu, s$ the mean and spread of the training set's log lengths (dividing by $N^{1/3}$ removes the trivial
# growth of the cell with its number of atoms). The path and its velocity are again straight and constant,
# $y_t = y_0 + t (y_1 - y_0)$ and $\dot y_t = y_1 - y_0$, from a prior of standard normal log lengths and uniform
# scaled angles in $[-1, 1]$, i.e. 60°-120°. What it buys: lengths stay positive and follow geometric paths,
# $a_t = a_0^{1-t} a_1^{t}$; angles stay between 60° and 120° (the box is convex). Not every point of the box is a
# cell (three angles near 120° make it flat: the volume factor $1 - \sum \cos^2 + 2 \prod \cos$ vanishes), but
# the reduced cells of the data keep away from that corner. `forward_path` shows one training path; the flow's
# clock runs from the prior ($t = 0$) to the crystal ($t = 1$):

# %%
flow = shipped_or_trained("perovskites-flow-csp", train_from_scratch=TRAIN_FROM_SCRATCH, minutes=TRAIN_MINUTES,
                           seed=SEED, train_structures=train_set.structures, val_structures=val_set.structures)
history = flow.history
print("trained here" if TRAIN_FROM_SCRATCH else f"shipped checkpoint, made by: {flow.pretrained_record['command']}")
crystal = targets[0]
times = np.linspace(0, 1, 21)
[path] = flow.forward_path([crystal], times, seed=SEED)
parameters = pd.DataFrame([dict(zip(["a", "b", "c", "α", "β", "γ"], s.lattice.abc + s.lattice.angles), t=t)
                           for s, t in zip(path, times)])
px.line(parameters.melt(id_vars="t"), x="t", y="value", facet_col="variable", facet_col_wrap=3, height=420,
        title=f"Lattice parameters along one training path to {crystal.composition.reduced_formula}",
        facet_row_spacing=0.12).update_yaxes(matches=None).show()

# %%
bend_angles = np.abs(np.diff(parameters[["α", "β", "γ"]].to_numpy(), n=2, axis=0)).max()  # second differences
bend_log_lengths = np.abs(np.diff(np.log(parameters[["a", "b", "c"]].to_numpy()), n=2, axis=0)).max()
claim(bend_angles < 1e-3 and bend_log_lengths < 1e-5, "angles and log lengths move on straight lines",
      bend_angles=bend_angles, bend_log_lengths=bend_log_lengths)

# %% [markdown]
# Angles move on straight lines; lengths on exponential curves (straight in log-length): the check above
# measures the bends (second differences) along the path. Now the same path in 3-D:

# %%
trajectory_player(path)

# %% [markdown]
# ## 5. One training step, written out
#
# Here is everything `flow.loss(batch, generator)` does, in cell code: draw a time per crystal, build the point
# of each crystal's path and its velocity, ask the network, compare. The random numbers are drawn in the
# package's order: the times `(B,)`, the coordinate prior `(B, N, 3)`, then the lattice prior, lengths `(B, 3)`
# before angles `(B, 3)`. (A conditional model would then draw which labels to hide; the shipped flow is
# unconditional.) The batch comes from the same `TensorCrystalDataset` that training uses (Niggli-reduced cells).

# %%
device = flow.device
data = TensorCrystalDataset.from_structures(train_set.structures, device=device)  # as `train` builds it
batch = data.random_batch(32, torch.Generator().manual_seed(SEED))  # DenseCrystals: padded (B, N, ...)
mask, B = batch.mask, batch.num_crystals                            # (B, N): real atoms, not padding
generator = torch.Generator(device).manual_seed(SEED)               # the step's own random numbers
t = torch.rand(B, generator=generator, device=device)               # (B,) one time per crystal
f0 = torch.rand(batch.frac.shape, generator=generator, device=device)  # (B, N, 3) uniform prior on the torus
u = minimum_image_frac(batch.frac - f0)                             # (B, N, 3) the geodesic's constant velocity
f_t = wrap_frac(f0 + t[:, None, None] * u)                          # the point of the path at time t
y1 = flow.lattice_to_flow(batch.lattice, mask)                      # (B, 6) the crystal's lattice coordinates
y0 = torch.cat([torch.randn(B, 3, generator=generator, device=device),          # prior: normal log lengths,
                2 * torch.rand(B, 3, generator=generator, device=device) - 1], -1)  # uniform angles 60-120°
y_t = y0 + t[:, None] * (y1 - y0)                                   # (B, 6) straight line, velocity y1 - y0
state = batch.replace(frac=f_t, lattice=flow.flow_to_lattice(y_t, mask))  # the crystals at time t (lattice in Å)
predicted = flow.predict(batch.types, state, t)                     # v_theta(x_t, t): a FlowPrediction
w = mask[..., None].float()                                         # (B, N, 1) 1 for real atoms, 0 for padding
drift = (u * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)       # (B, 1, 3) each crystal's mean velocity
coord_loss = ((predicted.coord_velocity - (u - drift) * w) ** 2 * w).sum() / (3 * w.sum())
lattice_loss = ((predicted.lattice_velocity - (y1 - y0)) ** 2).mean()
loss = flow.config.coord_weight * coord_loss + flow.config.lattice_weight * lattice_loss

# %% [markdown]
# The same batch and seed through the package: the two must agree to float precision
# (`torch.testing.assert_close` stops the notebook if they do not), so the package is this lecture's code.

# %%
package = flow.loss(batch, torch.Generator(device).manual_seed(SEED))
for name, ours in {"loss": loss, "coords": coord_loss, "lattice": lattice_loss}.items():
    torch.testing.assert_close(ours, package[name])
print(f"in cells: {loss.item():.6f} (coordinates {coord_loss.item():.6f}, lattice {lattice_loss.item():.6f})")
print(f"package:  {package['loss'].item():.6f}")

# %% [markdown]
# Training repeats this with a fresh batch and fresh draws, then `loss.backward()` and an optimiser step; that
# part is the same for every model and lives in `crystalkit.models.training.train`. The identity of section 3:
# against the raw target, which keeps the drift, the loss is higher by $\sum_b N_b \|\bar u_b\|^2 / 3\sum_b N_b$,
# a number that contains no network output at all:

# %%
raw = ((predicted.coord_velocity - u * w) ** 2 * w).sum() / (3 * w.sum())  # against the target with its drift
drift_share = (drift**2 * w).sum() / (3 * w.sum())                           # free of theta
torch.testing.assert_close(raw, coord_loss + drift_share)
say("Against the raw target the coordinate loss would be {raw:.4f} instead of {ours:.4f}: {share:.0%} of it "
    "would be the drift, which no invariant network can predict.", raw=raw.item(), ours=coord_loss.item(),
    share=drift_share.item() / raw.item());

# %% [markdown]
# ## 6. The loss while training

# %%
frame = pd.concat([pd.DataFrame(history["train"]).assign(split="training"),
                   pd.DataFrame(history["val"]).assign(split="validation")])
px.line(frame, x="step", y="loss", color="split", log_y=True, height=350,
        title="Velocity-matching loss while training").show()

# %%
train_curve, val_curve = pd.DataFrame(history["train"]), pd.DataFrame(history["val"])
lowest, last = val_curve.loc[val_curve["loss"].idxmin()], val_curve.iloc[-1]
rise = last["loss"] / lowest["loss"] - 1
if rise > 0.05:
    verdict = (f"is lowest at step {lowest['step']:.0f} ({lowest['loss']:.2f}) and then rises to {last['loss']:.2f} "
               f"({rise:+.0%}): the model fits its {len(train_set)} training crystals ever better and new ones "
               "worse, i.e. it starts to memorise them")
else:
    verdict = (f"falls to {lowest['loss']:.2f} (step {lowest['step']:.0f}) and ends within 5 % of that "
               f"({last['loss']:.2f}): no sign of memorising the {len(train_set)} training crystals yet")
say("In {minutes:.0f} minutes ({steps} steps) the training loss falls from {first:.2f} to {final:.2f}, while "
    "the validation loss {verdict}.", minutes=train_curve["seconds"].iloc[-1] / 60,
    steps=int(train_curve["step"].iloc[-1]), first=train_curve["loss"].iloc[0], final=train_curve["loss"].iloc[-1],
    verdict=verdict)

claim(train_curve["loss"].iloc[-1] < train_curve["loss"].iloc[0], "the training loss falls")
claim(train_curve["coords"].min() > 0.005, "the coordinate loss levels off well above zero",
      lowest=train_curve["coords"].min())

# %% [markdown]
# The coordinate part of the loss levels off well above zero, as section 2 predicted: many straight lines cross
# at every $x_t$, and the network can only learn their average. (The lattice part can fall much further: for
# CSP the composition nearly fixes a perovskite's cell.) The benchmark in `benchmarks/RESULTS.md` trains on
# 3,408 Perov-5 crystals.
#
# ## 7. Sampling
#
# Sampling: 20 Euler steps from a random start (with FlowMM's "anti-annealing": the coordinate velocity is scaled
# by $1 + a t$, more and more towards the end, with $a$ = `flow.config.coord_anneal`).

# %%
states = flow.sample_trajectory([crystal.composition], num_samples=1, seed=SEED, num_steps=20)
trajectory_player(states)

# %% [markdown]
# When do the atoms move? Section 2 predicted little motion at first, when the start says nothing about the
# crystal. Measure each step's mean displacement of an atom (shortest way round the torus) and the change of the
# cell volume:

# %%
frac = torch.stack([state.frac_coords for state in states])          # (T, N, 3)
moved = minimum_image_frac(frac.diff(dim=0)).norm(dim=-1).mean(-1)   # (T-1,) mean displacement per step
volume = torch.stack([torch.linalg.det(state.lattice[0]).abs() for state in states])
motion = pd.DataFrame({"step": np.arange(1, len(states)), "atoms (fraction of a cell)": moved.numpy(),
                       "cell volume (Å³, change)": volume.diff().abs().numpy()})
px.bar(motion.melt(id_vars="step"), x="step", y="value", facet_col="variable", height=320,
       title="How much each Euler step moves").update_yaxes(matches=None, showticklabels=True).show()
q = len(moved) // 4  # a quarter of the steps
early, middle = moved[:q].mean().item(), moved[q:-q].mean().item()
cell_early, cell_middle = volume.diff().abs()[:q].mean().item(), volume.diff().abs()[q:-q].mean().item()
claim(early < middle, "the atoms move less in the first steps than in the middle ones", early=early, middle=middle)
claim(cell_early / cell_middle > early / middle, "the cell starts moving earlier than the atoms",
      cell=(cell_early, cell_middle), atoms=(early, middle))
say("In the first {q} steps an atom moves {early:.4f} of a cell per step on average, in the middle {m} steps "
    "{middle:.4f}: the coordinates wait until the state carries information about the crystal. The cell does not "
    "wait: its volume changes by {cell_early:.2f} Å³ per step in the first {q} steps and {cell_middle:.2f} Å³ in "
    "the middle ones, since at $t = 0$ its average velocity already points towards the cells of this composition.",
    q=q, m=len(moved) - 2 * q, early=early, middle=middle, cell_early=cell_early, cell_middle=cell_middle);

# %% [markdown]
# ## 8. Steps against quality: flow matching vs diffusion
#
# The question that decides which family to use when sampling is expensive (screening millions of compositions,
# or a laptop): how much quality do we lose with fewer steps? Sample the same test targets with each step count,
# score them with the published CSP protocol, and time the sampling: `steps_versus_quality` runs this loop
# (a warm-up call first, so that one-off costs are not timed) and keeps each matched target's RMS too, for the
# error bars.

# %%
diffusion = load_pretrained("perovskites-diffusion-csp")
models = {"flow matching": flow, "diffusion": diffusion}
step_counts = ({"flow matching": [1, 2, 5, 20], "diffusion": [5, 20, 100]} if QUICK else
               {"flow matching": [1, 2, 3, 5, 10, 20, 50, 100], "diffusion": [5, 10, 20, 50, 100, 200, 500]})
K = 1 if QUICK else 5  # samples per target: a target matches if any of its K samples does
sweep = steps_versus_quality(models, targets, step_counts, k=K, seed=SEED)
matched_rms = {(r.model, r.steps): list(r.matched_rms) for r in sweep.itertuples()}

# %% [markdown]
# With only a few dozen targets every figure needs an interval: the **Wilson interval** for a match rate (a
# proportion) and a **bootstrap interval** for the RMSE, which is the mean over the *matched* targets of each
# one's RMS displacement (notebook 09 explains both).

# %%
n = len(targets)
wilson = {(r.model, r.steps): wilson_interval(r.matched, n) for r in sweep.itertuples()}
boot = {key: bootstrap_interval(values, seed=SEED) for key, values in matched_rms.items() if values}
keys = list(zip(sweep.model, sweep.steps))
table = sweep.assign(**{"match rate (95 % interval)": [f"{wilson[key]:.1%}" for key in keys],
                        "RMSE (95 % interval)": [f"{boot[key]:.4f}" if key in boot else "no match" for key in keys]})
table.drop(columns=["match_rate", "rmse", "matched_rms", "seconds", "targets"]).round(1)

# %%
def long_rows(r):
    key = (r.model, r.steps)
    rmse = boot.get(key)
    yield r.model, r.steps, "match rate", r.match_rate, wilson[key].low, wilson[key].high
    yield r.model, r.steps, "RMSE", r.rmse, rmse.low if rmse else np.nan, rmse.high if rmse else np.nan
    yield r.model, r.steps, "structures per second", r.structures_per_second, np.nan, np.nan


long = pd.DataFrame([row for r in sweep.itertuples() for row in long_rows(r)],
                    columns=["model", "steps", "variable", "value", "low", "high"])
long = long.assign(plus=(long.high - long.value).fillna(0), minus=(long.value - long.low).fillna(0))
px.line(long, x="steps", y="value", color="model", facet_col="variable", markers=True, log_x=True, height=380,
        error_y="plus", error_y_minus="minus", title="What each family gets for its sampling steps (95 % intervals)"
        ).update_yaxes(matches=None, showticklabels=True).show()

# %% [markdown]
# What to look for. First, how much a figure can move: one target is a large step on a small test set.

# %%
widths = [interval.high - interval.low for interval in wilson.values()]
say("With {n} targets one target moves a match rate by {one:.1%}, and the 95 % intervals of the match rates are "
    "{low:.0%} to {high:.0%} wide: a difference of a few targets between two rows is within the noise.",
    n=n, one=1 / n, low=min(widths), high=max(widths))


def plateau(name):
    """The match rates of ``name`` in words: the best one, and the step counts whose rate lies outside its interval."""
    part = sweep[sweep.model == name].reset_index(drop=True)
    top = int(part.match_rate.idxmax())
    best = wilson[name, int(part.steps[top])]
    outside = [f"{r:.1%} with {s}" for r, s in zip(part.match_rate, part.steps) if not best.low <= r <= best.high]
    return (f"best {best:.1%} with {int(part.steps[top])} steps; "
            + (f"outside that interval: {', '.join(outside)}" if outside else "every other step count lies inside it"))


say("**Match rate.** Flow matching: {flow}. Diffusion: {diffusion}.",
    flow=plateau("flow matching"), diffusion=plateau("diffusion"));

# %% [markdown]
# Why expect a difference at all: the conditional paths are straight, and where the learned ones are nearly
# straight too, a large Euler step along the velocity is nearly exact (section 7 showed they are not quite: the
# atoms speed up and slow down on the way); diffusion's reverse step was derived for small noise decrements, and
# a few big ones leave noise behind. Whether the match rate shows it on this test set is what the sentence above
# says. The RMSE is the finer measure:

# %%
def trend(name):
    """The RMSE of ``name`` along its step counts, in words."""
    part = sweep[sweep.model == name].dropna(subset=["rmse"])
    values, steps = part.rmse.to_numpy(), part.steps.to_numpy()
    path = " → ".join(f"{v:.4f} ({s})" for v, s in zip(values, steps))
    if len(values) < 2:
        return f"{path}: too few rows with a match to tell"
    rises = [f"{a} → {b} steps" for a, b, d in zip(steps, steps[1:], np.diff(values)) if d > 0]
    if not rises:
        level = "" if (np.diff(values) < 0).all() else " or stays level"
        return f"{path}: it falls at every added step count{level}"
    overall = "falls overall" if values[-1] < values[0] else "does not fall overall"
    return f"{path}: it {overall}, but rises between {', '.join(rises)}"


say("**RMSE** (steps in brackets). Flow matching: {flow}. Diffusion: {diffusion}.",
    flow=trend("flow matching"), diffusion=trend("diffusion"))
flow_part = sweep[sweep.model == "flow matching"].dropna(subset=["rmse"])
claim(flow_part.rmse.iloc[0] > flow_part.rmse.iloc[-1], "with its fewest steps the flow places atoms less "
      "precisely than with its most", rmse=flow_part.rmse.tolist(), steps=flow_part.steps.tolist())

# %% [markdown]
# An RMSE can rise when steps are added, and the cause is in how it is built: it averages over the targets that
# *matched*, a different set in every row, and the per-target values are far from normal. They spread over
# orders of magnitude (note the log scale): a few "loose" matches, inside the matcher's tolerance but far off,
# can outweigh many precise ones. The same seed gives the flow the same start in every row, but diffusion draws
# fresh noise at every step, so its rows are different samples altogether:

# %%
per_target = pd.DataFrame([(model, steps, rms) for (model, steps), values in matched_rms.items() for rms in values],
                          columns=["model", "steps", "rms"])
px.strip(per_target, x="steps", y="rms", color="model", facet_col="model", log_y=True, height=350,
         title="RMS displacement of each matched target (log scale)").update_xaxes(type="category").show()
loose = {key: sum(value > 0.1 for value in values) for key, values in matched_rms.items()}
every_rms = per_target.rms.to_numpy()
claim(every_rms.max() > 100 * every_rms.min(), "the per-target values spread over orders of magnitude",
      smallest=every_rms.min(), largest=every_rms.max())
loose_share = sweep.apply(lambda r: loose[r.model, r.steps] / max(r.matched, 1), axis=1)
follows = loose_share.corr(sweep.rmse, method="spearman")  # rank correlation over the rows
claim(follows > 0.5, "a row's RMSE follows its share of loose matches", spearman=follows)
say("Loose matches (RMS above 0.1) per row: {rows}. A row's RMSE follows the share of loose matches among its "
    "matched targets (rank correlation {rho:.2f} over the rows).", rho=follows,
    rows=", ".join(f"{m} {s}: {loose[m, s]} of {len(matched_rms[m, s])}" for m, s in matched_rms));

# %% [markdown]
# **Speed.** One flow step costs one network call; one diffusion step costs two (a corrector and a predictor
# call), so the time per step differs but both grow linearly with the steps:

# %%
claim(diffusion.config.corrector_step > 0, "diffusion makes a corrector call at every step")
per_step = sweep.assign(ms=1000 / (sweep.structures_per_second * sweep.steps))  # per structure and step
for name in models:
    part = sweep[sweep.model == name]
    claim(part.structures_per_second.iloc[0] > part.structures_per_second.iloc[-1],
          f"{name} samples fewer structures per second with more steps", speed=part.structures_per_second.tolist())
say("Per structure and step, at the most steps tried: {flow_ms:.2f} ms for the flow, {diff_ms:.2f} ms for "
    "diffusion. At its most steps ({fs}) the flow produced {fsp:.2g} structures per second; diffusion at its "
    "most ({ds}) {dsp:.2g}.", flow_ms=per_step[per_step.model == "flow matching"].ms.iloc[-1],
    diff_ms=per_step[per_step.model == "diffusion"].ms.iloc[-1],
    fs=step_counts["flow matching"][-1], fsp=sweep[sweep.model == "flow matching"].structures_per_second.iloc[-1],
    ds=step_counts["diffusion"][-1], dsp=sweep[sweep.model == "diffusion"].structures_per_second.iloc[-1]);

# %% [markdown]
# The comparison is fair only because both models share the backbone, the training loop, the data and the
# budget:

# %%
budgets = {name: (f"{TRAIN_MINUTES:g} minutes" if name == "flow matching" and TRAIN_FROM_SCRATCH else
                  f"{model.pretrained_record['budget']['steps']:,} steps") for name, model in models.items()}
best_flow, best_diffusion = (wilson[name, int(sweep[sweep.model == name].sort_values("match_rate").steps.iloc[-1])]
                             for name in models)
overlap = best_flow.low <= best_diffusion.high and best_diffusion.low <= best_flow.high
say("Training budgets: {budgets}. At their best step counts the match rates are {f:.1%} (flow) and {d:.1%} "
    "(diffusion): on {n} targets the two intervals {verdict}.",
    budgets=", ".join(f"{name} {budget}" for name, budget in budgets.items()), f=best_flow,
    d=best_diffusion, n=n, verdict="overlap, so this test set cannot rank the families by match rate" if overlap
    else "do not overlap");

# %% [markdown]
# On Perov-5, with 379 held-out targets (`benchmarks/RESULTS.md`), the flow samples 6-7 times faster (50 Euler
# steps against 200 predictor-corrector steps) at a k = 1 match rate 3-7 points below diffusion's.
#
# ## Summary
#
# - Flow matching regresses a velocity field onto the velocities of chosen per-example paths; the conditional
#   loss has the same gradient as the intractable marginal one, and the learned field is the average of the
#   conditional velocities through each point. Sampling integrates an ODE.
# - For crystals the paths are geodesics: minimum-image straight lines on the torus for coordinates (without
#   the unlearnable mean drift), straight lines in (log-length, angle) space for the lattice.
# - One training step is twenty lines: a time, a prior draw, a point on the path, a velocity, a network call,
#   a squared error; the kit's `model.loss` is exactly that.
# - Straight paths are what make few-step sampling possible; whether a test set can show the difference is a
#   question of intervals, and an RMSE over matched targets needs its per-target values to be read.
#
# ## Exercises
#
# 1. FlowMM scales the coordinate velocity by $1 + s\,t$ late in sampling ("anti-annealing"). Set
#    `flow.config.coord_anneal` to 0 and to 10 and rerun the sweep for the flow. What changes?
# 2. Use Heun's method (a second-order ODE step: average the velocity at the start and at an Euler-predicted end)
#    on paper: how many network calls does one Heun step cost, and when is it worth it?
# 3. Why is the flow's sampling deterministic given the seed's starting point, while diffusion's is not even for a
#    fixed start? What does that imply for drawing k = 20 diverse samples?
# 4. In one dimension take the prior $x_0 \sim \mathcal N(0, 1)$ and data that are a single point $c$. Compute the
#    marginal field $u_t(x) = \mathbb E[x_1 - x_0 \mid x_t = x]$ and check that integrating it from any $x_0$
#    reaches $c$ at $t = 1$.
#
# <details><summary>Solution 1</summary>
#
# ```python
# from crystalkit.metrics import steps_versus_quality
#
# for anneal in (0.0, 10.0):
#     flow.config.coord_anneal = anneal
#     print(anneal, steps_versus_quality({"flow": flow}, targets, {"flow": [5, 20]}, seed=SEED)
#           [["steps", "match_rate", "rmse"]].round(4).to_dict("records"))
# flow.config.coord_anneal = 2.0  # the shipped default
# ```
# Stronger anti-annealing settles atoms onto sites more firmly at the end, usually lowering the RMSE with few
# steps; too strong overshoots. The default a = 2 comes from a Perov-5 comparison (`benchmarks/RESULTS.md`: RMSE
# 0.23 -> 0.13 from a = 0 to a = 2, the match rate one point lower), not from the test split. With these few
# targets, read your answer with the intervals of section 8.
# </details>
#
# <details><summary>Solution 2</summary>
#
# Two network calls per step (Euler: one). It pays when the velocity field bends, so that half as many Heun steps
# beat Euler at equal cost; for nearly straight learned paths plain Euler is already accurate, and the extra call
# is wasted.
# </details>
#
# <details><summary>Solution 3</summary>
#
# The flow's only randomness is the prior draw: same start, same crystal. Diffusion injects fresh noise at every
# step (and in the corrector), so one start leads to many ends. Diversity for the flow therefore comes entirely
# from different starts, which is why k samples use k different prior draws.
# </details>
#
# <details><summary>Solution 4</summary>
#
# Here $x_1 = c$ always, so $x_t = (1 - t) x_0 + t c$ and, given $x_t = x$, the start was $x_0 = (x - t c)/(1 - t)$.
# The only path through $x$ has velocity $c - x_0$, so $u_t(x) = c - \frac{x - t c}{1 - t} = \frac{c - x}{1 - t}$.
# Along the ODE, $\frac{d}{dt}(x - c) = -\frac{x - c}{1 - t}$, so $x_t - c = (1 - t)(x_0 - c)$: a straight line that
# reaches $c$ at $t = 1$ from every start. The field blows up as $t \to 1$ away from $c$, which is why samplers stop
# at $t = 1$ and never evaluate it beyond.
# </details>
#
# ## Key papers
#
# - Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel, M. Le, *Flow Matching for Generative Modeling*, ICLR 2023.
# - X. Liu, C. Gong, Q. Liu, *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow*,
#   ICLR 2023.
# - M. S. Albergo, E. Vanden-Eijnden, *Building Normalizing Flows with Stochastic Interpolants*, ICLR 2023.
# - A. Tong, K. Fatras, N. Malkin, G. Huguet, Y. Zhang, J. Rector-Brooks, G. Wolf, Y. Bengio, *Improving and
#   Generalizing Flow-Based Generative Models with Minibatch Optimal Transport*, TMLR 2024 (conditioning on both
#   endpoints).
# - R. T. Q. Chen, Y. Lipman, *Flow Matching on General Geometries*, ICLR 2024 (Riemannian flow matching).
# - B. K. Miller, R. T. Q. Chen, A. Sriram, B. M. Wood, *FlowMM: Generating Materials with Riemannian Flow
#   Matching*, ICML 2024.
# - R. Jiao et al., *Crystal Structure Prediction by Joint Equivariant Diffusion*, NeurIPS 2023 (the diffusion
#   baseline and the CSP protocol).
