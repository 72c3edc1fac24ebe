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
# # 11 · Disorder and defects: the crystals a generator of perfect cells does not describe
#
# **Learning goals**
# - Read a CIF with **partial occupancy** (a solid solution), say why the kit's loaders refuse it, and list its
#   mixed sites.
# - Turn a disordered crystal into ordered cells two ways: every **ordered approximant** up to a cell size
#   (enumeration, and why it needs a cap), and one **special quasirandom structure** (SQS) that mimics the random
#   alloy, checked with **correlation functions**.
# - See what a generator trained on small ordered cells does with a disordered composition, and what a match rate
#   against ordered targets cannot say about a disordered material.
# - Build **point defects** in a supercell (vacancies, substitutions, interstitials), compute neutral defect
#   formation energies with CHGNet, and state their caveats.
#
# **Prerequisites**: notebook 01 (CIF, cells, supercells); notebook 06 or 07 (a CSP model); notebook 09 (match
# rate); notebook 10 (CHGNet relaxation and elemental references).
#
# **Run time**: quick mode about a minute on two CPU cores (a few short CHGNet relaxations, capped); full mode a
# few minutes.

# %% tags=["parameters"]
QUICK = True      # capped CHGNet relaxations, a short SQS search; False: converged relaxations, more defects
SEED = 0          # SQS annealing, random fillings, model sampling
SQS_STEPS = 1500  # annealing steps of the SQS search (full mode: 10000)
RELAX_STEPS = 10  # FIRE step cap per defect in quick mode (full mode: 300)

# %%
import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import torch
from pymatgen.core import Lattice, Structure

from crystalkit.defects import (
    chemical_potentials, defect_formation_energies, defect_supercell, distinct_defects, formation_energy,
    formation_energy_range, make_interstitial, make_substitution, make_vacancy,
)
from crystalkit.disorder import (
    EXAMPLE_CIFS, approximant_table, cluster_space, correlation_distance, correlation_figure, correlation_table,
    count_orderings, integer_formula, ordered_approximants, random_occupation, read_disordered_cif,
    special_quasirandom_structure, sublattice_concentrations, supercell_matrices,
)
from crystalkit.errors import CrystalInputError
from crystalkit.metrics import csp_metrics
from crystalkit.models.pretrained import load_pretrained
from crystalkit.narration import claim, say
from crystalkit.structures import structure_from_cif
from crystalkit.validation import formation_energy_per_atom, predict_energies, relax
from crystalkit.widgets import gallery, view
from crystalkit.widgets.defect_builder import defect_builder

torch.set_num_threads(1)   # small cells: one thread is fastest, and much faster on a busy machine
sqs_steps = SQS_STEPS if QUICK else 10_000
relax_steps = RELAX_STEPS if QUICK else 300

# %% [markdown]
# ## 1. Partial occupancy: one site, several elements
#
# Quench a Cu-Au melt and the fcc sites are taken by Cu or Au at random; mix BaTiO$_3$ and SrTiO$_3$ and the
# perovskite's A site is Ba or Sr at random. X-ray diffraction sees the average, so the CIF says the average: one
# position, two elements, each with an **occupancy** of 0.5. Here is the kit's small (Ba,Sr)TiO$_3$ CIF (written
# for this course; its lattice parameter is a Vegard's-law guess between SrTiO$_3$ and BaTiO$_3$):

# %%
print(EXAMPLE_CIFS["BaSrTiO3"].split("loop_")[1])
bsto = read_disordered_cif(EXAMPLE_CIFS["BaSrTiO3"])
cuau = read_disordered_cif(EXAMPLE_CIFS["CuAu"])
print(bsto.structure)
bsto.table()

# %%
claim(len(cuau.structure) == 1 and [s.index for s in bsto.sites] == [0],
      "the fcc alloy reduces to one mixed site; in the perovskite only the A site (site 0) is mixed")
view(bsto.structure, supercell=2, backend="plotly", title="(Ba,Sr)TiO3: A sites drawn in the mixed colour")

# %% [markdown]
# The kit's loaders refuse such a crystal. Every model of this course gives each atom **one** element, CHGNet
# needs one element per atom to compute a force, and the match rate compares atom with atom. A half-Ba half-Sr atom
# is none of these, so the loader stops at the door and points here:

