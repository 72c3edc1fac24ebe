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
# # 09 · Evaluation: the standard metrics, exactly, and their pitfalls
#
# **Learning goals**
# - Decide when two crystals are "the same" (pymatgen's `StructureMatcher`) and read its RMS displacement.
# - Compute the crystal-structure-prediction (CSP) metrics: match rate and RMSE, with one or *k* samples.
# - Know the *published* validity rule (structure, SMACT charge balance, fingerprint) and why a perfect
#   model cannot reach a 100 % match rate under it.
# - Compute the de novo panel: validity, coverage (COV-R / COV-P), Wasserstein distances, uniqueness,
#   novelty, share of P1, S.U.N.
# - Recognise the pitfalls: loose tolerances, trivial baselines, duplicates, leakage between splits.
#
# **Prerequisites**: notebook 00 (crystals as lattice + coordinates) and 02 (datasets); notebook 06 or 07
# if you want to evaluate a model of your own.
#
# **Run time**: quick mode about a minute on two CPU cores; full mode (200 targets, all cores) a few minutes.

# %% tags=["parameters"]
QUICK = True      # small sets so the notebook runs in about a minute on 2 cores
SEED = 0          # every random choice below follows this seed
N_TARGETS = 24 if QUICK else 200   # crystals in the toy test set
K = 5             # samples per target for the k-sample CSP metric (DiffCSP uses 20)
N_JOBS = 1 if QUICK else -1        # processes for matching (-1: all cores)

# %%
import numpy as np
import pandas as pd
import plotly.express as px
from pymatgen.analysis.structure_matcher import StructureMatcher

from crystalkit import metrics as M
from crystalkit.metrics import examples as ex
from crystalkit.widgets import view

rng = np.random.default_rng(SEED)

# %% [markdown]
# ## 1. Two tasks, two panels of metrics
#
# | task | input | a model is good when ... | metrics |
# |---|---|---|---|
# | **CSP** (crystal structure prediction) | a composition, e.g. SrTiO3 | its structure matches the true one | match rate, RMSE (1 or *k* samples) |
# | **de novo** generation | nothing | its crystals are valid, diverse, new and stable, and look like the data | validity, COV-R / COV-P, Wasserstein distances, uniqueness, novelty, P1 share, S.U.N. |
#
# All of them are in `crystalkit.metrics`, computed as the CDVAE (Xie et al. 2022) and DiffCSP (Jiao et al. 2023)
# evaluation scripts compute them, to the last digit, but faster. Every metric rests on one question first.
#
# ## 2. When are two crystals the same?
#
# The same crystal can be written in endless ways: rotate it, shift the origin, list the atoms in another order,
# or describe a supercell. pymatgen's `StructureMatcher` sees through all of that. It reduces both crystals to a
# Niggli-reduced primitive cell, scales them to the same volume, searches lattice vectors that agree within
# `ltol` (fractional length) and `angle_tol` (degrees), and pairs the atoms. It accepts when every atom moved
# less than `stol` × (V/N)<sup>1/3</sup>, the average free length per atom.

# %%
salt = ex.rock_salt()                                                   # NaCl, 8-atom cubic cell
rewritten = ex.equivalent_copy(salt, seed=SEED, supercell=(2, 1, 1))   # rotated, shifted, shuffled, doubled
matcher = M.make_matcher(M.STANDARD_MATCHER)                            # stol=0.5, ltol=0.3, angle_tol=10
print(M.STANDARD_MATCHER)
print(len(salt), "atoms vs", len(rewritten), "atoms; same lattice matrix:",
      np.allclose(salt.lattice.matrix, rewritten.lattice.matrix))
print("get_rms_dist ->", matcher.get_rms_dist(rewritten, salt))   # (normalised RMS, largest displacement)
view(rewritten)

