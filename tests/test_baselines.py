"""Baselines: exact compositions and atom counts, reproducibility with a seed, provenance, bad input."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition, Lattice, Structure

from crystalkit.baselines import PrototypeSubstitutionBaseline, RandomSymmetricBaseline, element_similarity
from crystalkit.errors import CrystalInputError
from crystalkit.sampling import StructureGenerator

TARGETS = ["SrTiO3", "Sr2Ti2O6", "C8", "NaCl", "Li2O"]


def _same(a: list[Structure], b: list[Structure]) -> bool:
    return all(x.lattice == y.lattice and x.species == y.species and (abs(x.frac_coords - y.frac_coords) < 1e-12).all()
               for x, y in zip(a, b, strict=True))


def _assert_exact(samples, formulas, num_samples):
    assert len(samples) == len(formulas)
    for crystals, formula in zip(samples, formulas, strict=True):
        assert len(crystals) == num_samples
        for crystal in crystals:
            assert crystal.composition == Composition(formula)  # same counts, not just the same ratio
            assert len(crystal) == Composition(formula).num_atoms


@pytest.fixture
def prototypes(srtio3) -> list[Structure]:
    rocksalt = Structure(Lattice.cubic(5.64), ["K", "Br"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    diamond = Structure.from_spacegroup("Fd-3m", Lattice.cubic(3.57), ["C"], [[0, 0, 0]])  # 8 atoms
    graphite_like = Structure(Lattice.hexagonal(2.46, 6.7), ["C"] * 4,
                              [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    return [srtio3, rocksalt, diamond, graphite_like]


# --- random symmetric structures ---------------------------------------------------------------

def test_random_baseline_is_a_generator_with_exact_compositions():
    baseline = RandomSymmetricBaseline({221: 3, 225: 2, 62: 5, 194: 1})
    assert isinstance(baseline, StructureGenerator)
    samples = baseline.sample(TARGETS, num_samples=2, seed=0)
    _assert_exact(samples, TARGETS, 2)
    for crystal in (c for crystals in samples for c in crystals):
        assert crystal.properties["generator"] == "random_symmetric"
        assert crystal.properties["spacegroup"] in {221, 225, 62, 194, 1}  # training groups, or the P1 fallback


def test_random_baseline_is_reproducible_with_a_seed():
    baseline = RandomSymmetricBaseline({221: 1, 99: 1, 1: 1})
    first = baseline.sample(["SrTiO3", "C6"], num_samples=3, seed=7)
    again = baseline.sample(["SrTiO3", "C6"], num_samples=3, seed=7)
    other = baseline.sample(["SrTiO3", "C6"], num_samples=3, seed=8)
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert not all(_same(a, b) for a, b in zip(first, other, strict=True))


def test_incompatible_groups_fall_back_to_p1():
    # One Na and one Cl cannot fill the 4-fold orbits of the F-centred group 225: only P1 is left.
    crystal = RandomSymmetricBaseline({225: 1}).sample(["NaCl"], seed=0)[0][0]
    assert crystal.properties["spacegroup"] == 1
    assert crystal.composition == Composition("NaCl")


def test_space_groups_follow_the_training_distribution():
    baseline = RandomSymmetricBaseline({221: 1, 1: 0})  # weight 0 means never
    crystals = baseline.sample(["SrTiO3"], num_samples=5, seed=1)[0]
    assert {c.properties["spacegroup"] for c in crystals} == {221}


def test_de_novo_draws_training_compositions():
    pool = ["SrTiO3", "C8"]
    baseline = RandomSymmetricBaseline({1: 1, 221: 1}, training_compositions=pool)
    crystals = baseline.sample(None, num_samples=6, seed=0)
    assert len(crystals) == 1 and len(crystals[0]) == 6
    assert {c.composition.formula for c in crystals[0]} <= {Composition(f).formula for f in pool}
    with pytest.raises(CrystalInputError, match="training_compositions"):
        RandomSymmetricBaseline().sample(None, num_samples=1)


def test_from_structures_fits_groups_and_compositions(prototypes):
    baseline = RandomSymmetricBaseline.from_structures(prototypes)
    assert baseline.spacegroup_weights[221] == 2  # SrTiO3 and the CsCl-type KBr cell
    assert baseline.spacegroup_weights[227] == 1
    assert len(baseline.training_compositions) == 4


@pytest.mark.parametrize(
    "kwargs", [dict(spacegroup_counts={231: 1}), dict(spacegroup_counts={1: 0}), dict(volume_factor=0)]
)
def test_random_baseline_rejects_bad_settings(kwargs):
    with pytest.raises(CrystalInputError):
        RandomSymmetricBaseline(**kwargs)


def test_random_baseline_rejects_bad_compositions():
    with pytest.raises(CrystalInputError):
        RandomSymmetricBaseline().sample(["Fe0.5Ni0.5Co"], seed=0)
    with pytest.raises(CrystalInputError):
        RandomSymmetricBaseline().sample(["SrTiO3"], num_samples=0)


# --- prototype substitution --------------------------------------------------------------------

@pytest.mark.slow
def test_substitution_is_a_generator_with_exact_compositions(prototypes):
    baseline = PrototypeSubstitutionBaseline(prototypes, names=["sto", "kbr", "diamond", "graphite"])
    assert isinstance(baseline, StructureGenerator)
    formulas = ["BaZrO3", "CaTiS3", "NaCl", "C8", "C4", "Ba2Zr2O6", "K2Cl2"]
    samples = baseline.sample(formulas, num_samples=3, seed=0)
    _assert_exact(samples, formulas, 3)


def test_substitution_maps_similar_elements_and_records_it(prototypes):
    baseline = PrototypeSubstitutionBaseline(prototypes, names=["sto", "kbr", "diamond", "graphite"])
    best = baseline.sample(["BaZrO3"], num_samples=1, seed=0)[0][0]
    assert best.properties["prototype"] == "sto"
    assert best.properties["mapping"] == {"Sr": "Ba", "Ti": "Zr", "O": "O"}  # A site to A site, B to B
    assert best[0].specie.symbol == "Ba"  # Sr's corner site
    assert best.volume > prototypes[0].volume  # Ba and Zr are larger than Sr and Ti
    assert element_similarity("Sr", "Ba") > element_similarity("Sr", "Ti")


def test_an_existing_composition_returns_its_prototype(prototypes):
    baseline = PrototypeSubstitutionBaseline(prototypes)
    crystal = baseline.sample(["SrTiO3"], seed=0)[0][0]
    assert crystal.species == prototypes[0].species
    assert crystal.lattice.matrix == pytest.approx(prototypes[0].lattice.matrix)
    assert crystal.frac_coords == pytest.approx(prototypes[0].frac_coords)


def test_supercell_of_a_smaller_prototype(prototypes):
    crystal = PrototypeSubstitutionBaseline(prototypes).sample(["Ba2Zr2O6"], seed=0)[0][0]
    assert crystal.properties["supercell"] == 2 and len(crystal) == 10


def test_ties_are_broken_by_the_seed_reproducibly(prototypes):
    carbon = [prototypes[2], prototypes[2].copy(), prototypes[2].copy()]  # three equally good C8 prototypes
    baseline = PrototypeSubstitutionBaseline(carbon, names=["a", "b", "c"])
    first = [baseline.sample(["C8"], seed=s)[0][0].properties["prototype"] for s in range(12)]
    again = [baseline.sample(["C8"], seed=s)[0][0].properties["prototype"] for s in range(12)]
    assert first == again and len(set(first)) > 1


def test_missing_stoichiometry_uses_the_fallback_or_raises(prototypes):
    with pytest.raises(CrystalInputError, match="fallback"):
        PrototypeSubstitutionBaseline(prototypes).sample(["Li2O"], seed=0)
    baseline = PrototypeSubstitutionBaseline(prototypes, fallback=RandomSymmetricBaseline({1: 1}))
    crystals = baseline.sample(["Li2O"], num_samples=2, seed=0)[0]
    assert all(c.properties["fallback"] and c.composition == Composition("Li2O") for c in crystals)


def test_chemistry_similarity_also_works(prototypes):
    baseline = PrototypeSubstitutionBaseline(prototypes, similarity="chemistry")
    best = baseline.sample(["BaZrO3"], seed=0)[0][0]
    assert best.properties["mapping"]["Sr"] == "Ba"


def test_substitution_rejects_bad_input(prototypes, srtio3):
    with pytest.raises(CrystalInputError):
        PrototypeSubstitutionBaseline([])
    with pytest.raises(CrystalInputError, match="similarity"):
        PrototypeSubstitutionBaseline(prototypes, similarity="random")
    with pytest.raises(CrystalInputError, match="de novo"):
        PrototypeSubstitutionBaseline(prototypes).sample(None)
    disordered = srtio3.copy()
    disordered.replace(0, {"Sr": 0.5, "Ba": 0.5})
    with pytest.raises(CrystalInputError, match="disordered"):
        PrototypeSubstitutionBaseline([disordered])
