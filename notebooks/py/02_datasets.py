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

from crystalkit.data import load_dataset
from crystalkit.data.statistics import describe_splits, element_frequency, structure_table
from crystalkit.errors import DatasetNotAvailableError
from crystalkit.metrics.pitfalls import duplicates_within, split_leakage
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
# - **perovskites**, like Perov-5: five-atom cubic ABX₃ cells, many A, B and X (mixed anions too);
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

# %%
fig = px.scatter(everything, x="volume_per_atom", y="formation_energy_per_atom", color="set",
                 hover_data=["formula", "spacegroup_number"], opacity=0.6,
                 labels={"volume_per_atom": "volume per atom (Å³)", "formation_energy_per_atom": "formation energy (eV/atom)"},
                 title="Labels against density: each set occupies its own corner")
fig.show()

# %%
fig = px.histogram(everything, x="e_above_hull", color="set", barmode="overlay", nbins=50,
                   labels={"e_above_hull": "energy above the set's own hull (eV/atom)"},
                   title="How far from stability the training structures are")
fig.show()

# %% [markdown]
# Three things to notice. The perovskite cells all have five atoms and (nearly) the same symmetry: a model must
# learn only the lattice constant and small distortions. The inorganic set spans many structure types, so the
# model must learn *which* arrangement suits a composition. Random carbon has a single element but many
# space groups and sizes: a pure geometry problem.
#
# ## 3. What a model sees
#
# A model does not see pymatgen objects: it sees a `CrystalBatch` of tensors. A whole teaching set fits in a few
# hundred kilobytes, so it can sit in memory (or on the GPU) as pre-collated tensors, and a training step
# never waits for data.

# %%
batch = data["inorganic", "train"].to_batch()
megabytes = sum(t.numel() * t.element_size() for t in
                (batch.atomic_numbers, batch.frac_coords, batch.lattice, batch.num_atoms)) / 1e6
print(f"{len(batch)} crystals, {batch.atomic_numbers.numel()} atoms, {megabytes:.2f} MB as tensors")
px.histogram(x=batch.angles.flatten().numpy(), nbins=60,
             labels={"x": "lattice angle (degrees)"}, title="Every lattice angle of the inorganic set").show()


# %% [markdown]
# ## 4. Duplicates and leakage
#
# Two crystals count as "the same" when pymatgen's `StructureMatcher` can map one onto the other within
# tolerances (here the standard CSP tolerances, `stol=0.5, ltol=0.3, angle_tol=10`). Two problems follow:
#
# - **duplicates inside a split**: a test set holding one crystal five times counts one success five times;
# - **leakage between splits**: a test crystal that is *also in the training set* rewards memory, not
#   prediction; a test *composition* whose other polymorph is in the training set (same formula, different
#   structure) is fair for CSP but tells the model which elements go together.
#
# Our build removed duplicates within each set, so the first check should find none; the random split
# does not stop polymorphs from landing on both sides.

# %%
def sample(structures, size):
    if not QUICK or len(structures) <= size:
        return list(structures)
    return [structures[i] for i in sorted(rng.choice(len(structures), size, replace=False))]

rows = []
for name in SETS:
    train, test = sample(data[name, "train"].structures, SAMPLE), sample(data[name, "test"].structures, SAMPLE)
    report = split_leakage(train, test)
    rows.append({"set": name, "duplicate groups in train": len(duplicates_within(train)),
                 **report.summary()})
pd.DataFrame(rows).set_index("set")

# %% [markdown]
# Read the table with the protocol in mind. For **CSP**, a shared *formula* is normal (the model is asked for a
# structure it has not seen), but a shared *structure* means the answer was in the training set. For **de novo
# generation**, "novelty" is measured against the training set, so leaked structures lower a model's novelty
# and duplicates in the reference lower its coverage targets.
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
# - Duplicates inflate scores; a structure in both train and test is recall, not prediction; polymorphs across
#   splits are fair for CSP but worth knowing about.
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
# only a fraction of what the full splits share. Our sets were deduplicated before splitting, so the full
# count should still be zero; polymorphs (shared formulas) do grow.
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
