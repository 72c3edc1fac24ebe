# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py//py:percent
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
# # 08 · Language models and GFlowNets: crystals one choice at a time
#
# **Learning goals**
# - Write a crystal as a **sentence** of tokens and derive the language model's loss from the chain rule:
#   next-token cross-entropy under a causal mask.
# - Write **one training step** in cells and check that it is, to float precision, the kit's own `model.loss`.
# - **Prompt** the model with a composition or a space group, and measure what **temperature** does to the share of
#   streams that follow the grammar and the share that parse into a crystal, with intervals; count the failures as
#   failures.
# - Derive **trajectory balance** and check on a space small enough to enumerate that a GFlowNet samples crystals
#   in proportion to a reward; then see why that gives many more good candidates than maximising.
#
# **Prerequisites**: notebook 01 (the kit's crystal tokens), 06 (guided diffusion, the CSP scores), 09 (metrics and
# their intervals); softmax and the chain rule of probability.
#
# **Run time**: quick mode about a minute on two CPU cores with the shipped checkpoints; with
# `TRAIN_FROM_SCRATCH = True` add the training budget.

# %% tags=["parameters"]
QUICK = True                # fewer prompts and samples; False: more of each and a CHGNet check of ten crystals
SEED = 0                    # sampling seeds (and training, if any)
TRAIN_FROM_SCRATCH = False  # True: train both models here (GFlowNet: 3 minutes) instead of loading the shipped ones
TRAIN_MINUTES = 5.0         # language-model budget when TRAIN_FROM_SCRATCH (the shipped one: 400 steps on 1 thread)

# %%
import time
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import torch

from crystalkit.data import CrystalBatch, load_dataset
from crystalkit.metrics import csp_metrics
from crystalkit.metrics.intervals import wilson_interval
from crystalkit.models.gflownet import GFlowNet, GFlowNetConfig, total_variation, trajectory_balance_loss
from crystalkit.models.pretrained import load_pretrained, shipped_or_trained
from crystalkit.narration import claim, say

warnings.filterwarnings("ignore", module="pymatgen")
torch.manual_seed(SEED)
torch.set_num_threads(1)  # these small networks run fastest on one thread, above all on a shared machine
train_set, val_set = load_dataset("perovskites", "train"), load_dataset("perovskites", "val")
print(f"{len(train_set)} training and {len(val_set)} validation perovskites")

# %% [markdown]
# ## 1. A crystal as a sentence
#
# Notebook 01 wrote crystals as tokens: the composition, the space group, the six cell parameters spelled digit by
# digit, then each atom's element and three fractional coordinates of three digits each, in a canonical cell (so a
# rotated or shifted copy gives the same sentence; checked below). A language model reads and writes exactly these
# tokens.

# %%
model = shipped_or_trained("perovskites-lm-csp", train_from_scratch=TRAIN_FROM_SCRATCH,
                           train_structures=train_set.structures, val_structures=val_set.structures,
                           minutes=TRAIN_MINUTES, seed=SEED, device="cpu")
tokens = model.tokenizer.encode(train_set.structures[0])
print(" ".join(tokens))
lengths = [len(model.tokenizer.encode(s)) for s in train_set.structures[:50]]
claim(all(len(s) == 5 for s in train_set.structures[:50]), "the bundled perovskites are five-atom cells")
say("A five-atom perovskite is a sentence of {n} tokens from a vocabulary of {v}; the model has {p:,} weights.",
    n=int(np.median(lengths)), v=len(model.tokenizer.vocabulary), p=sum(p.numel() for p in model.parameters()))

# %% [markdown]
# The canonical cell at work: shift every atom by the same fractional vector, or rotate the whole crystal, and
# encode again.

# %%
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

rotation, _ = np.linalg.qr(np.random.default_rng(SEED).normal(size=(3, 3)))
rotation *= np.sign(np.linalg.det(rotation))  # a proper rotation (determinant +1), not a mirror
same, other_settings = 0, []
for crystal in train_set.structures[:50]:
    shifted = crystal.copy()
    shifted.translate_sites(range(len(crystal)), [0.13, 0.31, 0.77], frac_coords=True)
    rotated = Structure(Lattice(crystal.lattice.matrix @ rotation.T), crystal.species, crystal.frac_coords)
    sentences = [model.tokenizer.encode(copy) for copy in (crystal, shifted, rotated)]
    same += sentences[0] == sentences[1] == sentences[2]
    other_settings += [StructureMatcher().fit(*(model.tokenizer.decode(t) for t in (sentences[0], other)))
                       for other in sentences[1:] if other != sentences[0]]
