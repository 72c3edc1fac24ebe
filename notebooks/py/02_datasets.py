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
# # 02 · Datasets: what the models learn from
#
# **Learning goals**
# - Load the kit's three teaching sets and the four public benchmarks with one function, `load_dataset`.
# - Read a crystal dataset like a scientist: sizes, elements, cell sizes, space groups, labels.
# - See what a model actually receives (a `CrystalBatch`) and how little memory a whole set takes.
# - Find duplicates inside a set and leakage between splits, and know why they inflate reported scores.
#
# **Prerequisites**: notebook 00 (lattice, fractional coordinates, `CrystalBatch`); notebook 01 helps.
#
# **Run time**: quick mode about a minute on two CPU cores (leakage checked on a sample);
# full mode a few minutes (every structure of every split).

# %% tags=["parameters"]
QUICK = True            # check duplicates and leakage on a sample instead of every structure
SEED = 0                # which sample
SAMPLE = 150            # structures per split in quick mode
PUBLIC_DATA_DIR = None  # a folder with <name>/<split>.csv copies of the public benchmarks, if you have them

# %%
import numpy as np
import pandas as pd
import plotly.express as px
from pymatgen.core import Composition

from crystalkit.data import load_dataset
from crystalkit.data.statistics import describe_splits, element_frequency, structure_table
from crystalkit.errors import DatasetNotAvailableError
from crystalkit.metrics.intervals import wilson_interval
from crystalkit.metrics.pitfalls import duplicates_within, split_leakage
from crystalkit.narration import claim, say
from crystalkit.widgets import gallery

rng = np.random.default_rng(SEED)
SETS = ("perovskites", "inorganic", "carbon")
data = {(name, split): load_dataset(name, split) for name in SETS for split in ("train", "val", "test")}

# %% [markdown]
# ## 1. The three teaching sets
#
# The kit ships three small sets that mirror the public benchmarks, built by its own script
# (`scripts/build_teaching_data.py`, described in `crystalkit/data/DATA.md`):
#
# - **perovskites**, like Perov-5: five-atom ABX₃ cells built cubic, many A, B and X (mixed anions too);
# - **inorganic**, like MP-20: known structure types (AFLOW prototypes) with new, charge-balanced elements;
# - **carbon**, like Carbon-24: random symmetric carbon cells of 6-24 atoms.
#
# Every structure was relaxed with the CHGNet potential and labelled with its energy, formation energy and energy
# above the convex hull, all CHGNet predictions. Each set is split 80/10/10 at random, with a fixed seed.

# %%
sizes = pd.concat(
    {name: describe_splits({split: data[name, split].structures for split in ("train", "val", "test")})
     for name in SETS}
)
shares = sizes["structures"] / sizes["structures"].groupby(level=0).transform("sum")
claim(shares.xs("train", level=1).between(0.75, 0.85).all() and shares.drop("train", level=1).between(0.05, 0.15).all(),
      "each set is split about 80/10/10", shares=shares.round(3).to_dict())
claim((sizes.loc["perovskites", ["atoms min", "atoms max"]] == 5).all().all()
      and sizes.loc["carbon", "atoms min"].min() >= 6 and sizes.loc["carbon", "atoms max"].max() <= 24,
      "perovskite cells have five atoms, carbon cells 6-24")
sizes

# %%
gallery([data["inorganic", "train"].structures[i] for i in rng.choice(len(data["inorganic", "train"]), 6, replace=False)],
        columns=3)

# %% [markdown]
# ## 2. What is inside
#
# A generative model can only produce what its training set shows it. Which elements does it meet, how big are
# the cells, which symmetries? We describe each structure once (`structure_table`) and plot.

# %%
LABELS = ["material_id", "energy_per_atom", "formation_energy_per_atom", "e_above_hull"]
tables = {name: structure_table(data[name, "train"].structures).join(data[name, "train"].labels[LABELS])
          for name in SETS}
