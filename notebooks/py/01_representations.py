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
# # 01 · Representations: how a crystal becomes numbers
#
# **Learning goals**
# - Write one crystal in seven ways: CIF text, lattice + coordinates, a canonical cell, a periodic graph,
#   its space group and Wyckoff positions, text tokens, an invariant fingerprint and a voxel image.
# - Tell the lattice matrix from lengths and angles, and fractional from Cartesian coordinates.
# - See why the choice of unit cell matters, and how Niggli and LLL reduction fix it.
# - For every representation, *measure* which changes of description it ignores (rotation, translation,
#   permutation, supercell, cell choice) and whether the crystal can be rebuilt from it.
#
# **Prerequisites**: notebook 00 (lattice, fractional coordinates, `CrystalBatch`). No group theory assumed.
#
# **Run time**: quick mode about a minute on two CPU cores; full mode (`QUICK = False`) a few minutes, because it
# checks every example crystal with several random seeds.

# %% tags=["parameters"]
QUICK = True  # quick: one summary crystal, one seed; full: every example crystal, five seeds
SEED = 0      # seeds the random rotations, shifts, permutations and cell changes
CUTOFF = 4.0  # graph radius in Å (message-passing networks use 4-6 Å)
GRID = 16     # voxel grid points per cell axis (more is sharper and slower)
SIGMA = 0.4   # voxel Gaussian width in Å: keep it above the grid spacing

# %%
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch

from crystalkit import representations as rep
from crystalkit.geometry import minimum_image_frac
from crystalkit.narration import claim, say
from crystalkit.structures import structure_from_cif, structure_to_cif
from crystalkit.widgets import gallery, view

SEEDS = [SEED] if QUICK else list(range(SEED, SEED + 5))
crystals = rep.example_structures()

# %% [markdown]
# ## 1. Six textbook crystals
#
# All examples are built in code from their space group, so they are exact (`crystalkit.representations.examples`):
# rock-salt NaCl, the perovskite SrTiO$_3$, two forms of carbon (diamond and graphite), rutile TiO$_2$ and
# wurtzite ZnO. Turn them with the mouse; the legend hides elements.

# %%
gallery(list(crystals.values()), titles=list(crystals))

# %%
pd.DataFrame(
    [{"crystal": name, "atoms in cell": len(s), "space group": "{1} ({0})".format(*rep.space_group(s)),
      "volume per atom (Å³)": round(s.volume / len(s), 2)} for name, s in crystals.items()]
).set_index("crystal")

# %% [markdown]
# ## 2. CIF text: the exchange format
#
# The Crystallographic Information File is how databases (ICSD, the Materials Project, COD) store crystals:
# cell lengths and angles, then one line per atom with its fractional coordinates. Written "in P1" (no
# symmetry), every atom is listed. CrystaLLM (Antunes et al. 2024) trains a language model on exactly such text.

# %%
nacl_primitive = crystals["NaCl (rock salt)"].get_primitive_structure()
cif = structure_to_cif(nacl_primitive)
print(cif)
back = structure_from_cif(cif)
print("same crystal after the round trip:", back.matches(nacl_primitive))


# %% [markdown]
# The text is exact and readable, but it is not unique: shift the origin or list the atoms in another order
# and many lines change although the crystal does not. Only a rotation leaves it alone, because the CIF stores
# the cell as lengths and angles and the atoms as fractional coordinates.

# %%
def changed_lines(a, b):
    return sum(x != y for x, y in zip(a.splitlines(), b.splitlines()))

salt = crystals["NaCl (rock salt)"]
changed = {}
for name in rep.TRANSFORMATIONS:
    other = structure_to_cif(rep.transform(salt, name, SEED))
    changed[name] = changed_lines(structure_to_cif(salt), other)
    print(f"{name:12s} {changed[name]:3d} of {len(other.splitlines())} lines differ")
claim(changed["rotation"] == 0 and min(changed[t] for t in rep.TRANSFORMATIONS[1:]) > 0,
      "only a rotation leaves the CIF text unchanged", **changed)

# %% [markdown]
# ## 3. Lattice matrix or lengths and angles; fractional or Cartesian
#
# The three cell vectors are the rows of the **lattice matrix** $L$ (Å). An atom at fractional coordinates $f$
# sits at Cartesian $r = fL$. Rotating the crystal by $R$ turns $L$ into $LR^\top$: nine numbers change.
# The **lengths and angles** $(a, b, c, \alpha, \beta, \gamma)$ only depend on the metric $G = LL^\top$,
# and $LR^\top (LR^\top)^\top = LL^\top$: six numbers that ignore the orientation.

