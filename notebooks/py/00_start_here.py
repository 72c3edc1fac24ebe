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
# # 00 · Start here: what a generative model for crystals does
#
# **Learning goals**
# - Say what a crystal is to a computer: a lattice, fractional coordinates and elements.
# - Tell the two tasks apart: *crystal structure prediction* (CSP: composition in, structure out) and
#   *de novo generation* (nothing in, composition and structure out).
# - See the tensors every model in this course reads and writes (`CrystalBatch`).
# - Know how to run the kit, and where each notebook of the course takes you.
#
# **Prerequisites**: Python and a first notebook; no crystallography or machine learning assumed.
#
# **Run time**: quick mode about 20 s on two CPU cores; there is no slow part.

# %% tags=["parameters"]
QUICK = True  # fast path for CI and Binder (this notebook is fast either way)
SEED = 0      # every random choice below follows this seed

# %%
import numpy as np
import pandas as pd
import plotly.express as px
from pymatgen.core import Lattice, Structure

from crystalkit.course import course_map
from crystalkit.data import CrystalBatch, load_dataset
from crystalkit.narration import say
from crystalkit.widgets import gallery, view

rng = np.random.default_rng(SEED)

# %% [markdown]
# ## 1. A crystal is a lattice plus a basis
#
# A crystal repeats one small box, the **unit cell**, forever in three directions. Three vectors
# $\mathbf{a}, \mathbf{b}, \mathbf{c}$ span the box; we stack them as the rows of the lattice matrix $L$ (Å).
# Each atom sits at **fractional coordinates** $f \in [0, 1)^3$ inside the box, and its position in space is
# $r = f\,L$. Add a periodic copy of every atom at $f + (i, j, k)$ for all integers and you have the crystal.
#
# So a crystal with $N$ atoms in its cell is three things: $L \in \mathbb{R}^{3\times3}$,
# $F \in [0,1)^{N\times3}$ and the elements $A \in \{1,\dots,118\}^N$. Here is strontium titanate, the textbook perovskite.