# %%
try:
    structure_from_cif(EXAMPLE_CIFS["CuAu"])
except CrystalInputError as error:
    print("refused:", error)

# %% [markdown]
# ## 2. Ordered approximants: every ordering up to a cell size
#
# To get ordered cells, pick a supercell of the parent cell and fill its sites with whole atoms in the right
# proportions. Which supercells? Every superlattice of index $n$ is given once by a matrix in **Hermite normal
# form** (Hart & Forcade 2008): 7 of them for $n = 2$, 35 for $n = 4$. Fill each in every way, then merge the
# fillings that are the same crystal seen differently. pymatgen's `OrderDisorderedStructureTransformation` does the
# filling; `ordered_approximants` loops over the supercells (with a progress bar) and merges.
#
# The work grows combinatorially: a supercell of $n$ cells has $\binom{n}{n/2}$ fillings of a 50:50 site, times
# the number of supercells. `count_orderings` counts before anything is built:

# %%
counts = pd.DataFrame({size: {name: count_orderings(crystal.structure, size) for name, crystal in
                              (("CuAu", cuau), ("(Ba,Sr)TiO3", bsto))} for size in (1, 2, 4, 6, 8)})
counts.columns.name = "largest supercell (cells)"
counts

# %%
growth = counts.loc["CuAu", 8] / counts.loc["CuAu", 4]
claim(counts.loc["CuAu", 1] == 0 and growth > 20, "one cell cannot hold a 50:50 mix; 8 cells cost far more than 4")
claim([len(supercell_matrices(n)) for n in (2, 4)] == [7, 35], "7 supercells of index 2, 35 of index 4")
say("Going from supercells of up to 4 cells to up to 8 multiplies the orderings to try by {g:.0f}. The kit caps "
    "the count (`max_orderings`) and refuses above it rather than run for hours.", g=growth)

# %%
cuau_orderings = ordered_approximants(cuau.structure, 2)
bsto_orderings = ordered_approximants(bsto.structure, 2)
pd.concat({"CuAu": approximant_table(cuau_orderings), "(Ba,Sr)TiO3": approximant_table(bsto_orderings)})

# %%
claim(sorted(s.properties["spacegroup"][0] for s in cuau_orderings) == ["P4/mmm", "R-3m"],
      "fcc at 50:50 in two-atom cells: the L1_0 (P4/mmm) and L1_1 (R-3m) orderings")
claim(sorted(s.properties["spacegroup"][0] for s in bsto_orderings) == ["Fm-3m", "P4/mmm", "P4/mmm"],
      "three A-site orderings of the perovskite in two cells: one Fm-3m, two P4/mmm")
gallery(bsto_orderings, titles=[f"{s.properties['spacegroup'][0]}, {len(s)} atoms" for s in bsto_orderings],
        supercell=(2, 2, 2))

# %% [markdown]
# In two cells the fcc alloy has exactly two orderings: layers of Cu and Au stacked along [001] (L1$_0$, the
# structure of ordered CuAu) or along [111] (L1$_1$, CuPt's). The perovskite has three: Ba and Sr alternating
# like the two ions of rock salt (Fm$\bar{3}$m), in layers, or in columns (both P4/mmm, in different cells). The
# `count` column says how many of the fillings tried fell on each. **None of them is the disordered crystal**: each
# is a perfectly ordered compound with its own energy, and at high temperature the real alloy visits all of them
# and many more.

# %% [markdown]
# ## 3. Special quasirandom structures: one cell that looks random
#
# For properties of the random alloy itself we want one cell whose *local* order looks as random as possible.
# Measure order with **correlation functions**: give each site a value ($+1$ for one element, $-1$ for the other in
# a binary), and average the product of the values over all pairs of sites at a given distance (and all
# triplets of a given shape, ...). In the infinite random alloy the sites are independent, so each average is a
# product of single-site averages: at 50:50 every pair and triplet correlation is **zero**. An SQS (Zunger et al.
# 1990) is the cell whose correlations come closest to those targets; icet (Ångqvist et al. 2019) finds one by
# simulated annealing over the fillings of every supercell up to `max_size` cells.

