"""The fast matcher gives pymatgen's answers: invariances, tolerances, and equality with plain loops."""

from __future__ import annotations

import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import STANDARD_MATCHER, STRICT_MATCHER, first_matches, group_duplicates, make_matcher
from crystalkit.metrics.examples import cubic_perovskite, diamond, equivalent_copy, rattle, rock_salt
from crystalkit.metrics.matching import could_match, prepare, rms_dist


@pytest.fixture(scope="module")
def matcher():
    return make_matcher(STANDARD_MATCHER)


def _rms(a, b, matcher):
    return rms_dist(prepare(a, matcher), prepare(b, matcher), matcher)


@pytest.mark.parametrize("supercell", [(1, 1, 1), (2, 1, 1), (1, 2, 2)])
@pytest.mark.parametrize("build", [rock_salt, cubic_perovskite, diamond])
def test_rotated_translated_permuted_supercell_copy_matches_with_zero_rms(build, supercell, matcher):
    original = build()
    copy = equivalent_copy(original, seed=3, supercell=supercell)
    rms, max_dist = _rms(copy, original, matcher)
    assert rms == pytest.approx(0.0, abs=1e-6) and max_dist == pytest.approx(0.0, abs=1e-6)


def test_small_rattle_matches_large_rattle_does_not(matcher):
    target = rock_salt()
    small = _rms(rattle(target, 0.05, seed=1), target, matcher)
    assert small is not None and 0 < small[0] < 0.1
    assert _rms(rattle(target, 0.8, seed=1), target, matcher) is None


def test_strict_tolerance_rejects_what_the_standard_accepts():
    target = cubic_perovskite()
    moved = rattle(target, 0.4, seed=3)  # RMS 0.46 (V/N)^(1/3): inside 0.5, outside 0.3
    assert _rms(moved, target, make_matcher(STANDARD_MATCHER)) is not None
    assert _rms(moved, target, make_matcher(STRICT_MATCHER)) is None


def test_different_formulas_are_rejected_before_matching(matcher):
    a, b = prepare(rock_salt(), matcher), prepare(rock_salt(cation="K"), matcher)
    assert not could_match(a, b) and rms_dist(a, b, matcher) is None


def _cases():
    """Pairs with matches, near misses and mismatched formulas."""
    base = [rock_salt(), cubic_perovskite(), diamond(), cubic_perovskite(a_site="Ba"), rock_salt(a=6.0)]
    pairs = []
    for i, target in enumerate(base):
        for sigma in (0.0, 0.1, 0.3, 0.6):
            pairs.append((rattle(equivalent_copy(target, seed=i, supercell=(1, 1, 2)), sigma, seed=i), target))
        pairs.append((base[(i + 1) % len(base)], target))
    return pairs


def test_fast_rms_equals_plain_get_rms_dist_to_the_last_digit(matcher):
    plain = StructureMatcher(**STANDARD_MATCHER)
    for predicted, target in _cases():
        assert _rms(predicted, target, matcher) == plain.get_rms_dist(predicted, target)


def test_group_duplicates_equals_pymatgen_group_structures():
    structures = [rock_salt(), cubic_perovskite(), equivalent_copy(rock_salt(), seed=1, supercell=(2, 1, 1)),
                  rattle(cubic_perovskite(), 0.02, seed=2), diamond(), rock_salt(a=6.5), rattle(diamond(), 0.9, seed=0)]
    ours = group_duplicates(structures, STRICT_MATCHER, n_jobs=1)
    groups = StructureMatcher().group_structures(structures)
    theirs = [sorted(next(i for i, s in enumerate(structures) if s is member) for member in g) for g in groups]
    assert sorted(ours) == sorted(theirs)
    # scale=True: the matcher ignores a uniform stretch, so NaCl at a = 6.5 Å is NaCl too.
    assert [0, 2, 5] in ours and [1, 3] in ours


def test_first_matches_equals_a_plain_loop():
    references = [diamond(), rock_salt(), cubic_perovskite(), rock_salt(cation="K")]
    queries = [equivalent_copy(rock_salt(), seed=5), rattle(diamond(), 0.9, seed=1), cubic_perovskite(a_site="Ba"),
               rattle(rock_salt(cation="K"), 0.05, seed=2)]
    plain = StructureMatcher()
    expected = [next((j for j, r in enumerate(references) if plain.fit(q, r)), None) for q in queries]
    assert first_matches(queries, references, STRICT_MATCHER, n_jobs=1) == expected == [1, None, None, 3]


def test_parallel_grouping_is_deterministic():
    structures = [rattle(cubic_perovskite(), 0.02 * i, seed=i) for i in range(6)] + [rock_salt()] * 3
    assert group_duplicates(structures, n_jobs=1) == group_duplicates(structures, n_jobs=2)


def test_make_matcher_settings_and_errors():
    assert make_matcher(stol=0.1).stol == 0.1
    assert make_matcher(STRICT_MATCHER).angle_tol == 5.0
    with pytest.raises(CrystalInputError):
        make_matcher(tolerance=0.3)
    with pytest.raises(CrystalInputError):
        prepare("NaCl", make_matcher())
