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
# - Understand flow matching as *learning a velocity field* that carries noise to data along paths we choose,
#   and why the straightest paths make sampling cheap.
# - See what "straight" means on a torus (fractional coordinates take the shortest way round) and for a lattice
#   (straight lines in log-lengths and angles).
# - Sample crystal structure predictions with an ODE solver and a choosable number of steps, and measure
#   **steps against quality** side by side with the diffusion model of notebook 06.
#
# **Prerequisites**: notebook 06 (diffusion: the three parts of a crystal, the torus, the CSP scores).
#
# **Run time**: quick mode about a minute on two CPU cores (shipped checkpoints); with `TRAIN_FROM_SCRATCH = True`
# add the training budget (4 minutes by default).

# %% tags=["parameters"]
QUICK = True                # fewer step counts in the comparison; False: a finer sweep and k = 5
SEED = 0                    # sampling seeds (and training, if any)
TRAIN_FROM_SCRATCH = False  # True: train the flow here instead of loading the shipped checkpoint
TRAIN_MINUTES = 4.0         # training budget when TRAIN_FROM_SCRATCH (the shipped model had 4 minutes on 1 core)

# %%
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch

from crystalkit.data import load_dataset
from crystalkit.geometry import minimum_image_frac, wrap_frac
from crystalkit.models.evaluation import steps_versus_quality
from crystalkit.models.pretrained import load_pretrained, shipped_or_trained
from crystalkit.widgets import trajectory_player

warnings.filterwarnings("ignore", module="pymatgen")
torch.manual_seed(SEED)
train_set, val_set, test_set = (load_dataset("perovskites", split) for split in ("train", "val", "test"))
targets = test_set.structures
print(f"{len(train_set)} training, {len(test_set)} test perovskites")

# %% [markdown]
# ## 1. The idea in one paragraph
#
# Pick a simple **prior** (uniform coordinates, random lattice) and, for every training crystal $x_1$, a random
# prior draw $x_0$ and a path between them, $x_t$ for $t \in [0, 1]$. A network $v_\theta(x_t, t)$ is trained to
# output the path's velocity $\dot x_t$; with straight paths that is the constant $x_1 - x_0$ (Lipman et al. 2023;
# Liu et al. 2023). To sample, start from a prior draw and integrate $\dot x = v_\theta(x, t)$ from 0 to 1, e.g.
# with Euler steps $x \leftarrow x + \Delta t\, v_\theta$. No noise is added while sampling: it is an ODE,
# deterministic given the start. If the learned paths are nearly straight, a handful of big steps suffices; that
# is the speed lever over diffusion, which needs many small stochastic steps.
#
# ## 2. Straight on a torus
#
# A fractional coordinate lives on a circle. From $x_0 = 0.85$ to $x_1 = 0.10$ the naive straight line crosses
# 0.5 (a distance of 0.75); the **geodesic** goes up through $1 \equiv 0$ (a distance of 0.25). The velocity is the
# *minimum-image* difference, and the position is wrapped back into the cell (FlowMM, after Chen & Lipman 2024):

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

# %% [markdown]
# The geodesic's dots jump from near 1 to near 0: that is one continuous move on the torus, drawn on a flat
# axis. The velocity is the same everywhere on the path, $-0.75$ for the naive path and $+0.25$ for the geodesic.
#
# ## 3. Straight for a lattice
#
# A lattice matrix could follow a straight line too, but halfway between two cells it might be flat or inverted.
# FlowMM moves the six **lattice parameters** instead; the kit uses $\log(\text{length} / N^{1/3})$, standardised
# by the training set, and $(\text{angle} - 90°)/30°$, with a normal prior on the lengths and uniform 60°-120°
# angles. Every point of such a path is a sensible cell. `forward_path` shows the training paths; the flow's
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

# %% [markdown]
# Angles move on straight lines; lengths on exponential curves (straight in log-length). Now the same path in 3-D:

# %%
trajectory_player(path)

# %% [markdown]
# ## 4. Training and sampling
#
# The training loss is the squared error between predicted and true velocities (coordinates and lattice
# parameters), at a random time per crystal; a shift of the whole crystal is invisible to the invariant backbone,
# so each crystal's mean coordinate velocity is removed from target and prediction. The shipped model trained for
# 4 minutes on one CPU core.

# %%
frame = pd.concat([pd.DataFrame(history["train"]).assign(split="training"),
                   pd.DataFrame(history["val"]).assign(split="validation")])
px.line(frame, x="step", y="loss", color="split", log_y=True, height=350,
        title="Velocity-matching loss while training").show()

# %% [markdown]
# The validation loss stops falling long before the training loss: 173 training crystals are few, and the model
# starts to memorise them. (The benchmark in `benchmarks/RESULTS.md` trains on 3,400 Perov-5 crystals.)
#
# Sampling: 20 Euler steps from a random start. Unlike diffusion's film, this one moves steadily from the first
# frame, because every step follows a velocity instead of removing a little noise:

# %%
states = flow.sample_trajectory([crystal.composition], num_samples=1, seed=SEED, num_steps=20)
trajectory_player(states)

# %% [markdown]
# ## 5. Steps against quality: flow matching vs diffusion
#
# The question that decides which family to use when sampling is expensive (screening millions of compositions,
# or a laptop): how much quality do we lose with fewer steps? `steps_versus_quality` samples the same test
# targets with each step count, scores them with the published CSP protocol, and times the sampling.

# %%
diffusion = load_pretrained("perovskites-diffusion-csp")
flow_steps, diffusion_steps = ([1, 2, 5, 20], [5, 20, 100]) if QUICK else \
    ([1, 2, 3, 5, 10, 20, 50, 100], [5, 10, 20, 50, 100, 200, 500])
sweep = steps_versus_quality({"flow matching": flow, "diffusion": diffusion}, targets,
                             {"flow matching": flow_steps, "diffusion": diffusion_steps},
                             k=1 if QUICK else 5, seed=SEED)
sweep.round(4)

# %%
long = sweep.melt(id_vars=["model", "steps"], value_vars=["match_rate", "rmse", "structures_per_second"])
figure = px.line(long, x="steps", y="value", color="model", facet_col="variable", markers=True, log_x=True,
                 height=380, title="What each family gets for its sampling steps")
figure.update_yaxes(matches=None, showticklabels=True).show()

# %% [markdown]
# What to look for:
#
# - **Match rate**: the flow usually reaches its plateau within a few steps; diffusion with 5-20 steps is still
#   far from its best, because its sampler was derived for small steps.
# - **RMSE**: the finer measure. It keeps improving with steps for both, and is where few-step samplers pay.
# - **Speed**: one step costs the same network call in both families (diffusion adds a corrector call), so speed
#   is inversely proportional to steps. A flow at 10 steps samples tens of times faster than diffusion at 200.
#
# The comparison is fair only because both models share the backbone, the training loop, the data and the
# budget (4 minutes on one core each). On the bundled perovskites both are near the ceiling; the differences are
# clearer on Perov-5 (`benchmarks/RESULTS.md`).
#
# ## Summary
#
# - Flow matching regresses a velocity field onto the velocities of chosen paths; sampling integrates an ODE.
# - For crystals the paths are geodesics: minimum-image straight lines on the torus for coordinates, straight
#   lines in (log-length, angle) space for the lattice, so every intermediate state is a sensible crystal.
# - Straight paths make few-step sampling work: the flow keeps its match rate down to a handful of Euler steps,
#   where diffusion's fall apart; RMSE shows the remaining cost of coarse steps.
#
# ## Exercises
#
# 1. FlowMM scales the coordinate velocity by $1 + s\,t$ late in sampling ("anti-annealing"). Set
#    `flow.config.coord_anneal` to 0 and to 10 and rerun the sweep for the flow. What changes?
# 2. Use Heun's method (a second-order ODE step: average the velocity at the start and at an Euler-predicted end)
#    on paper: how many network calls does one Heun step cost, and when is it worth it?
# 3. Why is the flow's sampling deterministic given the seed's starting point, while diffusion's is not even for a
#    fixed start? What does that imply for drawing k = 20 diverse samples?
#
# <details><summary>Solution 1</summary>
#
# ```python
# for anneal in (0.0, 10.0):
#     flow.config.coord_anneal = anneal
#     print(anneal, steps_versus_quality({"flow": flow}, targets, {"flow": [5, 20]}, seed=SEED)
#           [["steps", "match_rate", "rmse"]].round(4).to_dict("records"))
# ```
# Stronger anti-annealing settles atoms onto sites more firmly at the end, usually lowering the RMSE with few
# steps; too strong overshoots. The default is a middle value chosen on validation data, never on the test split.
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
# ## Key papers
#
# - Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel, M. Le, *Flow Matching for Generative Modeling*, ICLR 2023.
# - X. Liu, C. Gong, Q. Liu, *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow*,
#   ICLR 2023.
# - M. S. Albergo, E. Vanden-Eijnden, *Building Normalizing Flows with Stochastic Interpolants*, ICLR 2023.
# - R. T. Q. Chen, Y. Lipman, *Flow Matching on General Geometries*, ICLR 2024 (Riemannian flow matching).
# - B. K. Miller, R. T. Q. Chen, A. Sriram, B. M. Wood, *FlowMM: Generating Materials with Riemannian Flow
#   Matching*, ICML 2024.
# - R. Jiao et al., *Crystal Structure Prediction by Joint Equivariant Diffusion*, NeurIPS 2023 (the diffusion
#   baseline and the CSP protocol).