# %%
srtio3 = Structure(
    Lattice.cubic(3.905),                      # a = b = c = 3.905 Å, all angles 90°
    ["Sr", "Ti", "O", "O", "O"],
    [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
)
print(srtio3.lattice.matrix)                   # rows are a, b, c in Å
print(srtio3.frac_coords)                      # one row per atom
view(srtio3, supercell=(2, 2, 2))

# %% [markdown]
# The viewer shows a 2×2×2 block of cells. In a live JupyterLab it is an nglview widget you can rotate;
# in the exported HTML of the course it is an interactive plotly figure.
#
# ## 2. What a model sees: `CrystalBatch`
#
# Models learn from many crystals at once. The kit stores a batch "flat": all atoms of all crystals one after
# another, and a count of atoms per crystal. Every model, metric and widget in the course reads and writes
# this one type, and it converts back to pymatgen exactly.

# %%
train = load_dataset("perovskites", "train")
batch = CrystalBatch.from_structures([*train.structures[:3], srtio3])
for name in ("atomic_numbers", "frac_coords", "lattice", "num_atoms"):
    print(f"{name:15s} {tuple(getattr(batch, name).shape)}")
print("crystal of each atom:", batch.batch_index.tolist())
assert batch.to_structures()[-1] == srtio3       # the round trip is exact

# %% [markdown]
# Notice what the tensors do *not* fix. Shuffle the atoms of a crystal, shift them all by the same vector, rotate
# the cell, or pick another equivalent cell: $(L, F, A)$ change, the crystal does not. A good generative model
# must give the same probability to all these descriptions, and notebook 01 measures which representations
# respect which of these symmetries.
#
# ## 3. Two tasks
#
# | | crystal structure prediction (CSP) | de novo generation |
# |---|---|---|
# | input | a composition, e.g. SrTiO$_3$ with 5 atoms | nothing (or a target property) |
# | output | lattice and coordinates for those atoms | elements, lattice and coordinates |
# | question | *how* do these atoms arrange? | *which* new stable crystals exist? |
# | scored by | match rate and RMSE against the known structure | validity, uniqueness, novelty, stability |
# | examples | DiffCSP, FlowMM | CDVAE, MatterGen |
#
# The bundled teaching sets support both. For CSP, each row of a set pairs a composition with its relaxed
# structure. For de novo generation, the whole set is the distribution to learn from.

# %%
sets = {name: load_dataset(name, "train") for name in ("perovskites", "inorganic", "carbon")}
picks = [sets[name].structures[int(i)] for name in sets for i in rng.choice(len(sets[name]), 2, replace=False)]
gallery(picks, columns=3)

# %%
sizes = pd.DataFrame(
    [{"set": name, "structures": len(data), "atoms per cell (median)": np.median([len(s) for s in data.structures])}
     for name, data in sets.items()]
)
sizes

# %%
labels = pd.concat([data.labels.assign(set=name) for name, data in sets.items()])
fig = px.histogram(labels, x="formation_energy_per_atom", color="set", barmode="overlay", nbins=60,
                   labels={"formation_energy_per_atom": "formation energy (eV/atom, CHGNet)"},
                   title="What the teaching sets hold: formation energies")
fig.show()

# %% [markdown]
# The labels come from CHGNet, a machine-learned universal potential, not from DFT: close enough to teach
# with, not to publish. Notebook 02 looks at the sets in detail.
#
# ## 4. How to run the kit
#
# - `make lab` opens JupyterLab on the notebooks; `make course` runs all of them headless and writes HTML.
# - Every notebook starts with a **parameters** cell. `QUICK = True` is the fast path (about a minute on a
#   laptop or Binder); set `QUICK = False` for the full runs, best on a GPU box.
#   From a shell: `papermill notebooks/02_datasets.ipynb out.ipynb -p QUICK False -p SEED 1`.
# - `SEED` fixes every random choice: the same seed gives the same numbers.
# - The logic lives in the `crystalkit` package, so a cell stays short: read the package to see how it works.
#
# ## 5. The map of the course
#
# The course grows one notebook at a time. `course_map()` lists the whole plan and reads from the `notebooks`
# folder which notebooks exist yet, so the status column is always that of the copy you are reading.

# %%
course = course_map()
available = course.index[course["status"] != "planned"]
say("{n} of the {total} notebooks are here today ({numbers}); the others are planned and not written yet.",
    n=len(available), total=len(course), numbers=", ".join(available));
course.drop(columns="file")

# %% [markdown]
# ## Summary
#
# - A crystal is a lattice $L$, fractional coordinates $F$ and elements $A$; many $(L, F, A)$ describe the same crystal.
# - CSP predicts the structure of a given composition; de novo generation proposes new compositions too.
# - Every model in the kit reads and writes a `CrystalBatch`, which round-trips exactly to pymatgen.
#
# ## Exercises
#
# 1. Build rock salt (NaCl, space group Fm-3m, a = 5.64 Å) with `Structure.from_spacegroup`. How many atoms
#    does the conventional cell hold, and how many the primitive cell (`get_primitive_structure()`)?
# 2. Shuffle the atoms of `srtio3` and shift them all by (0.1, 0.2, 0.3). Are the `CrystalBatch` tensors
#    the same? Is the crystal the same (`Structure.matches`)?
# 3. How many of the `inorganic` training structures have more than 10 atoms in the cell?
#
# <details><summary>Solution 1</summary>
#
# ```python
# nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
# len(nacl), len(nacl.get_primitive_structure())   # 8 and 2
# ```
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# moved = Structure(srtio3.lattice, srtio3.species[::-1], (srtio3.frac_coords[::-1] + [0.1, 0.2, 0.3]) % 1)
# a, b = CrystalBatch.from_structures([srtio3]), CrystalBatch.from_structures([moved])
# print(bool((a.frac_coords == b.frac_coords).all()), srtio3.matches(moved))   # False, True
# ```
# The tensors differ; the crystal is the same. That gap is what symmetry-aware models close.
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# sum(len(s) > 10 for s in sets["inorganic"].structures)
# ```
# </details>
#
# ## Key papers
#
# - T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, *Crystal Diffusion Variational Autoencoder for
#   Periodic Material Generation* (CDVAE), ICLR 2022: the benchmarks and metrics most papers use.
# - R. Jiao et al., *Crystal Structure Prediction by Joint Equivariant Diffusion* (DiffCSP), NeurIPS 2023.
# - C. Zeni et al., *A generative model for inorganic materials design* (MatterGen), Nature 639, 624 (2025).
# - B. K. Miller et al., *FlowMM: Generating Materials with Riemannian Flow Matching*, ICML 2024.
# - B. Deng et al., *CHGNet as a pretrained universal neural network potential*, Nat. Mach. Intell. 5, 1031 (2023).