# %% [markdown]
# `get_rms_dist` returns two numbers: the root-mean-square displacement of the best atom pairing and the
# largest single displacement, both divided by $(V/N)^{1/3}$. That first number, averaged over matched
# targets, is the **RMSE** of CSP papers: unitless, so 0.05 means "5 % of the typical spacing between atoms".
#
# How far can atoms move before the matcher says no? Rattle SrTiO3 (each atom moved by a Gaussian of
# σ Å per axis) and ask three matchers: pymatgen's default (strict), the CSP standard, and a loose one.

# %%
sto = ex.cubic_perovskite()
settings = {"strict": M.STRICT_MATCHER, "standard": M.STANDARD_MATCHER, "loose": M.LOOSE_MATCHER}
rows = []
for sigma in np.linspace(0.0, 1.0, 11):
    for seed in range(6 if QUICK else 30):
        moved = ex.rattle(sto, sigma, seed=seed)
        for name, values in settings.items():
            rows.append({"sigma (Å)": sigma, "matcher": name,
                         "matched": StructureMatcher(**values).get_rms_dist(moved, sto) is not None})
rattled = pd.DataFrame(rows).groupby(["sigma (Å)", "matcher"], as_index=False)["matched"].mean()
px.line(rattled, x="sigma (Å)", y="matched", color="matcher", markers=True,
        title="Share of rattled SrTiO3 still 'the same crystal'").show()

# %% [markdown]
# With the standard tolerances every SrTiO3 whose atoms moved by up to 0.5 Å per axis (about 0.9 Å in space)
# still counts as correct, and half of them at 0.7 Å; the strict matcher gives up earlier; the loose one accepts
# nearly anything with the right atoms. **A match rate is meaningless without its tolerances**, and checking it
# at the strict setting too costs one line.
#
# ## 3. Validity: could this crystal exist at all?
#
# The published rule has three parts (`crystalkit.metrics.validity`):
#
# 1. *structural*: no two atoms closer than 0.5 Å, cell volume at least 0.1 Å³;
# 2. *compositional* (SMACT): some choice of each element's common oxidation states makes the formula charge
#    neutral, with cations less electronegative than anions (Pauling test). A single element and an all-metal
#    alloy pass automatically;
# 3. the CrystalNN fingerprint of every site can be computed (it fails on some broken geometries).

# %%
formulas = ["NaCl", "NaCl2", "Fe3Al", "C8", "SrTiO3", "CaCdO3", "BaCaN3", "Si3N"]
pd.DataFrame({
    "formula": formulas,
    "SMACT valid": [M.compositional_validity(f) for f in formulas],
    "without Pauling test": [M.compositional_validity(f, use_pauling_test=False) for f in formulas],
})

# %% [markdown]
# NaCl2 cannot balance; Fe3Al is an alloy; C8 is one element. CaCdO3 and BaCaN3 are real rows of Perov-5 that
# SMACT does not balance. Si3N balances only if nitrogen is the cation, which the Pauling test forbids.
# Structural validity is about geometry:

# %%
crowded = ex.with_overlap(sto, distance=0.3)          # Ti moved 0.3 Å from Sr
for name, crystal in [("SrTiO3", sto), ("crowded", crowded)]:
    print(f"{name:8s}", M.check_validity(crystal, fingerprint=True))

# %% [markdown]
# ## 4. CSP: match rate and RMSE
#
# Our data is a stand-in for Perov-5 built in code (`examples.toy_perovskites`): ABX3 perovskites (X3 = O3,
# O2N, F3, ...), cubic or tetragonally distorted, every formula different, a few that SMACT cannot balance. We
# slice it into a test set and a training set. Our "model" returns the right crystal, rewritten and rattled by a
# random 0.05-0.7 Å: good sometimes, poor other times, like a half-trained model.

# %%
crystals = ex.toy_perovskites(4 * N_TARGETS, seed=SEED)
targets, train = crystals[:N_TARGETS], crystals[N_TARGETS:]     # no formula in both
targets[-1] = ex.cubic_perovskite(3.9, "Ca", "Cd", "O")          # CaCdO3: a Perov-5 formula SMACT cannot balance