say("{same} of 50 training crystals give the same sentence shifted and rotated.", same=same)
if other_settings:
    say("The {k} other copies decode to the same crystal ({m} of {k} match it) written in another of its equivalent "
        "settings: a second sentence the model has to learn for one crystal.", m=sum(other_settings),
        k=len(other_settings))
claim(same >= 45 and all(other_settings), "almost every copy is the same sentence, and the rest the same crystal",
      same=same, matched=other_settings)

# %% [markdown]
# ## 2. The next-token likelihood, derived
#
# Any joint distribution over a sequence $x_1 \dots x_T$ factorises by the **chain rule** of probability:
# $$p(x_1, \dots, x_T) = \prod_{t=1}^{T} p(x_t \mid x_{<t}), \qquad
#   \log p(x) = \sum_{t=1}^{T} \log p(x_t \mid x_{<t}).$$
# No assumption is made: it is true of every distribution. A language model parametrises each factor with one
# network, $p_\theta(x_t \mid x_{<t}) = \mathrm{softmax}(f_\theta(x_{<t}))_{x_t}$, and maximum likelihood on the
# training crystals $\mathcal D$ becomes
# $$\min_\theta \; -\frac{1}{\sum_x T_x}\sum_{x \in \mathcal D} \sum_{t} \log p_\theta(x_t \mid x_{<t}),$$
# the **cross-entropy** between the token that really comes next and the predicted distribution, averaged over
# tokens. Two details make it one pass per sequence:
#
# - **teacher forcing**: the input at position $t$ is the true prefix, not the model's own earlier guess, so all
#   $T$ predictions are computed at once from $x_{1..T-1}$ against the targets $x_{2..T}$;
# - the **causal mask**: inside self-attention, position $t$ may attend only to positions $\le t$ (the scores above
#   the diagonal are set to $-\infty$ before the softmax). Without it, the prediction of $x_{t+1}$ could read
#   $x_{t+1}$ itself and the loss would fall to zero without learning anything.
#
# The sentence starts with `<bos>`, which is given, and ends with `<eos>`, which the model must predict: that is how
# it learns when a crystal is finished. Padding (`<pad>`, id 0) fills short rows of a batch and is left out of
# the average.
#
# ## 3. One training step, by hand
#
# We take a batch of eight training crystals, make the token ids, run the network on the inputs and compute the
# cross-entropy ourselves, then ask the kit's `model.loss` for the same batch.

# %%
batch = CrystalBatch.from_structures(train_set.structures[:8])
ids = model.token_batch(batch)                        # (B, T) token ids, <pad> = 0
inputs, targets = ids[:, :-1], ids[:, 1:]             # teacher forcing: predict token t+1 from tokens <= t
logits = model(inputs)                                 # (B, T-1, V)
log_p = torch.log_softmax(logits, dim=-1)              # log p(next token | prefix)
picked = log_p.gather(2, targets.unsqueeze(-1)).squeeze(-1)  # (B, T-1) log-probability of the true next token
real = targets != 0                                    # padding is not a token to predict
by_hand = -(picked * real).sum() / real.sum()
kit = model.loss(batch)["loss"]
print(f"by hand {by_hand.item():.6f}   model.loss {kit.item():.6f}")
assert torch.allclose(by_hand, kit, atol=1e-6)

# %% [markdown]
# The mask at work: change the tokens after position 40 and the logits of positions up to 40 stay the same, while
# the later ones move.

# %%
changed = inputs.clone()
changed[:, 41:] = torch.randint(3, 100, changed[:, 41:].shape, generator=torch.Generator().manual_seed(SEED))
with torch.no_grad():
    moved = (model(changed) - logits).abs().amax(dim=(0, 2))  # (T-1,) largest change of each position's logits
claim(float(moved[:41].max()) < 1e-5 < float(moved[41:].max()), "future tokens do not change earlier logits",
      before=float(moved[:41].max()), after=float(moved[41:].max()))
say("Largest change of the logits up to position 40: {a:.1e}; after it: {b:.2f}.", a=float(moved[:41].max()),
    b=float(moved[41:].max()))

# %%
history = pd.DataFrame(model.history["train"])
if len(history):
    px.line(history, x="step", y="loss", log_y=True, height=300,
            title="training loss of the shipped language model (nats per token)").show()