# %%
sqs = special_quasirandom_structure(cuau.structure, 8, n_steps=sqs_steps, seed=SEED)
space = cluster_space(cuau.structure)
concentrations = sublattice_concentrations(space, cuau.structure)
randoms = {f"random {seed}": random_occupation(sqs, cuau.structure, seed=SEED + seed, space=space)
           for seed in range(20)}
table = correlation_table(space, {"SQS": sqs, **randoms}, concentrations)
table[["orbit", "multiplicity", "random alloy", "SQS", "random 0", "random 1"]]

# %%
distances = pd.Series({name: correlation_distance(table, name) for name in ["SQS", *randoms]})
claim(distances["SQS"] <= distances.drop("SQS").min() + 1e-12 and distances["SQS"] < distances.drop("SQS").mean(),
      "the SQS is at least as close to the random alloy as every random filling of its cell, and closer on average",
      distances=distances.round(3).to_dict())
ties = int((distances.drop("SQS") <= distances["SQS"] + 1e-12).sum())
say("RMS distance from the random alloy's correlations: SQS {s:.3f}, random fillings of the same {n}-atom cell "
    "{lo:.3f} to {hi:.3f} (mean {m:.3f}); {t} of {k} random fillings tie with the SQS, since a cell this small has "
    "few distinct fillings.", s=distances["SQS"], n=len(sqs), lo=distances.drop("SQS").min(),
    hi=distances.drop("SQS").max(), m=distances.drop("SQS").mean(), t=ties, k=len(randoms))
claim(distances["SQS"] > 0, "even the SQS gets some correlations wrong")
correlation_figure(table, ["SQS", "random 0", "random 1"]).show()

# %% [markdown]
# No finite periodic cell gets every correlation right: the cell's own periodicity repeats the pattern, and in 8
# atoms some pair shells must be off. A larger `max_size` gets more shells right at a higher search cost. An SQS is
# then used like any ordered crystal: relax it with a potential, compute its energy, compare it with the ordered
# approximants' energies (the *mixing energy*).

# %% [markdown]
# ## 4. A generator of ordered cells meets a disordered composition
#
# The kit's CSP models were trained on Perov-5-style perovskites: five atoms, one element each. Ask one for
# Ba$_{0.5}$Sr$_{0.5}$TiO$_3$ and it cannot even take the question: it places whole atoms, so the composition
# must be written in whole atoms first, here in two cells.

# %%
formula, cells = integer_formula(bsto.structure)
flow = load_pretrained("perovskites-flow-csp")
samples = flow.sample([formula], num_samples=8, seed=SEED)[0]
sample_table = pd.DataFrame([{"atoms": len(s), "a, b, c (Å)": np.round(s.lattice.abc, 2),
                              "volume per cell (Å^3)": round(s.volume / cells, 1)} for s in samples])
