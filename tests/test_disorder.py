"""Disordered crystals: reading partial occupancy, enumerating ordered approximants, SQS and correlation functions."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Lattice, Structure

from crystalkit.disorder import (
    EXAMPLE_CIFS,
    cluster_space,
    correlation_distance,
    correlation_figure,
    correlation_table,
    count_orderings,
    disordered_sites,
    integer_formula,
    ordered_approximants,
    random_alloy_correlations,
    random_occupation,
    read_disordered_cif,
    special_quasirandom_structure,
    sublattice_concentrations,
    supercell_matrices,
)
from crystalkit.errors import CrystalInputError
from crystalkit.structures import structure_from_cif


@pytest.fixture(scope="module")
def cuau() -> Structure:
    return read_disordered_cif(EXAMPLE_CIFS["CuAu"]).structure


@pytest.fixture(scope="module")
def bsto() -> Structure:
    return read_disordered_cif(EXAMPLE_CIFS["BaSrTiO3"]).structure


def test_example_cifs_read_with_their_mixed_sites_listed():
    cuau = read_disordered_cif(EXAMPLE_CIFS["CuAu"])
    assert len(cuau.structure) == 1 and not cuau.is_ordered  # the fcc cell's 4 sites reduce to 1
    assert cuau.sites[0].occupancy == {"Cu": 0.5, "Au": 0.5} and cuau.sites[0].vacancy == 0
    bsto = read_disordered_cif(EXAMPLE_CIFS["BaSrTiO3"])
    assert len(bsto.structure) == 5 and [s.index for s in bsto.sites] == [0]  # only the A site is mixed
    assert bsto.structure.composition.almost_equals(Composition({"Ba": 0.5, "Sr": 0.5, "Ti": 1, "O": 3}))
    assert list(bsto.table()["site"]) == [0]


def test_kit_loader_refuses_a_disordered_cif_and_points_here():
    with pytest.raises(CrystalInputError, match="crystalkit.disorder"):
        structure_from_cif(EXAMPLE_CIFS["CuAu"])


def test_partial_vacancy_and_overfull_sites():
    half_empty = Structure(Lattice.cubic(3.0), [{"Cu": 0.75}], [[0, 0, 0]])
    [site] = disordered_sites(half_empty)
    assert site.vacancy == pytest.approx(0.25)
    overfull = EXAMPLE_CIFS["CuAu"].replace("Au1 Au 0 0 0 0.5", "Au1 Au 0 0 0 0.75")
    with pytest.raises(CrystalInputError, match="CIF"):
        read_disordered_cif(overfull)


def test_supercell_counts_are_the_hermite_normal_form_counts():
    assert [len(supercell_matrices(n)) for n in range(1, 7)] == [1, 7, 13, 35, 31, 91]  # OEIS A001001
    for n in (2, 3, 4):
        dets = {round(abs(np.linalg.det(m))) for m in supercell_matrices(n)}
        assert dets == {n}
    with pytest.raises(CrystalInputError):
        supercell_matrices(0)


def test_fcc_binary_has_two_orderings_in_two_atom_cells(cuau):
    # Index-2 superlattices of fcc: L1_0 (CuAu, layers along [001]) and L1_1 (CuPt, layers along [111]).
    approximants = ordered_approximants(cuau, 2, progress=False)
    assert sorted(s.properties["spacegroup"][0] for s in approximants) == ["P4/mmm", "R-3m"]
    assert sum(s.properties["count"] for s in approximants) == count_orderings(cuau, 2) == 14
    for s in approximants:
        assert s.is_ordered and s.composition.reduced_formula == "CuAu"
    matcher = StructureMatcher()
    assert not matcher.fit(approximants[0], approximants[1])


def test_perovskite_a_site_orderings_in_two_cells(bsto):
    approximants = ordered_approximants(bsto, 2, progress=False)
    # rock-salt ([111]), layered ([001]) and columnar ([110]) ordering of Ba and Sr
    assert sorted(s.properties["spacegroup"][0] for s in approximants) == ["Fm-3m", "P4/mmm", "P4/mmm"]
    assert all(len(s) == 10 for s in approximants)


def test_enumeration_cap_and_impossible_sizes(cuau):
    with pytest.raises(CrystalInputError, match="cap"):
        ordered_approximants(cuau, 8, progress=False)
    third = Structure(Lattice.cubic(3.0), [{"Cu": 1 / 3, "Au": 2 / 3}], [[0, 0, 0]])
    with pytest.raises(CrystalInputError, match="whole atoms"):
        ordered_approximants(third, 2, progress=False)
    ordered = Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])
    with pytest.raises(CrystalInputError, match="already ordered"):
        ordered_approximants(ordered, 2)


def test_integer_formula(bsto, cuau):
    assert integer_formula(bsto) == ("Ba1Sr1Ti2O6", 2)
    assert integer_formula("Cu0.25Au0.75") == ("Cu1Au3", 4)
    with pytest.raises(CrystalInputError):
        integer_formula("Cu0.01Au0.99", max_cell_size=8)


def test_random_alloy_correlations_agree_with_icets_own(cuau, bsto):
    from icet.tools.structure_generation import _get_sqs_cluster_vector  # icet's private reference

    for structure in (cuau, bsto):
        space = cluster_space(structure, cutoffs=(6.0, 4.5))
        concentrations = sublattice_concentrations(space, structure)
        np.testing.assert_allclose(random_alloy_correlations(space, concentrations),
                                   _get_sqs_cluster_vector(space, concentrations), atol=1e-12)
    off = {"A": {"Cu": 0.25, "Au": 0.75}}
    space = cluster_space(cuau, cutoffs=(6.0, 4.5))
    np.testing.assert_allclose(random_alloy_correlations(space, off), _get_sqs_cluster_vector(space, off), atol=1e-12)
    table = space.as_list
    point = random_alloy_correlations(space, off)[1]
    assert abs(point) == pytest.approx(0.5)  # +-1 site values at 3:1
    pair = next(i for i, o in enumerate(table) if o["order"] == 2)
    assert random_alloy_correlations(space, off)[pair] == pytest.approx(point**2)  # independent sites


def test_sqs_is_closer_to_the_random_alloy_than_random_fillings_of_its_cell(cuau):
    sqs = special_quasirandom_structure(cuau, 8, n_steps=1500, seed=0)
    assert sqs.composition.reduced_formula == "CuAu" and len(sqs) <= 8
    space = cluster_space(cuau)
    concentrations = sublattice_concentrations(space, cuau)
    randoms = {f"random {seed}": random_occupation(sqs, cuau, seed=seed, space=space) for seed in range(8)}
    table = correlation_table(space, {"SQS": sqs, **randoms}, concentrations)
    distances = [correlation_distance(table, name) for name in randoms]
    for structure in randoms.values():
        assert structure.composition == sqs.composition  # same cell, same composition, only the order differs
    # The annealing searched every filling of cells up to 8 atoms: no random filling of its cell does better,
    # and on average they do worse (a small cell has few fillings, so some tie).
    assert correlation_distance(table, "SQS") <= min(distances) + 1e-12
    assert correlation_distance(table, "SQS") < np.mean(distances)
    figure = correlation_figure(table, ["SQS", "random 0"])
    assert len(figure.data) == 3
    with pytest.raises(CrystalInputError):
        correlation_distance(table, "missing")


def test_sqs_refuses_partly_vacant_and_ordered_crystals():
    half_empty = Structure(Lattice.cubic(3.0), [{"Cu": 0.5}], [[0, 0, 0]])
    with pytest.raises(CrystalInputError, match="vacant"):
        cluster_space(half_empty)
    with pytest.raises(CrystalInputError, match="no mixed site"):
        cluster_space(Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]))