# %% [markdown]
# ## 4. Sampling: temperature, top-k and the streams that do not parse
#
# To write a crystal, start from a prompt and repeat: run the network, take the last position's logits $z$, draw
# the next token from $\mathrm{softmax}(z / T)$, append it. The **temperature** $T$ sharpens ($T < 1$) or flattens
# ($T > 1$) the distribution; $T \to 0$ is greedy decoding (always the argmax); **top-k** keeps only the $k$ most
# likely tokens. Left to itself (`constrain=False`, the raw model) nothing forces the output to follow the grammar:
# a stream may be cut off, list atoms that disagree with its composition, or put a tag in the wrong place. The
# kit's parser says why, and `model.sample`
# keeps a `None` for each failure, so the metrics count it as an invalid sample. Dropping failures before
# scoring would report the success rate of the survivors, not of the model.
#
# We prompt the raw model with the compositions of validation crystals (crystal structure prediction) at several
# temperatures and keep two rates apart: the share of **grammatical** streams (every tag in place, every number
# with its digits, a cell that exists; only the atoms may disagree with the prompt) measures how much of the
# grammar it has learned; the share that **parse** into a crystal of the prompt's composition also needs it to
# copy the prompt's elements into the atom list.

# %%
n_targets, per_prompt = (8, 3) if QUICK else (40, 5)
targets = val_set.structures[:n_targets]
formulas = [t.composition.formula.replace(" ", "") for t in targets]
rows, kept = [], {}
for temperature in (0.0, 0.7, 1.0, 1.5):
    samples = [s for i, f in enumerate(formulas)
               for s in model.generate(f, 1 if temperature == 0 else per_prompt, temperature=temperature, seed=SEED + i,
                                       constrain=False)]
    grammatical = wilson_interval(sum(s.ok or s.kind == "composition" for s in samples), len(samples))
    parsed = wilson_interval(sum(s.ok for s in samples), len(samples))
    kept[temperature] = samples
    rows.append({"temperature": temperature, "streams": len(samples),
                 "grammatical": grammatical.estimate, "g low": grammatical.low, "g high": grammatical.high,
                 "parse rate": parsed.estimate, "low": parsed.low, "high": parsed.high,
                 **{kind: sum(s.kind == kind for s in samples) for kind in ("cut off", "composition", "grammar", "cell")}})
sweep = pd.DataFrame(rows)
sweep.round(3)

# %%
rates = pd.concat([sweep.assign(rate=sweep[column], lo=sweep[low], hi=sweep[high], share=name)
                   for name, column, low, high in (("grammatical", "grammatical", "g low", "g high"),
                                                   ("parse", "parse rate", "low", "high"))])
px.scatter(rates, x="temperature", y="rate", color="share", error_y=rates["hi"] - rates["rate"],
           error_y_minus=rates["rate"] - rates["lo"], height=320,
           title="share of streams that are grammatical, and that parse (95 % Wilson intervals)").show()
hot, cold = sweep.iloc[-1], sweep.iloc[1]
say("At T = {tc}, {gc:.0%} of {nc} streams are grammatical ({glc:.0%}-{ghc:.0%}) and {pc:.0%} parse "
    "({lc:.0%}-{hc:.0%}); at T = {th}, {gh:.0%} are grammatical ({glh:.0%}-{ghh:.0%}) and {ph:.0%} parse. "
    "Hotter sampling puts more weight on unlikely tokens, and one misplaced tag or digit breaks the grammar.",
    tc=cold["temperature"], gc=cold["grammatical"], glc=cold["g low"], ghc=cold["g high"], nc=int(cold["streams"]),
    pc=cold["parse rate"], lc=cold["low"], hc=cold["high"], th=hot["temperature"], gh=hot["grammatical"],
    glh=hot["g low"], ghh=hot["g high"], ph=hot["parse rate"])
claim(hot["g high"] < cold["g low"], "hotter sampling breaks the grammar more often, beyond the intervals",
      hot=hot["grammatical"], cold=cold["grammatical"])
claim(hot["low"] <= cold["high"], "hotter sampling does not parse more often (beyond the intervals)",
      hot=hot["parse rate"], cold=cold["parse rate"])
wrong_atoms = int(sweep["composition"].sum())
say("{w} of the {n} streams of the sweep are grammatical but list other atoms than the prompt asked for: the raw "
    "model has learned the grammar better than it has learned to copy the prompt's elements into the atom list.",
    w=wrong_atoms, n=int(sweep["streams"].sum()))
claim(wrong_atoms > sweep["parse rate"].mul(sweep["streams"]).sum(), "more streams list the wrong atoms than parse",
      wrong_atoms=wrong_atoms, parsed=sweep["parse rate"].mul(sweep["streams"]).sum())