# %%
rutile = crystals["TiO2 (rutile)"]
turned = rep.rotate(rutile, seed=SEED)
print("lattice matrix before / after a rotation (Å):")
print(np.round(rutile.lattice.matrix, 3), "\n", np.round(turned.lattice.matrix, 3))
print("lengths and angles before:", np.round(rep.cell_parameters(rutile), 4))
print("lengths and angles after: ", np.round(rep.cell_parameters(turned), 4))
claim(np.abs(turned.lattice.matrix - rutile.lattice.matrix).max() > 0.1
      and np.allclose(rep.cell_parameters(turned), rep.cell_parameters(rutile), atol=1e-8),
      "a rotation changes the lattice matrix but not the lengths and angles")

# %% [markdown]
# The same split holds for atoms: **fractional** coordinates say where an atom sits inside the cell and do not
# move when the crystal turns; **Cartesian** coordinates (Å) turn with it.

# %%
print("largest change of fractional coordinates:", np.abs(turned.frac_coords - rutile.frac_coords).max())
print("largest change of Cartesian coordinates (Å):", np.abs(turned.cart_coords - rutile.cart_coords).max().round(3))
claim(np.abs(turned.frac_coords - rutile.frac_coords).max() < 1e-9
      and np.abs(turned.cart_coords - rutile.cart_coords).max() > 0.1,
      "fractional coordinates stay put when the crystal turns; Cartesian ones move")
arrays = rep.to_arrays(rutile, coords="fractional", lattice="parameters")
print("atomic numbers", arrays.atomic_numbers, "| cell", np.round(arrays.lattice, 3))

# %% [markdown]
# Fractional coordinates live on a **torus**: $f$ and $f + (1, 0, 0)$ are the same atom. That is why diffusion and
# flow models for crystals (DiffCSP, FlowMM) wrap their noise with $f \mapsto f - \lfloor f \rfloor$.
#
# ## 4. The cell choice, and why reduction matters
#
# Any integer matrix $M$ with $\det M = \pm 1$ gives another basis $L' = ML$ of the *same* lattice, with
# coordinates $f' = fM^{-1}$. Here is SrTiO$_3$ in its cubic cell and in a badly sheared but equivalent one.
# The **orthogonality defect** $|a||b||c|/V$ is 1 for a box and grows as the cell gets skewed.

# %%
perovskite = crystals["SrTiO3 (perovskite)"]
sheared = rep.change_cell(perovskite, matrix=np.array([[1, 3, 1], [0, 1, 2], [0, 1, 3]]))
cells = {"cubic": perovskite, "sheared": sheared,
         "Niggli of sheared": rep.niggli_reduce(sheared), "LLL of sheared": rep.lll_reduce(sheared)}
defect = {name: rep.orthogonality_defect(s.lattice.matrix) for name, s in cells.items()}
claim(abs(defect["cubic"] - 1) < 1e-9 and defect["sheared"] > 2
      and all(abs(defect[name] - 1) < 1e-6 for name in ("Niggli of sheared", "LLL of sheared")),
      "the defect is 1 for the cubic box, large for the sheared cell, and 1 again after Niggli or LLL", **defect)
pd.DataFrame(
    {name: [*np.round(rep.cell_parameters(s), 2), round(defect[name], 2)] for name, s in cells.items()},
    index=["a", "b", "c", "alpha", "beta", "gamma", "defect"],
).T

# %%
view(sheared)


# %% [markdown]
# Same five atoms, a very different box. Why should a model care? Many models take the **minimum image** in
# fractional coordinates, $\Delta f - \operatorname{round}(\Delta f)$, as the shortest way between two atoms
# (`crystalkit.geometry.minimum_image_frac`). In a nearly rectangular cell that is right; in a skewed cell it is
# badly wrong. Compare each atom's nearest-neighbour distance found that way with the true one:

# %%
def nearest_by_fractional_minimum_image(structure):
    frac, lattice = torch.tensor(structure.frac_coords), torch.tensor(structure.lattice.matrix)
    distance = (minimum_image_frac(frac[:, None] - frac[None]) @ lattice).norm(dim=-1)  # (N, N) Å
    return distance.fill_diagonal_(float("inf")).min(dim=1).values.numpy()

def nearest_true(structure):
    distance = structure.distance_matrix.copy()  # pymatgen searches all periodic images
    np.fill_diagonal(distance, np.inf)
    return distance.min(axis=1)

error = {}
for name, s in cells.items():
    naive, true = nearest_by_fractional_minimum_image(s), nearest_true(s)
    error[name] = float(np.abs(naive - true).max())
    print(f"{name:18s} naive {np.round(naive, 2)}   true {np.round(true, 2)}")
claim(error["sheared"] > 1.0 and max(error[name] for name in cells if name != "sheared") < 1e-6,
      "the fractional minimum image is right in the box-like cells and wrong by more than 1 Å in the sheared one",
      **error)