frequency = pd.concat({name: element_frequency(data[name, "train"].structures) for name in SETS[:2]}).reset_index()
frequency.columns = ["set", "element", "structures"]
fig = px.bar(frequency, x="element", y="structures", color="set", barmode="group",
             title="In how many training structures each element occurs")
fig.update_xaxes(categoryorder="total descending")
fig.show()

# %%
everything = pd.concat(tables.values(), keys=SETS, names=["set"]).reset_index(level=0)
fig = px.histogram(everything, x="num_atoms", color="set", barmode="overlay", nbins=24,
                   title="Atoms per cell: what the model has to place")
fig.show()

# %%
groups = everything.groupby(["set", "spacegroup_number"]).size().rename("structures").reset_index()
fig = px.bar(groups, x="spacegroup_number", y="structures", color="set", log_y=True,
             title="Space groups (symprec 0.1 Å): random carbon is spread out, perovskites are not")
fig.show()
spread = {name: tables[name]["spacegroup_number"].nunique() / len(tables[name]) for name in SETS}
claim(spread["carbon"] > spread["perovskites"], "carbon spreads over more space groups per structure than perovskites",
      **spread)

# %%
fig = px.scatter(everything, x="volume_per_atom", y="formation_energy_per_atom", color="set",
                 hover_data=["formula", "spacegroup_number"], opacity=0.6,
                 labels={"volume_per_atom": "volume per atom (Å³)", "formation_energy_per_atom": "formation energy (eV/atom)"},
                 title="Labels against density")
fig.show()
medians = everything.groupby("set")[["volume_per_atom", "formation_energy_per_atom"]].median()
carbon = tables["carbon"]
energy = medians["formation_energy_per_atom"]
claim((carbon["formation_energy_per_atom"] >= 0).all()
      and carbon["volume_per_atom"].max() < medians.drop("carbon")["volume_per_atom"].min()
      and energy["perovskites"] < energy["inorganic"],
      "carbon sits apart (dense, never below its reference); perovskites lie lower in energy than the inorganic set")
say("Carbon sits apart, in the dense corner (at most {v:.1f} Å³/atom, against medians of {vp:.1f} and {vi:.1f} for "
    "the perovskite and inorganic sets), with formation energies of at least {e:.2f} eV/atom: pure carbon can only "
    "sit above its own reference, graphite or diamond. Of the other two, the perovskites lie lower in energy "
    "(median {ep:.2f} against {ei:.2f} eV/atom).", v=carbon["volume_per_atom"].max(),
    vp=medians.loc["perovskites", "volume_per_atom"], vi=medians.loc["inorganic", "volume_per_atom"],
    e=carbon["formation_energy_per_atom"].min(), ep=medians.loc["perovskites", "formation_energy_per_atom"],
    ei=medians.loc["inorganic", "formation_energy_per_atom"]);

# %%
fig = px.histogram(everything, x="e_above_hull", color="set", barmode="overlay", nbins=50,
                   labels={"e_above_hull": "energy above the set's own hull (eV/atom)"},
                   title="How far from stability the training structures are")
fig.show()

# %%
perov, inorg = tables["perovskites"], tables["inorganic"]
groups_perov = perov["spacegroup_number"].value_counts(normalize=True)
ANIONS = {"N", "O", "F", "S", "Cl", "Se", "Br", "I"}
tetragonal = perov[perov["spacegroup_number"] == 123]["formula"]  # P4/mmm
mixed = np.mean([len({el.symbol for el in Composition(f)} & ANIONS) > 1 for f in tetragonal]) if len(tetragonal) else 0.
claim((perov["num_atoms"] == 5).all() and groups_perov.get(221, 0) + groups_perov.get(123, 0) > 0.8 and mixed > 0.5,
      "perovskites: five atoms, mostly Pm-3m or P4/mmm, the tetragonal ones mostly mixed anions",
      groups=groups_perov.round(3).to_dict(), mixed=mixed)