for temperature, kind in ((cold["temperature"], "composition"), (hot["temperature"], "grammar")):
    failed = next((s for s in kept[temperature] if s.kind == kind), None)
    if failed is not None:
        say("A {kind} failure at T = {t}, in the parser's words: *{reason}*", kind=kind, t=temperature,
            reason=failed.reason)

# %% [markdown]
# ### Why each step is cheap: the KV cache
#
# Sampling runs the network once per token. Run naively, step $t$ feeds all $t$ tokens so far, so a $T$-token
# crystal costs $1 + 2 + \dots + T \approx T^2/2$ position passes. But with the causal mask, position $s$ never
# sees anything after it: its keys $k_s = W_k h_s$ and values $v_s = W_v h_s$ in every block are the same at every
# later step. So each block can keep them (the **KV cache**), and step $t$ computes only the new position's query,
# key and value and attends over the stored ones: $T$ position passes in all. The logits are the same, so the
# streams are too. Here we sample the same prompt both ways.

# %%
timings = {}
for kv_cache in (True, False):
    start = time.perf_counter()
    streams = model.generate(formulas[0], 8, temperature=0.7, seed=SEED, kv_cache=kv_cache)
    timings[kv_cache] = (time.perf_counter() - start, [s.tokens for s in streams])
claim(timings[True][1] == timings[False][1], "the KV cache changes no token", prompt=formulas[0])
say("With the cache, 8 streams of {f} took {fast:.2f} s; rereading the whole stream every step took {slow:.2f} s, "
    "for the same tokens. The gap grows with the length of the streams: for 200 de novo streams of a model "
    "trained on the inorganic set it was eighteenfold (`benchmarks/lm_sampling.py`; figures in "
    "`benchmarks/RESULTS.md`).", f=formulas[0], fast=timings[True][0], slow=timings[False][0])

# %% [markdown]
# ### CSP scores, failures counted, with and without constrained decoding
#
# The same validation targets, one sample each at $T = 0.7$, scored with the kit's CSP metric (notebook 09). Every
# stream that does not parse, or parses into another composition, enters as `None`: an unmatched target.
#
# In CSP the composition is given, so we may also *constrain* the decoding (`constrain=True`, the default of
# `generate` and `sample`): at each step the logits of tokens that would break the grammar are set to $-\infty$,
# and in the `<atoms>` section only elements the prompt still owes may be written, with `<eos>` allowed exactly
# when every atom is placed. That is sampling from the model conditioned on "the stream is a crystal of this
# composition"; every stream parses. It answers *where do the atoms go*, the CSP question, but it hides what the
# raw parse rate shows, so we report both.

# %%
scores = {}
for constrain in (False, True):
    predicted = model.sample(formulas, 1, seed=SEED, temperature=0.7, constrain=constrain)
    missing = sum(p[0] is None for p in predicted)
    csp = csp_metrics(predicted, targets, validity="published", n_jobs=1)
    match = wilson_interval(round(csp.match_rate * len(targets)), len(targets))
    scores[constrain] = (csp.match_rate, missing)
    say("{how}: match rate {m:.0%} (95 % interval {lo:.0%}-{hi:.0%}) on {n} validation targets; {miss} of the {n} "
        "samples did not parse (counted as unmatched).", how="Constrained" if constrain else "Raw model",
        m=csp.match_rate, lo=match.low, hi=match.high, n=len(targets), miss=missing)
    claim(0.0 <= csp.match_rate <= 1.0 - missing / len(targets) + 1e-9, "failures can never be matches",
          match=csp.match_rate, missing=missing)
claim(scores[True][1] == 0, "with constrained decoding every stream parses into the prompt's composition",
      missing=scores[True][1])

# %% [markdown]
# ### Prompting with a space group
#
# The space group comes after the composition in our grammar, so a prompt can also fix it: the kit forces its
# digits as soon as the model writes `<sg>`. The tokens are a request, not a constraint on the coordinates: spglib
# decides which group the written crystal really has.

# %%
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

asked = model.generate(None, 12 if QUICK else 40, space_group=221, temperature=0.7, seed=SEED)
groups = [SpacegroupAnalyzer(s.structure, symprec=0.1).get_space_group_number() for s in asked if s.ok]
agree = sum(g == 221 for g in groups)
say("Asked for Pm-3m (221) without a composition: {ok} of {n} streams parse, and {agree} of those are "
    "Pm-3m by spglib; formulas: {f}.", ok=len(groups), n=len(asked), agree=agree,
    f=", ".join(sorted({s.structure.composition.reduced_formula for s in asked if s.ok})[:6]) or "none")