# %% [markdown]
# **Niggli reduction** (Niggli 1928; algorithm of Křivý & Gruber 1976) picks the basis with the shortest vectors
# and a fixed convention for the angles. Its lengths and angles are *unique*: every equivalent cell reduces to
# the same six numbers. **LLL** (Lenstra, Lenstra & Lovász 1982) is faster and gets as short a basis here, but it
# is not unique in general. Check the uniqueness on a crystal with a less symmetric lattice, from random cells:

# %%
zno = crystals["ZnO (wurtzite)"]
rows = []
for seed in range(4):
    cell = rep.change_cell(rep.rotate(zno, seed), seed=seed)
    rows.append({"seed": seed, "given cell": np.round(rep.cell_parameters(cell), 2),
                 "Niggli cell": np.round(rep.cell_parameters(rep.niggli_reduce(cell)), 4)})
niggli = np.array([row["Niggli cell"] for row in rows])
claim(np.allclose(niggli, niggli[0], atol=1e-3), "every random cell of ZnO reduces to the same six Niggli numbers")
pd.DataFrame(rows).set_index("seed")


# %% [markdown]
# Reduction fixes the six cell numbers, not yet the coordinates: a symmetric lattice has several equally reduced
# bases (the 24 rotations of a cube map one onto another), and the origin is still free.
# `canonical_cell` finishes the job: primitive cell, Niggli reduction, then among the lattice's own symmetry
# operations and origins on the rarest element it keeps the smallest description. The result is the same for
# *every* description of the crystal.

# %%
def canonical_numbers(structure):
    return rep.to_arrays(rep.canonical_cell(structure), lattice="parameters")

canonical_table = rep.invariance_table(canonical_numbers, zno, seed=SEED)
claim(canonical_table["invariant"].all(), "the canonical cell is the same for every description of the crystal")
canonical_table

# %% [markdown]
# ## 5. The periodic multigraph
#
# Graph networks (CGCNN, Xie & Grossman 2018; MEGNet; the encoder and decoder of CDVAE) see atoms as nodes and
# join every pair closer than a cutoff. In a crystal, the neighbour may sit in the next cell, so an edge is
# $i \to j$ **plus an integer image offset** $n$: the vector is $(f_j + n - f_i)L$. The same pair can be joined
# several times with different offsets, hence a *multigraph*. Diamond with a 1.6 Å cutoff: four bonds per carbon.
#
# Not every crystal network uses a cutoff. DiffCSP's denoiser (CSPNet; FlowMM uses the same network) joins
# *every* pair of atoms in the cell once, with no cutoff and no image offsets: it reads the fractional difference
# $f_j - f_i$ through Fourier features ($\sin$ and $\cos$ of $2\pi k (f_j - f_i)$), which are periodic, so
# $f_j - f_i$ and $f_j - f_i + n$ look the same, and the lattice through the metric $LL^\top$.

# %%
diamond = crystals["C (diamond)"]
graph = rep.radius_graph(diamond, cutoff=1.6)
print(f"{graph.num_nodes} atoms, {graph.num_edges} directed edges, degree of each atom: {graph.degree}")
claim((graph.degree == 4).all(), "with a 1.6 Å cutoff every carbon of diamond has four bonds", degree=graph.degree)
pd.DataFrame({"i": graph.edge_index[0], "j": graph.edge_index[1],
              "offset n": [tuple(o) for o in graph.offsets], "length (Å)": graph.distances.round(4)}).head(8)

# %% [markdown]
# With a larger cutoff the graph sees further. Graphite shows why the cutoff is a modelling choice: its layers
# are $c/2 = 3.36$ Å apart, so a cutoff below that leaves them as disconnected sheets.

# %%
graphite = crystals["C (graphite)"]

def edges_between_layers(cutoff):
    g, z = rep.radius_graph(graphite, cutoff), graphite.frac_coords[:, 2]  # layers at z = 1/4 and 3/4
    between = ~np.isclose(z[g.edge_index[1]] + g.offsets[:, 2], z[g.edge_index[0]])
    return g.distances[between]

lengths = rep.radius_graph(graphite, CUTOFF).distances
fig = px.histogram(x=lengths, nbins=80, labels={"x": "edge length (Å)"},
                   title=f"Graphite: edge lengths of the periodic graph (cutoff {CUTOFF} Å)")
fig.update_layout(yaxis_title="directed edges", bargap=0.05)
fig.show()
between = edges_between_layers(CUTOFF)
say("At 1.5 Å, {n15} edges join the layers. At the cutoff of {cutoff} Å, {n} of the {total} edges do, the shortest "
    "{shortest} Å long.", n15=len(edges_between_layers(1.5)), cutoff=CUTOFF, n=len(between), total=len(lengths),
    shortest=f"{between.min():.2f}" if len(between) else "-");