print(f"asked for {formula} ({cells} perovskite cells)")
sample_table

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    versus_orderings = csp_metrics([samples] * len(bsto_orderings), bsto_orderings, k=len(samples), n_jobs=1)
    srtio3 = Structure(Lattice.cubic(3.95), ["Sr", "Ti", "O", "O", "O"],
                       [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    control = csp_metrics([flow.sample(["SrTiO3"], num_samples=8, seed=SEED)[0]], [srtio3], k=8, n_jobs=1)
match_rows = pd.DataFrame({"target": [f"{s.properties['spacegroup'][0]} ordering" for s in bsto_orderings]
                           + ["SrTiO3 (control)"],
                           "matched": [t.matched for t in versus_orderings.targets] + [control.targets[0].matched]})
match_rows

# %%
say("Against the three ordered approximants the match rate at k = {k} is {rate:.0%}; the same model matches "
    "plain SrTiO$_3$ in its trained five-atom regime: {ctrl}.", k=len(samples), rate=versus_orderings.match_rate,
    ctrl="yes" if control.targets[0].matched else "no")
claim(control.match_rate >= versus_orderings.match_rate,
      "the model does at least as well on the five-atom composition it was trained on as on the ten-atom one")
refused = None
try:
    csp_metrics([samples[0]], [bsto.structure], n_jobs=1)
except CrystalInputError as error:
    refused = str(error)
claim(refused is not None and "disordered" in refused, "the metric refuses the disordered crystal as a target")
print("the disordered crystal itself as a target:", refused)

# %% [markdown]
# What the match rate cannot say here:
#
# - **The disordered crystal is not a target at all.** The metric compares ordered cells atom by atom and refuses
#   a partially occupied one. What one scores against instead (one ordered approximant, all of them, an SQS) is a
#   choice that decides the number, and it is rarely reported.
# - **A match to an ordered approximant is not a prediction of the material.** Had a sample matched the rock-salt
#   ordering, the metric would count a success, yet the real (Ba,Sr)TiO$_3$ is disordered: the model would have
#   "predicted" a compound that does not form.
# - **A miss does not say which limit was hit.** A model trained on five-atom cells has never placed ten atoms;
#   the supercell, not the chemistry, may be what it fails on. The control above separates the two.
# - **Disorder is a distribution, not a structure.** The right answer is an ensemble of orderings with Boltzmann
#   weights (or an SQS as its stand-in), and a match rate over single structures has no way to score an ensemble.

# %% [markdown]
# ## 5. Point defects in a supercell
#
# Now a perfect crystal with one thing wrong. We relax cubic SrTiO$_3$ with CHGNet, list its symmetry-distinct
# defects with pymatgen-analysis-defects (equivalent sites give one defect with a *multiplicity*), and build
# defects in a 2×2×2 supercell (40 atoms).

# %%
perovskite = relax(srtio3, progress=False).final_structure
distinct = distinct_defects(perovskite, substitutions={"Sr": "Ba"}, interstitial="H")
distinct

# %%
claim(dict(zip(distinct["name"][:3], distinct["multiplicity"][:3])) == {"v_Sr": 1, "v_Ti": 1, "v_O": 3},
      "three distinct vacancies, the oxygen one three times per cell")
bulk = defect_supercell(perovskite, 2)
oxygen = next(i for i, site in enumerate(bulk) if site.specie.symbol == "O")
void = [x / 2 for x in distinct[distinct["kind"] == "interstitial"]["frac_coords"].iloc[0]]  # primitive -> 2x2x2
defects = [make_vacancy(bulk, oxygen), make_substitution(bulk, 0, "Ba")]
if not QUICK:
    defects += [make_vacancy(bulk, 0), make_interstitial(bulk, void, "H")]
print([(d.name, len(d.structure)) for d in defects])

# %% [markdown]
# The formation energy of a neutral defect is
#
# $$E_f = E_\text{defect} - E_\text{bulk} - \sum_i n_i \mu_i,$$
#
# with $n_i$ atoms of element $i$ added ($>0$) or removed ($<0$), and $\mu_i$ the energy per atom of the
# reservoir they come from or go to. **Which $\mu_i$?** We take CHGNet energies of the relaxed elements, bundled
# with the kit and used by its hull (notebook 10): oxygen from O$_2$, strontium from the metal, all on the same
# CHGNet energy scale as the defect supercells. That is the *element-rich* limit; a real sample sits lower, and
# the next plot shows what that does.

# %%
energies = defect_formation_energies(bulk, defects, steps=relax_steps)
energies

# %%
claim((energies["formation_energy"] <= energies["unrelaxed_formation_energy"] + 1e-6).all(),
      "relaxing never raises a formation energy")
v_o = energies.set_index("name").loc["v_O"]
say("The neutral oxygen vacancy costs {e:.2f} eV in the O-rich limit ({u:.2f} eV before the atoms moved, "
    "{state}).", e=v_o["formation_energy"], u=v_o["unrelaxed_formation_energy"],
    state="converged" if v_o["converged"] else f"relaxation stopped at the {relax_steps}-step cap")

# %% [markdown]
# ### Chemical potentials decide the number
#
# In equilibrium with SrTiO$_3$ itself, $\mu_\text{Sr} + \mu_\text{Ti} + 3\mu_\text{O} = E(\text{SrTiO}_3)$ per
# formula unit, so oxygen can be poorer than O$_2$ by at most a third of SrTiO$_3$'s formation energy (a loose bound:
# the competing phases SrO and TiO$_2$ tighten it). The vacancy gets cheaper as oxygen gets poorer.

# %%
e_bulk = float(predict_energies([perovskite])[0])
formation_per_unit = formation_energy_per_atom(perovskite.composition, e_bulk) * len(perovskite)  # eV per SrTiO3
delta_mu = np.linspace(formation_per_unit / 3, 0, 30)
curve = formation_energy_range(v_o["formation_energy"], {"O": -1}, "O", delta_mu)
px.line(x=delta_mu, y=curve, labels={"x": "Δμ_O (eV), O-poor → O-rich", "y": "E_f(v_O) (eV)"},
        title="Neutral O vacancy in SrTiO3 (CHGNet, 40-atom cell)").show()
say("Across this range, Δμ_O from {lo:.2f} eV to 0, the vacancy's formation energy runs from {a:.2f} to {b:.2f} eV: "
    "the chemical potential matters as much as the defect.{neg}", lo=delta_mu[0], a=curve[0], b=curve[-1],
    neg=" At the most O-poor end it turns negative: there the crystal would shed oxygen by itself, a sign that the "
        "loose bound reaches conditions where SrTiO3 is no longer stable." if curve[0] < 0 else "")

# %% [markdown]
# ### Finite size
#
# A supercell repeats the defect, so each vacancy sees copies of itself one supercell length away. Comparing the
# unrelaxed single-point energies (cheap) in a 2×2×2 and a 3×3×3 cell shows how much the number depends on that
# choice:

# %%
sizes = {}
for size in (2, 3):
    cell = defect_supercell(perovskite, size)
    vacancy = make_vacancy(cell, next(i for i, s in enumerate(cell) if s.specie.symbol == "O"))
    e_cell, e_vac = predict_energies([cell, vacancy.structure], batch_size=1) * [len(cell), len(vacancy.structure)]
    sizes[f"{size}x{size}x{size} ({len(cell)} atoms)"] = formation_energy(e_vac, e_cell, vacancy.element_changes,
                                                                       chemical_potentials(["O"]))
sizes = pd.Series(sizes, name="unrelaxed E_f(v_O) (eV)")
say("Unrelaxed: {a:.3f} eV in the 40-atom cell (copies {d2:.1f} Å apart), {b:.3f} eV in the 135-atom cell "
    "({d3:.1f} Å apart), a difference of {d:.0f} meV from "
    "the cell size alone. Charged defects, whose periodic images interact like charges, need explicit corrections "
    "on top (Freysoldt et al. 2014).", a=sizes.iloc[0], b=sizes.iloc[1], d2=2 * perovskite.lattice.a,
    d3=3 * perovskite.lattice.a, d=1000 * abs(sizes.iloc[0] - sizes.iloc[1]))
sizes

# %% [markdown]
# **Caveats, plainly.** These are *neutral* defects: a real oxygen vacancy in SrTiO$_3$ gives up electrons, and
# charged defects need the Fermi level, band edges and finite-size charge corrections (Freysoldt et al. 2014). The
# supercells are small, and in quick mode the relaxations are capped. The energies are CHGNet's, a potential
# trained on DFT of mostly perfect crystals near equilibrium, not DFT: use them to rank and to explore, and check
# anything that matters with DFT.

# %% [markdown]
# ## 6. Bad input, refused with a reason

# %%
for attempt, call in [
    ("site index out of range", lambda: make_vacancy(bulk, len(bulk))),
    ("unknown element", lambda: make_substitution(bulk, 0, "Bq")),
    ("disordered crystal for a defect", lambda: defect_supercell(bsto.structure, 2)),
    ("enumeration beyond the cap", lambda: ordered_approximants(cuau.structure, 8)),
]:
    try:
        call()
    except CrystalInputError as error:
        print(f"{attempt}: {error}\n")

# %% [markdown]
# ## 7. The defect builder
#
# Pick a site (one entry per symmetry-distinct site, the copy nearest you), remove its atom or swap it, and read
# the CHGNet formation energy of the unrelaxed defect. In a live JupyterLab the drawing changes at once and a
# **relax** button lets the atoms move (capped steps, cell fixed); in a static page the menu flips through every
# (site, action) pair, each with its unrelaxed energy.

# %%
defect_builder(perovskite, 2, substitutes=("Ba",), relax_steps=relax_steps * 3)

# %% [markdown]
# ## Summary
#
# - A CIF with partial occupancy describes an average; `read_disordered_cif` reads it and lists the mixed sites.
#   Models, CHGNet and the match rate need one element per atom, so the kit's loaders refuse it.
# - `ordered_approximants` enumerates every distinct ordering in supercells up to a size (Hermite normal forms,
#   then merging equivalent fillings); the count grows combinatorially, so it is counted first and capped.
# - An SQS is one cell whose correlation functions mimic the random alloy; icet finds it, and its cluster vector
#   beside the random alloy's shows how well.
# - A CSP model of ordered cells needs a whole-atom formula and a supercell; a match rate against ordered targets
#   says nothing about whether the material is disordered.
# - Point defects: build them in a supercell, use symmetry to list the distinct ones, and compute neutral
#   formation energies $E_f = E_\text{defect} - E_\text{bulk} - \sum n_i\mu_i$; state the chemical potentials, the
#   cell size, the missing charge states and the potential.
#
# ## Exercises
#
# 1. Enumerate the CuAu orderings in cells of up to 4 atoms. How many are there, and how does the count of each
#    (`count`) relate to how likely a random filling is to land on it?
# 2. Make an SQS of (Ba,Sr)TiO$_3$ in up to 8 cells (40 atoms) and relax it with CHGNet (cell fixed). Compare its
#    energy per atom with the three two-cell orderings'. Which is lowest?
# 3. Compute the formation energy of Ca on the Sr site (`make_substitution(bulk, 0, "Ca")`). Why is it so much
#    smaller than that of an oxygen vacancy?
#
# <details><summary>Solution 1</summary>
#
# ```python
# four = ordered_approximants(cuau.structure, 4)
# approximant_table(four)
# ```
# Seven: the two two-atom orderings and five more that need four atoms. The counts are the number of fillings of
# all supercells that gave each ordering; orderings with low symmetry are reached by more fillings (each
# symmetry-equivalent variant is counted), so at high temperature, where every filling is equally likely, they are
# the more common ones.
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# bst_sqs = special_quasirandom_structure(bsto.structure, 8, n_steps=3000, seed=SEED)
# results = {"SQS": relax(bst_sqs, relax_cell=False, steps=100)}
# for s in bsto_orderings:
#     results[s.properties["spacegroup"][0] + f" ({len(s)})"] = relax(s, relax_cell=False, steps=100)
# {name: round(r.energy_per_atom, 4) for name, r in results.items()}
# ```
# Compare the spread of the energies with CHGNet's typical energy error, about 30 meV/atom on its test set (Deng
# et al. 2023): a ranking by less than that is not a prediction. Ba and Sr are chemically alike (same charge,
# similar size), so their arrangement should cost little, which is why (Ba,Sr)TiO$_3$ forms a solid solution at
# every composition.
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# defect_formation_energies(bulk, [make_substitution(bulk, 0, "Ca")], steps=50)
# ```
# Ca, Sr and Ba are all 2+ ions on the same site: the swap breaks no bond and leaves no dangling electrons, only a
# size mismatch, so it costs a fraction of an eV (with element-rich metals as reservoirs). Removing a neutral O
# atom breaks Ti-O bonds and leaves two electrons behind, several eV.
# </details>
#
# ## Key papers
#
# - A. Zunger, S.-H. Wei, L. G. Ferreira, J. E. Bernard, *Special quasirandom structures*, Phys. Rev. Lett. 65, 353
#   (1990).
# - G. L. W. Hart, R. W. Forcade, *Algorithm for generating derivative structures*, Phys. Rev. B 77, 224115 (2008).
# - M. Ångqvist et al., *ICET – A Python library for constructing and sampling alloy cluster expansions*,
#   Adv. Theory Simul. 2, 1900015 (2019).
# - J. M. Sanchez, F. Ducastelle, D. Gratias, *Generalized cluster description of multicomponent systems*,
#   Physica A 128, 334 (1984) (correlation functions and cluster expansions).
# - C. Freysoldt et al., *First-principles calculations for point defects in solids*, Rev. Mod. Phys. 86, 253
#   (2014).
# - B. Deng et al., *CHGNet as a pretrained universal neural network potential for charge-informed atomistic
#   modelling*, Nat. Mach. Intell. 5, 1031 (2023).