# %% [markdown]
# ### Try it: the prompt widget
#
# Type a formula (`SrTiO3`), a space group (`99`) or both (`BaTiO3 123`) and move the temperature. The title says
# how many streams parsed and why the others failed; an unknown element is reported in red.

# %%
from crystalkit.widgets.prompt import gflownet_widget, prompt_widget

prompt_widget(model, "SrTiO3", temperature=0.7, num_samples=6 if QUICK else 9, seed=SEED)

# %% [markdown]
# ### Text routes: CrystaLLM and fine-tuned LLMs
#
# Our grammar is made for the task: about 140 tokens, numbers spelled with a fixed number of digits, a canonical
# cell. **CrystaLLM** (Antunes et al. 2024) trains a GPT-2-sized model from scratch on millions of **CIF files**
# as plain text, with a tokenizer of CIF keywords, symbols and digits. The CIF route carries symmetry
# (`_symmetry_space_group_name_H-M`, Wyckoff-reduced sites), so a sentence is shorter for symmetric crystals, and
# any CIF the model writes can be read by every crystallography tool; the price is redundant text (the cell volume,
# for instance, is also written out and has to agree with the lengths and angles) and a larger model. **Gruver et
# al. 2024** go further: they fine-tune a general LLaMA-2 model with low-rank adapters on crystals printed as
# numbers with fixed precision and atom lines, and find that a pretrained model's knowledge of text helps:
# larger models learn the symmetries of crystals better, and prompts written in words ("a stable material with
# ...") condition the output. Both report high shares of parseable, charge-balanced samples at moderate
# temperatures and both filter samples with a validity check afterwards, which is why the rate of unparseable or
# invalid samples must be reported next to any score.
#
# ## 5. GFlowNets: sampling in proportion to a reward
#
# A language model imitates data. Sometimes we have no data of what we want, only a way to score a candidate: a
# **reward** $R(x) > 0$, e.g. high for low formation energy. Maximising $R$ gives one answer; a screening campaign
# wants many different good ones. A **GFlowNet** (Bengio et al. 2021) learns a policy that builds $x$ by a sequence
# of choices $s_0 \to s_1 \to \dots \to s_n = x$ so that finished objects come out with probability
# $$P(x) = \frac{R(x)}{Z}, \qquad Z = \sum_{x} R(x).$$
# Crystal-GFN (Hernandez-Garcia et al. 2023) chooses a space group, then a composition compatible with it, then
# lattice parameters. The kit's `GFlowNet` does the same for five-atom ABX3 cells: space group (221, 123, 99),
# A cation, B cation, anion set, cell edge $a$, ratio $c/a$ (fixed to 1 in a cubic group, and mixed anion sets only
# in a tetragonal one).
#
# **Trajectory balance, derived.** Because the choices come in a fixed order, each object has exactly one
# trajectory $\tau$, and the probability of building $x$ is the product of the forward policy's choices:
# $P(x) = \prod_t P_F(s_{t+1} \mid s_t)$. We want this to equal $R(x)/Z$; taking logs,
# $$\log Z + \sum_t \log P_F(s_{t+1} \mid s_t; \theta) = \log R(x) \quad \text{for every } x .$$
# Malkin et al. (2022) make $\log Z$ a learned number and minimise the squared violation on sampled trajectories,
# $$\mathcal L_{\mathrm{TB}}(\tau) = \Big(\log Z_\theta + \sum_t \log P_F(s_{t+1} \mid s_t; \theta) - \log R(x)
#   \Big)^2 .$$
# (When several trajectories lead to one object a backward policy $P_B$ enters as $-\sum_t \log P_B$; on a tree it
# is 1.) The loss is zero for all $\tau$ exactly at the solution: if $\log P(x) = \log R(x) - c$ for every $x$,
# summing $P$ over $x$ gives $1 = Z e^{-c}$, so $c = \log Z$. Any trajectories can be used to train (on-policy,
# with some random choices for exploration, or replayed): the fixed point does not depend on which ones.
#
# **The check.** On a space small enough to list, compute the policy's exact $P(x)$ (the product along the one
# trajectory of each $x$) and compare with $R(x)/Z$ by the total variation distance
# $\mathrm{TV} = \frac12 \sum_x |P(x) - R(x)/Z|$, the largest difference the two give to any set of crystals.

# %%
toy = GFlowNet(GFlowNetConfig(space_groups=[221, 123], cations=["Sr", "Ti", "Ba"], anion_sets=["O3", "NO2"],
                              a_bins=3, a_min=3.8, a_max=4.2, c_over_a=[0.97, 1.0], hidden=64))