say("Three things to notice. The perovskite cells all have five atoms, and {two:.0%} of them fall in two space "
    "groups: cubic Pm-3m ({cubic:.0%}) and tetragonal P4/mmm ({tet:.0%}; {mixed:.0%} of these carry two kinds of "
    "anion, whose ordering lowers the symmetry). A model must learn the lattice constant and small distortions. "
    "The inorganic set spans {inorg_sg} space groups and {inorg_src} prototypes in {inorg_n} structures, so the "
    "model must learn *which* arrangement suits a composition. Random carbon has a single element but {c_sg} space "
    "groups in {c_n} structures and {c_min}-{c_max} atoms per cell: a pure geometry problem.",
    two=groups_perov.get(221, 0) + groups_perov.get(123, 0), cubic=groups_perov.get(221, 0),
    tet=groups_perov.get(123, 0), mixed=mixed, inorg_sg=inorg["spacegroup_number"].nunique(),
    inorg_src=data["inorganic", "train"].labels["source"].nunique(), inorg_n=len(inorg),
    c_sg=carbon["spacegroup_number"].nunique(), c_n=len(carbon), c_min=carbon["num_atoms"].min(),
    c_max=carbon["num_atoms"].max());

# %% [markdown]
# ## 3. What a model sees
#
# A model does not see pymatgen objects: it sees a `CrystalBatch` of tensors. A whole teaching set fits in well
# under a megabyte, so it can sit in memory (or on the GPU) as pre-collated tensors, and a training step never
# waits for data.

# %%
batch = data["inorganic", "train"].to_batch()
megabytes = sum(t.numel() * t.element_size() for t in
                (batch.atomic_numbers, batch.frac_coords, batch.lattice, batch.num_atoms)) / 1e6
print(f"{len(batch)} crystals, {batch.atomic_numbers.numel()} atoms, {megabytes:.2f} MB as tensors")
claim(megabytes < 1, "a whole teaching set fits in well under a megabyte", megabytes=megabytes)
px.histogram(x=batch.angles.flatten().numpy(), nbins=60,
             labels={"x": "lattice angle (degrees)"}, title="Every lattice angle of the inorganic set").show()


# %% [markdown]
# ## 4. Duplicates and leakage
#
# Two crystals count as "the same" when pymatgen's `StructureMatcher` can map one onto the other within
# tolerances (here the standard CSP tolerances, `stol=0.5, ltol=0.3, angle_tol=10`). Three problems follow:
#
# - **duplicates inside a split**: a test set holding one crystal five times counts one success five times
#   (Carbon-24 holds far fewer distinct structures than rows; Martirossyan et al. 2025);
# - **the same structure in train and test**: the answer was in the training set, which rewards memory, not
#   prediction;
# - **the same composition in train and test** (polymorph leakage): a CSP model is given a composition and asked
#   for its structure. A test composition that also occurs in training, with the same structure or another one,
#   is not a held-out target: the model was trained on that very input with an answer, and polymorphs are often
#   close enough for that answer to match, so such test crystals inflate a CSP score. Martirossyan et al. (2025)
#   find many polymorphs spread over the random splits of Perov-5 and MP-20, and propose splits that keep all
#   polymorphs of a composition in one subset.
#
# What the kit's split does: the build removed duplicates within each set with pymatgen's default matcher, which
# is *stricter* than the CSP one (`stol=0.3, ltol=0.2, angle_tol=5`), then split at random, 80/10/10, without
# grouping by composition. So both checks can find something.

# %%
def sample(structures, size):
    if not QUICK or len(structures) <= size:
        return list(structures)
    return [structures[i] for i in sorted(rng.choice(len(structures), size, replace=False))]

def rate(k, n):
    iv = wilson_interval(k, n)  # a share of 25 crystals or fewer needs its interval
    return f"{k} of {n} ({iv.estimate:.0%}; 95 % interval {iv.low:.0%}-{iv.high:.0%})"

rows, reports = [], {}
for name in SETS:
    train, test = sample(data[name, "train"].structures, SAMPLE), sample(data[name, "test"].structures, SAMPLE)
    reports[name] = report = split_leakage(train, test)
    rows.append({"set": name, "train checked": len(train), "duplicate groups in train": len(duplicates_within(train)),
                 "same structure in train": rate(len(report.same_structure), len(test)),
                 "formula in train, other structure": rate(len(report.polymorph), len(test))})