# %%
cutoffs = np.linspace(1.0, 6.0, 51)
degree = [rep.radius_graph(diamond, c).degree.mean() for c in cutoffs]
claim({4, 16, 28} <= set(degree) and degree == sorted(degree),
      "the neighbour count of diamond rises in steps through 4, 16 and 28")
fig = px.line(x=cutoffs, y=degree, labels={"x": "cutoff (Å)", "y": "neighbours per atom"},
              title="Diamond: neighbour shells appear as steps (4, 16, 28, ...)")
fig.show()

# %% [markdown]
# The arrays `edge_index` and `offsets` change when the atoms are numbered differently, when the origin moves
# (atoms cross the cell boundary, so their offsets change) and when another cell is used; only a rotation leaves
# them alone. The graph itself does not change. Forgetting the labels (a sorted list of (element, element, length)
# per edge, as a network that sums over edges does) leaves a description that ignores rotation, translation,
# order and cell choice. Not a supercell: it gives a bigger graph with the same neighbourhoods (every edge twice
# in a 2×1×1 supercell), which the edge list counts but per-atom averages do not see.

# %%
edge_list = lambda s: rep.edge_multiset(rep.radius_graph(s, CUTOFF))
raw_edges = lambda s: (rep.radius_graph(s, CUTOFF).edge_index, rep.radius_graph(s, CUTOFF).offsets)
edge_tables = {"edge_index and offsets": rep.invariance_table(raw_edges, rutile, seed=SEED),
               "edge multiset": rep.invariance_table(edge_list, rutile, seed=SEED)}
ignored = {name: {t for t in rep.TRANSFORMATIONS if table.loc[t, "invariant"]} for name, table in edge_tables.items()}
claim(ignored == {"edge_index and offsets": {"rotation"}, "edge multiset": set(rep.TRANSFORMATIONS) - {"supercell"}},
      "the raw arrays ignore only a rotation; the edge multiset everything but a supercell", **ignored)
pd.concat(edge_tables, axis=1)

# %% [markdown]
# ## 6. Space group and Wyckoff positions
#
# Most crystals are symmetric, and writing the symmetry out is the most compact exact description: the **space
# group** (one of 230, found by spglib at a tolerance `symprec` in Å), the conventional cell, and for each
# symmetry-distinct atom its **Wyckoff position** (a letter from the International Tables) with only the
# coordinates that position leaves free. WyCryst (Zhu et al. 2024), CrystalFormer (Cao et al. 2024) and the
# Wyckoff Transformer (Kazeev et al. 2025) generate crystals in this form; PyXtal supplies the tables.

# %%
wyckoff = rep.to_wyckoff(rutile)
print("space group", wyckoff.space_group, "| conventional cell", wyckoff.cell_parameters)
wyckoff.to_frame()

# %%
rows = []
for name, s in crystals.items():
    w = rep.to_wyckoff(s)
    rebuilt = rep.from_wyckoff(w)
    rows.append({"crystal": name, "space group": w.space_group, "atoms (conventional)": w.num_atoms,
                 "numbers in P1 (6 + 3N)": 6 + 3 * w.num_atoms,
                 "numbers as Wyckoff (6 + free)": 6 + w.num_free_parameters,
                 "round trip matches": rebuilt.matches(s)})
wyckoff_table = pd.DataFrame(rows).set_index("crystal")
claim(wyckoff_table["round trip matches"].all()
      and (wyckoff_table["numbers as Wyckoff (6 + free)"] < wyckoff_table["numbers in P1 (6 + 3N)"]).all(),
      "the Wyckoff form rebuilds every example and needs fewer numbers than P1")
wyckoff_table

# %% [markdown]
# Symmetry is a matter of tolerance. Push the Ti atom of SrTiO$_3$ 0.04 Å along c (what a ferroelectric distortion
# does): at a tight tolerance the crystal drops to P4mm, at a loose one it is still cubic. Generated crystals are
# never exact, so metrics usually quote symmetry at 0.1 Å.

# %%
distorted = perovskite.copy()
distorted.translate_sites([1], [0, 0, 0.01])  # Ti moves 0.01 c = 0.04 Å
groups = {symprec: rep.space_group(distorted, symprec=symprec) for symprec in (0.001, 0.01, 0.1)}
for symprec, group in groups.items():
    print(f"symprec {symprec:5} Å -> space group {group}")
claim(groups[0.001][1] == "P4mm" and groups[0.1][1] == "Pm-3m",
      "the distorted SrTiO3 is P4mm at a tight tolerance and cubic at a loose one", groups=groups)

# %% [markdown]
# A subtlety: even in its standard setting a crystal can be written in a few equivalent ways. Pm-3m lets the origin sit
# on Sr *or* on Ti (swapping Wyckoff letters 1a and 1b); a polar group such as P6$_3$mc lets it slide along c.
# `to_wyckoff` tries all of them and keeps the smallest (`canonical=False` shows the first one found). For ZnO the
# first description found moves with the origin and the cell choice; the canonical one with nothing:

# %%
first_found = lambda s: rep.to_wyckoff(s, canonical=False)
wyckoff_tables = {"first found": rep.invariance_table(first_found, zno, seed=SEED),
                  "canonical": rep.invariance_table(rep.to_wyckoff, zno, seed=SEED)}
changes = {name: {t for t in rep.TRANSFORMATIONS if not table.loc[t, "invariant"]}
           for name, table in wyckoff_tables.items()}
claim(changes == {"first found": {"translation", "cell_choice"}, "canonical": set()},
      "the first Wyckoff form found changes with origin and cell choice, the canonical one with nothing", **changes)
pd.concat(wyckoff_tables, axis=1)

# %% [markdown]
# ## 7. Text tokens for language models
#
# A language model reads symbols from a fixed vocabulary. `CrystalTokenizer` writes the composition first (so a
# prompt can ask for a formula), then the space group, then cell lengths and angles and each atom's fractional
# coordinates, spelled digit by digit at a fixed precision. The crystal is put in its canonical cell first, so
# the model sees one sequence per crystal *and cell size*: the tokenizer keeps the number of atoms in the cell
# (a CSP prompt states it), so a supercell is written as a longer sequence. `primitive=True` reduces to the
# primitive cell first, and then a supercell gives the same tokens too.

# %%
tokenizer = rep.CrystalTokenizer(coord_digits=3, length_decimals=2, angle_decimals=1)
tokens = tokenizer.encode(perovskite)
print(" ".join(tokens))
print(f"{len(tokens)} tokens, vocabulary of {len(tokenizer.vocabulary)}; ids start {tokenizer.to_ids(tokens)[:8]}")
print("worst-case rounding:", tokenizer.max_error())
same_for_supercell = {}
for primitive in (False, True):
    tok = rep.CrystalTokenizer(primitive=primitive)
    cell, bigger = tok.encode(perovskite), tok.encode(rep.supercell(perovskite))
    same_for_supercell[primitive] = cell == bigger
    print(f"primitive={primitive}: {len(cell)} tokens, {len(bigger)} for the 2x1x1 supercell, same: {cell == bigger}")
claim(same_for_supercell == {False: False, True: True},
      "the default tokens change with a supercell; with primitive=True they do not", same=same_for_supercell)

# %% [markdown]
# Decoding is exact up to the rounding. More digits give a smaller error and a longer sequence:

# %%
rows = []
for digits in (1, 2, 3, 4, 5):
    tok = rep.CrystalTokenizer(coord_digits=digits, length_decimals=digits, angle_decimals=digits)
    reference = tok.prepare(zno)
    decoded = tok.decode(tok.encode(zno))
    error = np.linalg.norm(decoded.cart_coords - reference.cart_coords, axis=1).max()
    rows.append({"digits": digits, "tokens": len(tok.encode(zno)), "largest atom displacement (Å)": error})
digits_table = pd.DataFrame(rows).set_index("digits")
claim(digits_table["tokens"].is_monotonic_increasing and (np.diff(digits_table.iloc[:, 1]) < 0).all(),
      "more digits give a longer sequence and a smaller error")
digits_table

# %% [markdown]
# A language model's samples are not always well formed. The decoder says exactly what is wrong, which is what a
# validity metric counts:

# %%
broken = tokens[:-4] + ["<eos>"]  # the last atom lost three digits
try:
    tokenizer.decode(broken)
except ValueError as error:
    print(type(error).__name__, ":", error)

# %% [markdown]
# ## 8. A fixed-length invariant fingerprint
#
# Some jobs need one vector per crystal with the same length for every crystal: finding duplicates, measuring
# the diversity of generated samples, a property model's input. `rdf_fingerprint` smears every interatomic
# distance into a Gaussian and averages over the atoms:
# $g_p(r) = \frac{1}{N\,4\pi r^2 \rho} \sum_i \sum_j p_i p_j\, \mathcal{N}(r;\, d_{ij}, \sigma^2)$,
# one channel per element property $p$ (1, atomic number, electronegativity). Distances ignore rotation,
# translation and the cell; the double sum ignores the order; dividing by $N$ ignores supercells.

# %%
radii = rep.fingerprint_radii()
fig = go.Figure()
for name, s in crystals.items():
    fig.add_scatter(x=radii, y=rep.rdf_fingerprint(s)[: len(radii)], name=name, mode="lines")
fig.update_layout(title="Radial distribution functions (unweighted channel)", xaxis_title="r (Å)",
                  yaxis_title="g(r)")
fig.show()