toy.fit_property_model(train_set.labels["formula"], train_set.labels["formation_energy_per_atom"],
                       [s.volume ** (1 / 3) * (5 / len(s)) ** (1 / 3) for s in train_set.structures])
states = toy.all_states()
log_r = toy.log_reward(states, 0.1)
exact = log_r - torch.logsumexp(log_r, 0)     # the solution: log P(x) = log R(x) - log Z
claim(float(trajectory_balance_loss(torch.logsumexp(log_r, 0), exact, log_r)) < 1e-8,
      "the trajectory-balance loss is zero at the exact solution")
optimizer = torch.optim.Adam(toy.parameters(), 5e-3)
generator = torch.Generator().manual_seed(SEED)
for step in range(400):
    loss = toy.loss(None, generator)["loss"]   # 64 fresh trajectories, one temperature each
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
with torch.no_grad():
    tv = {t: total_variation(toy.log_prob(states, t).exp(), torch.softmax(toy.log_reward(states, t), 0))
          for t in (0.05, 0.1, 0.3)}
    tv_uniform = {t: total_variation(torch.full((len(states),), 1 / len(states)), torch.softmax(toy.log_reward(states, t), 0))
                  for t in tv}
say("{n} crystals in the toy space. Total variation between the trained sampler and R/Z: {tv}; a uniform sampler: {u}.",
    n=len(states), tv=", ".join(f"{v:.3f} at T = {t}" for t, v in tv.items()),
    u=", ".join(f"{v:.2f}" for v in tv_uniform.values()))
claim(max(tv.values()) < 0.1 and min(tv_uniform.values()) > 0.3, "the trained sampler matches R/Z, far closer than uniform",
      tv=tv, uniform=tv_uniform)

# %% [markdown]
# ## 6. The shipped GFlowNet: many good candidates
#
# The shipped GFlowNet works on the kit's full space of choices (counted below). Its reward
# is $R = \exp(-E/T)$ with a **proxy energy** $E$ fitted on the bundled labels: a ridge regression of the formation
# energy on the atomic fractions, plus a penalty for a cell size far from a second regression's prediction. A
# proxy is only as good as its fit, so first check it on held-out crystals.

# %%
if TRAIN_FROM_SCRATCH:  # the same command as the shipped one: 3 minutes of trajectory balance
    from crystalkit.data import TensorCrystalDataset
    from crystalkit.models.training import TrainConfig, train

    gfn = GFlowNet()
    labelled = TensorCrystalDataset.from_structures(
        train_set.structures, labels=train_set.labels["formation_energy_per_atom"].to_numpy())
    train(gfn, labelled, None, TrainConfig(max_minutes=3.0, seed=SEED, device="cpu"))
    gfn.eval()
else:
    gfn = load_pretrained("perovskites-gfn-formation-energy")
val_energy = val_set.labels["formation_energy_per_atom"].to_numpy()
predicted_energy = gfn.formation_energy_of(val_set.labels["formula"])
mae, mae_mean = np.abs(predicted_energy - val_energy).mean(), np.abs(val_energy - val_energy.mean()).mean()
say("Proxy formation energy on {n} validation perovskites: MAE {m:.2f} eV/atom, against {b:.2f} for always "
    "predicting the mean. The space: {g} space groups, {c} cations, {a} anion sets, {e} cell edges and {r} ratios "
    "c/a, {s:,} crystals in all.", n=len(val_energy), m=mae, b=mae_mean, g=len(gfn.config.space_groups),
    c=len(gfn.config.cations), a=len(gfn.config.anion_sets), e=gfn.config.a_bins, r=len(gfn.config.c_over_a),
    s=gfn.num_states)
claim(mae < mae_mean, "the proxy beats the mean predictor on held-out crystals", mae=mae, baseline=mae_mean)

# %% [markdown]
# **Maximising versus sampling.** A maximiser (here greedy hill climbing from random starts: change the one choice
# that lowers the energy most, until none does) ends each start on one local optimum: at most one crystal per start.
# The GFlowNet at a low temperature draws crystals in proportion to $e^{-E/T}$: count the different formulas whose
# proxy energy is within 0.3 eV/atom of the best one found.

# %%
restarts = 10 if QUICK else 40
ends = gfn.maximise(restarts=restarts, seed=SEED)
best = float(gfn.energy(ends).min())
with torch.no_grad():
    drawn, _ = gfn.rollout(200 if QUICK else 1000, 0.1, torch.Generator().manual_seed(SEED))