def noisy_model(target, k):
    """k guesses: the true crystal, rewritten, with every atom rattled by 0.05-0.7 Å."""
    return [ex.rattle(ex.equivalent_copy(target, seed=int(rng.integers(1 << 30))),
                      float(rng.uniform(0.05, 0.7)), seed=int(rng.integers(1 << 30))) for _ in range(k)]

predicted = [noisy_model(t, K) for t in targets]
one_shot = M.csp_metrics([p[0] for p in predicted], targets, n_jobs=N_JOBS)
print(f"match rate {one_shot.match_rate:.3f}, RMSE {one_shot.rmse:.4f}")
one_shot.to_frame().head()

# %% [markdown]
# With *k* samples per target a target counts as matched when *any* valid sample matches, and its RMSE is the
# best one. More samples can only raise the match rate, and often the RMSE rises with it: the extra matches are
# the hard targets, matched roughly.

# %%
curve = M.csp_table({"noisy model": predicted}, targets, ks=range(1, K + 1), n_jobs=N_JOBS)
px.line(curve, x="k", y=["match rate", "RMSE"], markers=True, title="CSP metrics with k samples per target").show()
curve

# %% [markdown]
# ## 5. The published validity rule caps the match rate
#
# In the CDVAE and DiffCSP scripts a prediction is only compared if it is **valid**, by the de novo rule of
# section 3, and at *k* = 1 DiffCSP also requires the **target** to be valid. A CSP model must return the
# target's own formula, so a target SMACT cannot balance can never be matched: not even by a perfect model.
# `csp_metrics` follows the published rule by default (`validity="published"`); `validity="structural"` only
# asks the prediction for sane distances.

# %%
perfect = [ex.equivalent_copy(t, seed=1) for t in targets]        # always exactly right
for rule in ("published", "structural"):
    r = M.csp_metrics(perfect, targets, validity=rule, n_jobs=N_JOBS)
    print(f"{rule:10s}: a perfect model scores {r.match_rate:.3f}")
unbalanced = [t.composition.reduced_formula for t in targets if not M.compositional_validity(t)]
print("targets SMACT cannot balance:", unbalanced)

# %% [markdown]
# On the real Perov-5 test set, SMACT 4.0.2 balances 492 of the first 500 targets: 1.6 % can never match under
# the published protocol (98.5 % of the validation split balance). Compare models only under the same rule,
# and say which rule you used.
#
# ## 6. Pitfall: trivial baselines and loose tolerances
#
# Perovskites all share one structure type. A "model" that ignores everything and returns the ideal cubic
# perovskite with the right atoms scores well, because the matcher scales volumes and tolerates a 30 % length
# change. A model placing atoms at random is the floor. `tolerance_sweep` scores each at three tolerances
# (here with `validity="structural"`, to look at matching alone).

# %%
models = {
    "noisy model": [p[0] for p in predicted],
    "cubic prototype": [ex.cubic_perovskite(4.0, str(t[0].specie), str(t[1].specie), [str(s.specie) for s in t[2:]])
                        for t in targets],
    "random positions": [ex.random_with_composition(t, seed=i) for i, t in enumerate(targets)],
}
tables = [M.tolerance_sweep(p, targets, validity="structural", n_jobs=N_JOBS).assign(model=name)
          for name, p in models.items()]
scores = pd.concat(tables)
px.bar(scores, x="model", y="match_rate", color="setting", barmode="group",
       title="Match rate of three 'models' at three tolerances").show()
scores.pivot(index="model", columns="setting", values=["match_rate", "rmse"]).round(3)

# %% [markdown]
# The prototype matches every target at every tolerance, and its RMSE is lower than the noisy
# model's: on a dataset whose crystals all share one structure type, CSP numbers measure little beyond "knows
# the prototype". That is the bar any Perov-5 model must beat (notebook 03 builds such baselines). The random
# model shows the other trap: loose tolerances turn nonsense into matches. Read the strict column beside the
# standard one.
#
# ## 7. De novo generation: the panel
#
# A de novo model is judged on its whole output. We fake one that does a bit of everything a real model does:
# memorises some training crystals, repeats itself, returns noisy and broken crystals, fails once, and makes
# a few new ones.