leakage = pd.DataFrame(rows).set_index("set")
leakage

# %%
found = leakage["duplicate groups in train"]
say("Duplicate groups at the CSP tolerances: {counts}. {verdict} Test crystals whose structure is in the training "
    "split: {same}.", counts=", ".join(f"{n} in {name}" for name, n in found.items()),
    verdict="None: the stricter deduplication of the build holds at the CSP tolerances too." if found.sum() == 0 else
    "The build's stricter matcher kept the members of each group apart; the CSP matcher calls them one crystal. "
    "A deduplication is only as good as its tolerance: deduplicate with the tolerance of the metric you will report.",
    same=", ".join(f"{len(r.same_structure)} of {len(r.train_match)} in {name}" for name, r in reports.items()));

# %% [markdown]
# Now the CSP input itself. The kit's CSP task gives the model the composition of the cell (`C8`, `Sr1 Ti1 O3`),
# so count the test crystals whose cell composition occurs in the training split (every structure, in both modes:
# comparing formulas is cheap). Our test splits are small, so each share comes with its 95 % (Wilson) interval.

# %%
def seen_in_train(name):
    """(test crystals whose cell composition occurs in the training split, test crystals)."""
    train = {s.composition.formula for s in data[name, "train"].structures}
    return sum(s.composition.formula in train for s in data[name, "test"].structures), len(data[name, "test"])

seen = {name: seen_in_train(name) for name in SETS}
pd.Series({name: rate(*seen[name]) for name in SETS}, name="test compositions that occur in train").to_frame()

# %%
share = {name: k / n for name, (k, n) in seen.items()}
train_sizes = sizes.xs("train", level=1)
claim(share["carbon"] >= 0.5 and max(share["perovskites"], share["inorganic"]) < 0.5
      and (train_sizes["distinct formulas"] / train_sizes["structures"]).drop("carbon").min() > 0.8,
      "most carbon test cells have a size seen in training; most perovskite and inorganic test formulas are new, "
      "and few formulas repeat in those sets", share=share)
say("Test compositions that occur in training: perovskites {p}, inorganic {i}. There the random split holds most "
    "compositions out, because few formulas repeat ({fp} distinct formulas in {np_} training structures, {fi} in "
    "{ni}). In carbon the composition is only the number of atoms, and {c} of the test cells have a size the "
    "training set already shows, so a carbon CSP score on this split is measured on inputs the model has seen. "
    "Carbon-24's random split is the same.", p=rate(*seen["perovskites"]), i=rate(*seen["inorganic"]),
    c=rate(*seen["carbon"]), fp=train_sizes.loc["perovskites", "distinct formulas"],
    np_=train_sizes.loc["perovskites", "structures"], fi=train_sizes.loc["inorganic", "distinct formulas"],
    ni=train_sizes.loc["inorganic", "structures"]);

# %% [markdown]
# Read the tables with the protocol in mind. For **CSP**, report the score on test compositions unseen in training
# (or split by composition, as Martirossyan et al. do), or at least say how many test compositions the training
# set holds: a seen composition, with the same structure or a polymorph, is an input the model was trained on,
# not a held-out one. For **de novo generation**, "novelty" is measured against the training set, so leaked
# structures lower a model's novelty, and duplicates in the reference lower its coverage targets.
#
# ## 5. The public benchmarks
#
# Papers compare models on four public sets, distributed as CSV files (an unnamed index, `material_id`,
# `cif`, property columns). The kit reads the same format for every set, its own included.
#
# | name | structures | atoms per cell | what | split | source |
# |---|---|---|---|---|---|
# | `perov_5` | 18,928 | 5 | cubic perovskites, 56 elements | random 60/20/20 | Castelli et al. 2012, via CDVAE |
# | `carbon_24` | 10,153 | 6-24 | carbon polymorphs from AIRSS at 10 GPa | random 60/20/20 | Pickard 2020, via CDVAE |
# | `mp_20` | 45,231 | 1-20 | Materials Project, 89 elements | random 60/20/20 | Jain et al. 2013, via CDVAE |
# | `mpts_52` | 40,476 | 1-52 | Materials Project, split by date of discovery | 27,380/5,000/8,096 | via DiffCSP |
#
# `load_dataset("perov_5", "val")` looks for a copy in `data_dir` (or `$CRYSTALKIT_DATA_DIR`), then in the cache,
# then downloads it from the public source and checks its sha256. Offline with no copy, it says what to do:

# %%
try:
    perov = load_dataset("perov_5", "val", data_dir=PUBLIC_DATA_DIR, download=not QUICK)
    print(perov)
    display(describe_splits({"val": perov.structures}))
except DatasetNotAvailableError as error:
    print("Not available here:", error)

# %% [markdown]
# ## Summary
#
# - `load_dataset(name, split)` returns structures and labels for the teaching sets and the public benchmarks.
# - The teaching sets mirror Perov-5, MP-20 and Carbon-24 in miniature; their labels are CHGNet predictions.
# - Describe a set before training on it: elements, cell sizes, symmetry, labels.
# - Duplicates inflate scores, and a deduplication holds only at its own tolerance; a structure in both train and
#   test is recall, not prediction; for CSP a test composition that occurs in training (polymorph leakage) is not
#   held out either: split by composition, or report how many test compositions the training set holds.
#
# ## Exercises
#
# 1. Which element occurs in the most structures of the `inorganic` training set, and in what share of them?
# 2. Which formula has the most polymorphs (distinct structures) in the `carbon` set? (Hint: all are carbon;
#    count by number of atoms instead, with `tables["carbon"]`.)
# 3. Run the leakage check on the full splits (`QUICK = False`). Does the number of shared structures grow
#    in proportion to the sample size? Why?
#
# <details><summary>Solution 1</summary>
#
# ```python
# counts = element_frequency(data["inorganic", "train"].structures)
# counts.index[0], counts.iloc[0] / len(data["inorganic", "train"])
# ```
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# tables["carbon"]["num_atoms"].value_counts().head()
# ```
# Every carbon crystal has the formula C, so "polymorphs" are all of them; the cell size is the useful split.
# </details>
#
# <details><summary>Solution 3</summary>
#
# Shared structures scale with the product of the two sample sizes divided by the set size (each test crystal
# has a chance proportional to the training sample of meeting its twin), so a sample of 150 per split shows
# only a fraction of what the full splits share. Our sets were deduplicated before splitting, but with a stricter
# matcher than the CSP one, so the full splits can still share a few structures at the CSP tolerances. Shared
# formulas (the "other structure" column) grow the same way; the composition table above always uses the full splits.
# </details>
#
# ## Key papers
#
# - T. Xie et al., *Crystal Diffusion Variational Autoencoder for Periodic Material Generation*, ICLR 2022
#   (Perov-5, Carbon-24, MP-20 as benchmarks).
# - R. Jiao et al., *Crystal Structure Prediction by Joint Equivariant Diffusion*, NeurIPS 2023 (MPTS-52).
# - I. E. Castelli et al., *Computational screening of perovskite metal oxides for optimal solar light capture*,
#   Energy Environ. Sci. 5, 5814 (2012).
# - C. J. Pickard, AIRSS data for carbon at 10 GPa, Materials Cloud Archive (2020).
# - A. Jain et al., *The Materials Project*, APL Mater. 1, 011002 (2013).
# - M. J. Mehl et al., *The AFLOW Library of Crystallographic Prototypes*, Comput. Mater. Sci. 136, S1 (2017).
# - M. M. Martirossyan et al., *All that structure matches does not glitter*, arXiv:2509.12178 (2025): duplicates in
#   Carbon-24, polymorphs spread over the random splits of Perov-5 and MP-20, and splits that group them.