# %%
fingerprints = np.array([rep.rdf_fingerprint(s) for s in crystals.values()])
distances = np.linalg.norm(fingerprints[:, None] - fingerprints[None], axis=-1)
fig = px.imshow(distances, x=list(crystals), y=list(crystals), color_continuous_scale="Viridis",
                title="Fingerprint distances between the crystals")
fig.show()
fingerprint_table = rep.invariance_table(rep.rdf_fingerprint, rutile, seed=SEED)
claim(fingerprint_table["invariant"].all(), "the fingerprint ignores every change of description")
fingerprint_table

# %% [markdown]
# Everything invariant, but there is no way back: the fingerprint is a many-to-one summary (bond angles beyond
# what distances imply, and everything beyond `r_max`, are gone).
#
# ## 9. A voxel image
#
# Images let a crystal pass through convolutional networks, as in iMatGen (Noh et al. 2019) and the 3-D generators of
# Hoffmann et al. (2019) and Court et al. (2020). Each element gets a channel; each atom adds a normalised 3-D
# Gaussian, summed over periodic images, on a grid that follows the cell, so the image wraps around like the crystal.

# %%
voxels = rep.voxel_grid(perovskite, grid_size=GRID, sigma=SIGMA)
print("channels", voxels.elements, "grid", voxels.grid_shape, "| atoms from the integrals:",
      {k: round(v, 3) for k, v in voxels.atom_counts().items()})
claim(all(abs(voxels.atom_counts()[str(el)] - n) < 0.01 for el, n in perovskite.composition.items()),
      "each channel integrates to the number of atoms of its element", counts=voxels.atom_counts())
