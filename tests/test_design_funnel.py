"""Tests for crystalkit.design.funnel: the ordered filter steps, survivors per step and the reason for every drop."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.design import (
    FILTERS,
    Candidate,
    FilterStep,
    Verdict,
    as_candidates,
    filter_step,
    funnel_figure,
    run_funnel,
    standard_steps,
)
from crystalkit.errors import CrystalInputError


def _cubic(species: list[str], a: float = 4.0) -> Structure:
    return Structure(Lattice.cubic(a), species,
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def _p1(species: list[str]) -> Structure:
    """A five-atom cell with no symmetry but translation."""
    lattice = Lattice.from_parameters(3.9, 4.3, 4.7, 81, 97, 107)
    return Structure(lattice, species, [[0, 0, 0], [0.41, 0.53, 0.47], [0.52, 0.46, 0.03], [0.47, 0.07, 0.55],
                                        [0.06, 0.51, 0.44]])


def _keep_if(name: str, test) -> FilterStep:
    return FilterStep(name, lambda c: Verdict(test(c), f"{name} says {test(c)}", c.updated(**{name: test(c)})))


@pytest.fixture
def crystals() -> list[Structure]:
    return [_cubic(["Sr", "Ti", "O", "O", "O"]), _cubic(["Na", "Ti", "O", "O", "O"]),
            _p1(["Ba", "Zr", "O", "O", "O"]), _cubic(["K", "Nb", "O", "O", "O"])]


def test_counts_fall_step_by_step_and_every_drop_is_recorded(crystals):
    steps = [_keep_if("not_sodium", lambda c: "Na" not in c.formula), _keep_if("not_potassium",
             lambda c: "K" not in c.formula)]
    result = run_funnel(crystals, steps)
    assert result.counts == (4, 3, 2)
    assert [c.formula for c in result.survivors] == ["SrTiO3", "BaZrO3"]
    assert list(result.dropped["formula"]) == ["NaTiO3", "KNbO3"]
    assert list(result.dropped["step"]) == ["not_sodium", "not_potassium"]
    # Nothing vanishes: survivors + drops = candidates, and each candidate has a verdict at each step it reached.
    assert len(result.survivors) + len(result.dropped) == len(crystals)
    assert len(result.verdicts) == 4 + 3
    table = result.table()
    assert list(table["entered"]) == [4, 3] and list(table["dropped"]) == [1, 1]
    assert result.survivors[0].info == {"not_sodium": True, "not_potassium": True}
    # Every candidate's last state is kept, with what the step that dropped it measured.
    assert [c.id for c in result.final] == [0, 1, 2, 3]
    assert result.final[1].info == {"not_sodium": False}


def test_a_step_sees_only_the_survivors_of_the_one_before(crystals):
    seen = []

    def record(candidate: Candidate) -> Verdict:
        seen.append(candidate.id)
        return Verdict(True, "ok", candidate)

    run_funnel(crystals, [_keep_if("first_two", lambda c: c.id < 2), FilterStep("record", record)])
    assert seen == [0, 1]


def test_a_check_that_raises_drops_the_candidate_with_the_error_as_reason(crystals):
    def explode(candidate: Candidate) -> Verdict:
        if candidate.id == 1:
            raise RuntimeError("boom")
        return Verdict(True, "fine", candidate)

    result = run_funnel(crystals, [FilterStep("fragile", explode)])
    assert result.counts == (4, 3)
    assert result.dropped.iloc[0]["reason"] == "RuntimeError: boom"


def test_a_step_can_replace_the_structure(crystals, srtio3):
    swap = FilterStep("swap", lambda c: Verdict(True, "swapped", c.updated(srtio3)))
    result = run_funnel(crystals[1:2], [swap])
    assert result.survivors[0].formula == "SrTiO3"


def test_bad_input_is_refused_with_a_clear_message(crystals):
    with pytest.raises(CrystalInputError, match="non-empty list"):
        run_funnel([], ["charge_balance"])
    with pytest.raises(CrystalInputError, match="Unknown filter 'colour'.*charge_balance"):
        run_funnel(crystals, ["colour"])
    with pytest.raises(CrystalInputError, match="at least one filter step"):
        run_funnel(crystals, [])
    with pytest.raises(CrystalInputError, match="must differ"):
        run_funnel(crystals, ["charge_balance", "charge_balance"])
    with pytest.raises(CrystalInputError, match="does not take"):
        filter_step("relax", colour="red")
    with pytest.raises(CrystalInputError, match="needs classifier"):
        filter_step("synthesizability")
    with pytest.raises(CrystalInputError, match="not a pymatgen Structure"):
        as_candidates(["SrTiO3"])
    with pytest.raises(CrystalInputError, match="share an id"):
        as_candidates([Candidate(0, crystals[0]), Candidate(0, crystals[1])])


def test_charge_balance_symmetry_and_novelty_steps(crystals, srtio3):
    unbalanced = _cubic(["Na", "Na", "O", "O", "O"])  # Na2O3: no neutral assignment
    result = run_funnel([*crystals, unbalanced], [filter_step("charge_balance"), filter_step("symmetry"),
                                                  filter_step("novelty", references=[srtio3])])
    dropped = result.dropped.set_index("formula")
    assert dropped.loc["Na2O3", "step"] == "charge_balance"
    assert dropped.loc["BaZrO3", "step"] == "symmetry" and "P1" in dropped.loc["BaZrO3", "reason"]
    assert dropped.loc["SrTiO3", "step"] == "novelty"  # the reference itself is no discovery
    assert sorted(c.formula for c in result.survivors) == ["KNbO3", "NaTiO3"]
    assert all(c.info["spacegroup_number"] == 221 and c.info["novel"] for c in result.survivors)
    assert result.counts == (5, 4, 3, 2)


def test_novelty_sees_through_a_shifted_origin(srtio3):
    moved = srtio3.copy()
    moved.translate_sites(list(range(len(moved))), [0.13, 0.27, 0.31])
    result = run_funnel([moved], [filter_step("novelty", references=[srtio3])])
    assert result.counts == (1, 0)


def test_the_figure_shows_every_count(crystals):
    result = run_funnel(crystals, [_keep_if("no_na", lambda c: "Na" not in c.formula)])
    figure = funnel_figure(result)
    assert list(figure.data[0].x) == [4, 3]
    assert list(figure.data[0].y) == ["generated", "no_na"]
    assert "3 of 4" in figure.layout.title.text


def test_standard_steps_are_in_the_chemists_order(srtio3):
    names = [step.name for step in standard_steps(references=[srtio3])]
    assert names == ["charge_balance", "relax", "hull", "symmetry", "novelty"]
    assert set(names) <= set(FILTERS)


@pytest.mark.slow
def test_relax_and_hull_steps_update_the_candidate():
    rattled = _cubic(["Sr", "Ti", "O", "O", "O"], a=4.05)
    rattled.perturb(0.05, min_distance=0.01)
    result = run_funnel([rattled], [filter_step("relax", max_steps=60, fmax=0.1), filter_step("hull", threshold=5.0)])
    survivor = result.survivors[0]
    assert survivor.info["energy_per_atom"] <= survivor.info["relax_result"].initial_energy_per_atom + 1e-6
    assert survivor.structure is survivor.info["relax_result"].final_structure
    assert survivor.info["formation_energy_per_atom"] < 0  # SrTiO3 is strongly bound
    strict = run_funnel([rattled], [filter_step("relax", max_steps=1, require_converged=True)])
    assert strict.counts == (1, 0) and "not converged" in strict.dropped.iloc[0]["reason"]