table = pd.DataFrame(gfn.describe(drawn))
good = table[table["proxy energy (eV/atom)"] < best + 0.3]
max_formulas = {r["formula"] for r in gfn.describe(ends)}
say("{r} hill climbs end on {k} different formula(s), best {b:.2f} eV/atom. {n} GFlowNet samples at T = 0.1 hold "
    "{g} crystals within 0.3 eV/atom of that, of {f} different formulas.", r=restarts, k=len(max_formulas), b=best,
    n=len(table), g=len(good), f=good["formula"].nunique())
claim(good["formula"].nunique() > len(max_formulas), "sampling gives more different good formulas than maximising",
      gfn=good["formula"].nunique(), maximiser=len(max_formulas))
good.groupby("formula")["proxy energy (eV/atom)"].agg(["size", "min"]).sort_values("min").head(10).round(3)

# %% [markdown]
# **Against guided diffusion on the same reward.** Notebook 06's de novo diffusion model was trained with the
# formation energy as a label and can be guided towards a low value. It is not restricted to ABX3 cells, so score
# its samples with the same proxy formation energy (composition part) and count different formulas.

# %%
designer = load_pretrained("perovskites-diffusion-denovo-formation-energy")
low = float(train_set.labels["formation_energy_per_atom"].quantile(0.1))
guided = designer.sample(None, 12 if QUICK else 48, seed=SEED, num_steps=100 if QUICK else 500, condition=low,
                         guidance_scale=2.0)[0]
guided_energy = gfn.formation_energy_of([s.composition for s in guided])
gfn_energy = gfn.predicted_formation_energy(drawn).numpy()
comparison = pd.DataFrame({"method": ["GFlowNet, T = 0.1", f"guided diffusion, E = {low:.2f}"],
                           "samples": [len(drawn), len(guided)],
                           "different formulas": [table["formula"].nunique(),
                                                  len({s.composition.reduced_formula for s in guided})],
                           "median proxy E_f (eV/atom)": [np.median(gfn_energy), np.median(guided_energy)]})
comparison.round(3)

# %%
say("Median proxy formation energy: GFlowNet {g:.2f}, guided diffusion {d:.2f} eV/atom. The diffusion model can "
    "only reach crystals like its training data, guided by a label; the GFlowNet explores every combination of its "
    "choices, guided by the reward itself, and is only as right as that reward.", g=np.median(gfn_energy),
    d=np.median(guided_energy))

# %% [markdown]
# **An independent check.** The proxy is a linear fit; CHGNet (notebook 10) scores the GFlowNet's best samples
# with a universal potential (single points of the template cells, no relaxation, so an upper bound). It is slow,
# so quick mode checks three.

# %%
from crystalkit.validation import formation_energies

best_of_each = table.sort_values("proxy energy (eV/atom)").drop_duplicates("formula")  # lowest sample per formula
top = best_of_each.head(3 if QUICK else 10)
top_structures = [gfn.to_structure(drawn[i]) for i in top.index]
top = top.assign(**{"CHGNet E_f (eV/atom)": formation_energies(top_structures)})
top.round(3)

# %%
scored = top["CHGNet E_f (eV/atom)"].dropna()
say("CHGNet scored {n} of {k} top candidates; their CHGNet formation energies run from {lo:.2f} to {hi:.2f} "
    "eV/atom (proxy: {plo:.2f} to {phi:.2f}).", n=len(scored), k=len(top), lo=scored.min() if len(scored) else np.nan,
    hi=scored.max() if len(scored) else np.nan, plo=top["proxy energy (eV/atom)"].min(),
    phi=top["proxy energy (eV/atom)"].max())

# %% [markdown]
# ### Try it: the reward temperature
#
# Move the temperature: at the low end of the slider the samples crowd onto fewer formulas of low proxy energy; at
# the high end they spread over more, and the mean energy rises (the two ends are measured first). One network
# serves every temperature (it is an input of the policy and of $\log Z$, as in temperature-conditional GFlowNets,
# Kim et al. 2023).

# %%
from crystalkit.widgets.prompt import gflownet_distribution

n_draws = 300 if QUICK else 1000
ends_of_slider = {t: gflownet_distribution(gfn, t, n_draws, seed=SEED)
                  for t in (gfn.config.min_temperature, gfn.config.max_temperature)}
(t_cold, cold_table), (t_hot, hot_table) = ends_of_slider.items()
mean_energy = {t: float((d["energy"] * d["count"]).sum() / d["count"].sum()) for t, d in ends_of_slider.items()}
say("At T = {tc} eV/atom the {n} samples fall on {fc} formulas (the three most frequent hold {top:.0%}), mean proxy "
    "energy {ec:.2f} eV/atom; at T = {th}, on {fh} formulas (top three {toph:.0%}), mean {eh:.2f} eV/atom.",
    tc=t_cold, n=n_draws, fc=len(cold_table), top=cold_table["share"].head(3).sum(), ec=mean_energy[t_cold],
    th=t_hot, fh=len(hot_table), toph=hot_table["share"].head(3).sum(), eh=mean_energy[t_hot])
