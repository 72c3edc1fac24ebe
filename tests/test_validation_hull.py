"""Energy above the hull against hand-built references: known values, decompositions, clear errors."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Composition, Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import RelaxResult, energy_above_hull

# A toy Na-Cl hull in eV/atom: NaCl is 2 eV/atom below the elements, nothing else is stable.
REFERENCES = [("Na", -1.0), ("Cl", -2.0), ("NaCl", -3.5), ("Na2Cl2", -3.2), ("NaCl3", -2.0)]


def test_a_compound_on_the_hull_is_zero_and_decomposes_into_itself():
    result = energy_above_hull(("NaCl", -3.5), REFERENCES)
    assert result.e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert result.is_stable
    assert result.decomposition == pytest.approx({"NaCl": 1.0})
    assert result.formation_energy_per_atom == pytest.approx(-3.5 - (-1.0 - 2.0) / 2)


def test_a_polymorph_above_the_hull_has_the_energy_difference():
    result = energy_above_hull((Composition("Na4Cl4"), -3.3), REFERENCES)
    assert result.e_above_hull == pytest.approx(0.2)
    assert not result.is_stable
    assert result.decomposition == pytest.approx({"NaCl": 1.0})


def test_an_off_stoichiometry_compound_decomposes_into_its_hull_neighbours():
    # NaCl2 lies between NaCl (x_Cl = 1/2) and Cl (x_Cl = 1): hull energy 2/3 * -3.5 + 1/3 * -2.0 = -3.0.
    result = energy_above_hull(("NaCl2", -2.9), REFERENCES)
    assert result.e_above_hull == pytest.approx(0.1)
    assert result.decomposition == pytest.approx({"NaCl": 2 / 3, "Cl2": 1 / 3})  # pymatgen writes Cl as Cl2
    assert "NaCl" in result.summary()


def test_below_the_known_hull_is_negative_not_clipped():
    result = energy_above_hull(("NaCl", -3.6), REFERENCES)
    assert result.e_above_hull == pytest.approx(-0.1)
    assert result.is_stable


def test_references_without_an_element_are_refused():
    with pytest.raises(CrystalInputError, match="Cl"):
        energy_above_hull(("NaCl", -3.5), [("Na", -1.0), ("NaCl", -3.5)])


def test_non_finite_energies_and_unreadable_candidates_are_refused():
    with pytest.raises(CrystalInputError, match="finite"):
        energy_above_hull(("NaCl", math.nan), REFERENCES)
    with pytest.raises(CrystalInputError):
        energy_above_hull("NaCl", REFERENCES)
    with pytest.raises(CrystalInputError, match="Reference entry 1"):
        energy_above_hull(("NaCl", -3.5), [("Na", -1.0), ("Cl", math.inf)])


def test_an_unconverged_relaxation_is_flagged():
    nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    unconverged = RelaxResult(
        initial_structure=nacl, final_structure=nacl, energy_per_atom=-3.4, initial_energy_per_atom=-3.0,
        converged=False, steps=1, max_force=0.8, rmsd=0.0, volume_change=0.0,
        trajectory_energies=[-3.0, -3.4], trajectory=[nacl, nacl],
    )
    result = energy_above_hull(unconverged, REFERENCES)
    assert result.e_above_hull == pytest.approx(0.1)
    assert result.flags and "not converged" in result.flags[0]
    assert "FLAGGED" in result.summary()


def test_formation_energy_agrees_with_the_hull_built_on_the_elements():
    from crystalkit.validation import elemental_references, formation_energy_per_atom

    composition = Composition("SrTiO3")
    energy = -8.1
    via_hull = energy_above_hull((composition, energy), elemental_references(["Sr", "Ti", "O"]))
    assert math.isclose(formation_energy_per_atom(composition, energy), via_hull.formation_energy_per_atom,
                        abs_tol=1e-9)
    with pytest.raises(CrystalInputError, match="No bundled CHGNet reference"):
        formation_energy_per_atom("Og2", -1.0)


def test_formation_energies_scores_a_batch_and_marks_what_chgnet_refuses():
    from crystalkit.validation import formation_energies, formation_energy_per_atom, predict_energies

    srtio3 = Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"],
                       [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    lonely = Structure(Lattice.cubic(14.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.warns(UserWarning, match="indices \\[1\\]"):
        values = formation_energies([srtio3, lonely])
    assert math.isnan(values[1])
    expected = formation_energy_per_atom(srtio3.composition, float(predict_energies([srtio3])[0]))
    assert math.isclose(values[0], expected, abs_tol=1e-6) and values[0] < -2.0  # a strongly bound oxide