layers = {"plane z = 0 (Sr, O)": voxels.density[:, :, :, 0].sum(0),
          "plane z = 1/2 (Ti, O)": voxels.density[:, :, :, GRID // 2].sum(0)}
fig = px.imshow(np.stack(list(layers.values())), facet_col=0, origin="lower", color_continuous_scale="Magma",
                labels={"x": "b index", "y": "a index", "color": "atoms/Å³"}, title="SrTiO₃ density, two planes")
for k, label in enumerate(layers):
    fig.layout.annotations[k].text = label
fig.show()

# %% [markdown]
# The atoms come back as the peaks of each channel; one Newton step on $\log\rho$ places them between grid points
# (the logarithm of a Gaussian is a parabola, so the step is exact for a lone atom).

# %%
moved = rep.translate(rutile, seed=SEED)  # atoms now sit between grid points
decoded = rep.structure_from_voxels(rep.voxel_grid(moved, grid_size=GRID, sigma=SIGMA))
print(len(decoded), "atoms found; same crystal:", decoded.matches(moved))
print(rep.recoverable(lambda s: rep.voxel_grid(s, grid_size=GRID, sigma=SIGMA), rep.structure_from_voxels, rutile))
claim(decoded.matches(moved), "the atoms come back from the voxel image of the shifted rutile")

# %% [markdown]
# ## 10. The summary table
#
# Now every representation side by side, measured the same way: encode a crystal and a transformed copy and
# compare (✓ = unchanged within float round-off), then encode, decode and ask pymatgen's `StructureMatcher` whether
# the same crystal came back. `rms` is the matcher's normalised RMS displacement of the round trip.

# %%
representations = rep.standard_representations(cutoff=CUTOFF, grid_size=GRID, sigma=SIGMA)
summary = rep.summary_table(representations, rutile, seed=SEED)
marks = summary.drop(columns="rms").replace({True: "✓", False: "✗"})
marks.assign(rms=summary["rms"].map(lambda x: f"{x:.1e}" if np.isfinite(x) else "-"))

# %%
# The same table for every example crystal and every seed (QUICK: only the check above).
agree = []
for name, s in ({} if QUICK else crystals).items():
    for seed in SEEDS:
        other = rep.summary_table(representations, s, seed=seed).drop(columns="rms")
        agree.append({"crystal": name, "seed": seed, "same marks as rutile": other.equals(summary.drop(columns="rms"))})
claim(all(row["same marks as rutile"] for row in agree), "every example crystal and seed gives rutile's marks",
      differ=[(row["crystal"], row["seed"]) for row in agree if not row["same marks as rutile"]])
pd.DataFrame(agree) if agree else "QUICK = True: set QUICK = False to repeat the table for every crystal and seed."

# %%
# What the reading below says each representation ignores, checked against the table.
everything = set(rep.TRANSFORMATIONS)
reading = {"CIF text (P1)": {"rotation"}, "lattice matrix + Cartesian": set(), "lattice matrix + fractional": set(),
           "lengths/angles + fractional": {"rotation"}, "canonical cell (primitive, Niggli)": everything,
           "Wyckoff (space group + sites)": everything, "text tokens": everything - {"supercell"},
           "graph (edge multiset)": everything - {"supercell"}, "RDF fingerprint": everything,
           "voxel grid": {"rotation", "permutation"}}
for name, says in reading.items():
    found = {t for t in rep.TRANSFORMATIONS if summary.loc[name, t]}
    claim(found == says, f"{name} ignores exactly {sorted(says)}", found=sorted(found))
claim(set(summary.index[~summary["recoverable"].astype(bool)]) == {"graph (edge multiset)", "RDF fingerprint"},
      "every representation but the edge multiset and the fingerprint gives the crystal back")

# %% [markdown]
# How to read it:
#
# - **Raw descriptions** (CIF, arrays) are exact and invertible but change with the origin, the atom order, a
#   supercell and the cell choice; the CIF text and lengths/angles + fractional coordinates ignore only a rotation,
#   the lattice matrix not even that. A model trained on them must learn the symmetries from data (or from
#   augmentation).
# - **Lengths and angles** remove the rotation, nothing else.
# - **Canonical forms** (the canonical cell, the canonical Wyckoff form) ignore all five changes *and* are
#   invertible. Our tokens ignore all but the supercell: they keep the cell's atom count on purpose, and
#   `CrystalTokenizer(primitive=True)` drops that too. The price of a canonical form is a search, and a jump in the
#   output when a tiny distortion changes which candidate is "smallest": bad for a smooth model, fine for a
#   language model or a lookup key.
# - **Invariant summaries** change smoothly with the atoms but lose the crystal. The fingerprint ignores all five
#   changes; the graph's edge multiset all but the supercell, whose edges it counts twice (per-atom averages, as
#   in a network that averages over atoms, remove that). Models that *generate* crystals (CDVAE, DiffCSP)
#   therefore generate raw lattice + fractional coordinates and put the invariance into the network (an invariant
#   or equivariant graph network) and into the noise (wrapped on the torus).
# - **Voxels** sit in between: invertible, invariant to rotation and order, not to origin, supercell or cell
#   choice. FTCP (Ren et al. 2022) takes the same route with a matrix of real-space arrays plus Fourier features:
#   invertible, not invariant.
#
# ## Summary
#
# - A crystal is (lattice, coordinates, elements), but the same crystal has endlessly many such descriptions.
# - Lengths and angles drop orientation; fractional coordinates live on a torus; cells should be reduced
#   (Niggli), or naive minimum-image distances go badly wrong.
# - The periodic multigraph needs image offsets; its invariances come from summing over edges. DiffCSP's network
#   instead joins every pair in the cell and reads periodic Fourier features of $f_j - f_i$.
# - Space group + Wyckoff positions are the most compact exact form, once the choice of origin is fixed.
# - Text tokens, fingerprints and voxels each serve a model family; `invariance_table` and `recoverable` tell
#   what each keeps.
#
# ## Exercises
#
# 1. Build the graph of graphite with cutoffs 1.5 Å and 3.5 Å. How many neighbours per atom? At which cutoff do
#    the layers first connect?
# 2. Strain rutile along a by 0.25 %, 0.5 %, 1 % and 2 % (`s = rutile.copy(); s.apply_strain([eps, 0, 0])`). How far
#    does the fingerprint move (`fingerprint_distance`)? How many tokens of the text form change? What does that
#    say about smoothness?
# 3. Build CsCl by hand in the Wyckoff form (space group 221, Cs on 1a, Cl on 1b, a = 4.12 Å) with
#    `WyckoffRepresentation` and `WyckoffSite`, rebuild it with `from_wyckoff` and view it.
# 4. Decode diamond from voxel grids of 6, 8 and 12 points per axis (`sigma=0.8`). Where does it stop working, and why?
# 5. Write your own representation (say, sorted volumes per atom and space group) as a `Representation` and put it in
#    `summary_table`. Which columns get a ✓?
#
# <details><summary>Solution 1</summary>
#
# ```python
# for cutoff in (1.5, 3.5):
#     g = rep.radius_graph(graphite, cutoff)
#     print(cutoff, g.degree)           # 3 in-layer neighbours; at 3.5 Å also interlayer ones
# cutoffs = np.arange(1.5, 4.0, 0.05)
# first = next(c for c in cutoffs if (rep.edge_multiset(rep.radius_graph(graphite, c))[:, 2] > 3.0).any())
# print("layers connect at about", round(first, 2), "Å")   # the 3.35 Å interlayer distance
# ```
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# for eps in (0.0025, 0.005, 0.01, 0.02):
#     strained = rutile.copy()
#     strained.apply_strain([eps, 0, 0])
#     moved = rep.fingerprint_distance(rep.rdf_fingerprint(rutile), rep.rdf_fingerprint(strained))
#     a, b = tokenizer.encode(rutile), tokenizer.encode(strained)
#     print(f"strain {eps:.2%}: fingerprint moves {moved:.2f}, {sum(x != y for x, y in zip(a, b))} tokens differ")
# ```
# The fingerprint distance grows in proportion to the strain (about 0.17, 0.33, 0.66, 1.3): it is smooth. The
# tokens change digit by digit, and a digit flips whenever a number crosses a rounding boundary, however small
# the change: nearby crystals are not always nearby sequences.
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# cscl = rep.WyckoffRepresentation(221, (4.12, 4.12, 4.12, 90, 90, 90),
#                                  (rep.WyckoffSite("Cl", "b", 1, ()), rep.WyckoffSite("Cs", "a", 1, ())))
# structure = rep.from_wyckoff(cscl)
# print(structure.composition, rep.space_group(structure))
# view(structure, supercell=(2, 2, 2))
# ```
# </details>
#
# <details><summary>Solution 4</summary>
#
# ```python
# for size in (6, 8, 12):
#     grid = rep.voxel_grid(diamond, grid_size=size, sigma=0.8)
#     print(size, "points:", len(rep.structure_from_voxels(grid)), "atoms found of 8")
# ```
# At 6 points the grid spacing (3.567 / 6 = 0.59 Å) is more than a third of the C-C bond (1.54 Å): the peaks of
# bonded neighbours share voxels and only one of each pair is a local maximum, so half the atoms are lost.
# A representation has a resolution; choose the grid spacing well below the shortest distance.
# </details>
#
# <details><summary>Solution 5</summary>
#
# ```python
# mine = rep.Representation("space group + volume per atom",
#                           lambda s: (rep.space_group(s)[0], s.volume / len(s)))
# rep.summary_table([mine], rutile)   # every invariance ✓, recoverable ✗
# ```
# </details>
#
# ## Key papers
#
# - P. Niggli, *Krystallographische und strukturtheoretische Grundbegriffe*, Handbuch der Experimentalphysik 7 (1928);
#   I. Křivý, B. Gruber, Acta Cryst. A32, 297 (1976); R. W. Grosse-Kunstleve, N. K. Sauter, P. D. Adams,
#   Acta Cryst. A60, 1 (2004): Niggli reduction and a numerically stable algorithm.
# - A. K. Lenstra, H. W. Lenstra, L. Lovász, *Factoring polynomials with rational coefficients*, Math. Ann. 261, 515 (1982): LLL.
# - T. Xie, J. C. Grossman, *Crystal Graph Convolutional Neural Networks*, Phys. Rev. Lett. 120, 145301 (2018): CGCNN.
# - C. Chen, W. Ye, Y. Zuo, C. Zheng, S. P. Ong, *Graph Networks as a Universal Machine Learning Framework for
#   Molecules and Crystals*, Chem. Mater. 31, 3564 (2019): MEGNet.
# - T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, *Crystal Diffusion Variational Autoencoder* (CDVAE), ICLR 2022.
# - A. Togo, K. Shinohara, I. Tanaka, *Spglib*, Sci. Technol. Adv. Mater. Meth. 4, 2384822 (2024); S. Fredericks,
#   K. Parrish, D. Sayre, Q. Zhu, *PyXtal*, Comput. Phys. Commun. 261, 107810 (2021).
# - R. Zhu, W. Nong, S. Yamazaki, K. Hippalgaonkar, *WyCryst: Wyckoff inorganic crystal generator framework*, Matter 7, 3469 (2024).
# - Z. Cao et al., *Space Group Informed Transformer for Crystalline Materials Generation* (CrystalFormer), arXiv:2403.15734 (2024);
#   N. Kazeev et al., *Wyckoff Transformer*, ICML 2025.
# - L. M. Antunes, K. T. Butler, R. Grau-Crespo, *Crystal structure generation with autoregressive large language
#   modeling* (CrystaLLM), Nat. Commun. 15, 10570 (2024); N. Gruver et al., *Fine-Tuned Language Models Generate Stable
#   Inorganic Materials as Text*, ICLR 2024.
# - Z. Ren et al., *An invertible crystallographic representation for general inverse design of inorganic crystals
#   with targeted properties* (FTCP), Matter 5, 314 (2022).
# - J. Noh et al., *Inverse Design of Solid-State Materials via a Continuous Representation* (iMatGen), Matter 1, 1370 (2019);
#   J. Hoffmann et al., *Data-Driven Approach to Encoding and Decoding 3-D Crystal Structures*, arXiv:1909.00949 (2019);
#   C. J. Court, B. Yildirim, A. Jain, J. M. Cole, J. Chem. Inf. Model. 60, 4518 (2020).
# - K. T. Schütt et al., *How to represent crystal structures for machine learning*, Phys. Rev. B 89, 205118 (2014);
#   M. Fernandez, N. R. Trefiak, T. K. Woo, J. Phys. Chem. C 117, 14095 (2013): radial-distribution fingerprints.