claim(len(hot_table) > len(cold_table) and mean_energy[t_hot] > mean_energy[t_cold],
      "a hotter reward spreads the samples over more formulas and raises their mean energy",
      formulas=(len(cold_table), len(hot_table)), energy=mean_energy)

# %%
gflownet_widget(gfn, temperature=0.1, num_samples=n_draws, seed=SEED)

# %% [markdown]
# ## Summary
#
# - A language model writes a crystal token by token; the chain rule turns likelihood into next-token
#   cross-entropy, computed in one pass with teacher forcing and a causal mask (checked above against
#   `model.loss`).
# - Prompts fix the composition (CSP) or the space group. Hotter sampling breaks the grammar more often; the small
#   shipped model also writes other atoms than its prompt asks for, so few of its raw streams parse. Unparseable
#   streams are failures of the model and stay in every denominator. Constrained decoding makes every CSP stream
#   parse (the composition is given); report the raw parse rate next to it.
# - A GFlowNet learns to build objects with probability proportional to a reward; trajectory balance is zero
#   exactly at that solution, which we checked by enumeration (small total variation).
# - Sampling in proportion to reward returns many more different good candidates than a maximiser, which returns
#   at most one per start; the samples are only as good as the reward, so an independent check (CHGNet) comes next.
#
# ## Exercises
#
# 1. Sample the same compositions at top-k = 5 and T = 1.5. Does the share of grammatical streams recover? Does
#    the parse rate? Why?
#
# <details><summary>Solution</summary>
#
# `model.generate(f, 20, temperature=1.5, top_k=5, constrain=False)`, then count `s.kind`. Top-k removes the long
# tail of unlikely tokens (a letter where a digit must come), which is where the grammar failures come from at high
# temperature, so the grammatical share should rise (measure it: with a few dozen streams the intervals are wide).
# The parse rate need not: a stream cut to the top five tokens can still list other atoms than the prompt's, and
# only constrained decoding rules that out.
# </details>
#
# 2. Why would a model trained on tokens with `reduce="niggli"` (origin and order as given) need more data than
#    ours?
#
# <details><summary>Solution</summary>
#
# Each crystal then has many sentences (one per origin and atom order); the model must learn that they are the
# same crystal, spreading its probability over all of them. The canonical cell gives one sentence per crystal,
# at the price of a model that never sees those augmentations.
# </details>
#
# 3. Train the toy GFlowNet with `exploration=0.5`. Does the total variation still go to zero? Why?
#
# <details><summary>Solution</summary>
#
# Yes, given enough steps: trajectory balance is a condition on every trajectory, whichever policy sampled it,
# so its minimum is the same; exploration changes which trajectories are seen often, hence the speed.
# </details>
#
# 4. Lower the reward temperature of the widget to its minimum. How many formulas remain, and what does that
#    say about using a GFlowNet at $T \to 0$?
#
# <details><summary>Solution</summary>
#
# Few: $R^{1/T}$ concentrates on the maximisers, and the GFlowNet becomes a (stochastic) maximiser. The variety
# lives at temperatures where several candidates have comparable reward.
# </details>
#
# ## Key papers
#
# - L. M. Antunes, K. T. Butler, R. Grau-Crespo, *Crystal structure generation with autoregressive large language
#   modeling* (CrystaLLM), Nature Communications 2024, arXiv:2307.04340.
# - N. Gruver et al., *Fine-tuned language models generate stable inorganic materials as text*, ICLR 2024,
#   arXiv:2402.04379.
# - A. Vaswani et al., *Attention is all you need*, NeurIPS 2017, arXiv:1706.03762.
# - E. Bengio et al., *Flow network based generative models for non-iterative diverse candidate generation*,
#   NeurIPS 2021, arXiv:2106.04399.
# - N. Malkin et al., *Trajectory balance: improved credit assignment in GFlowNets*, NeurIPS 2022, arXiv:2201.13176.
# - A. Hernandez-Garcia et al., *Crystal-GFN: sampling crystals with desirable properties and constraints*,
#   2023, arXiv:2310.04925.
# - M. Kim et al., *Learning to scale logits for temperature-conditional GFlowNets*, ICML 2024, arXiv:2310.02823.