# %%
test = targets
generated = (
    [ex.rattle(s, 0.02, seed=i) for i, s in enumerate(train[:6])]            # memorised training crystals
    + [ex.equivalent_copy(test[0], seed=2), ex.equivalent_copy(test[0], seed=3)]  # the same crystal twice
    + [ex.rattle(s, 0.3, seed=i) for i, s in enumerate(test[1:9])]           # noisy: symmetry lost
    + [ex.with_overlap(test[9], 0.3), None]                                  # broken, and a failed sample
    + ex.toy_perovskites(8, seed=SEED + 7)                                   # new crystals (maybe)
)
panel = M.dng_metrics(generated, test, train=train, dataset="perov_5", n_jobs=N_JOBS)
pd.Series(panel.summary()).to_frame("value")

# %% [markdown]
# How to read it:
#
# | metric | question | careful with |
# |---|---|---|
# | `struct_valid`, `comp_valid`, `valid` | could these exist? | SMACT's generous oxidation states pass most formulas |
# | `cov_recall` (COV-R) | share of test crystals with a generated crystal nearby | cut-offs per dataset; both fingerprints must be close |
# | `cov_precision` (COV-P) | share of generated crystals near some test crystal | counts invalid crystals too |
# | `wdist_density`, `wdist_num_elements` | do bulk statistics look like the data? (g/cm³, elements) | say nothing about single crystals |
# | `unique_rate` | distinct among valid samples | depends on the matcher |
# | `novel_rate` | valid samples not in the training set | memorisation scores 0 here |
# | `p1_share` | samples with no symmetry | real crystals are rarely P1 |
# | S.U.N. | stable, unique and novel | needs energies (notebook 10) |
#
# Every number above has a per-crystal row behind it:

# %%
panel.to_frame()[["formula", "valid", "invalid_reason", "unique", "duplicate_of", "novel", "space_group"]]

# %% [markdown]
# ## 8. Coverage, looked at
#
# COV uses two fingerprints per crystal: the mean CrystalNN site fingerprint (61 numbers, local environments)
# and the magpie composition fingerprint (132 numbers, standardised with CDVAE's fixed means and deviations).
# A test crystal is *covered* if its nearest generated crystal is within 0.2 in structure **and** (separately)
# its nearest is within 4 in composition: the Perov-5 cut-offs of the CDVAE script (MP-20 uses 0.4 and 10).

# %%
from scipy.spatial.distance import cdist

present = [s for s in generated if s is not None]
gen_struc, gen_comp = M.featurize(present)          # cached: computed once for the panel above
ref_struc, ref_comp = M.featurize(test)
keep = [i for i, fp in enumerate(gen_struc) if fp is not None]
struc = cdist(np.array([gen_struc[i] for i in keep]), np.array(ref_struc)).min(axis=0)
comp = cdist(M.scale_composition_fingerprints([gen_comp[i] for i in keep]),
             M.scale_composition_fingerprints(ref_comp)).min(axis=0)
fig = px.scatter(x=struc, y=comp, labels={"x": "nearest structure distance", "y": "nearest composition distance"},
                 title=f"Each test crystal (COV-R = {panel.coverage.cov_recall:.2f})")
fig.add_shape(type="rect", x0=0, y0=0, x1=0.2, y1=4, line_color="green")
fig.show()

# %% [markdown]
# ## 9. Pitfalls in the data: duplicates and leakage
#
# Two checks worth running on any benchmark before trusting a number measured on it. **Duplicates**: a test set
# that lists a crystal twice counts every hit on it twice (Carbon-24 holds far fewer distinct structures than
# rows; Martirossyan et al. 2025). **Leakage**: a test crystal that is also in the training set is recall, not
# prediction. `split_leakage` sorts each test crystal into *same structure* in train, *polymorph* (same formula,
# different structure) or *new formula*.

# %%
dataset = train[:40] + [ex.equivalent_copy(train[3], seed=5), ex.equivalent_copy(train[7], seed=6)]
print("duplicate groups:", M.duplicates_within(dataset, n_jobs=N_JOBS))

leak_test = test + [
    ex.equivalent_copy(train[0], seed=9),     # a leaked crystal
    ex.strained(train[1], 0.4),               # train[1] stretched by 40 % along c
]
for name, setting in [("standard", M.STANDARD_MATCHER), ("strict", M.STRICT_MATCHER)]:
    print(f"{name:8s}", M.split_leakage(train, leak_test, setting, n_jobs=N_JOBS).summary())

# %% [markdown]
# The planted copy is caught at both settings. The crystal stretched by 40 % along *c* keeps a training crystal's
# formula; after the matcher rescales both to the same volume its *c* axis is still 25 % longer. With the
# standard length tolerance (30 %) it is "the same structure" (leaked), with the strict one (20 %) a polymorph.
# The tolerance decides what leakage even means.
#
# The same checks on the kit's bundled teaching set (perovskites relaxed with CHGNet, notebook 02):

# %%
from crystalkit.data import load_dataset

bundled_train, bundled_test = load_dataset("perovskites", "train"), load_dataset("perovskites", "test")
print(len(bundled_train), "train and", len(bundled_test), "test crystals")
print("duplicate groups in train:", M.duplicates_within(list(bundled_train.structures), n_jobs=N_JOBS))
print(M.split_leakage(list(bundled_train.structures), list(bundled_test.structures), n_jobs=N_JOBS).summary())

# %% [markdown]
# ## 10. S.U.N.: stable, unique, novel
#
# A crystal is *stable* if its energy above the convex hull is small (MatterGen uses 0.1 eV/atom, stricter
# studies 0.0), *novel* if no training crystal matches it, and duplicates among the stable novel crystals count
# once. Computing energies needs a relaxation (CHGNet) and a hull, which notebook 10 does with
# `crystalkit.validation`; `sun_rate` takes the energies as an input. The energies below are **made up**, only
# to show the bookkeeping.

# %%
valid = [s for s, ok in zip(generated, panel.to_frame()["valid"]) if ok]
e_above_hull = rng.exponential(0.15, size=len(valid))        # illustrative numbers in eV/atom, not computed
sun = M.sun_rate(valid, e_above_hull, train)
print(f"stable {sun.n_stable}, stable and novel {sun.n_stable_novel}, S.U.N. {sun.n_sun} of {sun.n_total}: "
      f"rate {sun.rate:.3f}")

# %% [markdown]
# ## 11. From the command line, and the same numbers as the plain loop
#
# Models write samples as CSV in the upstream format (`material_id`, `cif`; several rows per id are *k*
# samples). `crystalkit evaluate` prints the table; here it runs inside the notebook.

# %%
import tempfile
from pathlib import Path
from crystalkit.cli import main
from crystalkit.data import write_structure_csv

folder = Path(tempfile.mkdtemp())                                   # a scratch folder for the two CSV files
ids = [f"toy-{i}" for i in range(len(targets))]
write_structure_csv(folder / "targets.csv", targets, ids)
write_structure_csv(folder / "samples.csv", [s for p in predicted for s in p[:2]], [m for m in ids for _ in range(2)])
main(["evaluate", "--generated", str(folder / "samples.csv"), "--targets", str(folder / "targets.csv"),
      "--jobs", "1", "--quiet"])

# %% [markdown]
# The kit is fast because it reduces each cell once, never matches crystals whose formulas differ, computes the
# slow CrystalNN fingerprint only where it can change the answer, caches fingerprints, and runs targets in
# parallel. None of that may change a number, so check it against the plain loop of the published scripts
# (`benchmarks/matching.py` does this at scale and prints the speed-up):

# %%
plain = StructureMatcher(**M.STANDARD_MATCHER)
firsts = [p[0] for p in predicted]
loop = [plain.get_rms_dist(p, t) for p, t in zip(firsts, targets)]
fast = M.csp_metrics(firsts, targets, validity="none", n_jobs=N_JOBS)
assert [None if r is None else r[0] for r in loop] == [t.rms for t in fast.targets]
print("identical to the last digit:", len(loop), "pairs")

# %% [markdown]
# ## Summary
#
# - `StructureMatcher` decides "same crystal" up to rotation, origin, atom order, cell choice and volume; its
#   RMS displacement is in units of (V/N)<sup>1/3</sup>. Tolerances decide everything: quote them.
# - CSP: `csp_metrics(predicted, targets, k=...)` gives match rate and RMSE. By default it applies the published
#   validity rule (structure + SMACT + fingerprint; the target too at *k* = 1), which caps the match rate below
#   100 % on sets with formulas SMACT cannot balance.
# - De novo: `dng_metrics(generated, test, train=..., dataset=...)` gives validity, COV-R / COV-P, Wasserstein
#   distances, uniqueness, novelty and the P1 share; `sun_rate` adds stability from energies above hull.
# - Pitfalls: trivial baselines (prototypes) score high on Perov-5-like data; loose tolerances flatter; duplicates
#   and leakage inflate numbers. `crystalkit.metrics.pitfalls` checks each.
#
# ## Exercises
#
# 1. At which rattle σ does the *standard* matcher accept half of the rattled SrTiO3 crystals? And the strict one?
# 2. Give the noisy model of section 4 k = 20 samples. How do match rate and RMSE move?
# 3. Make the cubic prototype baseline of section 6 smarter: choose its lattice constant per target from the
#    sum of ionic radii. Does its strict match rate change? Why not much?
#
# <details><summary>Solution 1</summary>
#
# Read it off the plot of section 2 (the `rattled` table of that cell): the standard matcher drops to one half
# around σ = 0.7 Å, the strict one around 0.45 Å, with the six seeds of quick mode. With more seeds
# (`QUICK = False`) the curves are smoother.
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# more = [noisy_model(t, 20) for t in targets]
# M.csp_metrics(more, targets, k=20, n_jobs=-1).summary()
# ```
# The match rate rises towards 1 (some sample is close enough), the RMSE rises too: the extra matches are rough.
# </details>
#
# <details><summary>Solution 3</summary>
#
# Barely: `StructureMatcher(scale=True)` rescales both crystals to the same volume before comparing, so the
# lattice constant of a cubic guess does not matter; what matters is the shape (cubic vs tetragonal) and the
# atom positions.
# </details>
#
# ## Key papers
#
# - T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, *Crystal Diffusion Variational Autoencoder for Periodic
#   Material Generation*, ICLR 2022: validity, COV, Wasserstein metrics; reconstruction match rate.
# - R. Jiao et al., *Crystal Structure Prediction by Joint Equivariant Diffusion* (DiffCSP), NeurIPS 2023: CSP match
#   rate and RMSE with 1 and 20 samples.
# - S. P. Ong et al., *Python Materials Genomics (pymatgen)*, Comput. Mater. Sci. 68, 314 (2013): `StructureMatcher`.
# - D. W. Davies et al., *SMACT: Semiconducting Materials by Analogy and Chemical Theory*, JOSS 4, 1361 (2019).
# - N. E. R. Zimmermann, A. Jain, *Local structure order parameters and site fingerprints*, RSC Adv. 10, 6063
#   (2020); L. Ward et al., *Matminer*, Comput. Mater. Sci. 152, 60 (2018).
# - C. Zeni et al., *A generative model for inorganic materials design* (MatterGen), Nature 2025: S.U.N.
# - M. M. Martirossyan et al., *All that structure matches does not glitter*, arXiv:2509.12178 (2025): duplicates
#   and matcher pitfalls in CSP benchmarks.
